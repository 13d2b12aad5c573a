"""The saved plan: what a reviewer approved, byte for byte, and the hashes that tell when it went stale.

A saved plan is JSON Lines, written as the plan streams so that a million recipients need no memory:

1. a header: format, tool version, campaign, target, bulkId, the scenario change, and the sha256 of
   every input (the campaign file, the recipient CSV, the exclude lists);
2. one line per payload the first time it is used (``{"payload": hash, "body": {...}}``), then one line per
   message referring to it (``{"m": messageId, "row": n, "r": recipientId, "to": {...}, "p": hash}``, and
   ``"tz": [zones]`` with ``send.localHours``: apply schedules it for the instant it runs),
   and one line per skipped row (``{"skip": reason, "row": n}``); a payload not used for a while is
   written again, so the reader needs no more memory than the writer (both keep the same LRU);
3. a footer with the counts and the sha256 of every line before it.

The same inputs and ledger give the same bytes: no timestamps, sorted keys, no random ids. (With
``send.localHours`` the skips by window — ``no_common_hours``, ``window_closed`` — are those of the instant
the plan was made; apply schedules the messages again for the instant it runs.)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from campaigner import __version__
from campaigner.campaign.files import FileRefused, open_regular
from campaigner.campaign.load import LoadedCampaign
from campaigner.content.sms import measure
from campaigner.errors import InputError, StalePlanError, display_path
from campaigner.plan.build import Payload, Plan, PlannedMessage, ScenarioChange
from campaigner.plan.ids import canonical_json
from campaigner.recipients.reader import Skip, input_files

KIND = "campaigner-plan"
FORMAT_VERSION = 1
PAYLOAD_CACHE = 1024
PATHS_RELATIVE_TO_PLAN = "relative to the plan file"
"""The header's ``paths``: the campaign file and inputs are named relative to the plan's own folder."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _relative(path: Path, folder: Path) -> str:
    """``path`` relative to ``folder`` (POSIX form), so that a plan travels with its repository."""
    return Path(os.path.relpath(path.absolute(), folder.absolute())).as_posix()


def input_hashes(loaded: LoadedCampaign, plan_dir: Path | None = None) -> dict[str, str]:
    """sha256 of every input, keyed by its path relative to ``plan_dir`` (the saved plan's folder).

    Without ``plan_dir``, keyed by the path as the working directory shows it.
    """

    def name(path: Path) -> str:
        return display_path(path) if plan_dir is None else _relative(path, plan_dir)

    hashes = {name(loaded.path): loaded.sha256}
    for path in input_files(loaded.spec.recipients, loaded.base_dir):
        hashes[name(path)] = file_sha256(path)
    return hashes


class PlanWriter:
    """Streams a plan into a file; use as the ``sink`` of :func:`campaigner.plan.build.build_plan`."""

    def __init__(
        self,
        fh: IO[str],
        loaded: LoadedCampaign,
        *,
        target_id: str,
        bulk_id: str,
        scenario: ScenarioChange,
        plan_dir: Path,
    ) -> None:
        self._fh = fh
        self._digest = hashlib.sha256()
        self._cache: OrderedDict[str, None] = OrderedDict()
        self.messages = 0
        self.skips = 0
        self._write(
            {
                "kind": KIND,
                "format_version": FORMAT_VERSION,
                "tool_version": __version__,
                "campaign": loaded.spec.campaign,
                "campaign_file": _relative(loaded.path, plan_dir),
                "paths": PATHS_RELATIVE_TO_PLAN,
                "target": target_id,
                "bulkId": bulk_id,
                "scenario": {
                    "action": scenario.action,
                    "name": scenario.name,
                    "key": scenario.key,
                    "flow": [{"channel": s.channel, "from": s.sender} for s in scenario.flow],
                },
                "inputs": input_hashes(loaded, plan_dir),
            }
        )

    def _write(self, value: dict[str, Any]) -> None:
        line = canonical_json(value) + "\n"
        self._digest.update(line.encode("utf-8"))
        self._fh.write(line)

    def __call__(self, item: PlannedMessage | Skip) -> None:
        if isinstance(item, Skip):
            self.skips += 1
            self._write({"skip": item.reason, "row": item.row, "detail": item.detail})
            return
        h = item.payload.hash
        if h in self._cache:
            self._cache.move_to_end(h)
        else:
            self._write({"payload": h, "body": item.payload.body})
            self._cache[h] = None
            if len(self._cache) > PAYLOAD_CACHE:
                self._cache.popitem(last=False)
        self.messages += 1
        line: dict[str, Any] = {"m": item.message_id, "row": item.row, "r": item.recipient_id, "to": item.to, "p": h}
        if item.zones:  # send.localHours: apply schedules the message for these zones
            line["tz"] = list(item.zones)
        self._write(line)

    def finish(self, plan: Plan) -> None:
        st = plan.stats
        footer = {
            "end": True,
            "messages": self.messages,
            "skipped": {k: v for k, v in sorted(st.skipped.items())},
            "already_sent": st.already_sent,
            "rows": st.rows,
            "requests": st.requests,
            "lines_sha256": self._digest.hexdigest(),
        }
        self._fh.write(canonical_json(footer) + "\n")


