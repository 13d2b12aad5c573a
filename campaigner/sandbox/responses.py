"""Endpoint handlers: parse the request, call the model, answer in the provider's shapes."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from campaigner.sandbox.clock import RETENTION, format_duration, parse_duration
from campaigner.sandbox.delivery import CURRENCY, PENDING_ENROUTE, REJECTED_DND, Status, StepOutcome
from campaigner.sandbox.exceptions import ApiError, bad_request, general_error, not_found, too_many_requests
from campaigner.sandbox.faults import Fault, FaultInjector
from campaigner.sandbox.models import SandboxModel
from campaigner.sandbox.records import MessageRecord, Scenario
from campaigner.sandbox.validation import (
    CHANNELS,
    GENERAL_STATUSES,
    check_flow,
    format_datetime,
    parse_json,
    parse_scenario,
    parse_send,
    query_bool,
    query_enum,
    query_int,
    query_time,
)

log = logging.getLogger("campaigner.sandbox")

CONTEXT_KEY = "campaigner.sandbox.context"


@dataclass
class RequestContext:
    """Per-request notes the outer ASGI layer acts on: the fault drawn, and whether to drop the answer."""

    fault: Fault | None = None
    drop: bool = False


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content, status_code=status, headers=headers, media_type="application/json")


def error_response(error: ApiError) -> Response:
    return json_response(error.body(), error.status, error.headers)


def _context(request: Request) -> RequestContext:
    context = request.scope.get(CONTEXT_KEY)
    return context if isinstance(context, RequestContext) else RequestContext()


def _comma_list(request: Request, name: str) -> list[str]:
    values: list[str] = []
    for raw in request.query_params.getlist(name):
        values += [v.strip() for v in raw.split(",") if v.strip()]
    return values


class OmniResponses:
    """The provider's endpoints and the sandbox's own inspection endpoints."""

    def __init__(
        self,
        model: SandboxModel,
        *,
        faults: FaultInjector,
        timeout_delay: float,
        stopping: threading.Event,
    ) -> None:
        self.model = model
        self.faults = faults
        self.timeout_delay = timeout_delay
        self.stopping = stopping

    # -- scenarios ---------------------------------------------------------------------------------

    async def list_scenarios(self, request: Request) -> Response:
        params = request.query_params
        is_default = query_bool(params, "isDefault")
        if is_default is None:
            is_default = query_bool(params, "default")
        limit = query_int(params, "limit", 100, 1, 1000)
        page = query_int(params, "page", 0, 0, None)
        found = self.model.scenarios(is_default=is_default, limit=limit, page=page)
        return json_response({"scenarios": [s.as_json() for s in found]})

    async def create_scenario(self, request: Request) -> Response:
        draft = parse_scenario(parse_json(await request.body(), request.headers.get("content-type")))
        return json_response(self.model.create_scenario(draft).as_json())

    async def get_scenario(self, request: Request) -> Response:
        key = request.path_params["key"]
        scenario = self.model.scenario(key)
        if scenario is None:
            raise not_found(f"Scenario {key} not found")
        return json_response(scenario.as_json())

    async def update_scenario(self, request: Request) -> Response:
        key = request.path_params["key"]
        if self.model.scenario(key) is None:
            raise not_found(f"Scenario {key} not found")
        draft = parse_scenario(parse_json(await request.body(), request.headers.get("content-type")))
        return json_response(self.model.update_scenario(key, draft).as_json())

    # -- sending -----------------------------------------------------------------------------------

    async def send(self, request: Request) -> Response:
        context = _context(request)
        context.fault = self.faults.draw()
        if context.fault == "500":
            raise general_error()
        if context.fault == "429":
            raise too_many_requests(1)
        send = parse_send(parse_json(await request.body(), request.headers.get("content-type")), self.model.now())
        scenario: Scenario = self.model.resolve_scenario(send.scenario_key)
        check_flow(send, scenario)
        accepted = self.model.accept(send, scenario)
        body: dict[str, Any] = {}
        if accepted.bulk_id is not None:
            body["bulkId"] = accepted.bulk_id
        pending, rejected = PENDING_ENROUTE.as_json(), REJECTED_DND.as_json()
        body["messages"] = [
            {"to": to, "status": rejected if mid in accepted.rejected else pending, "messageId": mid}
            for to, mid in accepted.messages
        ]
        if context.fault == "timeout":
            await self._sleep(self.timeout_delay)
        elif context.fault == "lost-answer":
            context.drop = True
        return json_response(body)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake early when the server stops."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.stopping.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(0.05, remaining))

    # -- reports and logs --------------------------------------------------------------------------

    async def reports(self, request: Request) -> Response:
        params = request.query_params
        limit = query_int(params, "limit", 50, 1, 1000)
        channel = query_enum(params, "channel", CHANNELS)
        found = self.model.take_reports(
            bulk_id=params.get("bulkId") or None,
            message_id=params.get("messageId") or None,
            channel=channel,
            limit=limit,
        )
        # each report is JSON text already (sandbox/reports.py): the page is their join, as json_response writes it
        content = ('{"results":[' + ",".join(found) + "]}").encode()
        return Response(content, media_type="application/json")

    async def logs(self, request: Request) -> Response:
        params = request.query_params
        limit = query_int(params, "limit", 50, 1, 1000)
        channel = query_enum(params, "channel", CHANNELS)
        general = query_enum(params, "generalStatus", GENERAL_STATUSES)
        sender, to = params.get("from") or None, params.get("to") or None
        mcc, mnc = params.get("mcc") or None, params.get("mnc") or None

        def keep(record: MessageRecord, step: StepOutcome, status: Status) -> bool:
            return (
                (channel is None or step.channel == channel)
                and (general is None or status.group_name == general)
                and (sender is None or step.sender == sender)
                and (to is None or step.to == to.lstrip("+"))
                and (mcc is None or (step.mcc_mnc or "")[:3] == mcc)
                and (mnc is None or (step.mcc_mnc or "")[3:] == mnc)
            )

        found = self.model.logs(
            bulk_ids=_comma_list(request, "bulkId"),
            message_ids=_comma_list(request, "messageId"),
            sent_since=query_time(params, "sentSince"),
            sent_until=query_time(params, "sentUntil"),
            keep=keep,
            limit=limit,
        )
        return json_response({"results": [log_json(r, step, status) for r, step, status in found]})

    # -- inspection (not part of the provider's API; no auth) -------------------------------------

    async def sandbox_messages(self, request: Request) -> Response:
        duplicates = query_bool(request.query_params, "duplicates") or False
        return json_response({"messages": self.model.received(duplicates_only=duplicates)})

    async def sandbox_stats(self, request: Request) -> Response:
        return json_response(self.model.stats())

    async def sandbox_requests(self, request: Request) -> Response:
        params = request.query_params
        found = self.model.requests(path=params.get("path") or None, method=params.get("method") or None)
        return json_response({"requests": found})

    async def sandbox_reset(self, request: Request) -> Response:
        self.model.reset()
        self.faults.reset()
        return json_response({"reset": True})

    async def sandbox_clock(self, request: Request) -> Response:
        """``GET``: the sandbox's now; ``POST {"advance": "49h"}``: move it forward first."""
        if request.method == "POST":
            body = parse_json(await request.body(), request.headers.get("content-type"))
            seconds = parse_duration(body.get("advance")) if isinstance(body, dict) else None
            if seconds is None:
                raise bad_request({"advance": ["must be a duration such as 49h, 1h30m, 90s or a number of seconds"]})
            self.model.advance_clock(seconds)
        offset = self.model.clock_offset()
        now = self.model.clock() + offset
        return json_response(
            {
                "now": format_datetime(now),
                "epoch": now,
                "offset": format_duration(offset),
                "offsetSeconds": offset,
                "retention": format_duration(RETENTION),
            }
        )

    async def sandbox_put_scenario(self, request: Request) -> Response:
        """Create or replace a scenario under a chosen key (e.g. the seed's), without rate limits."""
        body = parse_json(await request.body(), request.headers.get("content-type"))
        key = body.get("key") if isinstance(body, dict) else None
        if not isinstance(key, str) or not key.strip():
            raise bad_request({"key": ["must be a non-blank string"]})
        draft = parse_scenario({k: v for k, v in body.items() if k != "key"})
        return json_response(self.model.put_scenario(key, draft).as_json())


def _price(step: StepOutcome) -> dict[str, Any]:
    return {"pricePerMessage": step.price, "currency": CURRENCY}


def log_json(record: MessageRecord, step: StepOutcome, status: Status) -> dict[str, Any]:
    """An OmniLog: the step the message is at (PENDING until its outcome is known), no error."""
    body: dict[str, Any] = {}
    if record.bulk_id is not None:
        body["bulkId"] = record.bulk_id
    body["messageId"] = record.message_id
    if step.to is not None:
        body["to"] = step.to
    if step.sender is not None:
        body["from"] = step.sender
    text = record.texts.get(step.channel)
    if text is not None:
        body["text"] = text
    body["sentAt"] = format_datetime(record.sent_at)
    if status.group_id != 1:
        body["doneAt"] = format_datetime(record.done_at)
    body["messageCount"] = step.message_count
    if step.mcc_mnc is not None:
        body["mccMnc"] = step.mcc_mnc
    body["price"] = _price(step)
    body["status"] = status.as_json()
    body["channel"] = step.channel
    return body
