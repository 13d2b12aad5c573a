"""The bad-input corpus under hard limits: ``validate`` and ``plan`` on every case, in a process held to 2.5 GB.

test_validate.py checks each case's exact output in-process; this runs them all again in one child process
whose address space is capped with ``setrlimit(RLIMIT_AS)``, so that a case that allocates without bound
fails here (MemoryError, exit 3) instead of passing on a machine with memory to spare, and each run is timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

BAD = Path(__file__).resolve().parents[1] / "fixtures" / "bad"
ADDRESS_SPACE = int(2.5 * 1024**3)
SECONDS_PER_RUN = 30.0

DRIVER = textwrap.dedent(
    """
    import contextlib, io, json, os, resource, shutil, sys, time
    from pathlib import Path

    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from campaigner.cli import main

    bad, work = Path(sys.argv[1]), Path(sys.argv[2])
    results = []
    for case in sorted(p for p in bad.iterdir() if p.is_dir()):
        folder = work / case.name
        shutil.copytree(case, folder / "case", ignore=shutil.ignore_patterns("expected.txt"))
        os.chdir(folder)
        os.environ["CAMPAIGNER_STATE"] = str(folder / ".campaigner" / "state.db")
        for command in ("validate", "plan"):
            out, err = io.StringIO(), io.StringIO()
            started = time.monotonic()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([command, "case/campaign.yaml"])
            results.append(
                {{"case": case.name, "command": command, "code": code, "err": err.getvalue(),
                  "seconds": time.monotonic() - started}}
            )
    print(json.dumps(results))
    """
)


def test_every_bad_input_ends_in_one_line_errors_within_limits(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFOBIP_") and k != "CI"}
    cases = sorted(p.name for p in BAD.iterdir() if p.is_dir())
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER.format(limit=ADDRESS_SPACE), str(BAD), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=SECONDS_PER_RUN * 2 * len(cases),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    assert len(results) == 2 * len(cases)
    for result in results:
        where = f"{result['command']} {result['case']}"
        assert result["code"] == 1, (where, result["err"])
        assert "Traceback" not in result["err"] and "internal error" not in result["err"], where
        assert result["seconds"] < SECONDS_PER_RUN, (where, result["seconds"])
        # validate prints the same lines as plan (the corpus's expected.txt) for every case
        expected = (BAD / result["case"] / "expected.txt").read_text(encoding="utf-8")
        assert result["err"] == expected, where