@dataclass(frozen=True)
class SavedPlan:
    """A saved plan's header and footer; its messages stream from the file on demand."""

    path: Path
    header: dict[str, Any]
    footer: dict[str, Any]

    @property
    def base(self) -> Path:
        """The folder the plan's paths are relative to: its own (older plans: the working directory)."""
        return self.path.parent if self.header.get("paths") == PATHS_RELATIVE_TO_PLAN else Path()

    @property
    def campaign_file(self) -> Path:
        return self.base / str(self.header["campaign_file"])

    @property
    def target_id(self) -> str:
        return str(self.header["target"])

    def verify_inputs(self) -> None:
        """Refuse a plan whose inputs changed since it was made (naming the first one that did)."""
        for name, digest in self.header["inputs"].items():
            path = self.base / name
            if not path.is_file() or file_sha256(path) != digest:
                raise StalePlanError(self.path, display_path(path))
        if self.header.get("tool_version") != __version__:
            raise StalePlanError(self.path, f"campaigner (plan made by {self.header.get('tool_version')})")

    def messages(self) -> Iterator[PlannedMessage | Skip]:
        cache: OrderedDict[str, Payload] = OrderedDict()
        with self.path.open(encoding="utf-8") as fh:
            next(fh)
            for line in fh:
                item = json.loads(line)
                if "m" in item:
                    payload = cache[item["p"]]
                    cache.move_to_end(item["p"])
                    zones = tuple(item.get("tz", ()))
                    yield PlannedMessage(item["row"], item["r"], item["m"], item["to"], payload, zones)
                elif "payload" in item:
                    body = item["body"]
                    sms = body.get("sms")
                    cache[item["payload"]] = Payload(item["payload"], body, measure(sms["text"]) if sms else None)
                    if len(cache) > PAYLOAD_CACHE:
                        cache.popitem(last=False)
                elif "skip" in item:
                    yield Skip(item["row"], item["skip"], item.get("detail", ""))


def read_plan(path: Path) -> SavedPlan:
    """Open a saved plan and check it is whole (its checksum) before anything trusts it."""
    digest = hashlib.sha256()
    header: dict[str, Any] | None = None
    last = ""
    try:
        with open_regular(path, what="a saved plan", binary=True):  # not a FIFO, a device or a folder
            pass
    except FileRefused as exc:
        raise InputError(exc.message, path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the saved plan: {exc.strerror or exc}", path=path) from None
    try:
        with path.open(encoding="utf-8") as fh:
            previous = None
            for line in fh:
                if previous is not None:
                    digest.update(previous.encode("utf-8"))
                previous = line
            last = previous or ""
        with path.open(encoding="utf-8") as fh:
            header = json.loads(fh.readline() or "null")
        footer = json.loads(last) if last else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable saved plan ({exc})", path=path) from None
    if not isinstance(header, dict) or header.get("kind") != KIND:
        raise InputError("not a campaigner saved plan", path=path, hint="make one with `campaigner plan --out FILE`")
    if header.get("format_version") != FORMAT_VERSION:
        raise InputError(f"saved plan format {header.get('format_version')} is not supported", path=path)
    if not isinstance(footer, dict) or not footer.get("end") or footer.get("lines_sha256") != digest.hexdigest():
        raise InputError(
            "the saved plan is incomplete or was edited (checksum mismatch)",
            path=path,
            hint="make it again with `campaigner plan --out FILE`",
        )
    return SavedPlan(path, header, footer)
