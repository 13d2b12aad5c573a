"""Worker processes for the order-free part of the message stream: a large CSV planned on every core.

The main process reads the CSV's records and hands them out in chunks; each worker reads its rows
(phone number, addresses, exclude lists) and makes their messages (zones, content, payload hash, message
id) exactly as :class:`~campaigner.plan.stream.MessageStream` does in one process, and answers in order.
The main process keeps what depends on the rows before: duplicates and row errors. Workers send and
write nothing; a worker that dies takes the stream down with it (an error, never a partial plan).

The main process answers chunks too while the workers are busy, so ``jobs`` processes plan: the main
one and ``jobs - 1`` workers. How many: ``CAMPAIGNER_JOBS`` (1 = the main process alone), else one per
core available for CSVs of at least :data:`PARALLEL_BYTES`, below which starting a worker (~0.5 s)
costs more than it saves.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
import signal
import threading
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from campaigner.campaign.spec import Campaign
from campaigner.content.templates import compile_content
from campaigner.errors import CampaignerError
from campaigner.plan.maker import MessageMaker, Outcome
from campaigner.plan.message import Payload, PlannedMessage
from campaigner.recipients.reader import RowReader, Skip
from campaigner.schedule.zones import ZoneFinder

PARALLEL_BYTES = 8 * 1024 * 1024  # ~150,000 rows of a typical recipient list
CHUNK = 2000  # rows a worker takes at once
AHEAD = 2  # chunks handed to each worker before its first answer is awaited
PIPE_BYTES = 1024 * 1024
MAX_JOBS = 8
ENV = "CAMPAIGNER_JOBS"
PLANNING_GC = (50_000, 20, 20)
"""The collector's thresholds while a plan is built: a young generation of 50,000 objects instead of 700.
A plan makes millions of short-lived objects and almost no cycles; collecting less often spares ~15% of
its time. Only while planning: a long apply's send loop (asyncio, aiohttp) leaves cycles that must go."""


def tune_gc() -> None:
    """A worker only plans: what it has loaded is frozen out of the collector's scans, and it collects as
    :data:`PLANNING_GC` says (its memory stays flat: planning makes almost no cycles)."""
    gc.freeze()
    gc.set_threshold(*PLANNING_GC)


class JobsError(CampaignerError):
    """``CAMPAIGNER_JOBS`` is not a number of processes."""

    def __init__(self, value: str) -> None:
        super().__init__(
            f"error: {ENV}={value!r} is not a number of processes; set it to 1 (one process) to {MAX_JOBS}, "
            "or unset it (one per core for large CSVs)"
        )


