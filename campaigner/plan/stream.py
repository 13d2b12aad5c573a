"""The message stream: a campaign's recipients as planned messages and skips, in CSV order.

Each row is worked out in two parts. The order-free part needs that row alone: its phone number, an
address, the exclude lists (:class:`~campaigner.recipients.reader.RowReader`), its time zones, its
rendered content, payload hash and message id (:class:`MessageMaker`). The ordered part needs the rows
before it: duplicates (the first row of an address wins) and the row errors (stop after
:data:`MAX_ROW_ERRORS`). With ``jobs > 1`` the order-free part is shared with ``jobs - 1`` worker processes
(:mod:`campaigner.plan.workers`) and the ordered part here, so the stream is the same either way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence

from campaigner.campaign.load import LoadedCampaign
from campaigner.content.templates import SandboxLimitError, compile_content
from campaigner.errors import InputError, InputErrors, display_path
from campaigner.plan.maker import MessageMaker
from campaigner.plan.message import PlannedMessage
from campaigner.recipients.reader import SKIP_REASONS, Duplicates, Recipient, Skip, open_recipients
from campaigner.schedule.windows import SCHEDULE_SKIP_REASONS
from campaigner.schedule.zones import ZoneFinder, load_zone

MAX_ROW_ERRORS = 20  # rows that fail to render: report this many, then stop reading


def skip_reasons(loaded: LoadedCampaign) -> tuple[str, ...]:
    """The reasons a row of this campaign may be skipped for (the schedule's only with ``send.localHours``)."""
    return SKIP_REASONS + (SCHEDULE_SKIP_REASONS if loaded.spec.send.localHours is not None else ())


class RowErrors:
    """Rows that failed to render, the same problem on many rows told once: ``(and 41 more rows: 7, 9, …)``."""

    def __init__(self, limit: int = MAX_ROW_ERRORS) -> None:
        self.limit = limit
        self._first: dict[tuple[str, str], InputError] = {}
        self._more: dict[tuple[str, str], list[int]] = {}
        self._counts: dict[tuple[str, str], int] = {}

    @property
    def full(self) -> bool:
        return len(self._first) >= self.limit

    def add(self, exc: InputError) -> None:
        key = (exc.path, exc.message)
        if key not in self._first:
            self._first[key] = exc
            self._more[key] = []
            self._counts[key] = 0
            return
        self._counts[key] += 1
        if len(self._more[key]) < 3 and exc.row is not None:
            self._more[key].append(exc.row)

    def merged(self) -> list[InputError]:
        out = []
        for key, exc in self._first.items():
            n = self._counts[key]
            if not n:
                out.append(exc)
                continue
            rows = ", ".join(map(str, self._more[key])) + (", …" if n > len(self._more[key]) else "")
            more = f"and {n} more row{'s' if n != 1 else ''}: {rows}"
            hint = f"{exc.hint}; {more}" if exc.hint else more
            out.append(
                InputError(exc.message, path=exc.path, row=exc.row, line=exc.line, col=exc.location.col, hint=hint)
            )
        return out


class MessageStream:
    """The campaign's recipients as planned messages and skips, in CSV order.

    Opens the CSV and checks every template against its header before the first row is read. ``jobs``:
    the processes that share the order-free work, this one included (``None``: as :func:`workers.jobs_for` decides
    from the CSV's size and the cores available; 1: none, all in this process).
    """

    def __init__(
        self, loaded: LoadedCampaign, target_id: str, *, show_pii: bool = False, jobs: int | None = None
    ) -> None:
        self.loaded = loaded
        self.target_id = target_id
        self.show_pii = show_pii
        spec = loaded.spec
        self.source = open_recipients(spec.recipients, loaded.base_dir, campaign_path=loaded.path, locate=loaded.locate)
        try:
            self.content = compile_content(
                spec,
                campaign_path=loaded.path,
                locate=loaded.locate,
                header=self.source.header,
                csv_path=self.source.path,
            )
            self.zones = _zone_finder(loaded, self.source.header) if spec.send.localHours is not None else None
        except BaseException:
            self.source.close()
            raise
        self.maker = MessageMaker(
            spec,
            csv_path=self.source.path,
            target_id=target_id,
            content=self.content,
            zones=self.zones,
            show_pii=show_pii,
        )
        if jobs is None:
            from campaigner.plan.workers import jobs_for

            try:
                jobs = jobs_for(self.source.path)
            except BaseException:
                self.source.close()
                raise
        self.jobs = jobs
        self.errors: list[InputError] = []
        self.row_errors = RowErrors()

    def __iter__(self) -> Iterator[PlannedMessage | Skip]:
        try:
            yield from (self._parallel() if self.jobs > 1 else self._messages())
        except InputErrors as exc:  # rows the CSV reader could not read, reported after the last row
            self.errors.extend(exc.errors)
        except InputError as exc:
            self.errors.append(exc)
        self.errors.extend(self.row_errors.merged())

    def _stops(self, exc: InputError) -> bool:
        """Count a row error; True when the stream stops here (a sandbox limit: the next rows fail alike)."""
        self.row_errors.add(exc)
        return isinstance(exc, SandboxLimitError) or self.row_errors.full

    def _messages(self) -> Iterator[PlannedMessage | Skip]:
        make = self.maker.make
        for item in self.source:
            if type(item) is Skip:
                yield item
                continue
            rec: Recipient = item  # type: ignore[assignment]
            out = make(rec.row, rec.phone_number, rec.line_user_key, rec.fields)
            if isinstance(out, InputError):
                if self._stops(out):
                    return
                continue
            yield out

    def _parallel(self) -> Iterator[PlannedMessage | Skip]:
        from campaigner.plan.workers import WorkerPool, WorkerSetup, decode, work

        setup = WorkerSetup(
            spec=self.loaded.spec,
            campaign_path=self.loaded.path,
            csv_path=self.source.path,
            header=self.source.header,
            target_id=self.target_id,
            reader=self.source.row_reader(),
            zone_column=self.zones.column if self.zones is not None else None,
            zone_fallback=self.zones.fallback[0] if self.zones is not None and self.zones.fallback else None,
            show_pii=self.show_pii,
        )
        duplicate = Duplicates().check
        local = functools.partial(work, setup.reader.read, self.maker.make)
        with WorkerPool(self.jobs - 1, setup) as pool:  # this process is one of the jobs
            for answer in pool.results(self.source.records(), local):
                for r in decode(answer):
                    if type(r) is Skip:
                        yield r
                        continue
                    row, pkey, lkey, out = r  # type: ignore[misc]  # not a Skip: the 4-tuple
                    skip = duplicate(row, pkey, lkey)
                    if skip is not None:
                        yield skip
                    elif isinstance(out, InputError):
                        if self._stops(out):
                            return
                    else:
                        yield out

    def close(self) -> None:
        self.source.close()


def _zone_finder(loaded: LoadedCampaign, header: Sequence[str]) -> ZoneFinder:
    """The recipients' zones as ``send.localHours`` says; its column and fallback checked, located in the file."""
    hours = loaded.spec.send.localHours
    assert hours is not None
    errors = []
    column = None if hours.zone == "auto" else hours.zone
    if column is not None and column not in header:
        columns = ", ".join(h for h in header if h)
        errors.append(
            loaded.error(
                ("send", "localHours", "zone"),
                f"column {column!r} is not in the header of {display_path(loaded.resolve(loaded.spec.recipients.csv))}",
                hint=f"name the column with each recipient's IANA zone, or use auto; columns: {columns}",
            )
        )
    if hours.fallback is not None and load_zone(hours.fallback) is None:
        errors.append(
            loaded.error(
                ("send", "localHours", "fallback"),
                f"{hours.fallback!r} is not an IANA time zone",
                hint="use a name such as Europe/Zagreb or Asia/Tokyo",
            )
        )
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InputErrors(errors)
    return ZoneFinder(column=column, fallback=hours.fallback)
