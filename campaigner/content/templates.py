"""The campaign's LINE and SMS content as compiled, sandboxed Jinja2 templates, rendered per recipient.

Every string under ``line:`` and ``sms:`` is compiled once per campaign in the sandbox of
:mod:`campaigner.content.jinja_sandbox` (strict undefined, autoescape off, ``trim_blocks`` and
``lstrip_blocks`` on), after the checks of :mod:`campaigner.content.checks`: variables against the
CSV header, ``vars`` and ``recipient``, refused constructs, filter arguments, literal text, and the
parts that read no row variable, tried once. All are reported at the campaign file's ``line:col``. A
field that reads no row variable is rendered once; the others per row (with a small cache when they
read few distinct values, e.g. only a ``segment`` column), at most ``MAX_FIELD`` characters each.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from jinja2 import Template, meta, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError

from campaigner.campaign.spec import Campaign, SmsContent
from campaigner.content import line as line_rules
from campaigner.content.checks import (
    BUILTINS,
    RECIPIENT_FIELDS,
    bad_filter_calls,
    column_hint,
    did_you_mean,
    literal_length,
    literal_prefix,
    names_in_order,
    recipient_misuse,
    refused,
    row_free_parts,
    row_reads,
    self_reads,
)
from campaigner.content.fast_render import PlainRenderer, plain_renderer
from campaigner.content.jinja_limits import TemplateLimitError
from campaigner.content.jinja_sandbox import Guard, SandboxEnvironment, error_line, explain, render
from campaigner.content.sms import SmsMeasure, measure
from campaigner.errors import InputError, InputErrors, display_path

MAX_SOURCE = 20_000  # characters of one template
MAX_FIELD = 10_000  # characters one field may render to
SMS_PARTS_MAX = 25

Locate = Callable[[tuple[str | int, ...]], tuple[int, int]]


# ------------------------------------------------------------------------------- rendering


class SandboxLimitError(InputError):
    """A row whose rendering the sandbox stopped (a size or work limit, a refused call, recursion).

    A template problem more than a data problem: the next rows will most likely fail the same way,
    so a caller may stop at the first one instead of printing it for every row.
    """


_LIMITS = (TemplateLimitError, SecurityError, RecursionError, MemoryError)


@dataclass(frozen=True, slots=True, repr=False)
class Recipient:
    """``recipient`` in templates. Shown on its own it tells nothing (the checks refuse that anyway):
    its repr must never carry the raw phone number or LINE key into content or error lines."""

    phoneNumber: str
    lineUserKey: str
    row: int

    def __repr__(self) -> str:
        return "recipient"


@dataclass(slots=True)  # not frozen: a frozen dataclass costs ~1 µs more to make, once per row
class Rendered:
    """The API-ready content for one recipient. Shared between recipients: treat as read-only."""

    line: dict[str, Any] | None
    sms: dict[str, Any] | None
    sms_measure: SmsMeasure | None


@dataclass(eq=False)
class _Field:
    """One template: ``line.text``, ``line.url``, ..., ``sms.text``."""

    api_name: str
    name: str
    template: Template | None = None  # None when static
    value: str | None = None  # the rendering when static
    columns: tuple[str, ...] = ()
    recipient: bool = False
    check: Callable[[str], str | None] = line_rules.id_problem
    fast: PlainRenderer | None = None  # text and plain variables only: no Jinja2 (content/fast_render.py)


@dataclass(eq=False)
class _Part:
    """The ``line`` or the ``sms`` object: its fields, and its rendering when static or cached."""

    fields: list[_Field]
    build: Callable[[dict[str, str]], Any]
    check: Callable[[Any], str | None] = lambda result: None
    static: Any = None
    columns: tuple[str, ...] = ()
    cache: dict[tuple[str, ...], Any] | None = field(default_factory=dict)
    lookups: int = 0
    hits: int = 0


_CACHE_ENTRIES = 4096
_CACHE_PROBE = 2048  # lookups after which a cache that rarely hits is dropped


def _sms_problem(text: str, m: SmsMeasure) -> str | None:
    if not text.strip():
        return "renders empty"
    if m.parts > SMS_PARTS_MAX:
        unit = "septets" if m.encoding == "GSM7" else "UCS-2 units"
        return f"needs {m.parts} SMS parts ({m.units} {unit}); the limit is {SMS_PARTS_MAX}"
    return None


def _sms_payload(content: SmsContent, text: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": text}
    for name in ("validityPeriod", "validityPeriodTimeUnit", "transliteration"):
        if (value := getattr(content, name)) is not None:
            payload[name] = value
    return payload


class Content:
    """A campaign's content, compiled: ``render`` gives each recipient's ``line`` and ``sms`` objects."""

    def __init__(
        self,
        env: SandboxEnvironment,
        csv_path: Path,
        base: dict[str, Any],
        plain: bool,
        recipient: bool,
        row: bool = False,
    ) -> None:
        self._env = env
        self._csv_path = csv_path
        self._base = base
        self._plain = plain  # the row's fields alone are the variables
        self._recipient = recipient
        self._row = row  # templates read ``row['first name']``
        self._line: _Part | None = None
        self._sms: _Part | None = None
        self._static: Rendered | None = None

    @property
    def static(self) -> bool:
        """True when every recipient gets the same content (one payload for the whole campaign)."""
        return self._static is not None

    @property
    def columns(self) -> frozenset[str]:
        """The CSV columns the templates read."""
        parts = [p for p in (self._line, self._sms) if p is not None]
        return frozenset(c for p in parts for f in p.fields for c in f.columns)

    def render(
        self, fields: Mapping[str, str], *, row: int, phone_number: str | None, line_user_key: str | None
    ) -> Rendered:
        """The content for one CSV row; raises :class:`InputError` naming the row when it fails."""
        if self._static is not None:
            return self._static
        parent: dict[str, Any] | None = None
        line = sms = None
        if self._line is not None:
            line = self._lookup(self._line, fields)
            if line is None:
                parent = self._parent(fields, row, phone_number, line_user_key)
                line = self._render_part(self._line, fields, parent, row)
        if self._sms is not None:
            sms = self._lookup(self._sms, fields)
            if sms is None:
                parent = parent or self._parent(fields, row, phone_number, line_user_key)
                sms = self._render_part(self._sms, fields, parent, row)
        return Rendered(line, *(sms or (None, None)))

    def _parent(
        self, fields: Mapping[str, str], row: int, phone_number: str | None, line_user_key: str | None
    ) -> dict[str, Any]:
        if self._plain:
            return fields if type(fields) is dict else dict(fields)
        parent = self._base.copy()
        parent.update(fields)
        if self._row:
            parent["row"] = fields if type(fields) is dict else dict(fields)
        if self._recipient:
            parent["recipient"] = Recipient(phone_number or "", line_user_key or "", row)
        return parent

    @staticmethod
    def _lookup(part: _Part, fields: Mapping[str, str]) -> Any:
        if part.static is not None:
            return part.static
        if part.cache is None:
            return None
        part.lookups += 1
        if part.lookups == _CACHE_PROBE and part.hits * 4 < _CACHE_PROBE:
            part.cache = None
            return None
        hit = part.cache.get(tuple([fields.get(c) for c in part.columns]))  # type: ignore[misc]
        if hit is not None:
            part.hits += 1
        return hit

    def _render_part(self, part: _Part, fields: Mapping[str, str], parent: dict[str, Any], row: int) -> Any:
        values: dict[str, str] = {}
        for f in part.fields:
            if f.value is not None:
                values[f.api_name] = f.value
                continue
            fast = f.fast  # the fast path inline (once or twice per row): _render_field's first branch
            if fast is not None:
                try:
                    text = fast(fields)
                except KeyError:
                    text = self._render_field(f, fields, parent, row)
                else:
                    if len(text) > MAX_FIELD or f.check(text) is not None:
                        text = self._checked(f, text, row)  # raises with the problem
            else:
                text = self._render_field(f, fields, parent, row)
            values[f.api_name] = text
        result = part.build(values)
        if problem := part.check(result):
            raise InputError(f"{part.fields[0].name}: {problem}", path=self._csv_path, row=row)
        if part.cache is not None and len(part.cache) < _CACHE_ENTRIES:
            part.cache[tuple([fields.get(c) for c in part.columns])] = result  # type: ignore[misc]
        return result

    def _render_field(self, f: _Field, fields: Mapping[str, str], parent: dict[str, Any], row: int) -> str:
        if f.fast is not None:
            try:
                text = f.fast(fields)
            except KeyError:  # a column the fast path expected and the row lacks: Jinja2 says what is wrong
                f.fast = None
                return self._render_field(f, fields, parent, row)
            return self._checked(f, text, row)
        try:
            text = render(self._env, cast(Template, f.template), parent)
        except Exception as exc:
            kind = SandboxLimitError if isinstance(exc, _LIMITS) else InputError
            raise kind(f"{f.name}: {explain(exc)}", path=self._csv_path, row=row) from exc
        return self._checked(f, text, row)

    def _checked(self, f: _Field, text: str, row: int) -> str:
        problem = _too_long(text) or f.check(text)
        if problem:
            raise InputError(f"{f.name}: {problem}", path=self._csv_path, row=row)
        return text


def _too_long(text: str) -> str | None:
    return f"renders to {len(text)} characters; the limit is {MAX_FIELD}" if len(text) > MAX_FIELD else None


# ------------------------------------------------------------------------------- entry point


@dataclass
class _Compiler:
    env: SandboxEnvironment
    campaign: Campaign
    campaign_path: Path
    locate: Locate
    header: Sequence[str]
    csv_path: Path
    errors: list[InputError] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.var_names = list(self.campaign.vars)
        self.row_names = {*self.header, *BUILTINS}
        self.known = self.row_names | set(self.var_names) | set(self.env.globals)
        self.base: dict[str, Any] = {**self.env.globals, **self.campaign.vars}
        self.needed: set[str] = set()  # the variables of the templates rendered per row

    def error(self, key: tuple[str, str], message: str, lineno: int = 1, hint: str | None = None) -> None:
        line, col = self.locate(key)
        self.errors.append(
            InputError(
                f"{'.'.join(key)}: {message}", path=self.campaign_path, line=line + lineno - 1, col=col, hint=hint
            )
        )

    def check_names(self) -> None:
        """A ``vars`` entry named as a CSV column or a built-in: a template could not tell which is meant."""
        columns = set(self.header)
        for name in self.var_names:
            line, col = self.locate(("vars", name))
            if name in BUILTINS:
                message = f"vars.{name}: {name!r} is a built-in template variable"
                hint = "choose another name"
            elif name in columns:
                message = f"vars.{name}: {display_path(self.csv_path)} has a column named {name!r} too"
                hint = "rename one of them: a template could not tell which one it reads"
            else:
                continue
            self.errors.append(InputError(message, path=self.campaign_path, line=line, col=col, hint=hint))

    def field(self, key: tuple[str, str], source: str, check: Callable[[str], str | None]) -> _Field | None:
        f = _Field(key[1], ".".join(key), check=check)
        if len(source) > MAX_SOURCE:
            self.error(key, f"the template is {len(source)} characters long; the limit is {MAX_SOURCE}")
            return None
        try:
            ast = self.env.parse(source)
            undeclared = meta.find_undeclared_variables(ast)
        except TemplateSyntaxError as exc:
            self.error(key, f"template syntax error: {explain(exc)}", exc.lineno)
            return None
        except Exception as exc:  # e.g. an integer literal too long to convert
            self.error(key, f"template syntax error: {explain(exc)}")
            return None
        before = len(self.errors)
        for lineno, message in sorted([*refused(ast), *bad_filter_calls(ast, self.env.filter_signatures)]):
            self.error(key, message, lineno)
        for name, lineno in names_in_order(ast, undeclared - self.known):
            self.error(key, f"unknown variable {name!r}", lineno, did_you_mean(name, self.header, self.var_names))
        if "recipient" in undeclared:
            for lineno, message, hint in recipient_misuse(ast):
                self.error(key, message, lineno, hint)
        for lineno in self_reads(ast) if len(self.errors) == before else ():  # one line for ``self._x``
            hint = "read the CSV column 'self' as row['self']" if "self" in self.header else None
            self.error(key, "self is not available in campaign templates", lineno, hint)
        for name in sorted(undeclared & set(BUILTINS) & set(self.header)):
            self.error(
                key,
                f"{name!r} names both the built-in {name} and a column of {display_path(self.csv_path)}",
                hint=f"read the column as row[{name!r}]",
            )
        row_columns: set[str] = set()
        if "row" in undeclared:
            keys, dynamic, bare = row_reads(ast)
            for lineno in bare:
                hint = "read a column as row['first name'], or all of them with row.items()"
                self.error(key, "row is not a value on its own", lineno, hint)
            for column, lineno in keys:
                if column not in self.header:
                    self.error(key, f"row has no column {column!r}", lineno, column_hint(column, self.header))
            row_columns = set(self.header) if dynamic else {column for column, _ in keys}
        if len(self.errors) > before:
            return None
        from_row = undeclared & self.row_names
        prefix, literal = literal_prefix(ast), literal_length(ast)
        assigned = {n.name for n in ast.find_all(nodes.Name) if n.ctx != "load"}
        constants = self.known - self.row_names - assigned  # the same on every row: vars, globals
        f.fast = plain_renderer(ast, self.header, self.campaign.vars) if from_row else None
        template = self._compile(ast, self.known - set(self.env.globals) - assigned - {"row"})
        if not from_row:
            try:
                f.value = render(self.env, template, self.base)
            except Exception as exc:
                self.error(key, explain(exc), error_line(exc, template))
                return None
            if problem := _too_long(f.value) or check(f.value):
                self.error(key, problem)
                return None
            return f
        f.template, f.recipient = template, "recipient" in from_row
        f.columns = tuple(sorted((from_row - set(BUILTINS)) | row_columns))
        loaded = {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"}
        self.needed |= undeclared | (loaded & set(self.env.globals))  # jinja leaves globals out
        if problem := self.static_problem(f, source, prefix, literal):
            self.error(key, problem)
            return None
        if failure := self.probe(source, constants):
            self.error(key, *failure)
            return None
        return f

    def _compile(self, ast: nodes.Template, plain: set[str]) -> Template:
        """Compile with the sandbox's guards; ``plain`` names hold strings or numbers (see ``Guard``)."""
        ast = Guard(plain, {"recipient": RECIPIENT_FIELDS}).visit(ast)
        ast.set_environment(self.env)
        return self.env.from_string(ast)

    @staticmethod
    def static_problem(f: _Field, source: str, prefix: str | None, literal: int) -> str | None:
        """What the literal text of a per-row template already shows to be wrong."""
        limit = line_rules.URL_MAX if f.check is line_rules.url_problem else None
        if f.check is line_rules.text_problem:
            limit = line_rules.LINE_TEXT_MAX
        if limit is not None and literal > limit:
            return (
                f"is over {limit} characters long before its variables are filled in ({literal}); the limit is {limit}"
            )
        if f.check is line_rules.url_problem and prefix is not None:
            return line_rules.url_prefix_problem(prefix, source)
        return None

    def probe(self, source: str, constants: set[str]) -> tuple[str, int] | None:
        """Try, once, the parts of a per-row template that read no row variable; their failure (a
        memory bomb, a division by zero) would repeat on every row."""
        ast = self.env.parse(source)  # a copy of its own: compiling changes the tree
        parts = row_free_parts(ast, constants)
        if not parts:
            return None
        try:
            probe = self._compile(nodes.Template(parts, lineno=1), set())
        except Exception:  # a part that only compiles in its context: left to the rows
            return None
        try:
            render(self.env, probe, self.base)
        except Exception as exc:
            return explain(exc), error_line(exc, probe)
        return None

    def part(
        self,
        name: str,
        sources: dict[str, str],
        checks: Callable[[str], Callable[[str], str | None]],
        build: Callable[[dict[str, str]], Any],
        check: Callable[[Any], str | None],
    ) -> _Part | None:
        fields = [self.field((name, api), source, checks(api)) for api, source in sources.items()]
        if not all(fields):
            return None
        part = _Part([f for f in fields if f is not None], build, check)
        part.columns = tuple(sorted({c for f in part.fields for c in f.columns}))
        if any(f.recipient for f in part.fields) or not part.columns:
            part.cache = None
        if all(f.value is not None for f in part.fields):
            part.static = build({f.api_name: cast(str, f.value) for f in part.fields})
            if problem := check(part.static):
                self.error((name, next(iter(sources))), problem)
                return None
        return part


