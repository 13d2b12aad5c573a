"""Planning in worker processes gives the very stream one process gives: messages, skips, errors, digest."""

from __future__ import annotations

import os
import pickle
import signal
from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaigner.campaign.load import load_campaign
from campaigner.content.sms import measure
from campaigner.errors import InputError
from campaigner.plan import workers
from campaigner.plan.build import ScenarioChange, build_plan
from campaigner.plan.message import Payload, PlannedMessage
from campaigner.plan.stream import MessageStream
from campaigner.recipients.reader import Skip

INSTANT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)

ROWS = [
    "Ana,+385911000001,U1,10",  # a message
    "Bo,not a number,,11",  # invalid_number
    "Cy,,,12",  # no_address
    "Di,+385911000001,,13",  # duplicate phone
    "Ed,,U1,14",  # duplicate LINE key
    "Fi,+385911000099,,15",  # excluded
    "Gu,+385911000003,U3,",  # a render error: an empty SMS
    "Ha,+385911000004,,16",
    "Iva,,U5,17",  # LINE only
    "Jo,+385911000006,U6,18",
]


def campaign(tmp_path: Path, rows: list[str], *, flow: str = "LINE, SMS", send: str = "") -> Path:
    (tmp_path / "r.csv").write_text("name,phone,line,discount\n" + "\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "stop.csv").write_text("phone\n+385911000099\n", encoding="utf-8")
    steps = ", ".join(
        f"{{channel: {c.strip()}, from: {'APP' if c.strip() == 'LINE' else 'InfoSMS'}}}" for c in flow.split(",")
    )
    path = tmp_path / "c.yaml"
    path.write_text(
        "campaign: workers\n"
        f"scenario: {{name: S, flow: [{steps}]}}\n"
        "recipients: {csv: r.csv, phoneNumber: phone, lineUserKey: line, exclude: [stop.csv]}\n"
        + ("line: {text: 'Hi {{ name }}, {{ discount }}% off'}\n" if "LINE" in flow else "")
        + "sms: {text: '{% if discount %}{{ name }}: {{ discount }}% off{% endif %}'}\n"
        + (f"send:\n{send}" if send else ""),
        encoding="utf-8",
    )
    return path


def stream(path: Path, jobs: int) -> tuple[list[PlannedMessage | Skip], list[str]]:
    s = MessageStream(load_campaign(path), "sandbox", jobs=jobs)
    try:
        items = list(s)
    finally:
        s.close()
    return items, [e.format() for e in s.errors]


def shown(items: list[PlannedMessage | Skip]) -> list[object]:
    out: list[object] = []
    for item in items:
        if isinstance(item, Skip):
            out.append(item)
        else:
            p = item.payload
            out.append((item.row, item.recipient_id, item.message_id, item.to, p.hash, p.body, p.sms, item.zones))
    return out


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "CHUNK", 3)  # several chunks, answers from both workers in turn


def test_planning_processes_give_the_same_stream_as_one_process(tmp_path: Path, small_chunks: None) -> None:
    path = campaign(tmp_path, ROWS * 3)  # later copies: every address a duplicate of the first copy's
    one, one_errors = stream(path, 1)
    two, two_errors = stream(path, 2)
    assert shown(two) == shown(one)
    assert two_errors == one_errors
    reasons = [i.reason for i in one if isinstance(i, Skip)]
    assert {"invalid_number", "no_address", "duplicate", "excluded"} <= set(reasons)
    assert len([i for i in one if isinstance(i, PlannedMessage)]) == 4
    assert one_errors == [f"{tmp_path / 'r.csv'}:row 8: error: sms.text: renders empty"]  # its copies: duplicates


def test_planning_processes_give_the_same_plan_and_digest(tmp_path: Path, small_chunks: None) -> None:
    path = campaign(tmp_path, [r for r in ROWS if not r.startswith("Gu")] * 2)
    change = ScenarioChange("create", "S", ())
    one = build_plan(load_campaign(path), target_id="sandbox", scenario=change, jobs=1)
    two = build_plan(load_campaign(path), target_id="sandbox", scenario=change, jobs=3)
    assert two.digest == one.digest
    assert two.stats == one.stats


def test_sms_only_and_local_hours_in_workers(tmp_path: Path, small_chunks: None) -> None:
    rows = ["Ana,+385911000001,,10", "Iva,,U5,17", "Ken,+81 90 1234 5678,,20", "Lu,+1 212 555 0123,,21"]
    hours = '  localHours: {from: "09:00", to: "20:00"}\n'
    path = campaign(tmp_path, rows, flow="SMS", send=hours)
    change = ScenarioChange("create", "S", ())
    seen: dict[int, list[PlannedMessage | Skip]] = {1: [], 2: []}
    for jobs in (1, 2):
        build_plan(
            load_campaign(path), target_id="sandbox", scenario=change, jobs=jobs, sink=seen[jobs].append, now=INSTANT
        )
    assert shown(seen[2]) == shown(seen[1])
    assert [m.send_at for m in seen[2] if isinstance(m, PlannedMessage)] == [
        m.send_at for m in seen[1] if isinstance(m, PlannedMessage)
    ]
    assert any(isinstance(i, Skip) and i.reason == "no_address" for i in seen[2])
    assert {z for m in seen[2] if isinstance(m, PlannedMessage) for z in m.zones} >= {"Asia/Tokyo", "America/New_York"}


