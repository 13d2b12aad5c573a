"""One addressed row's outcome from that row alone: its zones, content, payload hash and message id.

The order-free half of the message stream (:mod:`campaigner.plan.stream`): the same in the main process
and in planning workers (:mod:`campaigner.plan.workers`).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from campaigner.campaign.spec import Campaign
from campaigner.content.sms import SmsMeasure
from campaigner.content.templates import Content, Rendered
from campaigner.errors import InputError
from campaigner.plan import ids
from campaigner.plan.masking import mask_pii
from campaigner.plan.message import Payload, PlannedMessage
from campaigner.recipients.reader import Skip
from campaigner.schedule.windows import NO_TIME_ZONE
from campaigner.schedule.zones import ZoneFinder

Outcome = PlannedMessage | Skip | InputError
"""What one addressed row becomes: its message, a skip, or its row error."""


class MessageMaker:
    """One addressed row's outcome from that row alone: its zones, content, payload hash and message id.

    Holds no state that changes the outcome (only caches), so any process with the same campaign, header
    and target makes the same messages.
    """

    def __init__(
        self,
        spec: Campaign,
        *,
        csv_path: Path,
        target_id: str,
        content: Content,
        zones: ZoneFinder | None,
        show_pii: bool,
    ) -> None:
        self.spec = spec
        self.csv_path = csv_path
        self.content = content
        self.zones = zones
        self.show_pii = show_pii  # row errors keep phone numbers and LINE keys as they are
        self.sms_only = spec.scenario.channels == ("SMS",)
        self._make_id = ids.message_ids(target_id, spec.campaign)
        self._payloads: OrderedDict[str, Payload] = OrderedDict()  # recent payloads, shared by identical rows
        self._last: tuple[Rendered, Payload] | None = None
        self._encode = ids.PayloadEncoder()
        self._measures: dict[SmsMeasure, SmsMeasure] = {}

    def make(self, row: int, phone: str | None, line: str | None, fields: dict[str, str]) -> Outcome:
        if self.sms_only and not phone:
            return Skip(row, "no_address", "no phone number, and the flow is SMS only")
        zones: tuple[str, ...] = ()
        if self.zones is not None:
            try:
                zones = self.zones.zones(phone, fields)
            except ValueError as exc:
                return InputError(
                    f"column {self.zones.column!r}: {exc}",
                    path=self.csv_path,
                    row=row,
                    hint="use an IANA zone name such as Europe/Zagreb or America/New_York",
                )
            if not zones:
                return Skip(row, NO_TIME_ZONE, "no time zone for this recipient, and no localHours.fallback")
        try:
            rendered = self.content.render(fields, row=row, phone_number=phone, line_user_key=line)
        except InputError as exc:  # SandboxLimitError included: the caller stops at it
            return self._masked(exc, phone, line, fields)
        last = self._last
        if last is not None and rendered is last[0]:  # static content: one object, hashed once
            payload = last[1]
        else:
            payload = self._payload(rendered)
            self._last = (rendered, payload)
        to: dict[str, str] = {}
        if phone:
            to["phoneNumber"] = phone
        if line:
            to["lineUserKey"] = line
        rid = phone if phone else f"line:{line}"
        return PlannedMessage(row, rid, self._make_id(rid), to, payload, zones)

    def _payload(self, rendered: Rendered) -> Payload:
        body: dict[str, Any] = {}
        if rendered.line is not None:
            body["line"] = rendered.line
        if rendered.sms is not None:
            body["sms"] = rendered.sms
        text = self._encode(body)
        key = ids.hash_of_json(text)
        payloads = self._payloads
        known = payloads.get(key)
        if known is not None:
            payloads.move_to_end(key)
            return known
        sms = rendered.sms_measure
        if sms is not None:  # one object per distinct measure: a worker's answer pickles it once
            sms = self._measures.setdefault(sms, sms)
        payload = payloads[key] = Payload(key, body, sms, text)
        if len(payloads) > 256:
            payloads.popitem(last=False)
        return payload

    def _masked(self, exc: InputError, phone: str | None, line: str | None, fields: dict[str, str]) -> InputError:
        """``exc`` with the row's phone number and LINE key masked (a template error may quote them)."""
        if self.show_pii:
            return exc
        columns = self.spec.recipients
        raw = {kind: fields.get(name or "", "") for kind, name in (("phone", columns.phoneNumber),
               ("line", columns.lineUserKey))}  # fmt: skip

        def mask(text: str) -> str:
            return mask_pii(text, phone_number=phone, line_user_key=line, raw=raw)

        message, hint = mask(exc.message), exc.hint and mask(exc.hint)
        if (message, hint) == (exc.message, exc.hint):
            return exc
        return type(exc)(message, path=exc.path, line=exc.line, col=exc.location.col, row=exc.row, hint=hint)
