"""Tests for campaigner.plan.masking: masking a recipient's phone number and LINE key in text."""

from __future__ import annotations

from campaigner.plan.masking import mask_pii


def test_mask_pii_masks_normalized_and_raw_forms() -> None:
    text = "'+385 97 766 6618' / 385977666618 / +385977666618 / U4af4980629 / 'u4af4980629 ' and 15"
    masked = mask_pii(
        text,
        phone_number="385977666618",
        line_user_key="U4af4980629",
        raw={"phone": "+385 97 766 6618", "line": "U4af4980629"},
    )
    assert masked == "'+385 97***618' / +385 97***618 / +385 97***618 / U4af…0629 / 'u4af4980629 ' and 15"


def test_mask_pii_without_addresses_changes_nothing() -> None:
    assert mask_pii("row 3: 'x'", phone_number=None, line_user_key=None, raw={}) == "row 3: 'x'"
