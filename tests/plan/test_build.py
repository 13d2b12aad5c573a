"""campaigner.plan.build: the plan's request count is the number of requests apply's grouping makes."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from campaigner.plan.build import RequestCounter, group_requests
from campaigner.plan.message import Payload, PlannedMessage

AT = datetime(2026, 12, 2, 9, tzinfo=UTC)


def message(i: int, payload: str, send_at: datetime | None) -> PlannedMessage:
    return PlannedMessage(i, str(i), f"m{i}", {"phoneNumber": str(i)}, Payload(payload, {}, None), (), send_at)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("abcdefg"), st.sampled_from([None, AT])), max_size=200),
    st.integers(1, 8),
    st.integers(1, 20),
)
def test_request_counter_counts_what_group_requests_makes(
    keys: list[tuple[str, datetime | None]], batch: int, window: int
) -> None:
    messages = [message(i, p, at) for i, (p, at) in enumerate(keys)]
    counter = RequestCounter(batch, window=window)
    for m in messages:
        counter.add(m.payload.hash if m.send_at is None else (m.payload.hash, m.send_at))
    groups = list(group_requests(messages, batch, window=window))
    assert counter.total() == len(groups)
    assert sorted(m.row for g in groups for m in g) == list(range(len(keys)))


def test_request_counter_of_unique_and_identical_payloads() -> None:
    unique = RequestCounter(500)
    same = RequestCounter(500)
    for i in range(25_000):
        unique.add(f"p{i}")
        same.add("p")
    assert unique.total() == 25_000
    assert same.total() == 50
