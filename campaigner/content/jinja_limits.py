"""What a template may build and how much work it may do: the per-render budget and size caps.

Operators, filters, ``str.format`` / ``%`` and string methods are charged here against
``WORK_BUDGET`` (characters built, items filtered, loop steps) and refused past ``MAX_SIZE`` or
``MAX_INT_BITS``; comparisons and searches are charged by the size of what they compare, formats by the
size of their result before it is built, and a render stops after ``MAX_SECONDS``.
:mod:`campaigner.content.jinja_sandbox` wires them in.
"""

from __future__ import annotations

import inspect
import operator
import re
import time
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any, cast

from jinja2.exceptions import FilterArgumentError, SecurityError, TemplateRuntimeError
from jinja2.filters import make_attrgetter
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace, _PassArg, pass_context
from markupsafe import EscapeFormatter

MAX_SIZE = 100_000  # characters or items one operation may build (jinja's MAX_RANGE too)
MAX_INT_BITS = 65_536  # size of an integer built by * or **
WORK_BUDGET = 1_000_000  # characters built, items filtered and loop steps, per field and recipient
MAX_SECONDS = 2.0  # wall-clock time one render may take
CLOCK_EVERY = 2048  # units of work between two looks at the clock (a few milliseconds at most)


class TemplateLimitError(TemplateRuntimeError):
    """A template tried to build too large a value or to do too much work."""


# ---------------------------------------------------------------------------------------- budget


class RenderContext(Context):
    """A jinja context that carries the work budget of one render."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget = WORK_BUDGET
        self.deadline = 0.0  # set at the first look at the clock
        self.clock_at = WORK_BUDGET - CLOCK_EVERY


def charge(context: Context, units: int) -> None:
    """Spend ``units`` of the render's budget; every ``CLOCK_EVERY`` units, look at the clock too."""
    ctx = cast(RenderContext, context)
    ctx.budget -= units
    if ctx.budget < ctx.clock_at:
        if ctx.budget < 0:
            raise TemplateLimitError(
                f"the template does too much work (over {WORK_BUDGET} characters built or steps taken)"
            )
        now = time.monotonic()
        if not ctx.deadline:  # the first look: the clock starts (after at most CLOCK_EVERY units)
            ctx.deadline = now + MAX_SECONDS
        elif now > ctx.deadline:
            raise TemplateLimitError(f"the template takes too long to render (over {MAX_SECONDS:g} s)")
        ctx.clock_at = ctx.budget - CLOCK_EVERY


def weight(value: object, limit: int) -> int:
    """Characters and items ``value`` holds, counting shared references each time (as ``str`` would)."""
    if type(value) is str:
        return len(value)
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += len(item) + 1
            if total <= limit:
                stack.extend(item)
        elif isinstance(item, dict):
            total += 2 * len(item) + 1
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, range):
            total += len(item)
        elif isinstance(item, (KeysView, ItemsView, ValuesView)):  # d.items(): str() shows it all
            total += len(item) + 1
            if total <= limit:
                stack.extend(item)
        elif isinstance(item, Namespace):
            stack.append(getattr(item, "_Namespace__attrs", None))
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 1
        else:
            total += 1
    return total


def charge_values(context: Context, values: Iterable[Any]) -> None:
    units = 1
    for value in values:
        units += len(value) if type(value) is str else weight(value, cast(RenderContext, context).budget)
    charge(context, units)


def grow(context: Context, what: str, size: int) -> None:
    if size > MAX_SIZE:
        raise TemplateLimitError(f"{what} would build {size} characters or items; the limit is {MAX_SIZE}")
    charge(context, max(size, 0))


def public_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.pop("_loop_vars", None)
    kwargs.pop("_block_vars", None)
    return kwargs


# ----------------------------------------------------------------------- formats: % and .format


_PRINTF_TAIL = re.compile(r"[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?")
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d*))?[a-zA-Z%]?", re.S)


def _printf_fields(fmt: str) -> Iterator[tuple[str | None, int, str]]:
    """Each conversion of a ``%`` format, parsed as CPython does: its mapping key (None when
    positional), the sum of its width and precision, and its conversion character."""
    i, n = 0, len(fmt)
    while (i := fmt.find("%", i) + 1) and i < n:
        key = None
        if fmt[i] == "(":
            depth, start, i = 1, i + 1, i + 1
            while i < n and depth:
                depth += {"(": 1, ")": -1}.get(fmt[i], 0)
                i += 1
            key = fmt[start : i - 1]
        m = _PRINTF_TAIL.match(fmt, i)
        assert m is not None  # the pattern matches the empty string
        if "*" in (m.group(1), m.group(2)):
            raise TemplateLimitError("'*' widths are not allowed in % formats")
        yield key, int(m.group(1) or 0) + int(m.group(2) or 0), fmt[m.end() : m.end() + 1]
        i = m.end() + 1


