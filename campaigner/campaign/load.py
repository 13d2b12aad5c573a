"""Campaign files from YAML to a validated :class:`~campaigner.campaign.spec.Campaign`, every error at file:line:col."""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from campaigner.campaign.files import FileRefused, confine, read_campaign_bytes, repository_root
from campaigner.campaign.spec import Campaign
from campaigner.errors import InputError, InputErrors, display_path

Key = str | int
KeyPath = tuple[Key, ...]


@dataclass(frozen=True)
class LoadedCampaign:
    """A validated campaign, where it came from, and where each of its values sits in the file."""

    spec: Campaign
    path: Path
    sha256: str
    tree: Any = field(repr=False, compare=False)

    @property
    def base_dir(self) -> Path:
        """Paths in the campaign file are relative to the file's folder."""
        return self.path.parent

    def resolve(self, relative: str) -> Path:
        return self.base_dir / relative

    @property
    def report_dir(self) -> Path:
        """``report.dir`` (relative to the campaign file), or ``reports/<campaign>`` beside it."""
        return self.resolve(self.spec.report.dir or f"reports/{self.spec.campaign}")

    def warnings(self, now: datetime | None = None) -> list[tuple[KeyPath, str]]:
        """What is valid but will not work as meant, with the key it is about (a send window already closed)."""
        not_after = self.spec.send.notAfter
        if not_after is not None and not_after <= (now or datetime.now(UTC)):
            return [
                (("send", "notAfter"), f"send.notAfter {not_after.isoformat()} is in the past: apply will send nothing")
            ]
        return []

    def warning_lines(self, now: datetime | None = None) -> list[str]:
        """:meth:`warnings` as ``file:line:col: warning: ...`` lines."""
        lines = []
        for keys, message in self.warnings(now):
            line, col = self.locate(keys)
            lines.append(f"{display_path(self.path)}:{line}:{col}: warning: {message}")
        return lines

    def locate(self, keys: KeyPath) -> tuple[int, int]:
        """1-based (line, col) of the value at ``keys``, or of the nearest ancestor that exists."""
        return _locate(self.tree, keys, value=True)

    def locate_key(self, keys: KeyPath) -> tuple[int, int]:
        """1-based (line, col) of the key itself (the last element of ``keys``)."""
        return _locate(self.tree, keys, value=False)

    def error(self, keys: KeyPath, message: str, *, hint: str | None = None) -> InputError:
        line, col = self.locate(keys)
        return InputError(message, path=self.path, line=line, col=col, hint=hint)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    # Timestamps stay strings; pydantic parses them (ruamel's own datetimes lose the offset).
    ctor = yaml.constructor
    ctor.add_constructor("tag:yaml.org,2002:timestamp", type(ctor).construct_yaml_str)
    return yaml


def _locate(tree: Any, keys: KeyPath, *, value: bool) -> tuple[int, int]:
    node, position = tree, (0, 0)
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, CommentedMap) and isinstance(key, str) and key in node:
            line, col = node.lc.value(key) if (value or not last) else node.lc.key(key)
            if not value and last:
                return line + 1, col + 1
            position = (line, col)
            if value and last:
                # A nested mapping's value position is its first key; the key itself reads better.
                child = node[key]
                if isinstance(child, (CommentedMap, CommentedSeq)):
                    kline, kcol = node.lc.key(key)
                    return kline + 1, kcol + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line, col = node.lc.item(key)
            position = (line, col)
            node = node[key]
        else:
            break
    if position == (0, 0) and getattr(tree, "lc", None) is not None:
        return tree.lc.line + 1, tree.lc.col + 1
    return position[0] + 1, position[1] + 1


