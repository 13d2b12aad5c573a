"""A delivery report's JSON text, built once when its message is accepted: a page of reports is a join.

A report is fully known when the message is accepted (the simulated flow decides its outcome), so
``accept`` stores it in two parts: the head, which names the message (``bulkId``, ``messageId``,
``to``), and the tail (times, count, price, status, error, channel, callbackData), which messages of one
request with the same outcome share. ``head + tail`` is byte for byte
``json.dumps(report_json(record), ensure_ascii=False, separators=(",", ":"))``.
"""

from __future__ import annotations

import json
from typing import Any

from campaigner.sandbox.delivery import CURRENCY, StepOutcome
from campaigner.sandbox.records import MessageRecord
from campaigner.sandbox.validation import format_datetime

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_text = _ENCODER.encode


def report_json(record: MessageRecord) -> dict[str, Any]:
    """A DeliveryReport: the final step's outcome; pricePerMessage is per SMS part (total = x messageCount)."""
    final = record.final
    body: dict[str, Any] = {}
    if record.bulk_id is not None:
        body["bulkId"] = record.bulk_id
    body["messageId"] = record.message_id
    if final.to is not None:
        body["to"] = final.to
    body.update(_tail(record.sent_at, record.done_at, final, record.callback_data))
    return body


def report_head(message_id: str, bulk_id: str | None, to: str | None) -> str:
    """The report's opening up to and including the comma after its last naming key."""
    head = "{" if bulk_id is None else '{"bulkId":' + _text(bulk_id) + ","
    head += '"messageId":' + _text(message_id) + ","
    return head if to is None else head + '"to":' + _text(to) + ","


def report_tail(sent_at: float, final: StepOutcome, callback_data: str | None) -> str:
    """The rest of the report, from ``sentAt`` to the closing brace."""
    return _text(_tail(sent_at, sent_at + final.end, final, callback_data))[1:]


def _tail(sent_at: float, done_at: float, final: StepOutcome, callback_data: str | None) -> dict[str, Any]:
    """The report's fields after its naming keys, in the provider's order."""
    body: dict[str, Any] = {
        "sentAt": format_datetime(sent_at),
        "doneAt": format_datetime(done_at),
        "messageCount": final.message_count,
    }
    if final.mcc_mnc is not None:
        body["mccMnc"] = final.mcc_mnc
    body["price"] = {"pricePerMessage": final.price, "currency": CURRENCY}
    body["status"] = final.status.as_json()
    body["error"] = final.error.as_json()
    body["channel"] = final.channel
    if callback_data is not None:
        body["callbackData"] = callback_data
    return body


class TailCache:
    """The tails of one request: its messages share ``sentAt`` and callbackData, and few outcomes."""

    def __init__(self, sent_at: float, callback_data: str | None) -> None:
        self.sent_at = sent_at
        self.callback_data = callback_data
        self._tails: dict[tuple[Any, ...], str] = {}

    def tail(self, final: StepOutcome) -> str:
        key = (final.end, final.message_count, final.mcc_mnc, final.price, final.status, final.error, final.channel)
        text = self._tails.get(key)
        if text is None:
            text = self._tails[key] = report_tail(self.sent_at, final, self.callback_data)
        return text
