"""The layering of docs/ARCHITECTURE.md: the pure core imports no network, database or shell module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "campaigner"
CORE = [
    "errors",
    "spec",
    "load",
    "recipients",
    "keyset",
    "phones",
    "templates",
    "jinja_sandbox",
    "jinja_limits",
    "template_checks",
    "line",
    "sms",
    "ids",
    "plan",
    "planfile",
    "planview",
    "summary",
    "summary_html",
]
FORBIDDEN = {
    "httpx",
    "sqlite3",
    "campaigner.omni",
    "campaigner.omni_models",
    "campaigner.omni_config",
    "campaigner.omni_retry",
    "campaigner.ledger",
    "campaigner.ledger_db",
    "campaigner.ledger_reports",
    "campaigner.lock",
    "campaigner.apply",
    "campaigner.doubts",
    "campaigner.reports",
    "campaigner.cli",
    "campaigner.target",
    "campaigner.sandbox",
    "campaigner.commands",
    "socket",
    "asyncio",
}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("module", CORE)
def test_pure_core_does_no_io(module: str) -> None:
    imported = _imports(PACKAGE / f"{module}.py")
    bad = {name for name in imported if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)}
    assert bad == set()


def test_sandbox_does_not_share_the_client() -> None:
    for path in (PACKAGE / "sandbox").glob("*.py"):
        imported = _imports(path)
        assert not {
            n for n in imported if n.startswith(("campaigner.omni", "campaigner.apply", "campaigner.ledger"))
        }, path


def test_help_is_fast_and_lists_the_commands() -> None:
    import subprocess
    import sys
    import time

    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "campaigner", "--help"], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    for name in ("validate", "plan", "apply", "report", "status", "unlock", "sandbox", "schema"):
        assert f"  {name} " in out.stdout
    imported = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "campaigner", "--help"], capture_output=True, text=True, check=True
    ).stderr
    assert " httpx" not in imported and " pydantic" not in imported and " jinja2" not in imported
    assert elapsed < 5  # generous: the real budget (well under 0.5 s) is measured in the benchmarks' notes