def compile_content(
    campaign: Campaign, *, campaign_path: Path, locate: Locate, header: Sequence[str], csv_path: Path
) -> Content:
    """Compile the campaign's templates and check them against ``header`` before any row is rendered.

    ``locate(("line", "text"))`` gives the 1-based ``(line, col)`` of a value in the campaign file.
    Raises :class:`InputErrors` with every problem found; rendering errors name ``csv_path`` and the row.
    """
    env = SandboxEnvironment({Recipient: RECIPIENT_FIELDS})
    c = _Compiler(env, campaign, campaign_path, locate, header, csv_path)
    c.check_names()
    line = sms = None
    if (line_content := campaign.line) is not None:
        line = c.part(
            "line",
            line_content.template_fields(),
            line_rules.field_check,
            lambda values: line_rules.line_payload(line_content, values),
            lambda result: None,
        )
    if (sms_content := campaign.sms) is not None:
        sms = c.part(
            "sms",
            sms_content.template_fields(),
            lambda api: lambda text: None,
            lambda values: (_sms_payload(sms_content, values["text"]), measure(values["text"])),
            lambda result: _sms_problem(result[0]["text"], result[1]),
        )
    if c.errors:
        raise InputErrors(c.errors)
    plain = c.needed <= set(header) and not c.needed & set(BUILTINS)
    content = Content(c.env, csv_path, c.base, plain, "recipient" in c.needed, "row" in c.needed)
    content._line, content._sms = line, sms
    if all(p is None or p.static is not None for p in (line, sms)):
        content._static = Rendered(line.static if line else None, *(sms.static if sms else (None, None)))
    return content


def _shown_char(ch: str) -> str:
    if ch.isprintable() and not ch.isspace():
        return f'"{ch}"'
    return f"U+{ord(ch):04X} {unicodedata.name(ch, '')}".rstrip()


def describe_ucs2(m: SmsMeasure, *, max_chars: int = 3) -> str | None:
    """A plan warning when a few characters force UCS-2, e.g. ``"’" forces UCS-2: 70 characters per
    message instead of 160``; None for GSM-7, or when the text is mostly non-GSM anyway."""
    if m.encoding != "UCS2" or not m.ucs2_chars or len(m.ucs2_chars) > max_chars:
        return None
    shown = [_shown_char(ch) for ch in m.ucs2_chars]
    who = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    verb = "forces" if len(shown) == 1 else "force"
    if m.parts == 1:
        return f"{who} {verb} UCS-2: 70 characters per message instead of 160"
    return f"{who} {verb} UCS-2: 67 characters per part instead of 153 ({m.parts} parts)"