def piece_bound(value: Any, conversion: str = "s") -> int:
    """At most the characters ``value`` formats to: its ``str`` for a string, else a bound on its
    ``repr`` (10 characters per character or item: ``\\U0010ffff``) plus a float's digits."""
    if type(value) is str and conversion == "s":
        return len(value)
    return 10 * weight(value, MAX_SIZE) + 330


_MISSING = object()


def check_printf(context: Context, fmt: str, args: Any) -> None:
    """Refuse a ``%`` format whose result would be too large, before it is built: the widths, and
    the values each conversion formats (a mapping's value is counted every time a key names it)."""
    fields = list(_printf_fields(fmt))
    grow(context, "the % format", sum(pad for _, pad, _ in fields))
    charge_values(context, (args,))
    mapping = args if isinstance(args, Mapping) and not isinstance(args, (tuple, str)) else None
    positional = iter(args if isinstance(args, tuple) else (args,))
    size = len(fmt)
    for key, _, conversion in fields:
        if conversion == "%":
            continue
        value = (mapping.get(key, _MISSING) if mapping is not None else _MISSING) if key else next(positional, _MISSING)
        if value is _MISSING:  # Python raises its own error
            break
        size += piece_bound(value, conversion)
        if size > MAX_SIZE:
            raise TemplateLimitError(f"the % format would build over {MAX_SIZE} characters")


class LimitedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, refusing widths that would build huge strings."""

    def __init__(self, env: ImmutableSandboxedEnvironment, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.padding = 0
        self.size = 0  # characters of the fields formatted so far: the result is their sum and the text

    def format_field(self, value: Any, format_spec: str) -> Any:
        m = _FORMAT_SPEC.fullmatch(format_spec)
        if m is None:
            raise TemplateLimitError(f"format spec {format_spec!r} is not supported")
        self.padding += int(m.group(1) or 0) + int(m.group(2) or 0)
        if self.padding > MAX_SIZE:
            raise TemplateLimitError(f"format widths add up to {self.padding}; the limit is {MAX_SIZE}")
        piece = super().format_field(value, format_spec)
        self.size += len(piece)  # a field repeated shares one string until the final join copies it
        if self.size > MAX_SIZE:
            raise TemplateLimitError(f"format would build over {MAX_SIZE} characters")
        return piece


class LimitedEscapeFormatter(LimitedFormatter, EscapeFormatter):
    pass


# ------------------------------------------------------------------------------- filters


def _pre_width(context: Context, value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    if isinstance(width, int):
        grow(context, "center", width)


def _pre_indent(context: Context, s: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    w = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    lines = s.count("\n") + 1 if isinstance(s, str) else weight(s, MAX_SIZE) + 1
    grow(context, "indent", lines * max(w, 0))


def _pre_wordwrap(
    context: Context, s: Any, width: Any = 79, bw: Any = True, wrapstring: Any = None, *_: Any, **k: Any
) -> None:
    wrapstring = k.get("wrapstring", wrapstring)
    n = len(s) if isinstance(s, str) else weight(s, MAX_SIZE)
    w = max(width, 1) if isinstance(width, int) else 1
    lines = min(n + 1, 2 * n // w + (s.count("\n") if isinstance(s, str) else n) + 2)
    grow(context, "wordwrap", lines * (len(wrapstring) if isinstance(wrapstring, str) else 1))


def _replace_size(s: str, old: str, new: str, count: Any) -> int:
    hits = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * (len(new) - len(old))


def _pre_replace(context: Context, s: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
    if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
        grow(context, "replace", _replace_size(s, old, new, count))


def _pre_count(what: str, limit: int) -> Callable[..., None]:
    def check(context: Context, value: Any, n: Any = 0, *_: Any, **__: Any) -> None:
        if isinstance(n, int) and abs(n) > limit:
            raise TemplateLimitError(f"{what} {n} is too large; the limit is {limit}")
        if what != "round precision":
            charge(context, max(n, 0) if isinstance(n, int) else 0)

    return check


def _pre_tojson(context: Context, value: Any, indent: Any = None) -> None:
    if (len(indent) if isinstance(indent, str) else indent or 0) > 16:
        raise TemplateLimitError("tojson indent is too large; the limit is 16")


PRECHECKS: dict[str, Callable[..., None]] = {
    "center": _pre_width,
    "indent": _pre_indent,
    "wordwrap": _pre_wordwrap,
    "replace": _pre_replace,
    "batch": _pre_count("batch size", MAX_SIZE),
    "slice": _pre_count("slice count", MAX_SIZE),
    "round": _pre_count("round precision", 100),
    "tojson": _pre_tojson,
}
DROPPED_FILTERS = ("random", "urlize")  # nondeterministic (plans must be), HTML-only


def guarded(func: Callable[..., Any], check: Callable[..., None] | None) -> Callable[..., Any]:
    """A filter that charges its inputs and output to the render's budget."""
    pass_arg = _PassArg.from_obj(func)

    @pass_context
    def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
        charge_values(context, args)
        charge_values(context, kwargs.values())
        if check is not None:
            check(context, *args, **kwargs)
        if pass_arg is None:
            result = func(*args, **kwargs)
        elif pass_arg is _PassArg.context:
            result = func(context, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = func(context.eval_ctx, *args, **kwargs)
        else:
            result = func(context.environment, *args, **kwargs)
        if isinstance(result, str):
            charge(context, len(result))
        return result

    return guarded


def _join(context: Context, sep: str, items: Iterable[Any], *, strict: bool) -> str:
    parts: list[str] = []
    size = 0
    for item in items:
        if not isinstance(item, str):
            if strict:
                raise TypeError(f"sequence item {len(parts)}: expected str instance, {type(item).__name__} found")
            charge(context, weight(item, MAX_SIZE))
            item = str(item)
        size += len(item) + (len(sep) if parts else 0) + 1
        if size > MAX_SIZE:
            raise TemplateLimitError(f"join would build over {MAX_SIZE} characters")
        parts.append(item)
    charge(context, size)
    return sep.join(parts)


@pass_context
def filter_join(context: Context, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    if attribute is not None:
        value = map(make_attrgetter(context.environment, attribute), value)
    return _join(context, str(d), value, strict=False)


@pass_context
def filter_sum(context: Context, iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    if attribute is not None:
        iterable = map(make_attrgetter(context.environment, attribute), iterable)
    total = start
    for item in iterable:
        total = context.environment.call_binop(context, "+", total, item)  # type: ignore[attr-defined]
        charge(context, 1)
    return total


@pass_context
def filter_format(context: Context, value: Any, *args: Any, **kwargs: Any) -> str:
    if args and kwargs:
        raise FilterArgumentError("can't handle positional and keyword arguments at the same time")
    charge_values(context, (value,))
    fmt = str(value)
    check_printf(context, fmt, kwargs or args)
    return fmt % (kwargs or args)


@pass_context
def output(context: Context, value: Any) -> Any:
    ctx = cast(RenderContext, context)
    ctx.budget -= len(value) if type(value) is str else weight(value, MAX_SIZE * 10) + 1
    if ctx.budget < 0:
        charge(ctx, 0)
    return value


@pass_context
def concat(context: Context, parts: tuple[Any, ...]) -> str:
    charge_values(context, parts)
    text = "".join(map(str, parts))
    charge(context, len(text))
    return text


@pass_context
def iterate(context: Context, iterable: Iterable[Any], cost: int) -> Iterator[Any]:
    for item in iterable:
        charge(context, cost)  # the work and the clock
        yield item


_CHEAP = (int, float, type(None))
_SCALARS = frozenset({int, float, bool, type(None)})
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lteq": operator.le,
    "gt": operator.gt,
    "gteq": operator.ge,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


def search_cost(key: Any, items: Any, limit: int) -> int:
    """A bound on the work of looking for ``key`` among ``items`` (``in``, ``count``, ``index``): each
    comparison costs at most the size of the key, and all of them at most the size of the items."""
    try:
        bound = len(items) * weight(key, limit)
    except TypeError:  # no len(): an iterator
        bound = limit + 1
    return (bound if bound <= limit else min(bound, weight(items, limit))) + 1


def compare_cost(op: str, left: Any, right: Any, limit: int) -> int:
    """A bound on the element comparisons ``left op right`` makes: a search costs as ``search_cost`` (the
    key's size, for a hashed container), a comparison the size of the smaller side."""
    if op in ("in", "notin"):
        if isinstance(right, str):
            return len(right) + 1
        if isinstance(right, (dict, set, frozenset, KeysView, range)):
            return weight(left, limit) + 1
        return search_cost(left, right, limit)
    if isinstance(left, _CHEAP) or isinstance(right, _CHEAP):
        return 1
    if isinstance(left, str) and isinstance(right, str):
        return min(len(left), len(right)) + 1
    smaller = weight(left, limit)
    return min(smaller, weight(right, smaller)) + 1


@pass_context
def compare(context: Context, left: Any, right: Any, op: str) -> Any:
    """``a == b``, ``a in b``, ``a < b``: charged by size before comparing."""
    ctx = cast(RenderContext, context)
    if type(left) in _SCALARS and type(right) in _SCALARS:  # the usual case: discount|int > 10
        ctx.budget -= 1
    else:
        ctx.budget -= compare_cost(op, left, right, max(ctx.budget, 0))
    if ctx.budget < ctx.clock_at:
        charge(ctx, 0)
    return _OPERATORS[op](left, right)


@pass_context
def hashed(context: Context, key: Any) -> Any:
    """A dict key or subscript, charged by its size when hashing it walks it (a tuple's hash is not
    cached: ``{t: 1}`` with ``t = ((1,) * 100000,) * 100000`` would hash 10**10 items)."""
    if isinstance(key, tuple):
        charge(context, weight(key, max(cast(RenderContext, context).budget, 0)))
    return key


COMPARISON_TESTS = {
    **dict.fromkeys(("==", "eq", "equalto"), "eq"),
    **dict.fromkeys(("!=", "ne"), "ne"),
    **dict.fromkeys(("<", "lt", "lessthan"), "lt"),
    **dict.fromkeys(("<=", "le"), "lteq"),
    **dict.fromkeys((">", "gt", "greaterthan"), "gt"),
    **dict.fromkeys((">=", "ge"), "gteq"),
    "in": "in",
}


def comparison_test(op: str) -> Callable[..., bool]:
    """The jinja test ``x is eq y`` / ``x is in y`` (also used by ``select``), charged as ``compare``."""

    @pass_context
    def test(context: Context, value: Any, other: Any) -> bool:
        return bool(compare(context, value, other, op))

    return test


def safe_range(*args: int) -> range:
    items = range(*args)
    try:
        size = len(items)
    except OverflowError:
        size = MAX_SIZE + 1
    if size > MAX_SIZE:
        shown = ", ".join(map(str, args))
        raise TemplateLimitError(f"range({shown}) is too big; the sandbox allows at most {MAX_SIZE} items")
    return items


CONCAT, ITERATE, OUTPUT = "_campaigner_concat", "_campaigner_iterate", "_campaigner_output"
COMPARE, HASHED = "_campaigner_compare", "_campaigner_hashed"

# ------------------------------------------------------------------------------- calls

_STR_METHODS = frozenset(
    {
        *("capitalize", "casefold", "lower", "upper", "swapcase", "title", "strip", "lstrip", "rstrip"),
        *("count", "find", "rfind", "index", "rindex", "startswith", "endswith", "removeprefix"),
        *("removesuffix", "partition", "rpartition", "split", "rsplit", "splitlines", "isalnum"),
        *("isalpha", "isascii", "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric"),
        *("isprintable", "isspace", "istitle", "isupper", "center", "ljust", "rjust", "zfill"),
        *("replace", "join"),
    }
)


def call_str_method(context: Context, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    owner: str = method.__self__
    name: str = method.__name__
    if name not in _STR_METHODS:
        raise SecurityError(f"calling str.{name}() is not allowed in templates")
    charge(context, len(owner))
    if name == "join" and len(args) == 1 and not kwargs:
        return _join(context, owner, args[0], strict=True)
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        grow(context, name, args[0])
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        grow(context, "replace", _replace_size(owner, args[0], args[1], args[2] if len(args) > 2 else -1))
    return method(*args, **kwargs)


def user_signature(name: str, func: Callable[..., Any]) -> dict[str, inspect.Signature]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # some builtins have none
        return {}
    params = list(sig.parameters.values())
    if _PassArg.from_obj(inspect.unwrap(func)) is not None:  # not jinja's own async_variant wrappers
        params = params[1:]
    return {name: sig.replace(parameters=params)}
