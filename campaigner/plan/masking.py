"""Masking a recipient's phone number and LINE key in what is shown: plan output and error lines."""

from __future__ import annotations


def _country_code_length(digits: str) -> int:
    import phonenumbers

    for n in (1, 2, 3):
        if int(digits[:n] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return n
    return 0


def mask_phone(digits: str) -> str:
    """``385977666618`` -> ``+385 97***618``: country code, two leading and three last digits."""
    cc = _country_code_length(digits)
    national = digits[cc:]
    if len(national) <= 5:
        return f"+{digits[:cc]} ***{national[-2:]}"
    return f"+{digits[:cc]} {national[:2]}***{national[-3:]}"


def mask_line_key(key: str) -> str:
    """``e3e95e22-0235-...-812ef33da3d5`` -> ``e3e9…a3d5``."""
    if len(key) <= 8:
        return "…" + key[-2:]
    return f"{key[:4]}…{key[-4:]}"


def mask_pii(text: str, *, phone_number: str | None, line_user_key: str | None, raw: dict[str, str]) -> str:
    """``text`` with a recipient's phone number and LINE key masked as the plan masks them: the
    normalized forms and the raw CSV cells they came from (``raw``: "phone" / "line" -> cell)."""
    masks: dict[str, str] = {}
    if phone_number:
        masks[phone_number] = masks["+" + phone_number] = mask_phone(phone_number)
        if cell := raw.get("phone", "").strip():
            masks[cell] = mask_phone(phone_number)
    if line_user_key:
        masks[line_user_key] = mask_line_key(line_user_key)
        if cell := raw.get("line", "").strip():
            masks[cell] = mask_line_key(line_user_key)
    for value in sorted(masks, key=len, reverse=True):  # "+385..." before "385..."
        if len(value) >= 3:
            text = text.replace(value, masks[value])
    return text
