"""Phone numbers to E.164 digits for SMS: a fast path compiled from the numbering-plan library's metadata.

The library (``phonenumbers``) is the source of truth: :func:`classify_with_library` is parse +
``number_type`` + E.164 format, ~20-75 µs a number. :class:`PhoneNormalizer` gives the same answer
in a few µs for the common shapes by replaying the library's own parsing steps on its own metadata,
compiled once per region:

- ``+CC …`` (one ``+``, then digits and the separators space ``( ) . - /`` and no-break space),
- the default region's international prefix (``00 CC …``, ``010 CC …`` in JP, ``011 CC …`` in US),
- national numbers of the default region, with or without its national prefix (``0…``).

Everything else goes to the library: letters, extensions, other Unicode digits or punctuation,
fewer than three digits, ``+0…`` or an unknown country code after ``+``, and national numbers that
start with the default region's own country code (``385 91 …`` for HR, ``1 415 …`` for US), where the
library weighs both readings. Numbers of shared calling codes (+1, +7, +44, …) find their region
with the library's rules (``leading_digits``, else the first region whose patterns match).
``tests/test_recipients.py`` checks both paths give the same answer on thousands of numbers.

A result is the E.164 number without ``+`` (``"385912345678"``) when the number is valid and
MOBILE or FIXED_LINE_OR_MOBILE, else an ``int``: :data:`INVALID`, or the ``PhoneNumberType`` of a
valid number that cannot take an SMS (premium-rate, fixed-line, ...).
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberType

INVALID = -1
"""Not a valid phone number (does not parse, or matches no pattern of its region)."""

_MOBILE = PhoneNumberType.MOBILE
_FIXED_OR_MOBILE = PhoneNumberType.FIXED_LINE_OR_MOBILE
_UNKNOWN = PhoneNumberType.UNKNOWN
_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed-line",
    PhoneNumberType.TOLL_FREE: "toll-free",
    PhoneNumberType.PREMIUM_RATE: "premium-rate",
    PhoneNumberType.SHARED_COST: "shared-cost",
    PhoneNumberType.VOIP: "VoIP",
    PhoneNumberType.PERSONAL_NUMBER: "personal",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "UAN",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
# The library's own limits (phonenumberutil: _MAX_INPUT_STRING_LENGTH, _MIN/_MAX_LENGTH_FOR_NSN).
_MAX_INPUT = 250
_MIN_NSN = 2
_MAX_NSN = 17

_SHAPE = re.compile(r"\+?[0-9 ().\-/\u00a0]+", re.ASCII)
_SEPARATORS = str.maketrans("", "", " ().-/+\u00a0")
_CALLING_CODES = {str(cc): cc for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}
_REGIONS_OF = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
_NON_GEO = "001"

Result = str | int
_Pattern = re.Pattern[str] | None
_ForLength = tuple[_Pattern, _Pattern, tuple[tuple[int, re.Pattern[str]], ...], _Pattern, _Pattern]


def describe(result: int) -> str:
    """Why a number cannot take an SMS, for a skip's detail."""
    name = _TYPE_NAMES.get(result)
    return f"a {name} number, not a mobile" if name else "not a valid phone number"


