"""A Jinja2 sandbox hardened against memory and time bombs, for campaign templates.

jinja's ``ImmutableSandboxedEnvironment`` keeps templates away from Python internals; this one also
refuses calls outside a short allow-list and private attributes at compile time, and charges
``* ** + %``, filters, method calls, ``~``, loop steps and output against a per-render work budget
(``WORK_BUDGET``). One operation may not build more than ``MAX_SIZE`` characters or items nor an
integer over ``MAX_INT_BITS``, and loops stop after ``MAX_SECONDS``. Each refusal raises
:class:`TemplateLimitError` (or jinja's ``SecurityError``), never a ``MemoryError``.
"""

from __future__ import annotations

import inspect
import re
import time
import types
from collections.abc import Callable, ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from functools import update_wrapper
from typing import Any, cast

from jinja2 import StrictUndefined, Template, nodes
from jinja2.exceptions import FilterArgumentError, SecurityError, TemplateError, TemplateRuntimeError
from jinja2.filters import make_attrgetter
from jinja2.runtime import BlockReference, Context, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Cycler, Joiner, Namespace, _PassArg, pass_context
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

MAX_SIZE = 100_000  # characters or items one operation may build (jinja's MAX_RANGE too)
MAX_INT_BITS = 65_536  # size of an integer built by * or **
WORK_BUDGET = 1_000_000  # characters built, items filtered and loop steps, per field and recipient
MAX_SECONDS = 2.0  # time the loops of one render may take


class TemplateLimitError(TemplateRuntimeError):
    """A template tried to build too large a value or to do too much work."""


# ---------------------------------------------------------------------------------------- budget


