"""Tests for campaigner.content.sms, character by character against the GSM 03.38 tables (3GPP TS 23.038)."""

from __future__ import annotations

import pytest

from campaigner.content.sms import SmsMeasure, is_gsm7, measure

# The default alphabet, 0x00..0x7F, as Unicode code points, written out from the standard (not from the
# module under test). 0x1B is the escape to the extension table, not a character.
BASIC_TABLE = [
    *(0x40, 0xA3, 0x24, 0xA5, 0xE8, 0xE9, 0xF9, 0xEC, 0xF2, 0xC7, 0x0A, 0xD8, 0xF8, 0x0D, 0xC5, 0xE5),
    *(0x394, 0x5F, 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0, 0x3A8, 0x3A3, 0x398, 0x39E, None, 0xC6, 0xE6, 0xDF, 0xC9),
    *(0x20, 0x21, 0x22, 0x23, 0xA4, *range(0x25, 0x40)),
    *(0xA1, *range(0x41, 0x5B), 0xC4, 0xD6, 0xD1, 0xDC, 0xA7),
    *(0xBF, *range(0x61, 0x7B), 0xE4, 0xF6, 0xF1, 0xFC, 0xE0),
]
BASIC = [chr(cp) for cp in BASIC_TABLE if cp is not None]
# The extension table: form feed ^ { } \ [ ~ ] | € (each sent as ESC + one septet).
EXTENSION = ["\f", "^", "{", "}", "\\", "[", "~", "]", "|", "€"]
OTHERS = {
    "right single quote": "’",
    "c cedilla (only the capital is GSM)": "ç",
    "a acute": "á",
    "l stroke": "ł",
    "s cedilla": "ş",
    "cyrillic": "ж",
    "cjk": "中",
    "backtick": "`",
    "tab": "\t",
    "no-break space": "\u00a0",
    "escape itself": "\x1b",
    "em dash": "—",
    "left double quote": "“",
}
NON_BMP = {"grinning face": "😀", "musical symbol": "𝄞", "thumbs up": "👍"}


def _cp(ch: str) -> str:
    return f"U+{ord(ch):04X}"


def test_the_tables_have_their_standard_sizes() -> None:
    assert len(BASIC_TABLE) == 128
    assert len(BASIC) == 127
    assert len(set(BASIC) & set(EXTENSION)) == 0


@pytest.mark.parametrize("ch", BASIC, ids=_cp)
def test_a_basic_character_costs_one_septet(ch: str) -> None:
    assert measure(ch) == SmsMeasure("GSM7", 1, 1, "")
    assert measure(ch * 160) == SmsMeasure("GSM7", 160, 1, "")
    assert measure(ch * 161) == SmsMeasure("GSM7", 161, 2, "")
    assert is_gsm7(ch)


@pytest.mark.parametrize("ch", EXTENSION, ids=_cp)
def test_an_extension_character_costs_two_septets(ch: str) -> None:
    assert measure(ch) == SmsMeasure("GSM7", 2, 1, "")
    assert measure(ch * 80) == SmsMeasure("GSM7", 160, 1, "")
    assert measure(ch * 81) == SmsMeasure("GSM7", 162, 2, "")
    assert measure("a" + ch) == SmsMeasure("GSM7", 3, 1, "")
    assert is_gsm7(ch)


@pytest.mark.parametrize("ch", OTHERS.values(), ids=OTHERS.keys())
def test_any_other_character_forces_ucs2(ch: str) -> None:
    assert measure(ch) == SmsMeasure("UCS2", 1, 1, ch)
    assert measure("Hello " + ch + "!") == SmsMeasure("UCS2", 8, 1, ch)
    assert not is_gsm7(ch)


@pytest.mark.parametrize("ch", NON_BMP.values(), ids=NON_BMP.keys())
def test_a_character_outside_the_bmp_costs_two_units(ch: str) -> None:
    assert measure(ch) == SmsMeasure("UCS2", 2, 1, ch)
    assert measure(ch * 35) == SmsMeasure("UCS2", 70, 1, ch)
    assert measure(ch * 36) == SmsMeasure("UCS2", 72, 2, ch)