def classify_with_library(text: str, region: str | None) -> Result:
    """The reference answer: the library's parse, number type and E.164 format."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return INVALID
    if not phonenumbers.is_valid_number(number):
        return INVALID
    kind: int = phonenumbers.number_type(number)
    if kind in (_MOBILE, _FIXED_OR_MOBILE):
        e164: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return e164[1:]
    return kind


class _Desc:
    """One ``PhoneNumberDesc``: its pattern (full match) and its possible lengths."""

    __slots__ = ("lengths", "pattern")

    def __init__(self, desc: Any) -> None:
        pattern = getattr(desc, "national_number_pattern", None)
        self.pattern = re.compile(pattern) if pattern else None
        self.lengths = frozenset(getattr(desc, "possible_length", None) or ())


class _Plan:
    """One region's (or non-geographic calling code's) metadata, compiled for the fast path."""

    def __init__(self, meta: Any) -> None:
        self.country_code: int = meta.country_code
        self.country_prefix = str(meta.country_code)
        idd = meta.international_prefix
        self.idd = re.compile(idd) if idd else None
        npp = meta.national_prefix_for_parsing
        self.national_prefix = re.compile(npp) if npp else None
        self.transform: str | None = meta.national_prefix_transform_rule or None
        self.general = _Desc(meta.general_desc)
        general_lengths = sorted(meta.general_desc.possible_length)
        local = frozenset(meta.general_desc.possible_length_local_only)
        self._keep_stripped = [_length_allows_stripping(n, general_lengths, local) for n in range(_MAX_INPUT + 1)]
        self.others = tuple(
            (kind, _Desc(desc))
            for kind, desc in (
                (PhoneNumberType.PREMIUM_RATE, meta.premium_rate),
                (PhoneNumberType.TOLL_FREE, meta.toll_free),
                (PhoneNumberType.SHARED_COST, meta.shared_cost),
                (PhoneNumberType.VOIP, meta.voip),
                (PhoneNumberType.PERSONAL_NUMBER, meta.personal_number),
                (PhoneNumberType.PAGER, meta.pager),
                (PhoneNumberType.UAN, meta.uan),
                (PhoneNumberType.VOICEMAIL, meta.voicemail),
            )
        )
        self._by_length: dict[int, _ForLength] = {}
        self.fixed = _Desc(meta.fixed_line)
        self.mobile = _Desc(meta.mobile)
        self.same_mobile_and_fixed: bool = bool(meta.same_mobile_and_fixed_line_pattern)
        leading = meta.leading_digits
        self.leading_digits = re.compile(leading) if leading is not None else None
        # A transform rule needs a capturing group to test; without one the library would fail.
        self.supported = not (self.transform and self.national_prefix and not self.national_prefix.groups)

    def strip_national_prefix(self, number: str) -> str:
        """The library's ``_maybe_strip_national_prefix_carrier_code`` + its length check in ``parse``."""
        prefix = self.national_prefix
        if prefix is None or not number:
            return number
        match = prefix.match(number)
        if match is None:
            return number
        general = self.general.pattern
        viable = general is not None and general.fullmatch(number) is not None
        if self.transform and match.groups()[-1] is not None:
            stripped = prefix.sub(self.transform, number, count=1)
        else:
            stripped = number[match.end() :]
        if viable and (general is None or general.fullmatch(stripped) is None):
            return number
        if len(stripped) > _MAX_INPUT or not self._keep_stripped[len(stripped)]:
            return number
        return stripped

    def number_type(self, nsn: str) -> int:
        """The library's ``_number_type_helper``, with the patterns that apply to this length."""
        entry = self._by_length.get(len(nsn)) or self._for_length(len(nsn))
        general, any_other, others, fixed, mobile = entry
        if general is None or general.fullmatch(nsn) is None:
            return _UNKNOWN
        if any_other is not None and any_other.fullmatch(nsn) is not None:
            for kind, pattern in others:
                if pattern.fullmatch(nsn) is not None:
                    return kind
        if fixed is not None and fixed.fullmatch(nsn) is not None:
            if self.same_mobile_and_fixed or (mobile is not None and mobile.fullmatch(nsn) is not None):
                return _FIXED_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self.same_mobile_and_fixed and mobile is not None and mobile.fullmatch(nsn) is not None:
            return _MOBILE
        return _UNKNOWN

    def _for_length(self, size: int) -> _ForLength:
        """The patterns whose possible lengths admit ``size``; the other types as one alternation."""

        def applies(desc: _Desc) -> re.Pattern[str] | None:
            ok = desc.pattern is not None and (not desc.lengths or size in desc.lengths)
            return desc.pattern if ok else None

        others = tuple((kind, p) for kind, desc in self.others if (p := applies(desc)) is not None)
        any_other = re.compile("|".join(f"(?:{p.pattern})" for _, p in others)) if others else None
        entry = (applies(self.general), any_other, others, applies(self.fixed), applies(self.mobile))
        self._by_length[size] = entry
        return entry