def jobs_for(csv_path: Path, environ: dict[str, str] | None = None) -> int:
    """The processes that plan ``csv_path``, the main one included (1: no workers)."""
    value = (os.environ if environ is None else environ).get(ENV, "").strip()
    if value:
        if not value.isdigit() or not 1 <= int(value) <= MAX_JOBS:
            raise JobsError(value)
        return int(value)
    try:
        size = csv_path.stat().st_size
    except OSError:
        return 1
    if size < PARALLEL_BYTES:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_JOBS))


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker needs to make the same messages as the main process (pickled to it once)."""

    spec: Campaign
    campaign_path: Path
    csv_path: Path
    header: tuple[str, ...]
    target_id: str
    reader: RowReader
    zone_column: str | None
    zone_fallback: str | None
    show_pii: bool


Chunk = list[tuple[int, list[str]]]
_worker: Any = None  # in a worker process: its (read, make) pair


def _start(setup: WorkerSetup) -> None:
    global _worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    tune_gc()
    content = compile_content(
        setup.spec,
        campaign_path=setup.campaign_path,
        locate=lambda keys: (1, 1),  # the main process compiled the same templates without error
        header=setup.header,
        csv_path=setup.csv_path,
    )
    zones = None
    if setup.spec.send.localHours is not None:
        zones = ZoneFinder(column=setup.zone_column, fallback=setup.zone_fallback)
    maker = MessageMaker(
        setup.spec,
        csv_path=setup.csv_path,
        target_id=setup.target_id,
        content=content,
        zones=zones,
        show_pii=setup.show_pii,
    )
    _worker = (setup.reader.read, maker.make)


def _work(chunk: list[tuple[int, list[str]]]) -> tuple[Any, ...]:
    read, make = _worker
    return work(read, make, chunk)


def work(read: Callable[..., Any], make: Callable[..., Any], chunk: Chunk) -> tuple[Any, ...]:
    """The chunk's answer, by columns: rows, their address keys, their messages' fields; the rest aside.

    Columns of strings pickle at a fraction of the cost of one object per row. ``others`` holds, by index
    in the chunk, a Skip found before duplicates (``True, skip``) or a row's outcome that is not a
    message (``False, skip or error``). ``read``: a :class:`RowReader`'s; ``make``: a :class:`MessageMaker`'s.
    """
    rows: list[int] = []
    pkeys: list[int | None] = []
    lkeys: list[int | None] = []
    rids: list[str | None] = []
    mids: list[str | None] = []
    phones: list[str | None] = []
    lines: list[str | None] = []
    hashes: list[str | None] = []
    texts: list[str | None] = []
    measures: list[int] = []
    zones: dict[int, tuple[str, ...]] = {}
    others: dict[int, tuple[bool, Any]] = {}
    distinct: dict[Any, int] = {}  # SmsMeasure -> its index in ``kinds``
    kinds: list[Any] = []
    for i, (row, values) in enumerate(chunk):
        rows.append(row)
        item = read(row, values)
        if type(item) is Skip:
            others[i] = (True, item)
            out = None
            pkeys.append(None)
            lkeys.append(None)
        else:
            phone, line, pkey, lkey, fields = item
            pkeys.append(pkey)
            lkeys.append(lkey)
            out = make(row, phone, line, fields)
            if type(out) is not PlannedMessage:
                others[i] = (False, out)
                out = None
        if out is None:
            rids.append(None)
            mids.append(None)
            phones.append(None)
            lines.append(None)
            hashes.append(None)
            texts.append(None)
            measures.append(-1)
            continue
        payload = out.payload
        rids.append(out.recipient_id)
        mids.append(out.message_id)
        phones.append(out.to.get("phoneNumber"))
        lines.append(out.to.get("lineUserKey"))
        hashes.append(payload.hash)
        texts.append(payload.json)
        sms = payload.sms
        if sms is None:
            measures.append(-1)
        else:
            index = distinct.get(sms)
            if index is None:
                index = distinct[sms] = len(kinds)
                kinds.append(sms)
            measures.append(index)
        if out.zones:
            zones[i] = out.zones
    return rows, pkeys, lkeys, rids, mids, phones, lines, hashes, texts, measures, kinds, zones, others


def decode(answer: tuple[Any, ...]) -> Iterator[Skip | tuple[int, int | None, int | None, Outcome]]:
    """:func:`_work`'s answer as the rows it stands for: a Skip, or ``(row, phone key, LINE key, outcome)``."""
    rows, pkeys, lkeys, rids, mids, phones, lines, hashes, texts, measures, kinds, zones, others = answer
    for i, row in enumerate(rows):
        other = others.get(i) if others else None
        if other is not None:
            before, item = other
            yield item if before else (row, pkeys[i], lkeys[i], item)
            continue
        to = {}
        phone, line = phones[i], lines[i]
        if phone is not None:
            to["phoneNumber"] = phone
        if line is not None:
            to["lineUserKey"] = line
        m = measures[i]
        payload = Payload(hashes[i], None, kinds[m] if m >= 0 else None, texts[i])
        message = PlannedMessage(row, rids[i], mids[i], to, payload, zones.get(i, ()) if zones else ())
        yield row, pkeys[i], lkeys[i], message


def _serve(requests: Connection, answers: Connection, setup: WorkerSetup) -> None:
    """A worker process: chunks in, answers out, in order, until the main process closes its end.

    A thread drains ``requests`` so that the main process never waits to hand out a chunk while this
    process waits to hand back an answer (two full pipes would hold each other forever).
    """
    inbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def drain() -> None:
        try:
            while True:
                inbox.put(requests.recv_bytes())
        except (EOFError, OSError):
            inbox.put(None)

    try:
        _start(setup)
    except BaseException:
        answers.send_bytes(pickle.dumps(("error", traceback.format_exc()), pickle.HIGHEST_PROTOCOL))
        return
    threading.Thread(target=drain, daemon=True).start()
    while (data := inbox.get()) is not None:
        try:
            answer: tuple[str, Any] = ("ok", _work(pickle.loads(data)))
        except Exception:
            answer = ("error", traceback.format_exc())
        try:
            answers.send_bytes(pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):  # the main process stopped reading: it has what it needs
            return


