"""The recipients of a campaign, streamed from its CSV: addresses normalized, skips with their reasons.

Reading (SPEC section 3): UTF-8 with or without a BOM, the delimiter (``,`` ``;`` or tab) sniffed
from the header record (quotes respected), which names the columns (names stripped of surrounding
spaces; a column with an empty name is ignored). ``row`` numbers are records as a spreadsheet shows
them: the header is row 1, a quoted value spanning lines is still one row, blank lines count but yield
nothing.

Each data row gives a :class:`Recipient` or a :class:`Skip`, in file order, checked in this order:

- ``invalid_number``: a non-empty phone number that is not a valid mobile number (E.164 normalized
  by :mod:`campaigner.recipients.phones`; premium-rate, fixed-line and other non-mobile types included), even
  when the row also has a LINE user key;
- ``no_address``: neither a phone number nor a LINE user key;
- ``excluded``: its phone number or its LINE user key is on an exclude list;
- ``duplicate``: its phone number, or its LINE user key, belongs to a recipient of an earlier row.
  First row wins; a skipped row claims nothing, so a later row may still use its addresses.

Duplicates are found in two compact key sets (:mod:`campaigner.recipients.keyset`); nothing else grows with the
number of rows.

Errors stop the plan (:class:`InputError`, collected into :class:`InputErrors`): a file outside the
campaign's repository or not a regular file (a folder, a FIFO, a device), a missing or unreadable file,
an empty file or header (or one past 64 KiB), duplicate column names, an address column named in the
campaign but absent from the header (located in the campaign file), a row whose field count differs
from the header's, a byte that is not UTF-8. Header errors are raised by :func:`open_recipients`;
row errors are collected while iterating (up to :data:`MAX_ROW_ERRORS`) and raised at the end.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from campaigner.campaign.files import FileRefused, confine, open_regular, repository_root
from campaigner.campaign.files import shown as shown_name
from campaigner.campaign.spec import Recipients
from campaigner.errors import InputError, InputErrors, display_path
from campaigner.recipients.keyset import KeySet, line_key, phone_key
from campaigner.recipients.phones import PhoneNormalizer, describe

SKIP_REASONS = ("invalid_number", "no_address", "duplicate", "excluded")
INVALID_NUMBER, NO_ADDRESS, DUPLICATE, EXCLUDED = SKIP_REASONS
MAX_ROW_ERRORS = 20
"""Row errors reported one by one; past this, one line counts the rest."""

Locate = Callable[[tuple[str | int, ...]], tuple[int, int]]
_DELIMITERS = (",", ";", "\t")
_UTF8_HINT = "save it as UTF-8; in Excel: Save As, CSV UTF-8"


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~1 µs more to make, once per row
class Recipient:
    """One CSV row to send to: its normalized addresses and its columns (template variables); read-only."""

    row: int
    phone_number: str | None
    line_user_key: str | None
    fields: dict[str, str]

    @property
    def recipient_id(self) -> str:
        """The phone number's E.164 digits, or ``line:<key>`` without a phone number."""
        return self.phone_number if self.phone_number else f"line:{self.line_user_key}"


@dataclass(frozen=True, slots=True)
class Skip:
    """One CSV row not sent to, with one of :data:`SKIP_REASONS` and a short detail."""

    row: int
    reason: str
    detail: str

    def __reduce__(self) -> tuple[object, ...]:
        """Pickled as its fields (planning workers send it to the main process; 10x faster than the default)."""
        return (
            Skip,
            (
                self.row,
                self.reason,
                self.detail,
            ),
        )


def input_files(spec: Recipients, base_dir: Path) -> list[Path]:
    """Every file the recipients are read from (the CSV, then the exclude lists), for the saved plan."""
    return [base_dir / spec.csv, *(base_dir / name for name in spec.exclude)]


class _Context:
    """Where the campaign file names things, to locate errors about them."""

    def __init__(self, campaign_path: Path, locate: Locate | None) -> None:
        self.campaign_path = campaign_path
        self.locate = locate
        self.root = repository_root(campaign_path)

    def error(self, keys: tuple[str | int, ...], message: str, hint: str | None = None) -> InputError:
        line = col = None
        if self.locate is not None:
            with contextlib.suppress(LookupError):
                line, col = self.locate(keys)
        return InputError(message, path=self.campaign_path, line=line, col=col, hint=hint)

    def where(self, keys: tuple[str | int, ...]) -> str:
        return str(self.error(keys, "").location)


