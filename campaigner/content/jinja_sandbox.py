"""A Jinja2 sandbox hardened against memory and time bombs, for campaign templates.

jinja's ``ImmutableSandboxedEnvironment`` keeps templates away from Python internals; this one also
refuses calls outside a short allow-list and private attributes at compile time, and charges
``* ** + %``, filters, method calls, ``~``, loop steps and output against a per-render work budget
(``WORK_BUDGET``). One operation may not build more than ``MAX_SIZE`` characters or items nor an
integer over ``MAX_INT_BITS``, and a render stops after ``MAX_SECONDS``. Each refusal raises
:class:`TemplateLimitError` (or jinja's ``SecurityError``), never a ``MemoryError``.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Mapping
from functools import update_wrapper
from typing import Any, cast

from jinja2 import StrictUndefined, Template, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.runtime import BlockReference, Context, LoopContext, Macro, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Cycler, Joiner
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from campaigner.content.jinja_limits import (
    CLOCK_EVERY,
    COMPARE,
    COMPARISON_TESTS,
    CONCAT,
    DROPPED_FILTERS,
    HASHED,
    ITERATE,
    MAX_INT_BITS,
    OUTPUT,
    PRECHECKS,
    WORK_BUDGET,
    LimitedEscapeFormatter,
    LimitedFormatter,
    RenderContext,
    TemplateLimitError,
    call_str_method,
    charge,
    charge_values,
    check_printf,
    compare,
    comparison_test,
    concat,
    filter_format,
    filter_join,
    filter_sum,
    grow,
    guarded,
    hashed,
    iterate,
    output,
    public_kwargs,
    safe_range,
    search_cost,
    user_signature,
)

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
        self.globals["range"] = safe_range
        self._callables = tuple(self.globals.values())
        for name in DROPPED_FILTERS:
            del self.filters[name]
        self.filters.update(join=filter_join, sum=filter_sum, format=filter_format)
        self.filter_signatures: dict[str, inspect.Signature] = {}  # what each filter takes after its value
        for name, func in list(self.filters.items()):
            self.filter_signatures.update(user_signature(name, func))
            if func not in (filter_join, filter_sum, filter_format):
                self.filters[name] = guarded(func, PRECHECKS.get(name))
        self.filters[CONCAT] = concat
        self.filters[COMPARE] = compare
        self.filters[HASHED] = hashed
        for name, op in COMPARISON_TESTS.items():
            self.tests[name] = comparison_test(op)
        self.filters[ITERATE] = iterate
        self.filters[OUTPUT] = output
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
        lean |= {"clock_at": WORK_BUDGET - CLOCK_EVERY}
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
                grow(context, f"the result of {operator}", size)
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
            check_printf(context, left, right)
        return self.binop_table[operator](left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        charge(__context, 1)
        if type(__obj) is types.BuiltinMethodType and isinstance(__obj.__self__, str):
            result = call_str_method(__context, __obj, args, public_kwargs(kwargs))
        else:
            if not __self._may_call(__obj) or not __self.is_safe_callable(__obj):
                name = getattr(__obj, "__name__", type(__obj).__name__)
                raise SecurityError(f"calling {name!r} is not allowed in templates")
            if getattr(__obj, "_campaigner_format", False):
                charge_values(__context, args)
                charge_values(__context, public_kwargs(kwargs).values())
            elif isinstance(owner := getattr(__obj, "__self__", None), (list, tuple)) and args:  # count, index
                charge(__context, search_cost(args[0], owner, max(cast(RenderContext, __context).budget, 0)))
            elif isinstance(owner, dict) and args:  # get: hashes its key
                hashed(__context, args[0])
            result = __context.call(__obj, *args, **kwargs)
        if isinstance(result, str):
            charge(__context, len(result))
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
                LimitedEscapeFormatter(self, escape=owner.escape)
                if isinstance(owner, Markup)
                else LimitedFormatter(self)
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
    """Routes loops, ``~``, comparisons and output through the budget.

    ``for x in it`` becomes ``for x in it|_campaigner_iterate(cost)``, ``a ~ b`` becomes
    ``(a, b)|_campaigner_concat``, ``a in b`` (any comparison) ``a|_campaigner_compare(b, 'in')``,
    dict keys and subscripts that are not constants ``k|_campaigner_hashed``
    and ``{{ e }}`` becomes ``{{ e|_campaigner_output }}``, except a variable of the row or ``vars``
    output outside loops, macros and blocks (a plain string, the hot path), which needs no guard.
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
        node.iter = nodes.Filter(node.iter, ITERATE, [cost], [], None, None, lineno=node.lineno)
        return node

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        """``a < b < c`` becomes ``a|compare(b, 'lt') and b|compare(c, 'lt')``: lazy, as in Python (the
        middle operand is evaluated twice when the first comparison holds)."""
        self.generic_visit(node)
        left, tests = node.expr, []
        for op in node.ops:
            args = [op.expr, nodes.Const(op.op, lineno=node.lineno)]
            tests.append(nodes.Filter(left, COMPARE, args, [], None, None, lineno=node.lineno))
            left = op.expr
        result: nodes.Expr = tests[0]
        for test in tests[1:]:
            result = nodes.And(result, test, lineno=node.lineno)
        return result

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        for pair in node.items:
            if not isinstance(pair.key, nodes.Const):
                pair.key = nodes.Filter(pair.key, HASHED, [], [], None, None, lineno=pair.lineno)
        return node

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        self.generic_visit(node)
        if not isinstance(node.arg, (nodes.Const, nodes.Slice)):
            node.arg = nodes.Filter(node.arg, HASHED, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        parts = nodes.Tuple(node.nodes, "load", lineno=node.lineno)
        return nodes.Filter(parts, CONCAT, [], [], None, None, lineno=node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        node.nodes = [
            child
            if isinstance(child, nodes.TemplateData) or (self.depth == 0 and self._plain(child))
            else nodes.Filter(child, OUTPUT, [], [], None, None, lineno=child.lineno)
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
