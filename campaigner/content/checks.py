"""What can be known of a campaign template before any row: refused constructs, names, literal text.

Run on the parsed template (a jinja AST), so that every problem is reported once, at the campaign
file's ``line:col``, instead of once per recipient.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Iterator, Mapping, Sequence
from string import Formatter

from jinja2 import nodes

RECIPIENT_FIELDS = ("phoneNumber", "lineUserKey", "row")
BUILTINS = ("recipient", "row")  # the template variables that are neither a CSV column nor a vars entry
_PRIVATE_IN_FIELD = re.compile(r"[.\[](_[^.\[\]{}!:]*)")
_TRIVIAL = (nodes.Const, nodes.Name, nodes.TemplateData, nodes.List, nodes.Tuple, nodes.Dict, nodes.Pair)
_STATEMENTS = (nodes.For, nodes.If, nodes.Assign, nodes.AssignBlock, nodes.With, nodes.FilterBlock, nodes.Macro)


def attribute(node: nodes.Node) -> str | None:
    """The attribute name of ``x.name`` or ``x["name"]``."""
    if isinstance(node, nodes.Getattr):
        return node.attr
    arg = getattr(node, "arg", None)
    return arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, str) else None


def _private(node: nodes.Node) -> bool:
    return (attribute(node) or "x")[0] == "_"


def _private_in_format(fmt: str) -> str | None:
    """The first private attribute a ``str.format`` string reaches (``{0.__class__}``), if any."""
    try:
        fields = [(name, spec) for _, name, spec, _ in Formatter().parse(fmt) if name is not None]
    except ValueError:
        return None
    for name, spec in fields:
        if m := _PRIVATE_IN_FIELD.search(name):
            return m.group(1)
        if spec and "{" in spec and (inner := _private_in_format(spec)):
            return inner
    return None


def refused(ast: nodes.Template) -> Iterator[tuple[int, str]]:
    """Constructs a campaign template may not use, with their template line."""
    for node in ast.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        yield node.lineno, "a template cannot extend, include or import other templates"
    for node in ast.find_all((nodes.EvalContextModifier, nodes.ScopedEvalContextModifier)):
        yield node.lineno, "autoescape blocks are not allowed (LINE and SMS texts are not HTML)"
    for loop in ast.find_all(nodes.For):
        if loop.recursive:
            yield loop.lineno, "recursive loops are not allowed"
    private = [get for get in ast.find_all((nodes.Getattr, nodes.Getitem)) if _private(get)]
    for get in private:  # the innermost of ``x.__class__.__mro__``: one line for one problem
        if not any(_private(inner) for inner in get.find_all((nodes.Getattr, nodes.Getitem))):
            yield get.lineno, _private_message(attribute(get))
    for get in ast.find_all(nodes.Getattr):
        fmt = get.node.value if isinstance(get.node, nodes.Const) else None
        if get.attr in ("format", "format_map") and isinstance(fmt, str) and (name := _private_in_format(fmt)):
            yield get.lineno, _private_message(name)


def _private_message(name: str | None) -> str:
    return f"access to attribute {name!r} is not allowed (names starting with _ are private)"


def bad_filter_calls(ast: nodes.Template, signatures: Mapping[str, inspect.Signature]) -> Iterator[tuple[int, str]]:
    """Filters called with arguments they do not take: ``int(strict=true)``."""
    for call in ast.find_all(nodes.Filter):
        sig = signatures.get(call.name)
        if sig is None or call.dyn_args is not None or call.dyn_kwargs is not None:
            continue
        try:
            sig.bind(None, *call.args, **{str(kw.key): kw.value for kw in call.kwargs})
        except TypeError as exc:
            accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
            unknown = [kw.key for kw in call.kwargs if kw.key not in sig.parameters and not accepts_any]
            message = f"has no argument {unknown[0]!r}" if unknown else f"cannot be called so: {exc}"
            yield call.lineno, f"filter {call.name!r} {message}"


def recipient_misuse(ast: nodes.Template) -> Iterator[tuple[int, str, str | None]]:
    """``recipient`` used as a value (its repr would show the raw phone number and LINE key), and
    ``recipient.phone`` and other attributes ``recipient`` does not have, with a hint."""
    read: set[int] = set()  # the Name nodes that are read through an attribute
    for get in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(get, "node", None)
        if not (isinstance(target, nodes.Name) and target.name == "recipient"):
            continue
        read.add(id(target))
        attr = attribute(get)
        if attr is not None and attr not in RECIPIENT_FIELDS:
            close = difflib.get_close_matches(attr, RECIPIENT_FIELDS, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else "recipient has phoneNumber, lineUserKey and row"
            yield get.lineno, f"recipient has no attribute {attr!r}", hint
    for name in ast.find_all(nodes.Name):
        if name.name == "recipient" and name.ctx == "load" and id(name) not in read:
            yield name.lineno, "recipient is not a value on its own", RECIPIENT_HINT


RECIPIENT_HINT = "use recipient.phoneNumber, recipient.lineUserKey or recipient.row"
ROW_METHODS = ("items", "keys", "values", "get")


def row_reads(ast: nodes.Template) -> tuple[list[tuple[str, int]], bool, list[int]]:
    """How a template reads ``row`` (the CSV fields by column name): the constant column names it
    reads (``row['first name']``, ``row.segment``) with their line, whether it also reads columns
    chosen at render time (``row[name]``, ``row.items()``), and the lines where ``row`` stands alone."""
    keys: list[tuple[str, int]] = []
    dynamic = False
    read: set[int] = set()
    for get in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(get, "node", None)
        if not (isinstance(target, nodes.Name) and target.name == "row"):
            continue
        read.add(id(target))
        attr = attribute(get)
        if attr is None or (isinstance(get, nodes.Getattr) and attr in ROW_METHODS):
            dynamic = True
        else:
            keys.append((attr, get.lineno))
    bare = [n.lineno for n in ast.find_all(nodes.Name) if n.name == "row" and n.ctx == "load" and id(n) not in read]
    return keys, dynamic, bare


def self_reads(ast: nodes.Template) -> list[int]:
    """Lines that read jinja's ``self`` (the template's blocks), unless the template sets it."""
    names = list(ast.find_all(nodes.Name))
    if any(n.name == "self" and n.ctx != "load" for n in names):
        return []
    return [n.lineno for n in names if n.name == "self" and n.ctx == "load"]


_JINJA_WORDS = frozenset({"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if"})


def names_in_order(ast: nodes.Template, wanted: set[str]) -> list[tuple[str, int]]:
    """The ``wanted`` names the template reads, each with the line of its first use, in that order."""
    seen: dict[str, int] = {}
    for name in ast.find_all(nodes.Name):
        if name.ctx == "load" and name.name in wanted:
            seen.setdefault(name.name, name.lineno)
    return sorted(seen.items(), key=lambda item: item[1])


def readable(column: str) -> bool:
    """True when a template can read ``column`` by its name alone (``{{ first_name }}``)."""
    return column.isidentifier() and column not in _JINJA_WORDS


def as_read(column: str) -> str:
    """How a template reads ``column``: ``'first_name'``, or ``row['first name']``."""
    return repr(column) if readable(column) else f"row[{column!r}]"


def did_you_mean(name: str, header: Sequence[str], var_names: Sequence[str]) -> str:
    """The hint for an unknown variable: close names (as a template reads them), or the names there are."""
    close = difflib.get_close_matches(name, [*header, *var_names, "recipient"], n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(as_read(c) if c in header else repr(c) for c in close) + "?"
    columns = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
    known = f"the CSV columns ({columns})" if header else "no CSV column"
    if var_names:
        known += f", vars ({', '.join(var_names)})"
    hint = f"the variables are {known}, recipient and row"
    if unreadable := next((c for c in header if not readable(c)), None):
        hint += f"; read a column such as {unreadable!r} as row[{unreadable!r}]"
    return hint


def column_hint(name: str, header: Sequence[str]) -> str:
    """The hint for ``row['x']`` naming no column."""
    close = difflib.get_close_matches(name, list(header), n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(f"row[{c!r}]" for c in close) + "?"
    columns = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
    return f"the columns are {columns}" if header else "the CSV has no columns"


def literal_prefix(ast: nodes.Template) -> str | None:
    """The literal text a template starts with, when it starts with some."""
    first = ast.body[0] if ast.body else None
    if isinstance(first, nodes.Output) and first.nodes and isinstance(first.nodes[0], nodes.TemplateData):
        return first.nodes[0].data
    return None


def literal_length(ast: nodes.Template) -> int:
    """Characters of literal text that every rendering outputs (outside any control structure)."""
    return sum(
        len(child.data)
        for node in ast.body
        if isinstance(node, nodes.Output)
        for child in node.nodes
        if isinstance(child, nodes.TemplateData)
    )


def row_free_parts(ast: nodes.Template, constants: set[str]) -> list[nodes.Node]:
    """The largest parts of a template that read no variable but ``constants`` (and names they bind
    themselves), such as ``'x' * 10**11`` in ``Hi {{ first_name }}{{ 'x' * 10**11 }}``: they give the
    same result on every row, so they can be tried once, before any row. Statements come whole,
    expressions wrapped in ``ExprStmt``, ready for a ``nodes.Template`` body."""
    parts: list[nodes.Node] = []

    def walk(node: nodes.Node) -> None:
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.NSRef):  # the target of ``set ns.x = ...``: nothing to compute
                continue
            computes = not all(isinstance(n, _TRIVIAL) for n in (child, *child.find_all(nodes.Node)))
            if isinstance(child, (nodes.Expr, *_STATEMENTS)) and computes and _row_free(child, constants):
                parts.append(child if isinstance(child, nodes.Stmt) else nodes.ExprStmt(child, lineno=child.lineno))
            else:
                walk(child)

    walk(ast)
    return parts


def _row_free(node: nodes.Node, constants: set[str]) -> bool:
    names = [node, *node.find_all(nodes.Name)] if isinstance(node, nodes.Name) else list(node.find_all(nodes.Name))
    bound = {n.name for n in names if n.ctx != "load"}
    if isinstance(node, nodes.For) or any(True for _ in node.find_all(nodes.For)):
        bound.add("loop")
    if isinstance(node, nodes.Macro) or any(True for _ in node.find_all((nodes.Macro, nodes.CallBlock))):
        bound |= {"caller", "varargs", "kwargs"}
    loads = [n.name for n in names if n.ctx == "load"] + [ref.name for ref in node.find_all(nodes.NSRef)]
    return all(name in constants or name in bound for name in loads)
