"""A recipient CSV opened and checked: its file, its encoding, its delimiter, its header, its records.

Used for the recipient list and the exclude lists (:mod:`campaigner.recipients.reader`). ``row`` numbers
are records as a spreadsheet shows them: the header is row 1, a quoted value spanning lines is still one
row, blank lines count but yield nothing.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import difflib
import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from campaigner.campaign.files import FileRefused, confine, open_regular, repository_root
from campaigner.campaign.files import shown as shown_name
from campaigner.errors import InputError, InputErrors

MAX_ROW_ERRORS = 20
"""Row errors reported one by one; past this, one line counts the rest."""

Locate = Callable[[tuple[str | int, ...]], tuple[int, int]]
_DELIMITERS = (",", ";", "\t")
_UTF8_HINT = "save it as UTF-8; in Excel: Save As, CSV UTF-8"


class Context:
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


class CsvFile:
    """An open CSV: its header read and checked, its records still to come."""

    def __init__(self, path: Path, ctx: Context, keys: tuple[str | int, ...], written: str) -> None:
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


def raise_errors(errors: Sequence[InputError]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(list(errors))


def read_records(source: CsvFile, errors: list[InputError]) -> Iterator[tuple[int, list[str]]]:
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
