"""Benchmark helpers: generated campaigns, a command's wall time and the peak RSS of its process tree."""

from __future__ import annotations

import os
import platform
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

FIRST_NAMES = ["Ana", "Marko", "Ivana", "Luka", "Petra", "Nikola", "Mia", "Ivan", "Sara", "Tomislav", "Đurđica", "Šime"]


def machine() -> str:
    """One line naming the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()} | {os.cpu_count()} cores | {cpu} | Python {platform.python_version()}"


def write_recipients(path: Path, rows: int, *, seed: int = 7, identical: bool = False, unique: bool = True) -> None:
    """A CSV of ``rows`` valid Croatian mobile numbers (all distinct), LINE keys on two thirds of them.

    ``coupon`` is unique per row (a personal code, as real campaigns at this size have) unless
    ``unique=False`` (then it cycles through 25 values, the render cache's best case); ``identical``
    gives every row the same values (a campaign whose templates read no column).
    """
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("first_name,phone,line_user_key,discount,segment,coupon\n")
        for i in range(rows):
            prefix = ("91", "92", "95", "98", "99")[i % 5]  # Croatian mobile ranges (097 needs 097[67]...)
            number = f"+385{prefix}{1000000 + i // 5:07d}"
            key = f"{rng.getrandbits(64):016x}-{i:08d}" if i % 3 else ""
            coupon = f"P{i:07d}" if unique else f"P{i % 25:07d}"
            if identical:
                fh.write(f"Ana,{number},{key},20,gold,P0000000\n")
            else:
                name = FIRST_NAMES[i % len(FIRST_NAMES)]
                fh.write(f"{name},{number},{key},{10 + i % 25},s{i % 4},{coupon}\n")


def shape(rows: int, *, unique: bool, identical: bool = False) -> str:
    """One line describing a benchmark's input, printed beside its figures."""
    if identical:
        return f"{rows:,} rows, every message identical (templates read no column)"
    coupon = "unique per row" if unique else "25 values, repeating"
    return f"{rows:,} rows; first_name 12 values, discount 25 values, coupon {coupon}; coupon in LINE and SMS text"


def write_campaign(
    folder: Path,
    csv_name: str,
    *,
    campaign: str,
    personalized: bool = True,
    rate: str = "1000/s",
    batch: int = 500,
    concurrency: int = 8,
) -> Path:
    line = (
        '"Hi {{ first_name }}! {{ discount }}% off at {{ shop }} until {{ ends }} with code {{ coupon }}."'
        if personalized
        else '"Spring sale: 20% off at shop.example until 31 March."'
    )
    sms = (
        '"{{ first_name }}, {{ discount }}% off at {{ shop }} until {{ ends }}, code {{ coupon }}. STOP: 0800123"'
        if personalized
        else '"Spring sale: 20% off at shop.example until 31 March. STOP: 0800123"'
    )
    path = folder / f"{campaign}.yaml"
    path.write_text(
        f"""campaign: {campaign}
scenario:
  name: Bench {campaign}
  flow:
    - channel: LINE
      from: 37B94F4D2BA3C58B58526EAEAA1AB35C
    - channel: SMS
      from: "385971006006"
recipients:
  csv: {csv_name}
  phoneNumber: phone
  lineUserKey: line_user_key
  defaultRegion: HR
vars:
  shop: shop.example
  ends: 31 March
line:
  text: {line}
  validityPeriod: 1
sms:
  text: {sms}
send:
  rateLimit: {rate}
  batchSize: {batch}
  concurrency: {concurrency}
report:
  wait: 0s
""",
        encoding="utf-8",
    )
    return path


def _tree_rss_kib(root: int) -> int:
    """Resident memory (KiB) of ``root`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        ppid = vm = 0
        for line in status.splitlines():
            if line.startswith("PPid:"):
                ppid = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                vm = int(line.split()[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = vm
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    code: int
    out: str
    err: str
    cpu_seconds: float = 0.0  # user + system of the command and the children it waited for

    @property
    def cpu_share(self) -> float:
        """CPU seconds per wall second: well under 1 for a CPU-bound command means the machine was busy."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


def run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, sample: float = 0.05) -> Run:
    """Run ``args``; wall time, and peak RSS of its whole process tree sampled every ``sample`` s."""
    import resource

    full_env = {**os.environ, **(env or {})}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    import threading

    stop = threading.Event()

    def sampler() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _tree_rss_kib(proc.pid))
            stop.wait(sample)

    t = threading.Thread(target=sampler, daemon=True)
    t.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop.set()
    t.join()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(seconds, peak / 1024, proc.returncode, out, err, cpu)


def campaigner() -> list[str]:
    return [sys.executable, "-m", "campaigner"]


class SandboxProcess:
    """``campaigner sandbox`` in its own process (so it does not share a GIL with what is measured)."""

    def __init__(
        self, folder: Path, *, port: int | None = None, faults: str | None = None, extra: list[str] | None = None
    ) -> None:
        import socket

        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        args = [*campaigner(), "sandbox", "--port", str(port), "--state", str(folder / "bench-sandbox.db")]
        if faults:
            args += ["--faults", faults]
        args += extra or []
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import httpx

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/_sandbox/stats", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the sandbox did not start")

    def get(self, endpoint: str, **params: object) -> object:
        import httpx

        return httpx.get(f"{self.url}{endpoint}", params=params, timeout=60).json()

    def reset(self) -> None:
        import httpx

        httpx.post(f"{self.url}/_sandbox/reset", timeout=60)

    def send_times(self) -> list[float]:
        found = self.get("/_sandbox/requests", path="/omni/1/advanced")
        assert isinstance(found, dict)
        return sorted(r["at"] for r in found["requests"] if r["status"] == 200)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def rate_of(times: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])