def _plain(node: Any) -> Any:
    """ruamel's round-trip types -> plain Python values for pydantic."""
    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _model_at(model: type[BaseModel], loc: Sequence[Key]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at ``loc`` (for "did you mean" hints)."""
    current: Any = model
    for key in loc:
        if isinstance(key, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        found = None
        for name, info in current.model_fields.items():
            if key in (name, info.alias):
                found = info.annotation
                break
        if found is None:
            return None
        current = _unwrap(found)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is not None:
        args = [a for a in get_args(annotation) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models:
            return models[0]
        if not args:
            return annotation
        annotation = args[-1] if get_origin(annotation) is list else args[0]
    return annotation


def _field_names(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _trim_loc(data: Any, loc: Sequence[Key]) -> KeyPath:
    """Keep the part of a pydantic error location that exists in the data (drops union tags)."""
    kept: list[Key] = []
    node = data
    for key in loc:
        if isinstance(node, dict) and key in node:  # noqa: SIM114 - mypy needs the types apart
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            if isinstance(node, dict) and isinstance(key, str) and kept[-1:] != [key]:
                kept.append(key)  # a missing or unknown key: keep it, the message names it
            break
        kept.append(key)
    return tuple(kept)


_SHAPES = {
    "recipients": "a mapping with csv and phoneNumber or lineUserKey",
    "scenario": "a mapping with name and flow",
    "line": "a mapping with text (or a type and its fields)",
    "sms": "a mapping with text",
    "vars": "a mapping of names to values",
}
_TYPE_NAMES = {"string_type": "a string", "int_type": "a number", "float_type": "a number", "bool_type": "a boolean"}


def _kind(value: object) -> str:
    """A value's kind as YAML calls it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "nothing" if value is None else f"a {type(value).__name__}"


def _merge_unions(errors: Sequence[Any], data: Any) -> list[Any]:
    """One error for a value that matched none of a union's types (pydantic gives one per member)."""
    by_loc: dict[KeyPath, list[Any]] = {}
    for err in errors:
        by_loc.setdefault(_trim_loc(data, err["loc"]), []).append(err)
    merged = []
    for loc, group in by_loc.items():
        kinds = [e["type"] for e in group]
        if len(group) > 1 and all(k in _TYPE_NAMES for k in kinds):
            bare = list(dict.fromkeys(_TYPE_NAMES[k].removeprefix("a ") for k in kinds))
            expected = "a " + (", ".join(bare[:-1]) + " or " + bare[-1] if len(bare) > 1 else bare[0])
            got = _kind(group[0].get("input"))
            merged.append({**group[0], "type": "union_type", "msg": f"expected {expected}, got {got}", "loc": loc})
        else:
            merged.extend(group)
    return merged


def _dotted(loc: Sequence[Key]) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "campaign file"


def _translate(err: Any, data: Any, path: Path, tree: Any) -> InputError:
    loc = _trim_loc(data, err["loc"])
    kind = err["type"]
    msg = str(err["msg"]).removeprefix("Value error, ")
    where = _dotted(loc)
    if kind == "extra_forbidden":
        parent, key = loc[:-1], str(loc[-1])
        line, col = _locate(tree, loc, value=False)
        names = _field_names(_model_at(Campaign, parent))
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"did you mean '{close[0]}'?" if close else (f"expected one of: {', '.join(names)}" if names else None)
        return InputError(f"unknown key '{key}' in {_dotted(parent)}", path=path, line=line, col=col, hint=hint)
    if kind == "missing":
        parent, key = loc[:-1], str(loc[-1])
        line, col = _locate(tree, parent, value=False) if parent else (1, 1)
        return InputError(f"missing required key '{key}' in {_dotted(parent)}", path=path, line=line, col=col)
    at = (err.get("ctx") or {}).get("at")
    if at is not None:  # a rule of the campaign (spec.py) that names the key it is about
        key_path = (*loc, *at)
        line, col = _locate(tree, key_path, value=len(at) > 1)
        return InputError(msg, path=path, line=line, col=col, hint=(err.get("ctx") or {}).get("hint"))
    line, col = _locate(tree, loc, value=True)
    value = err.get("input")
    if kind in ("model_type", "dict_type"):
        shape = _SHAPES.get(str(loc[-1]), "a mapping") if loc else "a mapping"
        return InputError(f"{where}: expected {shape}, got {_kind(value)}", path=path, line=line, col=col)
    if kind.startswith("datetime") or kind.startswith("date_"):
        return InputError(
            f"{where}: expected a date and time with an offset such as 2026-12-01T09:00:00+01:00, got {value!r}",
            path=path,
            line=line,
            col=col,
        )
    if kind == "string_type" and loc == ("campaign",) and isinstance(value, int | float):
        return InputError(
            f"campaign: expected an id such as spring-sale-2026, got the number {value}",
            path=path,
            line=line,
            col=col,
            hint=f'put it in quotes: "{value}"',
        )
    if kind == "literal_error":
        value = err.get("input")
        return InputError(f"{where}: {msg}, got {value!r}", path=path, line=line, col=col)
    if kind == "string_pattern_mismatch" and loc == ("campaign",):
        return InputError(
            "campaign id must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, "
            "at most 64 characters",
            path=path,
            line=line,
            col=col,
        )
    if kind in ("too_short",) and loc[-1:] == ("flow",):
        return InputError("scenario.flow is empty: give at least one step", path=path, line=line, col=col)
    return InputError(f"{where}: {msg}", path=path, line=line, col=col)


_QUOTE_OPENED = re.compile(r"""^\s*(?:-\s+)?[^#'"]*?:\s+(["'])""")


def _unclosed_quote(text: str, first: int, last: int) -> tuple[int, int] | None:
    """(line, col), 1-based, of a quoted value opened between two lines and not closed on its own line."""
    lines = text.splitlines()
    for number in range(max(first, 0), min(last, len(lines))):
        line = lines[number]
        m = _QUOTE_OPENED.match(line)
        if m is None:
            continue
        quote, start = m.group(1), m.end()
        rest = line[start:].replace("\\\\", "").replace('\\"', "") if quote == '"' else line[start:].replace("''", "")
        if quote not in rest:
            return number + 1, start
    return None


def _yaml_error(exc: MarkedYAMLError, path: Path, text: str) -> InputError:
    """ruamel's parser error as one line a person can act on."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
    context = " ".join(str(exc.context or "").split())
    hint = None
    if "duplicate key" in problem or "duplicate key" in str(exc):
        problem = f"duplicate key {problem.split('duplicate key')[-1].strip()}".rstrip()
    elif "cannot start any token" in problem and "\\t" in problem:
        problem = "a tab indents this line; YAML indents with spaces only"
    elif "mapping values are not allowed here" in problem:
        hint = "check this line's indentation, or put a value that contains ': ' in quotes"
    elif "another document" in problem:
        problem = f"{context}, {problem}" if context else problem
        hint = "one campaign per file: remove the '---' line and what follows"
    elif context.startswith("while parsing a flow") and exc.context_mark is not None:
        cm = exc.context_mark
        lines = text.splitlines()
        opener = lines[cm.line][cm.column : cm.column + 1] if cm.line < len(lines) else ""
        if opener in ("[", "{"):
            hint = f"the '{opener}' at line {cm.line + 1}, column {cm.column + 1} is not closed"
    if problem.startswith("expected <block end>") and mark is not None:
        start = exc.context_mark.line if exc.context_mark is not None else 0
        opened = _unclosed_quote(text, start, mark.line)
        if opened is not None:
            quote_line, quote_col = opened
            found = problem.split("but found", 1)[-1].strip()
            return InputError(
                f"YAML syntax error: the quoted value that starts here is not closed on its line; it runs on to "
                f"line {line}, where {found} cannot follow it",
                path=path,
                line=quote_line,
                col=quote_col,
                hint=f"add the closing {text.splitlines()[quote_line - 1][quote_col - 1]}",
            )
    return InputError(f"YAML syntax error: {problem}", path=path, line=line, col=col, hint=hint)


MAX_DEPTH = 32
"""Mappings and lists nested deeper than this are no campaign (SPEC section 2 nests five levels)."""
MAX_DIGITS = 30
"""A plain number longer than this is no campaign value (and would not fit the provider's fields)."""
_NUMBER = re.compile(r"[-+]?(?:\.?[0-9][0-9_]*|0[xob][0-9a-f_]+)", re.IGNORECASE)


def _refuse_hazards(text: str, path: Path) -> None:
    """Refuse, from the parser's events and before anything is built, what would blow up building it.

    Anchors and aliases (``&a`` / ``*a``: a 900-byte file expands to 10⁹ nodes), nesting past
    :data:`MAX_DEPTH` (the composer recurses), plain numbers past :data:`MAX_DIGITS` digits.
    """
    depth = 0
    for event in YAML(typ="rt").parse(text):
        mark = event.start_mark
        line, col = mark.line + 1, mark.column + 1
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None):
            raise InputError(
                "YAML anchors and aliases (&name, *name) are not supported in a campaign file",
                hint="write the value out in full",
                path=path,
                line=line,
                col=col,
            )
        if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(
                    f"nested more than {MAX_DEPTH} levels deep; a campaign file is a few levels of keys",
                    path=path,
                    line=line,
                    col=col,
                )
        elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            depth -= 1
        elif (
            isinstance(event, ScalarEvent)
            and event.style is None
            and len(event.value) > MAX_DIGITS
            and _NUMBER.fullmatch(event.value.split(".")[0] or event.value)
        ):
            digits = sum(c.isdigit() for c in event.value)
            raise InputError(
                f"a number with {digits} digits; no campaign value is that large",
                hint="put it in quotes if it is text",
                path=path,
                line=line,
                col=col,
            )


def load_campaign(path: str | Path) -> LoadedCampaign:
    """Read, parse and validate one campaign file; every problem is an InputError at file:line:col."""
    path = Path(path)
    try:
        raw = read_campaign_bytes(path)
    except FileRefused as exc:
        raise InputError(exc.message, path=path) from None
    except FileNotFoundError:
        raise InputError("file not found", path=path, hint="check the path") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("not UTF-8 text", path=path, line=line, hint="save the file as UTF-8") from None
    try:
        _refuse_hazards(text, path)
        tree = _yaml().load(text)
    except MarkedYAMLError as exc:
        raise _yaml_error(exc, path, text) from None
    except YAMLError as exc:
        raise InputError(f"YAML error: {' '.join(str(exc).split())}", path=path, line=1, col=1) from None
    if not isinstance(tree, CommentedMap):
        what = "empty" if tree is None else f"{_kind(tree)}, not a mapping"
        raise InputError(
            f"the campaign file is {what}",
            path=path,
            line=1,
            col=1,
            hint="start with `campaign: my-id` and the keys of SPEC section 2",
        )
    data = _plain(tree)
    try:
        spec = Campaign.model_validate(data)
    except ValidationError as exc:
        errors = [_translate(err, data, path, tree) for err in _merge_unions(exc.errors(), data)]
        raise InputErrors(_dedupe(errors)) from None
    loaded = LoadedCampaign(spec=spec, path=path, sha256=hashlib.sha256(raw).hexdigest(), tree=tree)
    _check_report_dir(loaded)
    return loaded


def _check_report_dir(loaded: LoadedCampaign) -> None:
    """The summary folder must be inside the campaign's repository, and a folder or creatable: caught
    now rather than after sending."""
    wanted = loaded.report_dir
    if loaded.spec.report.dir:
        try:
            confine(wanted, repository_root(loaded.path), loaded.spec.report.dir)
        except FileRefused as exc:
            raise loaded.error(
                ("report", "dir"),
                f"report.dir: {exc.message}",
                hint="the summary is written inside the repository that holds the campaign file",
            ) from None
    for folder in (wanted, *wanted.parents):
        if folder.is_dir():
            return
        if folder.exists() or folder.is_symlink():
            keys: KeyPath = ("report", "dir") if loaded.spec.report.dir else ("campaign",)
            name = "report.dir" if loaded.spec.report.dir else f"the summary folder reports/{loaded.spec.campaign}"
            what = "" if folder == wanted else f": {display_path(folder)}"
            raise loaded.error(
                keys,
                f"{name} names a file, not a folder{what}",
                hint="the summary is written there after sending; name a folder"
                + ("" if loaded.spec.report.dir else " with report.dir"),
            )


def _dedupe(errors: list[InputError]) -> list[InputError]:
    seen: set[str] = set()
    out = []
    for e in sorted(errors, key=lambda e: (e.location.line or 0, e.location.col or 0)):
        if e.format() not in seen:
            seen.add(e.format())
            out.append(e)
    return out


def campaign_files(paths: Sequence[str | Path]) -> Iterator[Path]:
    """Campaign files named directly or found (``*.yaml``/``*.yml``, not recursively hidden) in folders."""
    for p in map(Path, paths):
        if p.is_dir():
            for child in sorted([*p.rglob("*.yaml"), *p.rglob("*.yml")]):
                if not any(part.startswith(".") for part in child.relative_to(p).parts):
                    yield child
        else:
            yield p
