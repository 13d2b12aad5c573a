"""The plan's messages kept from the pass that showed the plan, so that sending does not read the CSV again.

``apply`` of a campaign file reads the CSV once to show the plan (and check every row: nothing is sent
when a row has an error), then streams the messages again for each send pass. On a campaign the ledger
has never seen, every message and skip of the plan goes through ``build_plan``'s ``sink``: kept here
in order, a chunk at a time, pickled into an anonymous temporary file (owner-only, never named, gone
when the process ends, even by kill -9), they are replayed at a few µs each instead of read, normalized
and rendered again. The messages sent are then exactly those the plan showed, even if the CSV changes
meanwhile. Memory stays bounded: one chunk is held at a time.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from campaigner.plan.build import PlannedMessage
    from campaigner.recipients.reader import Skip

CHUNK = 1000  # items pickled together (identical payloads of a chunk are stored once)


class PlanReplay:
    """Items added in plan order; iterate it (any number of times) to get them back in that order."""

    def __init__(self, directory: str | None = None) -> None:
        self._file = tempfile.TemporaryFile(prefix="campaigner-plan-", dir=directory)  # noqa: SIM115 (close())
        self._chunks: list[tuple[int, int]] = []  # (offset, size) of each pickled chunk
        self._pending: list[PlannedMessage | Skip] = []
        self._end = 0
        self.count = 0
        self.failed: OSError | None = None  # a write failed (disk full): the caller reads the CSV instead
        self._finished = False

    def add(self, item: PlannedMessage | Skip) -> None:
        if self.failed is not None:
            return
        self._pending.append(item)
        self.count += 1
        if len(self._pending) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self._pending or self.failed is not None:
            return
        data = pickle.dumps(self._pending, protocol=pickle.HIGHEST_PROTOCOL)
        self._pending = []
        view, offset = memoryview(data), self._end
        try:
            while view:
                written = os.pwrite(self._file.fileno(), view, offset)
                view, offset = view[written:], offset + written
        except OSError as exc:
            self.failed = exc
            return
        self._chunks.append((self._end, len(data)))
        self._end += len(data)

    def finish(self, expected: int) -> bool:
        """Write what is pending; True when every one of the ``expected`` items is kept."""
        self._flush()
        self._finished = self.failed is None and self.count == expected
        return self._finished

    @property
    def ready(self) -> bool:
        return self._finished

    def __iter__(self) -> Iterator[PlannedMessage | Skip]:
        if not self._finished:
            raise RuntimeError("the plan's messages are not all kept: read the CSV")
        fd = self._file.fileno()
        for offset, size in self._chunks:
            yield from pickle.loads(os.pread(fd, size, offset))

    def close(self) -> None:
        self._file.close()
        self._chunks = []
        self._finished = False