class WorkerPool:
    """``workers`` processes; :meth:`results` maps the records through them (and this process), in order.

    Each worker answers its chunks in the order it got them, so reading each chunk's worker in the order
    the chunks were handed out gives the answers in order. Pipes, not a ``concurrent.futures`` pool: its
    feeder and result threads fought this process's main thread for the interpreter lock and cost as much
    CPU as the planning they relieved it of.
    """

    def __init__(self, workers: int, setup: WorkerSetup) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.jobs = workers
        self._workers: list[tuple[Any, Connection, Connection]] = []
        try:
            for _ in range(workers):
                requests_r, requests_w = ctx.Pipe(duplex=False)
                answers_r, answers_w = ctx.Pipe(duplex=False)
                _widen(requests_w)
                _widen(answers_w)
                process = ctx.Process(
                    target=_serve, args=(requests_r, answers_w, setup), name="campaigner-plan", daemon=True
                )
                process.start()
                requests_r.close()
                answers_w.close()
                self._workers.append((process, requests_w, answers_r))
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for _, requests, answers in self._workers:
            requests.close()
            answers.close()
        for process, _, _ in self._workers:
            process.join(timeout=2)
            if process.is_alive():  # pragma: no cover (a worker that does not end when its pipes close)
                process.kill()
                process.join()
        self._workers = []

    def results(
        self, records: Iterable[tuple[int, list[str]]], local: Callable[[Chunk], tuple[Any, ...]] | None = None
    ) -> Iterator[tuple[Any, ...]]:
        """The answers to ``records``, chunk by chunk, in order.

        Each worker has up to :data:`AHEAD` chunks; ``local`` (this process's :func:`work`) answers a chunk
        here whenever the workers are full and the oldest answer is not in yet, so this process works
        instead of waiting (on two cores it is a third of the work: the workers alone would leave it idle).
        """
        pending: deque[tuple[int, Any]] = deque()  # (worker, None) awaited, or (-1, answer) made here
        busy = [0] * self.jobs
        made_here = 0
        records = iter(records)
        failure: Exception | None = None  # the records' own errors, raised after the last answer

        def next_chunk() -> Chunk:
            nonlocal failure
            chunk: Chunk = []
            if failure is None:
                try:
                    chunk.extend(islice(records, CHUNK))
                except Exception as exc:  # the CSV's row errors come when its records end
                    failure = exc
            return chunk

        chunk = next_chunk()

        def ready() -> bool:
            worker = pending[0][0]
            return worker < 0 or self._workers[worker][2].poll()

        while chunk or pending:
            if chunk:
                free = min(range(self.jobs), key=busy.__getitem__)
                if busy[free] < AHEAD:  # keep every worker busy first
                    self._send(free, chunk)
                    pending.append((free, None))
                    busy[free] += 1
                    chunk = next_chunk()
                    continue
                if local is not None and made_here < AHEAD and not ready():  # work instead of waiting
                    pending.append((-1, local(chunk)))
                    made_here += 1
                    chunk = next_chunk()
                    continue
            worker, answer = pending.popleft()  # the oldest answer, in or awaited
            if worker < 0:
                made_here -= 1
                yield answer
            else:
                busy[worker] -= 1
                yield self._receive(self._workers[worker][2])
        if failure is not None:
            raise failure

    def _send(self, turn: int, chunk: Chunk) -> None:
        _, requests, answers = self._workers[turn]
        try:
            requests.send_bytes(pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            self._receive(answers)  # the worker's last words, if it left any
            raise _stopped(None) from None

    @staticmethod
    def _receive(answers: Connection) -> tuple[Any, ...]:
        try:
            kind, value = pickle.loads(answers.recv_bytes())
        except (EOFError, OSError):
            raise _stopped(None) from None
        if kind != "ok":
            raise _stopped(value)
        return value  # type: ignore[no-any-return]


def _widen(conn: Connection) -> None:
    """Give a pipe 1 MiB of buffer (Linux; 64 KiB by default), so that a chunk or an answer is handed over
    in one write instead of a write per 64 KiB, each waiting for the other process to read."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (ImportError, OSError):  # pragma: no cover (not Linux, or a lower limit in /proc/sys/fs/pipe-max-size)
        pass


def _stopped(trace: str | None) -> RuntimeError:
    """One line: the worker's exception (the last line of its traceback), else how it probably died."""
    lines = (trace or "").strip().splitlines()
    what = f": {lines[-1]}" if lines else " (killed, or out of memory?)"
    return RuntimeError(f"a planning worker process stopped unexpectedly{what}")