class RenderContext(Context):
    """A jinja context that carries the work budget of one render."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget = WORK_BUDGET
        self.deadline = 0.0


def _charge(context: Context, units: int) -> None:
    ctx = cast(RenderContext, context)
    ctx.budget -= units
    if ctx.budget < 0:
        raise TemplateLimitError(
            f"the template does too much work (over {WORK_BUDGET} characters built or steps taken)"
        )


def _weight(value: object, limit: int) -> int:
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


def _charge_values(context: Context, values: Iterable[Any]) -> None:
    units = 1
    for value in values:
        units += len(value) if type(value) is str else _weight(value, cast(RenderContext, context).budget)
    _charge(context, units)


def _grow(context: Context, what: str, size: int) -> None:
    if size > MAX_SIZE:
        raise TemplateLimitError(f"{what} would build {size} characters or items; the limit is {MAX_SIZE}")
    _charge(context, max(size, 0))


def _public(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.pop("_loop_vars", None)
    kwargs.pop("_block_vars", None)
    return kwargs


# ----------------------------------------------------------------------- formats: % and .format


_PRINTF_TAIL = re.compile(r"[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?")
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d*))?[a-zA-Z%]?", re.S)


def _printf_padding(fmt: str) -> int:
    """Sum of the widths and precisions in a ``%`` format, parsed as CPython does."""
    pad, i, n = 0, 0, len(fmt)
    while (i := fmt.find("%", i) + 1) and i < n:
        if fmt[i] == "(":
            depth, i = 1, i + 1
            while i < n and depth:
                depth += {"(": 1, ")": -1}.get(fmt[i], 0)
                i += 1
        m = _PRINTF_TAIL.match(fmt, i)
        assert m is not None  # the pattern matches the empty string
        if "*" in (m.group(1), m.group(2)):
            raise TemplateLimitError("'*' widths are not allowed in % formats")
        pad += int(m.group(1) or 0) + int(m.group(2) or 0)
        i = m.end() + 1
    return pad


def _check_printf(context: Context, fmt: str, args: Any) -> None:
    _grow(context, "the % format", _printf_padding(fmt))
    _charge_values(context, (args,))


class _LimitedFormatter(SandboxedFormatter):
    """``str.format`` in the sandbox, refusing widths that would build huge strings."""

    def __init__(self, env: ImmutableSandboxedEnvironment, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.padding = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        m = _FORMAT_SPEC.fullmatch(format_spec)
        if m is None:
            raise TemplateLimitError(f"format spec {format_spec!r} is not supported")
        self.padding += int(m.group(1) or 0) + int(m.group(2) or 0)
        if self.padding > MAX_SIZE:
            raise TemplateLimitError(f"format widths add up to {self.padding}; the limit is {MAX_SIZE}")
        return super().format_field(value, format_spec)


class _LimitedEscapeFormatter(_LimitedFormatter, EscapeFormatter):
    pass


# ------------------------------------------------------------------------------- filters


def _pre_width(context: Context, value: Any, width: Any = 80, *_: Any, **__: Any) -> None:
    if isinstance(width, int):
        _grow(context, "center", width)


def _pre_indent(context: Context, s: Any, width: Any = 4, *_: Any, **__: Any) -> None:
    w = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    lines = s.count("\n") + 1 if isinstance(s, str) else _weight(s, MAX_SIZE) + 1
    _grow(context, "indent", lines * max(w, 0))


def _pre_wordwrap(
    context: Context, s: Any, width: Any = 79, bw: Any = True, wrapstring: Any = None, *_: Any, **k: Any
) -> None:
    wrapstring = k.get("wrapstring", wrapstring)
    n = len(s) if isinstance(s, str) else _weight(s, MAX_SIZE)
    w = max(width, 1) if isinstance(width, int) else 1
    lines = min(n + 1, 2 * n // w + (s.count("\n") if isinstance(s, str) else n) + 2)
    _grow(context, "wordwrap", lines * (len(wrapstring) if isinstance(wrapstring, str) else 1))


def _replace_size(s: str, old: str, new: str, count: Any) -> int:
    hits = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * (len(new) - len(old))


def _pre_replace(context: Context, s: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
    if isinstance(s, str) and isinstance(old, str) and isinstance(new, str):
        _grow(context, "replace", _replace_size(s, old, new, count))


def _pre_count(what: str, limit: int) -> Callable[..., None]:
    def check(context: Context, value: Any, n: Any = 0, *_: Any, **__: Any) -> None:
        if isinstance(n, int) and abs(n) > limit:
            raise TemplateLimitError(f"{what} {n} is too large; the limit is {limit}")
        if what != "round precision":
            _charge(context, max(n, 0) if isinstance(n, int) else 0)

    return check


def _pre_tojson(context: Context, value: Any, indent: Any = None) -> None:
    if (len(indent) if isinstance(indent, str) else indent or 0) > 16:
        raise TemplateLimitError("tojson indent is too large; the limit is 16")


_PRECHECKS: dict[str, Callable[..., None]] = {
    "center": _pre_width,
    "indent": _pre_indent,
    "wordwrap": _pre_wordwrap,
    "replace": _pre_replace,
    "batch": _pre_count("batch size", MAX_SIZE),
    "slice": _pre_count("slice count", MAX_SIZE),
    "round": _pre_count("round precision", 100),
    "tojson": _pre_tojson,
}
_DROPPED_FILTERS = ("random", "urlize")  # nondeterministic (plans must be), HTML-only


def _guarded(func: Callable[..., Any], check: Callable[..., None] | None) -> Callable[..., Any]:
    """A filter that charges its inputs and output to the render's budget."""
    pass_arg = _PassArg.from_obj(func)

    @pass_context
    def guarded(context: Context, *args: Any, **kwargs: Any) -> Any:
        _charge_values(context, args)
        _charge_values(context, kwargs.values())
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
            _charge(context, len(result))
        return result

    return guarded


def _join(context: Context, sep: str, items: Iterable[Any], *, strict: bool) -> str:
    parts: list[str] = []
    size = 0
    for item in items:
        if not isinstance(item, str):
            if strict:
                raise TypeError(f"sequence item {len(parts)}: expected str instance, {type(item).__name__} found")
            _charge(context, _weight(item, MAX_SIZE))
            item = str(item)
        size += len(item) + (len(sep) if parts else 0) + 1
        if size > MAX_SIZE:
            raise TemplateLimitError(f"join would build over {MAX_SIZE} characters")
        parts.append(item)
    _charge(context, size)
    return sep.join(parts)