class _CsvFile:
    """An open CSV: its header read and checked, its records still to come."""

    def __init__(self, path: Path, ctx: _Context, keys: tuple[str | int, ...], written: str) -> None:
        self.path = path
        self.header: tuple[str, ...] = ()
        self.errors: list[InputError] = []
        self._file: IO[str] | None = None
        self.records: Iterator[list[str]] = iter(())
        self.delimiter = ","
        try:
            confine(path, ctx.root, written)
            self._file = open_regular(path, what="a CSV file")
            head = _first_record(self._file)
        except FileRefused as exc:
            if exc.outside:
                name = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys).lstrip(".")
                self._fail(
                    ctx.error(
                        keys,
                        f"{name}: {exc.message}",
                        hint="copy the file into it; inputs are read only from the campaign file's git work tree, "
                        "else from its folder",
                    )
                )
            else:
                self._fail(InputError(exc.message, path=path, hint=f"named at {ctx.where(keys)}"))
            return
        except _HeaderTooLong:
            self._fail(
                InputError(
                    f"the first row is longer than {_HEAD_LIMIT // 1024} KiB, so it is no header of column names",
                    path=path,
                    row=1,
                    hint='the first row must name the columns; a quote opened in it must be closed with "',
                )
            )
            return
        except FileNotFoundError:
            self._fail(
                InputError(
                    "file not found",
                    path=path,
                    hint=f"named at {ctx.where(keys)}; paths are relative to the campaign file's folder",
                )
            )
            return
        except UnicodeDecodeError:
            self._fail(undecodable(path, ","))
            return
        except OSError as exc:
            self._fail(InputError(f"cannot read the file: {exc.strerror or exc}", path=path))
            return
        if not head:
            self._fail(InputError("the file is empty", path=path, hint="the first row must name the columns"))
            return
        self.delimiter = sniff_delimiter("".join(head))
        self.records = csv.reader(itertools.chain(head, self._file), delimiter=self.delimiter)
        try:
            names = next(self.records, [])
        except UnicodeDecodeError:
            self._fail(undecodable(path, self.delimiter))
            return
        except csv.Error as exc:
            self._fail(InputError(f"cannot read the header: {exc}", path=path, row=1))
            return
        self.header = tuple(name.strip() for name in names)
        if not any(self.header):
            self._fail(
                InputError("the header row is empty", path=path, row=1, hint="the first row must name the columns")
            )
            return
        first_at: dict[str, int] = {}
        for i, name in enumerate(self.header, start=1):
            if name and name in first_at:
                self.errors.append(
                    InputError(
                        f"column {shown_name(name, _NAME_SHOWN)!r} appears twice in the header "
                        f"(columns {first_at[name]} and {i})",
                        path=path,
                        row=1,
                        hint="rename one of them",
                    )
                )
            first_at.setdefault(name, i)

    def _fail(self, error: InputError) -> None:
        self.errors.append(error)
        self.close()

    def column_hint(self, column: str) -> str:
        """The header's columns (names only, each cut short), and the one the user probably meant by ``column``."""
        columns = [name for name in self.header if name]
        if not all(name.isprintable() and len(name) <= _NAME_LIMIT for name in columns):
            return "its first row does not look like column names; the first row must name the columns"
        names = ", ".join(shown_name(n, _NAME_SHOWN) for n in columns[:30])
        hint = f"columns: {names}{', …' if len(columns) > 30 else ''}"
        by_case = [name for name in columns if name.casefold() == column.casefold()]
        close = by_case or difflib.get_close_matches(column, columns, n=1)
        return f"did you mean {shown_name(close[0], _NAME_SHOWN)!r}? {hint}" if close else hint

    def field_count_error(self, row: int, count: int) -> InputError:
        shown = "tab" if self.delimiter == "\t" else repr(self.delimiter)
        return InputError(
            f"{count} field{'s' if count != 1 else ''}, the header has {len(self.header)}",
            path=self.path,
            row=row,
            hint=f'a value containing {shown}, a line break or a " must be in double quotes',
        )

    def unclosed_quote_error(self, row: int) -> InputError:
        return InputError(
            "a quoted value opened on this row is never closed; it runs to the end of the file",
            path=self.path,
            row=row,
            hint='add the closing "',
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


_HEAD_LIMIT = 1 << 16
"""The header record's length limit in characters: past it, the file is refused without reading on."""
_NAME_SHOWN = 40
"""A column name is cut to this many characters in error lines."""
_NAME_LIMIT = 100
"""A header with a longer name, or one with control characters, is not listed in error lines at all."""


def _first_record(file: IO[str]) -> list[str]:
    """The physical lines of the first record (quotes respected, so a quoted name may hold a line break)."""
    head: list[str] = []
    size = quotes = 0
    while True:
        line = file.readline(_HEAD_LIMIT - size + 1)
        if not line:
            return head
        head.append(line)
        size += len(line)
        quotes += line.count('"')
        complete = line.endswith(("\n", "\r"))
        if size > _HEAD_LIMIT or (not complete and len(line) > _HEAD_LIMIT):
            raise _HeaderTooLong
        if quotes % 2 == 0 and complete:
            return head
        if not complete:  # the last line, without a line break
            return head


class _HeaderTooLong(Exception):
    """The first record runs past :data:`_HEAD_LIMIT` characters: no header of column names."""


def sniff_delimiter(header_line: str) -> str:
    """The delimiter among ``,`` ``;`` tab seen most often outside quotes in the header (``,`` on ties).

    ``header_line`` is the header's whole record, which may span lines inside quotes.
    """
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return max(_DELIMITERS, key=lambda d: (counts[d], -_DELIMITERS.index(d)))


_BAD_BYTE = re.compile("[\udc80-\udcff]")


def undecodable(path: Path, delimiter: str) -> InputError:
    """The error for a file that is not UTF-8, naming the row and byte of the first bad byte.

    Streams the file once with bad bytes kept as surrogates (any line ending: LF, CRLF or CR alone).
    """
    found: list[tuple[int, int]] = []  # (offset, byte) of the first bad byte

    def text_before_bad_byte(text: IO[str], offset: int) -> Iterator[str]:
        for line in text:
            bad = _BAD_BYTE.search(line)
            if bad is None:
                offset += len(line.encode("utf-8", "surrogateescape"))
                yield line
                continue
            before = line[: bad.start()]
            found.append((offset + len(before.encode("utf-8", "surrogateescape")), ord(bad.group()) - 0xDC00))
            # With a sentinel appended, the record holding the bad byte is the last one read.
            yield before + "\x00"
            return

    with open(path, "rb") as raw:
        head = raw.read(3)
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return InputError("the file is UTF-16, not UTF-8", path=path, row=1, hint=_UTF8_HINT)
    start = 3 if head == codecs.BOM_UTF8 else 0
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as text:
        lines = text_before_bad_byte(text, start)
        try:
            row = sum(1 for _ in csv.reader(lines, delimiter=delimiter))
        except csv.Error:  # pragma: no cover (universal line splitting leaves no bare line break in a line)
            row = 0
    if not found:  # pragma: no cover (the file changed between the two reads)
        return InputError("not valid UTF-8", path=path, hint=_UTF8_HINT)
    offset, byte = found[0]
    return InputError(
        f"not valid UTF-8: byte 0x{byte:02x} at offset {offset}", path=path, row=row or None, hint=_UTF8_HINT
    )


def _raise(errors: Sequence[InputError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(list(errors))


_ExcludeList = tuple[KeySet, KeySet, str]  # phone keys, LINE keys, the list's path as shown


def _load_exclude(
    spec: Recipients, path: Path, index: int, ctx: _Context, phones: PhoneNormalizer
) -> tuple[_ExcludeList | None, list[InputError]]:
    where = ("recipients", "exclude", index)
    source = _CsvFile(path, ctx, where, spec.exclude[index])
    if source.errors:
        source.close()
        return None, source.errors
    phone_i = _index(source.header, spec.phoneNumber)
    line_i = _index(source.header, spec.lineUserKey)
    if phone_i is None and line_i is None:
        source.close()
        shown = display_path(path)
        column = spec.phoneNumber or spec.lineUserKey or ""
        if spec.phoneNumber and spec.lineUserKey:
            message = f"exclude list {shown} has neither column {spec.phoneNumber!r} nor {spec.lineUserKey!r}"
        else:
            message = f"exclude list {shown} has no column {column!r}"
        hint = source.column_hint(column)
        return None, [ctx.error(where, message, hint)]
    keys = Duplicates()  # the list's addresses, in the same two key sets
    errors: list[InputError] = []
    for _, values in _records(source, errors):
        if phone_i is not None and (raw := values[phone_i].strip()):
            phone = phones.normalize(raw)
            if isinstance(phone, str):
                keys.phones.add(phone_key(phone))
        if line_i is not None and (line := values[line_i].strip()):
            keys.lines.add(line_key(line))
    return (keys.phones, keys.lines, display_path(path)), errors


def _records(source: _CsvFile, errors: list[InputError]) -> Iterator[tuple[int, list[str]]]:
    """(row, values) of each record as wide as the header; other records become ``errors``."""
    width = len(source.header)
    row, extra = 1, 0
    try:
        records = iter(source.records)
        ahead = next(records, None)
        while ahead is not None:
            values, ahead = ahead, next(records, None)
            row += 1
            if len(values) == width:
                yield row, values
            elif ahead is None and any("\n" in v for v in values):
                errors.append(source.unclosed_quote_error(row))
            elif values:  # a blank line is no record
                if len(errors) < MAX_ROW_ERRORS:
                    errors.append(source.field_count_error(row, len(values)))
                else:
                    extra += 1
    except UnicodeDecodeError:
        errors.append(undecodable(source.path, source.delimiter))
    except csv.Error as exc:
        errors.append(InputError(f"cannot read the CSV: {exc}", path=source.path, row=row + 1))
    finally:
        source.close()
    if extra:
        errors.append(InputError(f"{extra} more rows have the wrong number of fields", path=source.path))


def _index(header: tuple[str, ...], column: str | None) -> int | None:
    if not column:
        return None
    try:
        return header.index(column)
    except ValueError:
        return None


class RecipientSource:
    """The recipients of a campaign: ``header`` checked at once, rows streamed once by iterating.

    Iterating yields :class:`Recipient` and :class:`Skip` in file order, raises the collected row
    errors at the end, and closes the file; ``close()`` (or ``with``) closes it early.
    """

    def __init__(
        self, spec: Recipients, source: _CsvFile, excludes: list[_ExcludeList], phones: PhoneNormalizer
    ) -> None:
        self.spec = spec
        self.path = source.path
        self.header = source.header
        self.rows = 0
        """Rows read so far (blank lines and rows with the wrong number of fields not counted)."""
        self.phones = phones
        self._source = source
        self._excludes = excludes
        self._started = False

    def __enter__(self) -> RecipientSource:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._source.close()

    def __iter__(self) -> Iterator[Recipient | Skip]:
        if self._started:
            raise RuntimeError("the recipients of a RecipientSource can be read only once")
        self._started = True
        return self._read()

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """The raw ``(row, values)`` records, counted in ``rows``; the row errors are raised at the end.

        With :meth:`row_reader` and :meth:`duplicates` this is the same reading as iterating, split in its
        order-free part (each row alone) and its order-dependent part (the first row of an address wins).
        """
        if self._started:
            raise RuntimeError("the recipients of a RecipientSource can be read only once")
        self._started = True
        errors: list[InputError] = []
        for record in _records(self._source, errors):
            self.rows += 1
            yield record
        _raise(errors)

    def row_reader(self) -> RowReader:
        return RowReader(self.spec, self.header, self._excludes, self.phones)

    def _read(self) -> Iterator[Recipient | Skip]:
        read = self.row_reader().read
        duplicate = Duplicates().check
        errors: list[InputError] = []
        for row, values in _records(self._source, errors):
            self.rows += 1
            item = read(row, values)
            if type(item) is Skip:
                yield item
                continue
            addressed: Addressed = item  # type: ignore[assignment]
            skip = duplicate(row, addressed[2], addressed[3])
            yield skip if skip is not None else Recipient(row, addressed[0], addressed[1], addressed[4])
        _raise(errors)


Addressed = tuple[str | None, str | None, int | None, int | None, dict[str, str]]
"""A row with an address: phone number, LINE key, their keys (for duplicates) and the row's columns."""


class RowReader:
    """The checks of one row that need no other row: its phone number, an address, the exclude lists.

    Picklable: a worker process reads rows with a copy (see :mod:`campaigner.plan.workers`).
    """

    def __init__(
        self, spec: Recipients, header: tuple[str, ...], excludes: list[_ExcludeList], phones: PhoneNormalizer
    ) -> None:
        self.header = header
        self.named = all(header)
        self.kept = [(i, name) for i, name in enumerate(header) if name]
        self.phone_i = _index(header, spec.phoneNumber)
        self.line_i = _index(header, spec.lineUserKey)
        self.excludes = excludes
        self.phones = phones
        columns = ((self.phone_i, "phone number"), (self.line_i, "LINE user key"))
        no_address = " and no ".join(what for column, what in columns if column is not None)
        self.no_address = f"no {no_address}"

    def read(self, row: int, values: list[str]) -> Skip | Addressed:
        """A :class:`Skip` (``invalid_number``, ``no_address``, ``excluded``), else the row's addresses."""
        phone_i, line_i = self.phone_i, self.line_i
        phone: str | None = None
        pkey = lkey = None
        if phone_i is not None and (raw := values[phone_i].strip()):
            result = self.phones.normalize(raw)
            if not isinstance(result, str):
                return Skip(row, INVALID_NUMBER, describe(result))
            phone = result
            pkey = phone_key(phone)
        line = values[line_i].strip() if line_i is not None else ""
        if line:
            lkey = line_key(line)
        elif phone is None:
            return Skip(row, NO_ADDRESS, self.no_address)
        for phones, lines, shown in self.excludes:
            if pkey is not None and pkey in phones:
                return Skip(row, EXCLUDED, f"phone number on {shown}")
            if lkey is not None and lkey in lines:
                return Skip(row, EXCLUDED, f"LINE user key on {shown}")
        header = self.header
        fields = dict(zip(header, values, strict=True)) if self.named else {n: values[i] for i, n in self.kept}
        return phone, line or None, pkey, lkey, fields


class Duplicates:
    """The addresses of the rows read so far: a later row with one of them is a ``duplicate``.

    A skipped row claims nothing, so a later row may still use its addresses.
    """

    __slots__ = ("lines", "phones")

    def __init__(self) -> None:
        self.phones = KeySet(52)
        self.lines = KeySet(60)

    def check(self, row: int, pkey: int | None, lkey: int | None) -> Skip | None:
        """None (and the addresses claimed) when the row is the first with them, else its Skip."""
        if lkey is None:
            if not self.phones.add(pkey):  # type: ignore[arg-type]  # a row without a LINE key has a phone
                return Skip(row, DUPLICATE, "phone number seen in an earlier row")
            return None
        if pkey is not None and pkey in self.phones:
            return Skip(row, DUPLICATE, "phone number seen in an earlier row")
        if not self.lines.add(lkey):
            return Skip(row, DUPLICATE, "LINE user key seen in an earlier row")
        if pkey is not None:
            self.phones.add(pkey)
        return None


def open_recipients(
    spec: Recipients, base_dir: Path, *, campaign_path: Path, locate: Locate | None = None
) -> RecipientSource:
    """Open the recipient CSV, check its header and read the exclude lists; rows come by iterating.

    Raises :class:`InputError` / :class:`InputErrors` with every problem found in the header and
    the exclude lists. ``locate(("recipients", "phoneNumber"))`` -> ``(line, col)`` in the campaign
    file places the errors about columns the campaign names.
    """
    ctx = _Context(campaign_path, locate)
    phones = PhoneNormalizer(spec.defaultRegion)
    source = _CsvFile(base_dir / spec.csv, ctx, ("recipients", "csv"), spec.csv)
    errors = list(source.errors)
    if not source.errors:
        for key, column in (("phoneNumber", spec.phoneNumber), ("lineUserKey", spec.lineUserKey)):
            if column and column not in source.header:
                message = f"column {column!r} is not in the header of {display_path(source.path)}"
                errors.append(ctx.error(("recipients", key), message, source.column_hint(column)))
    excludes: list[_ExcludeList] = []
    for index, name in enumerate(spec.exclude):
        exclude, problems = _load_exclude(spec, base_dir / name, index, ctx, phones)
        errors.extend(problems)
        if exclude is not None:
            excludes.append(exclude)
    if errors:
        source.close()
        _raise(errors)
    return RecipientSource(spec, source, excludes, phones)