def test_every_other_bmp_character_forces_ucs2() -> None:
    gsm = set(BASIC) | set(EXTENSION)
    wrong = [
        _cp(chr(cp))
        for cp in range(0x10000)
        if not 0xD800 <= cp <= 0xDFFF and chr(cp) not in gsm and measure(chr(cp)).encoding != "UCS2"
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsMeasure("GSM7", 0, 1, "")),
        ("a" * 160, SmsMeasure("GSM7", 160, 1, "")),
        ("a" * 161, SmsMeasure("GSM7", 161, 2, "")),
        ("a" * 306, SmsMeasure("GSM7", 306, 2, "")),
        ("a" * 307, SmsMeasure("GSM7", 307, 3, "")),
        ("a" * 153 * 25, SmsMeasure("GSM7", 3825, 25, "")),
        ("a" * 159 + "€", SmsMeasure("GSM7", 161, 2, "")),
        ("a" * 158 + "€", SmsMeasure("GSM7", 160, 1, "")),
        ("中" * 70, SmsMeasure("UCS2", 70, 1, "中")),
        ("中" * 71, SmsMeasure("UCS2", 71, 2, "中")),
        ("中" * 134, SmsMeasure("UCS2", 134, 2, "中")),
        ("中" * 135, SmsMeasure("UCS2", 135, 3, "中")),
        ("€’", SmsMeasure("UCS2", 2, 1, "’")),  # in UCS-2 an extension character is one unit
        ("a’b’çd", SmsMeasure("UCS2", 6, 1, "’ç")),
    ],
    ids=[
        "empty",
        "gsm7-160",
        "gsm7-161",
        "gsm7-153x2",
        "gsm7-153x2+1",
        "gsm7-25-parts",
        "escape-makes-161",
        "escape-makes-160",
        "ucs2-70",
        "ucs2-71",
        "ucs2-67x2",
        "ucs2-67x2+1",
        "extension-in-ucs2",
        "forcing-characters-once-in-order",
    ],
)
def test_boundaries(text: str, expected: SmsMeasure) -> None:
    assert measure(text) == expected


def test_an_escape_pair_is_never_split_across_parts() -> None:
    # 152 + 2 + 152 = 306 septets would fit 2 x 153, but the euro's escape pair cannot start at the
    # 153rd septet of part 1: part 1 holds 152, part 2 starts with the pair and overflows into part 3.
    text = "a" * 152 + "€" + "a" * 152
    assert -(-306 // 153) == 2
    assert measure(text) == SmsMeasure("GSM7", 306, 3, "")
    assert measure("a" * 151 + "€" + "a" * 153) == SmsMeasure("GSM7", 306, 2, "")


def test_a_surrogate_pair_is_never_split_across_parts() -> None:
    text = "中" * 66 + "😀" + "中" * 66
    assert measure(text) == SmsMeasure("UCS2", 134, 3, "中😀")
    assert measure("中" * 65 + "😀" + "中" * 67) == SmsMeasure("UCS2", 134, 2, "中😀")


def test_many_escapes_across_many_parts() -> None:
    # 76 pairs fill 152 septets: each part of 153 holds 76 pairs and one wasted septet.
    assert measure("€" * 76 * 3) == SmsMeasure("GSM7", 456, 3, "")
    assert measure("€" * (76 * 3 + 1)) == SmsMeasure("GSM7", 458, 4, "")
    assert measure("😀" * 33 * 3) == SmsMeasure("UCS2", 198, 3, "😀")
    assert measure("😀" * (33 * 3 + 1)) == SmsMeasure("UCS2", 200, 4, "😀")


def test_is_gsm7_on_mixed_texts() -> None:
    assert is_gsm7("Hello {name} €5 [ok] ~ | ^ \\")
    assert not is_gsm7("Hello ’name’")
    assert is_gsm7("")