def _length_allows_stripping(size: int, lengths: list[int], local: frozenset[int]) -> bool:
    """The library's ``_test_number_length`` is not TOO_SHORT / IS_POSSIBLE_LOCAL_ONLY / INVALID_LENGTH."""
    if size in local:
        return False
    if not lengths:
        return False
    if size == lengths[0]:
        return True
    if size < lengths[0]:
        return False
    if size > lengths[-1]:
        return True  # TOO_LONG: the library keeps the stripped number
    return size in lengths


_PLANS: dict[str, _Plan | None] = {}


def _plan(region: str, country_code: int = 0) -> _Plan | None:
    """The compiled metadata of a region, or of a non-geographic calling code (region ``001``)."""
    key = f"{_NON_GEO}/{country_code}" if region == _NON_GEO else region
    if key not in _PLANS:
        meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        _PLANS[key] = _Plan(meta) if meta is not None else None
    return _PLANS[key]


class PhoneNormalizer:
    """Normalizes the phone numbers of one campaign (one default region), fast when it can be."""

    def __init__(self, default_region: str | None) -> None:
        self.default_region = default_region.upper() if default_region else None
        self._home = _plan(self.default_region) if self.default_region else None
        self.slow = 0
        """How many numbers went to the library."""

    def normalize(self, text: str) -> Result:
        """E.164 digits without ``+`` for a valid mobile number, else :data:`INVALID` or its type."""
        text = text.strip()
        if len(text) <= _MAX_INPUT and _SHAPE.fullmatch(text):
            result = self._fast(text)
            if result is not None:
                return result
        self.slow += 1
        return classify_with_library(text, self.default_region)

    def _fast(self, text: str) -> Result | None:
        """The fast path, or None when the library must decide."""
        digits = text.translate(_SEPARATORS)
        if len(digits) < 3:
            return None
        if text[0] == "+":
            return _international(digits, must_exist=False)
        home = self._home
        if home is None:
            return INVALID  # neither a + nor a default region: the library refuses it too
        if home.idd is not None and (match := home.idd.match(digits)) is not None:
            end = match.end()
            if end >= len(digits) or digits[end] != "0":
                rest = digits[end:]
                if len(rest) <= _MIN_NSN:
                    return INVALID
                return _international(rest, must_exist=True)
        if digits.startswith(home.country_prefix) or not home.supported:
            return None
        return _national(home.country_code, digits, home)


def _international(digits: str, *, must_exist: bool) -> Result | None:
    """After a ``+`` or an IDD: the calling code, then the national number."""
    if digits[0] != "0":
        for size in (1, 2, 3):
            country_code = _CALLING_CODES.get(digits[:size])
            if country_code is not None:
                plan = _plan(_REGIONS_OF[country_code][0], country_code)
                if plan is None or not plan.supported:
                    return None
                return _national(country_code, digits[size:], plan)
    # An unknown calling code: after an IDD the library refuses; after a + it tries again.
    return INVALID if must_exist else None


def _national(country_code: int, number: str, plan: _Plan) -> Result:
    """The national number as ``parse`` reads it (``plan``: the parsing region), then its type."""
    if len(number) < _MIN_NSN:
        return INVALID
    nsn = plan.strip_national_prefix(number)
    if len(nsn) > _MAX_NSN:
        return INVALID
    region_plan = _SINGLE.get(country_code) or _region_plan(country_code, nsn)
    if region_plan is None:
        return INVALID
    kind = region_plan.number_type(nsn)
    if kind in (_MOBILE, _FIXED_OR_MOBILE):
        return f"{country_code}{nsn}"
    return INVALID if kind == _UNKNOWN else kind


_SINGLE: dict[int, _Plan] = {}
"""Calling codes of one region: their plan, once compiled."""


def _region_plan(country_code: int, nsn: str) -> _Plan | None:
    """The library's ``region_code_for_number``: the region whose rules judge this number."""
    regions = _REGIONS_OF[country_code]
    if len(regions) == 1:
        plan = _plan(regions[0], country_code)
        if plan is not None:
            _SINGLE[country_code] = plan
        return plan
    for region in regions:
        plan = _plan(region)
        if plan is None:
            continue
        if plan.leading_digits is not None:
            if plan.leading_digits.match(nsn):
                return plan
        elif plan.number_type(nsn) != _UNKNOWN:
            return plan
    return None
