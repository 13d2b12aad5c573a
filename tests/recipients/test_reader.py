"""Tests for campaigner.recipients.reader and campaigner.recipients.phones: reading, normalizing, skipping, erring."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from campaigner.campaign.spec import Recipients
from campaigner.errors import CampaignerError, InputError, InputErrors
from campaigner.recipients.csvfile import MAX_ROW_ERRORS, sniff_delimiter
from campaigner.recipients.keyset import KeySet, line_key, phone_key
from campaigner.recipients.phones import INVALID, PhoneNormalizer, classify_with_library, describe
from campaigner.recipients.reader import SKIP_REASONS, Recipient, Skip, input_files, open_recipients

FIXTURES = Path(__file__).parents[1] / "fixtures" / "recipients"
POSITIONS = {
    ("recipients", "csv"): (8, 8),
    ("recipients", "phoneNumber"): (9, 16),
    ("recipients", "lineUserKey"): (10, 16),
    ("recipients", "exclude", 0): (12, 7),
    ("recipients", "exclude", 1): (13, 7),
}


@pytest.fixture(autouse=True)
def _in_fixtures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES)  # error messages show paths relative to the working folder


def spec(csv: str, *, phone: str | None = "phone", line: str | None = None, **kw: object) -> Recipients:
    return Recipients.model_validate(
        {"csv": csv, "phoneNumber": phone, "lineUserKey": line, "defaultRegion": "HR", **kw}
    )


def read(recipients: Recipients) -> list[Recipient | Skip]:
    with open_recipients(
        recipients, FIXTURES, campaign_path=FIXTURES / "campaign.yaml", locate=POSITIONS.__getitem__
    ) as source:
        return list(source)


def error_lines(recipients: Recipients) -> list[str]:
    with pytest.raises(CampaignerError) as caught:
        read(recipients)
    assert isinstance(caught.value, (InputError, InputErrors))
    return caught.value.lines()


def summary(items: list[Recipient | Skip]) -> list[tuple[int, str, str]]:
    """(row, recipient id or skip reason, detail)."""
    return [(i.row, i.recipient_id, "") if isinstance(i, Recipient) else (i.row, i.reason, i.detail) for i in items]


# --- reading -----------------------------------------------------------------------------------


def test_every_skip_reason_with_its_row_and_first_row_wins() -> None:
    items = read(spec("basic.csv", line="line_user_key"))
    assert summary(items) == [
        (2, "385912345678", ""),
        (3, "385987654321", ""),
        (4, "invalid_number", "not a valid phone number"),
        (5, "no_address", "no phone number and no LINE user key"),
        (6, "duplicate", "phone number seen in an earlier row"),
        (7, "line:Ub2", ""),
        (8, "duplicate", "phone number seen in an earlier row"),
        (9, "duplicate", "LINE user key seen in an earlier row"),
        (10, "invalid_number", "a fixed-line number, not a mobile"),
        (11, "invalid_number", "a premium-rate number, not a mobile"),  # even with a LINE key
        (12, "385951112222", ""),
    ]
    assert {s.reason for s in items if isinstance(s, Skip)} <= set(SKIP_REASONS)
    first = items[1]
    assert first == Recipient(
        3, "385987654321", "Ub1", {"phone": "+385 98 765 4321", "line_user_key": "Ub1", "first_name": "Ivo"}
    )


def test_exclude_lists_by_phone_and_by_line_key() -> None:
    items = read(spec("basic.csv", line="line_user_key", exclude=["exclude_phones.csv", "exclude_line.csv"]))
    skipped = {(i.row, i.reason, i.detail) for i in items if isinstance(i, Skip) and i.reason == "excluded"}
    assert skipped == {
        (2, "excluded", "phone number on exclude_phones.csv"),  # national form in the CSV
        (6, "excluded", "phone number on exclude_phones.csv"),
        (7, "excluded", "LINE user key on exclude_line.csv"),
        (12, "excluded", "phone number on exclude_phones.csv"),  # 00385 in the CSV, 095 in the list
    }
    # An excluded row claims nothing: row 8 repeats row 3 (sent), not row 2 (excluded).
    assert [i.row for i in items if isinstance(i, Recipient)] == [3]


def test_line_only_campaign() -> None:
    items = read(spec("line_only.csv", phone=None, line="line_user_key"))
    assert summary(items) == [
        (2, "line:Ua1", ""),
        (3, "no_address", "no LINE user key"),
        (4, "duplicate", "LINE user key seen in an earlier row"),
        (5, "line:Ua2", ""),  # stripped
    ]
    last = items[-1]
    assert isinstance(last, Recipient)
    assert (last.phone_number, last.line_user_key) == (None, "Ua2")
    assert last.fields["line_user_key"] == "  Ua2  "  # template variables keep the cell as written


@pytest.mark.parametrize(
    ("name", "header", "fields"),
    [
        pytest.param(
            "bom_semicolon.csv",
            ("phone", "first_name", "city"),
            {"phone": "+385 98 765 4321", "first_name": "Ivo", "city": "Split; Dalmatia"},
            id="bom-and-semicolon",
        ),
        pytest.param("tab.csv", ("first_name", "phone"), {"first_name": "Ivo", "phone": "+385 98 765 4321"}, id="tab"),
        pytest.param(
            "spaces_header.csv",
            ("phone", "first_name", ""),
            {"phone": "091 234 5678", "first_name": "Ana"},
            id="names-stripped-empty-name-ignored",
        ),
    ],
)
def test_encodings_and_delimiters(name: str, header: tuple[str, ...], fields: dict[str, str]) -> None:
    with open_recipients(spec(name), FIXTURES, campaign_path=FIXTURES / "campaign.yaml") as source:
        assert source.header == header
        items = list(source)
    assert all(isinstance(i, Recipient) for i in items)
    assert items[-1].fields == fields  # type: ignore[union-attr]


def test_multiline_quoted_field_counts_records_not_lines() -> None:
    items = read(spec("multiline.csv"))
    assert summary(items) == [
        (2, "385912345678", ""),
        (3, "invalid_number", "not a valid phone number"),
        # row 4 is blank: counted, nothing yielded
        (5, "385987654321", ""),
        (6, "invalid_number", "not a valid phone number"),
    ]
    assert items[0].fields["note"] == "line one\nline two\nline three"  # type: ignore[union-attr]
    assert items[2].fields["note"] == 'a "quoted" word'  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [
        pytest.param("a,b,c\n", ",", id="comma"),
        pytest.param("a;b;c\r\n", ";", id="semicolon"),
        pytest.param("a\tb\tc\n", "\t", id="tab"),
        pytest.param('"x;y",b,c\n', ",", id="quoted-semicolons-ignored"),
        pytest.param("phone\n", ",", id="one-column"),
        pytest.param("a;b,c\n", ",", id="tie-prefers-comma"),
        pytest.param("name, city;phone;x\n", ";", id="most-frequent"),
    ],
)
def test_sniff_delimiter(line: str, delimiter: str) -> None:
    assert sniff_delimiter(line) == delimiter


def test_header_comes_before_rows_and_the_file_closes() -> None:
    source = open_recipients(spec("basic.csv"), FIXTURES, campaign_path=FIXTURES / "campaign.yaml")
    assert source.header == ("phone", "line_user_key", "first_name")
    assert source.path == FIXTURES / "basic.csv"
    assert source.rows == 0
    items = list(source)
    assert len(items) == source.rows == 11
    assert source._source._file is None  # closed at the end
    with pytest.raises(RuntimeError):
        iter(source)


def test_close_early() -> None:
    with open_recipients(spec("basic.csv"), FIXTURES, campaign_path=FIXTURES / "campaign.yaml") as source:
        next(iter(source))
    assert source._source._file is None


def test_input_files() -> None:
    recipients = spec("basic.csv", exclude=["exclude_phones.csv", "lists/b.csv"])
    assert input_files(recipients, Path("campaigns")) == [
        Path("campaigns/basic.csv"),
        Path("campaigns/exclude_phones.csv"),
        Path("campaigns/lists/b.csv"),
    ]


def test_header_only_file_has_no_rows() -> None:
    assert read(spec("header_only.csv")) == []


# --- errors ------------------------------------------------------------------------------------

UTF8_HINT = "(save it as UTF-8; in Excel: Save As, CSV UTF-8)"
QUOTE_HINT = """(a value containing ',', a line break or a " must be in double quotes)"""


@pytest.mark.parametrize(
    ("recipients", "lines"),
    [
        pytest.param(
            spec("missing.csv"),
            [
                "missing.csv: error: file not found "
                "(named at campaign.yaml:8:8; paths are relative to the campaign file's folder)"
            ],
            id="missing-file",
        ),
        pytest.param(
            spec("basic.csv", phone="Phone", line="line_key"),
            [
                "campaign.yaml:9:16: error: column 'Phone' is not in the header of basic.csv "
                "(did you mean 'phone'? columns: phone, line_user_key, first_name)",
                "campaign.yaml:10:16: error: column 'line_key' is not in the header of basic.csv "
                "(did you mean 'line_user_key'? columns: phone, line_user_key, first_name)",
            ],
            id="missing-columns-with-hints",
        ),
        pytest.param(
            spec("basic.csv", phone="msisdn"),
            [
                "campaign.yaml:9:16: error: column 'msisdn' is not in the header of basic.csv "
                "(columns: phone, line_user_key, first_name)"
            ],
            id="missing-column-no-close-match",
        ),
        pytest.param(
            spec("latin1.csv"),
            [f"latin1.csv:row 3: error: not valid UTF-8: byte 0xe9 at offset 50 {UTF8_HINT}"],
            id="undecodable",
        ),
        pytest.param(
            spec("latin1_multiline.csv"),
            [f"latin1_multiline.csv:row 3: error: not valid UTF-8: byte 0xe9 at offset 53 {UTF8_HINT}"],
            id="undecodable-after-multiline-record",
        ),
        pytest.param(
            spec("bom_latin1_header.csv"),
            [f"bom_latin1_header.csv:row 1: error: not valid UTF-8: byte 0xe9 at offset 12 {UTF8_HINT}"],
            id="undecodable-header-after-bom",
        ),
        pytest.param(
            spec("utf16.csv"),
            [f"utf16.csv:row 1: error: the file is UTF-16, not UTF-8 {UTF8_HINT}"],
            id="utf16",
        ),
        pytest.param(
            spec("dup_header.csv"),
            [
                "dup_header.csv:row 1: error: column 'name' appears twice in the header (columns 2 and 4) "
                "(rename one of them)"
            ],
            id="duplicate-header",
        ),
        pytest.param(
            spec("empty.csv"),
            ["empty.csv: error: the file is empty (the first row must name the columns)"],
            id="empty-file",
        ),
        pytest.param(
            spec("blank_header.csv"),
            ["blank_header.csv:row 1: error: the header row is empty (the first row must name the columns)"],
            id="blank-header",
        ),
        pytest.param(
            spec("basic.csv", line="line_user_key", exclude=["exclude_other.csv", "nope.csv"]),
            [
                "campaign.yaml:12:7: error: exclude list exclude_other.csv has neither column 'phone' "
                "nor 'line_user_key' (columns: mobile, key)",
                "nope.csv: error: file not found "
                "(named at campaign.yaml:13:7; paths are relative to the campaign file's folder)",
            ],
            id="exclude-list-errors",
        ),
        pytest.param(
            spec("basic.csv", exclude=["exclude_line.csv"]),
            [
                "campaign.yaml:12:7: error: exclude list exclude_line.csv has no column 'phone' "
                "(columns: line_user_key, reason)"
            ],
            id="exclude-list-without-the-column",
        ),
    ],
)
def test_errors_before_any_row(recipients: Recipients, lines: list[str]) -> None:
    assert error_lines(recipients) == lines


def test_wrong_field_counts_are_collected_and_raised_after_the_rows() -> None:
    source = open_recipients(spec("wrong_fields.csv"), FIXTURES, campaign_path=FIXTURES / "campaign.yaml")
    rows = iter(source)
    assert isinstance(next(rows), Recipient)  # row 2 is fine
    with pytest.raises(InputErrors) as caught:
        next(rows)
    assert caught.value.lines() == [
        f"wrong_fields.csv:row 3: error: 5 fields, the header has 4 {QUOTE_HINT}",
        f"wrong_fields.csv:row 4: error: 2 fields, the header has 4 {QUOTE_HINT}",
    ]


def test_row_errors_past_the_cap_are_counted(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("phone,name\n" + "091 234 5678,a,b\n" * 25, encoding="utf-8")
    source = open_recipients(spec("r.csv"), tmp_path, campaign_path=tmp_path / "c.yaml")
    with pytest.raises(InputErrors) as caught:
        list(source)
    lines = caught.value.lines()
    assert len(lines) == MAX_ROW_ERRORS + 1
    assert lines[0] == f"{tmp_path / 'r.csv'}:row 2: error: 3 fields, the header has 2 {QUOTE_HINT}"
    assert lines[-1] == f"{tmp_path / 'r.csv'}: error: 5 more rows have the wrong number of fields"


def test_without_locate_errors_name_the_campaign_file() -> None:
    with pytest.raises(InputError) as caught:
        open_recipients(spec("basic.csv", phone="tel"), FIXTURES, campaign_path=FIXTURES / "campaign.yaml")
    assert str(caught.value).startswith("campaign.yaml: error: column 'tel' is not in the header of basic.csv")


# --- phone numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "text", "expected"),
    [
        pytest.param("HR", "091 234 5678", "385912345678", id="HR-national"),
        pytest.param("HR", "+385 91 234 5678", "385912345678", id="HR-international"),
        pytest.param("HR", "00385 91 234 5678", "385912345678", id="HR-idd"),
        pytest.param("HR", "+385 (0)91 234-5678", "385912345678", id="HR-national-prefix-in-parens"),
        pytest.param("HR", "912345678", "385912345678", id="HR-no-national-prefix"),
        pytest.param("HR", "385912345678", "385912345678", id="HR-country-code-without-plus"),
        pytest.param("DE", "0171 1234567", "491711234567", id="DE-national"),
        pytest.param("DE", "0171/123 45 67", "491711234567", id="DE-slash"),
        pytest.param("JP", "090-1234-5678", "819012345678", id="JP-national"),
        pytest.param("JP", "010 81 90 1234 5678", "819012345678", id="JP-idd-010"),
        pytest.param("TH", "081 234 5678", "66812345678", id="TH-national"),
        pytest.param("US", "(201) 555-0123", "12015550123", id="US-national"),
        pytest.param("US", "1-201-555-0123", "12015550123", id="US-trunk-1"),
        pytest.param("GB", "07400 123456", "447400123456", id="GB-national"),
        pytest.param("HR", "+44 7400 123456", "447400123456", id="GB-from-HR"),
        pytest.param("HR", "+1 204 234 5678", "12042345678", id="CA-shared-calling-code"),
        pytest.param(None, "+66 81 234 5678", "66812345678", id="no-default-region-international"),
        pytest.param(None, "081 234 5678", INVALID, id="no-default-region-national"),
        pytest.param("HR", "01 4567 890", PhoneNumberType.FIXED_LINE, id="fixed-line"),
        pytest.param("HR", "+385 91 234", INVALID, id="too-short"),
        pytest.param("HR", "091 234 5678 ext. 12", "385912345678", id="extension-library"),
        pytest.param("HR", "０９１ ２３４ ５６７８", "385912345678", id="fullwidth-digits-library"),
        pytest.param("HR", "call me", INVALID, id="not-a-number"),
    ],
)
def test_normalize(region: str | None, text: str, expected: str | int) -> None:
    assert PhoneNormalizer(region).normalize(text) == expected
    assert classify_with_library(text, region) == expected


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        pytest.param("JP", "819012345678", id="right-region"),
        pytest.param("GB", PhoneNumberType.PREMIUM_RATE, id="wrong-region-premium-rate"),
    ],
)
def test_jp_premium_rate_trap(region: str, expected: str | int) -> None:
    """090-1234-5678 is a Japanese mobile, and a valid British premium-rate number: never an SMS there."""
    assert phonenumbers.is_valid_number(phonenumbers.parse("090-1234-5678", "GB"))
    assert PhoneNormalizer(region).normalize("090-1234-5678") == expected


