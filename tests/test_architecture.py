"""The layering of docs/ARCHITECTURE.md, computed from the source: packages import downward only, no cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "campaigner"
TOP_LEVEL = {"__init__", "__main__", "cli", "errors"}

# Each package (or top-level module) and the packages of campaigner it may import. "campaigner" is the
# package's own __init__ (its version). Anything not listed here is refused.
CORE = ("campaign", "recipients", "content", "schedule", "plan", "summary", "text")
MAY_IMPORT: dict[str, set[str]] = {
    "campaigner": set(),
    "errors": {"text"},
    "text": set(),
    "__main__": {"cli"},
    "cli": {"campaigner", "errors", "text"},
    "campaign": {"errors", "text"},
    "recipients": {"errors", "text", "campaign"},
    "content": {"errors", "text", "campaign"},
    "schedule": {"campaign"},
    "plan": {"campaigner", "errors", "text", "campaign", "recipients", "content", "schedule"},
    "summary": {"text"},
    "omni": {"campaigner", "errors", "text"},
    "ledger": {"errors", "text"},
    "sandbox": {"errors", "text", "content"},
    "git": {"errors", "text"},
    "sending": {
        "errors",
        "text",
        "campaign",
        "recipients",
        "content",
        "schedule",
        "plan",
        "summary",
        "omni",
        "ledger",
        "sandbox",
    },
    "commands": {
        "campaigner",
        "errors",
        "text",
        "campaign",
        "recipients",
        "content",
        "schedule",
        "plan",
        "summary",
        "omni",
        "ledger",
        "sandbox",
        "sending",
        "git",
    },
}
# Third-party and standard-library modules that only the shell may use.
SHELL_ONLY = {"httpx", "aiohttp", "sqlite3", "socket", "asyncio", "uvicorn", "starlette", "aiolimiter"}
NO_SHELL_LIBRARIES = (*CORE, "campaign")


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, modules: frozenset[str] = frozenset()) -> set[str]:
    """Every module ``path`` imports, wherever the import sits (type-checking blocks and functions too).

    ``from pkg import mod`` imports ``pkg.mod`` when that is one of ``modules``, else ``pkg`` (its face).
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    modules = frozenset(files)
    return {
        name: {i for i in imports_of(path, name, modules) if i in files and i != name} for name, path in files.items()
    }


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "campaigner"


def package_graph(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, edges in graph.items():
        mine = package_of(module)
        packages.setdefault(mine, set()).update(package_of(e) for e in edges if package_of(e) != mine)
    return packages


GRAPH = import_graph()


def test_the_top_level_holds_only_the_entry_points() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules == TOP_LEVEL


def test_every_package_says_what_it_is() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init} has no docstring"


def test_no_module_imports_itself_back() -> None:
    assert find_cycle(GRAPH) is None


def test_no_package_imports_itself_back() -> None:
    assert find_cycle(package_graph(GRAPH)) is None


@pytest.mark.parametrize("package", sorted(package_graph(GRAPH)))
def test_packages_import_downward_only(package: str) -> None:
    assert package in MAY_IMPORT, f"{package} is new: give it a place in MAY_IMPORT and docs/ARCHITECTURE.md"
    assert package_graph(GRAPH)[package] - MAY_IMPORT[package] == set()


@pytest.mark.parametrize("package", NO_SHELL_LIBRARIES)
def test_pure_core_does_no_io(package: str) -> None:
    for path in (PACKAGE / package).rglob("*.py"):
        imported = imports_of(path, module_name(path))
        assert {n for n in imported if n.split(".")[0] in SHELL_ONLY} == set(), path


def test_the_checks_catch_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    root = tmp_path / "campaigner"
    (root / "plan").mkdir(parents=True)
    (root / "ledger").mkdir()
    for init in (root / "__init__.py", root / "plan" / "__init__.py", root / "ledger" / "__init__.py"):
        init.write_text('"""x"""\n')
    (root / "plan" / "build.py").write_text("from campaigner.ledger import store\n")
    (root / "ledger" / "store.py").write_text("from __future__ import annotations\nfrom . import x\n")
    (root / "ledger" / "x.py").write_text("def f():\n    from campaigner.plan.build import g\n")
    graph = import_graph(root)
    assert find_cycle(graph) == [
        "campaigner.ledger.store",
        "campaigner.ledger.x",
        "campaigner.plan.build",
        "campaigner.ledger.store",
    ]
    assert package_graph(graph)["plan"] - MAY_IMPORT["plan"] == {"ledger"}


def test_help_is_fast_and_lists_the_commands() -> None:
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
