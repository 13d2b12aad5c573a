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
row errors are collected while iterating (up to :data:`~campaigner.recipients.csvfile.MAX_ROW_ERRORS`) and
raised at the end. The file itself (encoding, delimiter, header, records): :mod:`campaigner.recipients.csvfile`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from campaigner.campaign.spec import Recipients
from campaigner.errors import InputError, display_path
from campaigner.recipients.csvfile import Context, CsvFile, Locate, raise_errors, read_records
from campaigner.recipients.keyset import KeySet, line_key, phone_key
from campaigner.recipients.phones import PhoneNormalizer, describe

SKIP_REASONS = ("invalid_number", "no_address", "duplicate", "excluded")
INVALID_NUMBER, NO_ADDRESS, DUPLICATE, EXCLUDED = SKIP_REASONS


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


_ExcludeList = tuple[KeySet, KeySet, str]  # phone keys, LINE keys, the list's path as shown


def _load_exclude(
    spec: Recipients, path: Path, index: int, ctx: Context, phones: PhoneNormalizer
) -> tuple[_ExcludeList | None, list[InputError]]:
    where = ("recipients", "exclude", index)
    source = CsvFile(path, ctx, where, spec.exclude[index])
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
    for _, values in read_records(source, errors):
        if phone_i is not None and (raw := values[phone_i].strip()):
            phone = phones.normalize(raw)
            if isinstance(phone, str):
                keys.phones.add(phone_key(phone))
        if line_i is not None and (line := values[line_i].strip()):
            keys.lines.add(line_key(line))
    return (keys.phones, keys.lines, display_path(path)), errors


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
        self, spec: Recipients, source: CsvFile, excludes: list[_ExcludeList], phones: PhoneNormalizer
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
        return self._read(self.records())

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """The raw ``(row, values)`` records, counted in ``rows``; the row errors are raised at the end.

        With :meth:`row_reader` and :class:`Duplicates` this is the same reading as iterating, split in its
        order-free part (each row alone) and its order-dependent part (the first row of an address wins).
        """
        if self._started:
            raise RuntimeError("the recipients of a RecipientSource can be read only once")
        self._started = True
        return self._counted()

    def _counted(self) -> Iterator[tuple[int, list[str]]]:
        errors: list[InputError] = []
        for record in read_records(self._source, errors):
            self.rows += 1
            yield record
        raise_errors(errors)

    def row_reader(self) -> RowReader:
        return RowReader(self.spec, self.header, self._excludes, self.phones)

    def _read(self, records: Iterator[tuple[int, list[str]]]) -> Iterator[Recipient | Skip]:
        read = self.row_reader().read
        duplicate = Duplicates().check
        for row, values in records:
            item = read(row, values)
            if type(item) is Skip:
                yield item
                continue
            addressed: Addressed = item  # type: ignore[assignment]
            skip = duplicate(row, addressed[2], addressed[3])
            yield skip if skip is not None else Recipient(row, addressed[0], addressed[1], addressed[4])


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
    ctx = Context(campaign_path, locate)
    phones = PhoneNormalizer(spec.defaultRegion)
    source = CsvFile(base_dir / spec.csv, ctx, ("recipients", "csv"), spec.csv)
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
        raise_errors(errors)
    return RecipientSource(spec, source, excludes, phones)