def test_jp_premium_rate_trap_in_a_campaign() -> None:
    items = read(spec("jp.csv", defaultRegion="GB"))
    assert summary(items) == [
        (2, "invalid_number", "a premium-rate number, not a mobile"),
        (3, "819012345678", ""),
    ]


def test_describe() -> None:
    assert describe(INVALID) == "not a valid phone number"
    assert describe(PhoneNumberType.TOLL_FREE) == "a toll-free number, not a mobile"


# A differential test: the fast path and the library agree on numbers of every shape.

DIFF_REGIONS = ("HR", "DE", "JP", "TH", "US", "GB", "FR", "IT", "RU", "KZ", "CA", "AR", "MX", "BR", "IN", "AU")
DIFF_TYPES = (
    PhoneNumberType.MOBILE,
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.SHARED_COST,
    PhoneNumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER,
    PhoneNumberType.UAN,
    PhoneNumberType.VOICEMAIL,
)


def _mutate(rng: random.Random, nsn: str) -> str:
    digits = list(nsn)
    roll = rng.random()
    if roll < 0.4:  # other subscriber digits: usually still valid
        for i in range(max(1, len(digits) - rng.randint(2, 5)), len(digits)):
            digits[i] = str(rng.randint(0, 9))
    elif roll < 0.55:
        digits[rng.randrange(len(digits))] = str(rng.randint(0, 9))
    elif roll < 0.65:
        digits.insert(rng.randrange(len(digits) + 1), str(rng.randint(0, 9)))
    elif roll < 0.75 and len(digits) > 3:
        del digits[rng.randrange(len(digits))]
    return "".join(digits)