@pass_context
def _filter_join(context: Context, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    if attribute is not None:
        value = map(make_attrgetter(context.environment, attribute), value)
    return _join(context, str(d), value, strict=False)


@pass_context
def _filter_sum(context: Context, iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    if attribute is not None:
        iterable = map(make_attrgetter(context.environment, attribute), iterable)
    total = start
    for item in iterable:
        total = context.environment.call_binop(context, "+", total, item)  # type: ignore[attr-defined]
        _charge(context, 1)
    return total


@pass_context
def _filter_format(context: Context, value: Any, *args: Any, **kwargs: Any) -> str:
    if args and kwargs:
        raise FilterArgumentError("can't handle positional and keyword arguments at the same time")
    _charge_values(context, (value,))
    fmt = str(value)
    _check_printf(context, fmt, kwargs or args)
    return fmt % (kwargs or args)


@pass_context
def _output(context: Context, value: Any) -> Any:
    ctx = cast(RenderContext, context)
    ctx.budget -= len(value) if type(value) is str else _weight(value, MAX_SIZE * 10) + 1
    if ctx.budget < 0:
        _charge(ctx, 0)
    return value


@pass_context
def _concat(context: Context, parts: tuple[Any, ...]) -> str:
    _charge_values(context, parts)
    text = "".join(map(str, parts))
    _charge(context, len(text))
    return text


@pass_context
def _iterate(context: Context, iterable: Iterable[Any], cost: int) -> Iterator[Any]:
    ctx = cast(RenderContext, context)
    if not ctx.deadline:
        ctx.deadline = time.monotonic() + MAX_SECONDS
    for item in iterable:
        _charge(ctx, cost)
        if time.monotonic() > ctx.deadline:
            raise TemplateLimitError(f"the template's loops take too long (over {MAX_SECONDS:g} s)")
        yield item


def _range(*args: int) -> range:
    items = range(*args)
    try:
        size = len(items)
    except OverflowError:
        size = MAX_SIZE + 1
    if size > MAX_SIZE:
        shown = ", ".join(map(str, args))
        raise TemplateLimitError(f"range({shown}) is too big; the sandbox allows at most {MAX_SIZE} items")
    return items


_CONCAT, _ITERATE, _OUTPUT = "_campaigner_concat", "_campaigner_iterate", "_campaigner_output"

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


def _call_str_method(context: Context, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    owner: str = method.__self__
    name: str = method.__name__
    if name not in _STR_METHODS:
        raise SecurityError(f"calling str.{name}() is not allowed in templates")
    _charge(context, len(owner))
    if name == "join" and len(args) == 1 and not kwargs:
        return _join(context, owner, args[0], strict=True)
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        _grow(context, name, args[0])
    elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        _grow(context, "replace", _replace_size(owner, args[0], args[1], args[2] if len(args) > 2 else -1))
    return method(*args, **kwargs)


def _user_signature(name: str, func: Callable[..., Any]) -> dict[str, inspect.Signature]:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # some builtins have none
        return {}
    params = list(sig.parameters.values())
    if _PassArg.from_obj(inspect.unwrap(func)) is not None:  # not jinja's own async_variant wrappers
        params = params[1:]
    return {name: sig.replace(parameters=params)}


# --------------------------------------------------------------------------- environment


class SandboxEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox: charged operators and calls, an allow-list of callables, guarded filters."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    context_class = RenderContext

    def __init__(self, records: Mapping[type, tuple[str, ...]] | None = None) -> None:
        """``records``: plain classes whose listed attributes templates may read without checks."""
        self.records = dict(records or {})
        options = {"autoescape": False, "trim_blocks": True, "lstrip_blocks": True, "cache_size": 0}
        super().__init__(undefined=StrictUndefined, **options)
        del self.globals["lipsum"]  # random text: plans must be deterministic
        self.globals["range"] = _range
        self._callables = tuple(self.globals.values())
        for name in _DROPPED_FILTERS:
            del self.filters[name]
        self.filters.update(join=_filter_join, sum=_filter_sum, format=_filter_format)
        self.filter_signatures: dict[str, inspect.Signature] = {}  # what each filter takes after its value
        for name, func in list(self.filters.items()):
            self.filter_signatures.update(_user_signature(name, func))
            if func not in (_filter_join, _filter_sum, _filter_format):
                self.filters[name] = _guarded(func, _PRECHECKS.get(name))
        self.filters[_CONCAT] = _concat
        self.filters[_ITERATE] = _iterate
        self.filters[_OUTPUT] = _output
        self._lean = self._lean_context()

    def new_render_context(self, parent: dict[str, Any], blocks: dict[str, Any]) -> RenderContext:
        """A fresh context for one render, built without jinja's per-call set-up when that is safe."""
        if blocks or not self._lean:
            return RenderContext(self, parent, None, blocks)
        ctx = RenderContext.__new__(RenderContext)
        ctx.__dict__.update(self._lean, parent=parent, vars={}, exported_vars=set())
        return ctx

    def _lean_context(self) -> dict[str, Any]:
        """The attributes a context of a template without blocks shares with every other, or {} when
        this jinja version sets up contexts differently than expected (then the slow path is used)."""
        probe = RenderContext(self, {}, None, {})
        lean = {"environment": self, "eval_ctx": probe.eval_ctx, "name": None}
        lean |= {"globals_keys": frozenset(), "blocks": {}, "budget": WORK_BUDGET, "deadline": 0.0}
        expected = {*lean, "parent", "vars", "exported_vars"}
        return lean if set(vars(probe)) == expected else {}

    def getattr(self, obj: Any, attribute: str) -> Any:
        if attribute in self.records.get(type(obj), ()):  # the hot path: recipient.row
            return getattr(obj, attribute)
        return super().getattr(obj, attribute)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator in ("*", "+"):
            seq, other = (right, left) if isinstance(left, int) and operator == "*" else (left, right)
            if isinstance(seq, (str, list, tuple)) and isinstance(other, (int, str, list, tuple)):
                size = len(seq) * other if isinstance(other, int) else len(seq) + len(other)
                _grow(context, f"the result of {operator}", size)
            elif operator == "*" and isinstance(left, int) and isinstance(right, int):
                bits = left.bit_length() + right.bit_length()
                if bits > MAX_INT_BITS:
                    raise TemplateLimitError(f"the result of * would have {bits} bits; the limit is {MAX_INT_BITS}")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                bits = (abs(left).bit_length() - 1) * right
                if bits > MAX_INT_BITS:
                    raise TemplateLimitError(
                        f"the result of ** would have over {bits} bits; the limit is {MAX_INT_BITS}"
                    )
        elif operator == "%" and isinstance(left, str):
            _check_printf(context, left, right)
        return self.binop_table[operator](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _charge(__context, 1)
        if type(__obj) is types.BuiltinMethodType and isinstance(__obj.__self__, str):
            result = _call_str_method(__context, __obj, args, _public(kwargs))
        else:
            if not __self._may_call(__obj) or not __self.is_safe_callable(__obj):
                name = getattr(__obj, "__name__", type(__obj).__name__)
                raise SecurityError(f"calling {name!r} is not allowed in templates")
            if getattr(__obj, "_campaigner_format", False):
                _charge_values(__context, args)
                _charge_values(__context, _public(kwargs).values())
            result = __context.call(__obj, *args, **kwargs)
        if isinstance(result, str):
            _charge(__context, len(result))
        return result

    def _may_call(self, obj: Any) -> bool:
        if isinstance(obj, (Macro, BlockReference, Joiner, Undefined)) or any(obj is c for c in self._callables):
            return True
        if getattr(obj, "_campaigner_format", False):
            return True
        owner = getattr(obj, "__self__", None)
        if isinstance(obj, types.MethodType):
            return isinstance(owner, (LoopContext, Cycler))
        if type(obj) is types.BuiltinMethodType:
            if isinstance(owner, dict):
                return obj.__name__ in ("items", "keys", "values", "get")
            if isinstance(owner, (list, tuple)):
                return obj.__name__ in ("index", "count")
        return False

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        owner = getattr(value, "__self__", None)
        if not isinstance(owner, str) or getattr(value, "__name__", "") not in ("format", "format_map"):
            return None
        is_map = value.__name__ == "format_map"
        str_type = type(owner)

        def wrapper(*args: Any, **kwargs: Any) -> str:
            formatter = (
                _LimitedEscapeFormatter(self, escape=owner.escape)
                if isinstance(owner, Markup)
                else _LimitedFormatter(self)
            )
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return str_type(formatter.vformat(owner, args, kwargs))

        wrapped = update_wrapper(wrapper, value)
        wrapped._campaigner_format = True  # type: ignore[attr-defined]
        return wrapped


# ----------------------------------------------------------------------------------- compile


class Guard(NodeTransformer):
    """Routes loops, ``~`` and output through the budget.

    ``for x in it`` becomes ``for x in it|_campaigner_iterate(cost)``, ``a ~ b`` becomes
    ``(a, b)|_campaigner_concat`` and ``{{ e }}`` becomes ``{{ e|_campaigner_output }}``, except a
    variable of the row or ``vars`` output outside loops, macros and blocks (a plain string, the hot
    path), which needs no guard.
    """

    def __init__(self, plain_names: set[str], plain_attributes: Mapping[str, tuple[str, ...]]) -> None:
        self.plain_names = plain_names  # names known to hold a string or a number
        self.plain_attributes = plain_attributes  # name -> its attributes known to be so
        self.depth = 0  # loops, macros, call blocks and blocks around the node visited

    def _inside(self, node: nodes.Node) -> nodes.Node:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1
        return node

    visit_Macro = visit_CallBlock = visit_Block = _inside

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self._inside(node)
        literal = sum(len(d.data) for b in node.body for d in b.find_all(nodes.TemplateData))
        cost = nodes.Const(1 + literal, lineno=node.lineno)
        node.iter = nodes.Filter(node.iter, _ITERATE, [cost], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        parts = nodes.Tuple(node.nodes, "load", lineno=node.lineno)
        return nodes.Filter(parts, _CONCAT, [], [], None, None, lineno=node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            child
            if isinstance(child, nodes.TemplateData) or (self.depth == 0 and self._plain(child))
            else nodes.Filter(child, _OUTPUT, [], [], None, None, lineno=child.lineno)
            for child in node.nodes
        ]
        return node

    def _plain(self, node: nodes.Expr) -> bool:
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            name = node.node.name
            return name in self.plain_names and node.attr in self.plain_attributes.get(name, ())
        return isinstance(node, nodes.Name) and node.name in self.plain_names


def explain(exc: BaseException) -> str:
    """One line for a failed render."""
    if isinstance(exc, TemplateError):
        return (exc.message or type(exc).__name__).rstrip(".")
    if isinstance(exc, RecursionError):
        return "the template nests too deeply (recursion)"
    if isinstance(exc, MemoryError):
        return "the template ran out of memory"
    return f"{type(exc).__name__}: {exc}".rstrip(".")


def render(env: SandboxEnvironment, template: Template, parent: dict[str, Any]) -> str:
    """``template`` rendered with the variables ``parent`` (not copied: do not change it meanwhile)."""
    return "".join(template.root_render_func(env.new_render_context(parent, template.blocks)))


def error_line(exc: BaseException, template: Template) -> int:
    """The template line a render failed at (1 when unknown)."""
    line, tb = 1, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__jinja_template__") is template:
            line = template.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line