def test_row_errors_from_workers_are_told_as_from_one_process(tmp_path: Path, small_chunks: None) -> None:
    rows = [f"N{i},+38591100{i:04d},," for i in range(60)]  # every SMS renders empty
    path = campaign(tmp_path, rows, flow="SMS")
    one, one_errors = stream(path, 1)
    two, two_errors = stream(path, 2)
    assert (
        two_errors
        == one_errors
        == [f"{tmp_path / 'r.csv'}:row 2: error: sms.text: renders empty (and 59 more rows: 3, 4, 5, …)"]
    )
    assert shown(two) == shown(one) == []


def test_a_worker_killed_mid_stream_is_an_error_not_a_short_plan(tmp_path: Path, small_chunks: None) -> None:
    path = campaign(tmp_path, [f"N{i},+3859110{i:05d},,{i}" for i in range(300)], flow="SMS")
    s = MessageStream(load_campaign(path), "sandbox", jobs=2)
    items = iter(s)
    next(items)
    pool_children = [p for p in _children() if p != os.getpid()]
    assert pool_children
    for pid in pool_children:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="a planning worker process stopped unexpectedly"):
        list(items)
    s.close()


def _children() -> list[int]:
    me = os.getpid()
    out = []
    for task in os.listdir(f"/proc/{me}/task"):
        text = Path(f"/proc/{me}/task/{task}/children").read_text()
        out.extend(int(p) for p in text.split())
    return [p for p in out if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]  # not the resource tracker


def test_jobs_for_reads_the_environment_then_the_size(tmp_path: Path) -> None:
    small = tmp_path / "small.csv"
    small.write_text("phone\n", encoding="utf-8")
    big = tmp_path / "big.csv"
    with big.open("wb") as fh:
        fh.truncate(workers.PARALLEL_BYTES)
    assert workers.jobs_for(small, {}) == 1
    assert workers.jobs_for(big, {}) == max(1, min(len(os.sched_getaffinity(0)), workers.MAX_JOBS))
    assert workers.jobs_for(big, {"CAMPAIGNER_JOBS": "1"}) == 1
    assert workers.jobs_for(small, {"CAMPAIGNER_JOBS": " 3 "}) == 3
    for bad in ("0", "two", "-1", "9"):
        with pytest.raises(workers.JobsError) as caught:
            workers.jobs_for(small, {"CAMPAIGNER_JOBS": bad})
        assert str(caught.value) == (
            f"error: CAMPAIGNER_JOBS={bad!r} is not a number of processes; set it to 1 (one process) to 8, "
            "or unset it (one per core for large CSVs)"
        )


def test_what_workers_send_back_pickles_to_equal_objects(tmp_path: Path) -> None:
    sms = measure("Hi ’")
    payload = Payload("abc", {"sms": {"text": "Hi ’"}}, sms)
    message = PlannedMessage(
        7, "385911", "m-1", {"phoneNumber": "385911", "lineUserKey": "U"}, payload, ("Europe/Zagreb",)
    )
    back = pickle.loads(pickle.dumps(message))
    assert back == message
    assert back.payload.json == '{"sms":{"text":"Hi ’"}}'
    assert back.payload.body == {"sms": {"text": "Hi ’"}}
    assert pickle.loads(pickle.dumps(sms)) == sms
    assert pickle.loads(pickle.dumps(Skip(3, "duplicate", "x"))) == Skip(3, "duplicate", "x")
    error = InputError("sms.text: renders empty", path=tmp_path / "r.csv", row=4, hint="h")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is InputError
    assert again.format() == error.format()
    assert (again.row, again.hint, again.message) == (4, "h", "sms.text: renders empty")


def test_a_worker_error_is_one_line_naming_its_exception() -> None:
    trace = 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: bad thing\n'
    assert str(workers._stopped(trace)) == "a planning worker process stopped unexpectedly: ValueError: bad thing"
    assert str(workers._stopped(None)) == "a planning worker process stopped unexpectedly (killed, or out of memory?)"


def test_csv_errors_come_after_every_row_as_from_one_process(tmp_path: Path, small_chunks: None) -> None:
    rows = [f"N{i},+38591100{i:04d},,{i}" for i in range(20)]
    rows[3] = "N3,+385911000003,,3,one field too many"  # the reader's error: raised when the records end
    rows[-1] = "Zed,+385911009999,,"  # a row error in the last chunk: reported too
    path = campaign(tmp_path, rows, flow="SMS")
    one, one_errors = stream(path, 1)
    two, two_errors = stream(path, 2)
    assert shown(two) == shown(one)
    assert two_errors == one_errors
    assert [e.split(": error: ")[1] for e in one_errors] == [
        "5 fields, the header has 4 (a value containing ',', a line break or a \" must be in double quotes)",
        "sms.text: renders empty",
    ]