def _written(rng: random.Random, text: str) -> str:
    """The number as people type it: separators, prefixes, and some shapes only the library reads."""
    variants = (
        lambda s: s,
        lambda s: s,
        lambda s: s.replace(" ", "-"),
        lambda s: s.replace(" ", ""),
        lambda s: s.replace(" ", "."),
        lambda s: s.replace(" ", "\u00a0"),
        lambda s: f"  {s} ",
        lambda s: s.replace(" ", "/", 1),
        lambda s: f"({s[:4]}){s[4:]}",
        lambda s: s.replace(" ", " - "),
        lambda s: s.replace("+", "00", 1) if s.startswith("+") else f"+{s}",
        lambda s: s[: rng.randint(1, len(s))],
        lambda s: s + rng.choice((" ext. 12", " x3", "#", ";ext=7", "a", " (home)")),
        lambda s: s.replace("1", "\uff11"),
        lambda s: "tel:" + s.replace(" ", ""),
        lambda s: s.replace(" ", "\t", 1),
    )
    return rng.choice(variants)(text)


def _differential_cases(seed: int, count: int) -> list[tuple[str, str | None]]:
    rng = random.Random(seed)
    cases: list[tuple[str, str | None]] = []
    while len(cases) < count:
        region = rng.choice(DIFF_REGIONS)
        example = phonenumbers.example_number_for_type(region, rng.choice(DIFF_TYPES))
        if example is None:
            continue
        nsn = _mutate(rng, phonenumbers.national_significant_number(example))
        number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(nsn))
        if nsn.startswith("0"):
            number.italian_leading_zero = True
            number.number_of_leading_zeros = len(nsn) - len(nsn.lstrip("0")) or None
        shape = rng.randrange(6)
        if shape == 0:
            text = phonenumbers.format_out_of_country_calling_number(number, rng.choice(DIFF_REGIONS))
        elif shape == 1:
            prefix = rng.choice(("", "0", "00", str(number.country_code), f"+{number.country_code} (0)"))
            text = prefix + phonenumbers.national_significant_number(number)
        else:
            fmt = (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL)
            text = phonenumbers.format_number(number, fmt[min(shape - 2, 2)])
        default = rng.choice((region, region, rng.choice(DIFF_REGIONS), None))
        cases.append((_written(rng, text), default))
    for _ in range(count // 10):  # random digits
        digits = "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(1, 19)))
        cases.append((rng.choice(("", "+", "00", "0")) + digits, rng.choice((*DIFF_REGIONS, None))))
    return cases


def test_fast_path_agrees_with_the_library() -> None:
    cases = _differential_cases(seed=20260301, count=5000)
    normalizers: dict[str | None, PhoneNormalizer] = {}
    mismatches = []
    kinds: set[str] = set()
    for text, region in cases:
        normalizer = normalizers.setdefault(region, PhoneNormalizer(region))
        fast, reference = normalizer.normalize(text), classify_with_library(text.strip(), region)
        kinds.add("mobile" if isinstance(reference, str) else "invalid" if reference == INVALID else "other")
        if fast != reference:
            mismatches.append((text, region, fast, reference))
    assert mismatches[:10] == []
    assert kinds == {"mobile", "invalid", "other"}
    slow = sum(n.slow for n in normalizers.values())
    assert slow < len(cases) * 0.3, "the fast path should decide most numbers"


# --- compact keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [52, 60], ids=["52-bit", "60-bit"])
def test_keyset(bits: int) -> None:
    keys = KeySet(bits)
    phones = [phone_key(str(385910000000 + i * 7)) for i in range(20000)]
    assert all(keys.add(k) for k in phones)
    assert not any(keys.add(k) for k in phones[:100])
    assert len(keys) == 20000
    assert phones[123] in keys
    assert phone_key("385910000001") not in keys
    assert phone_key("385910000000") in keys


def test_keyset_of_line_keys() -> None:
    keys = KeySet(60)
    lines = [line_key(f"U{i:032x}") for i in range(5000)]
    assert all(keys.add(k) for k in lines)
    assert lines[45] in keys and line_key("U-unknown") not in keys
    with pytest.raises(ValueError):
        KeySet(64)


def test_keys() -> None:
    assert phone_key("385912345678") == 385912345678  # exact
    assert 1 << 50 <= phone_key("99" * 9) < 1 << 51  # too long for an exact key: a digest
    assert line_key("a") != line_key("b")
    assert 0 <= line_key("U1234") < 1 << 60


def test_pure_core_imports_no_io_libraries() -> None:
    code = (
        "import sys, campaigner.recipients.reader; "
        "print(sorted({'httpx', 'sqlite3', 'campaigner.ledger.messages', 'campaigner.omni.client'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2]
    )
    assert out.stdout.strip() == "[]"


# --- hardening (#15) ---------------------------------------------------------------------------


def _read_at(base: Path, recipients: Recipients) -> list[Recipient | Skip]:
    with open_recipients(recipients, base, campaign_path=base / "campaign.yaml", locate=POSITIONS.__getitem__) as src:
        return list(src)


def _errors_at(base: Path, recipients: Recipients) -> list[str]:
    with pytest.raises(CampaignerError) as caught:
        _read_at(base, recipients)
    return caught.value.lines()


def test_the_delimiter_is_guessed_from_the_first_record_quotes_respected(tmp_path: Path) -> None:
    (tmp_path / "semi.csv").write_bytes(b'"phone\nnumber, mobile";name\r\n+385 91 234 5678;Ana\r\n')
    items = _read_at(tmp_path, spec("semi.csv", phone="phone\nnumber, mobile"))
    assert items == [Recipient(2, "385912345678", None, {"phone\nnumber, mobile": "+385 91 234 5678", "name": "Ana"})]


def test_invalid_utf8_in_a_file_with_cr_line_endings_names_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cr.csv").write_bytes(b"phone,name\r+385912345678,Ana\r+385987654321,Jos\xe9\r")
    assert _errors_at(tmp_path, spec("cr.csv")) == [
        f"cr.csv:row 3: error: not valid UTF-8: byte 0xe9 at offset 46 {UTF8_HINT}"
    ]


def test_inputs_outside_the_campaign_folder_are_refused_without_reading_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data.csv").symlink_to("/proc/self/environ")
    hint = "(copy the file into it; inputs are read only from the campaign file's git work tree, else from its folder)"
    assert _errors_at(tmp_path, spec("data.csv", exclude=["/etc/passwd"])) == [
        f"campaign.yaml:8:8: error: recipients.csv: data.csv (a link to /proc/{os.getpid()}/environ) is outside "
        f"the campaign's folder . {hint}",
        f"campaign.yaml:12:7: error: recipients.exclude[0]: /etc/passwd is outside the campaign's folder . {hint}",
    ]


def test_a_fifo_is_one_line_not_a_hang(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    os.mkfifo(tmp_path / "pipe.csv")
    assert _errors_at(tmp_path, spec("pipe.csv")) == [
        "pipe.csv: error: is a FIFO (named pipe), not a CSV file (named at campaign.yaml:8:8)"
    ]


def test_a_header_that_is_not_column_names_is_never_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    secret = "INFOBIP_API_KEY=0123456789abcdef"
    (tmp_path / "env.csv").write_text(f"PATH=/bin\x00{secret}\x00HOME=/root,{'x' * 300}\n+385912345678\n")
    (tmp_path / "wide.csv").write_text(",".join(f"column_{i}_{'y' * 50}" for i in range(3)) + "\n")
    lines = _errors_at(tmp_path, spec("env.csv")) + _errors_at(tmp_path, spec("wide.csv"))
    assert lines == [
        "campaign.yaml:9:16: error: column 'phone' is not in the header of env.csv "
        "(its first row does not look like column names; the first row must name the columns)",
        "campaign.yaml:9:16: error: column 'phone' is not in the header of wide.csv (columns: "
        + ", ".join(f"column_{i}_{'y' * 30}…" for i in range(3))
        + ")",
    ]
    assert all(secret not in line for line in lines)


def test_a_first_row_past_64_kib_is_no_header_and_is_not_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "blob.csv").write_text("x" * (8 << 20), encoding="utf-8")
    (tmp_path / "quote.csv").write_text('"phone\n' + "row,never,closed\n" * 10000, encoding="utf-8")
    hint = '(the first row must name the columns; a quote opened in it must be closed with ")'
    assert _errors_at(tmp_path, spec("blob.csv")) + _errors_at(tmp_path, spec("quote.csv")) == [
        f"blob.csv:row 1: error: the first row is longer than 64 KiB, so it is no header of column names {hint}",
        f"quote.csv:row 1: error: the first row is longer than 64 KiB, so it is no header of column names {hint}",
    ]
