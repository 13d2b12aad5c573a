"""A fast path for templates that are only text and plain variables, byte-identical to the Jinja2 render.

Most campaign templates are literal text with ``{{ column }}`` and ``{{ var }}`` in it. For those the
sandboxed Jinja2 render (a context, a generator, one ``str()`` per output) costs several times more
than the text itself: :func:`plain_renderer` compiles such a template, from its parsed tree, into one
``str.format`` call over the row's values. Anything else (filters, tests, ``recipient``, blocks, loops,
expressions, constants, globals) returns None and stays with Jinja2. ``tests/content/test_fast_render.py``
checks, on random templates and rows, that the output is the same as the sandboxed render's.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from operator import itemgetter
from typing import Any

from jinja2 import nodes

PlainRenderer = Callable[[Mapping[str, str]], str]

# Names Jinja2 or campaigner give a meaning of their own whatever the row holds (``self`` is the template,
# ``row`` and ``recipient`` campaigner's builtins, the others defined in loops and macros): never fast.
RESERVED = frozenset({"self", "row", "recipient", "loop", "caller", "varargs", "kwargs"})


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def plain_renderer(ast: nodes.Template, columns: Collection[str], constants: Mapping[str, Any]) -> PlainRenderer | None:
    """``ast`` as ``fields -> text`` when it is only literal text, row columns and constants, else None.

    ``columns`` are the names read from the row (always strings); ``constants`` the names that are the
    same on every row (the campaign's ``vars``), with their values. A name in both is read from the row,
    as in the Jinja2 render, whose row values shadow ``vars``.
    """
    pieces: list[str] = []
    read: list[str] = []
    for node in ast.body:
        if not isinstance(node, nodes.Output):
            return None
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                pieces.append(_escape(child.data))
            elif isinstance(child, nodes.Name) and child.ctx == "load" and child.name not in RESERVED:
                if child.name in columns:
                    pieces.append(f"{{{len(read)}}}")
                    read.append(child.name)
                elif child.name in constants and _plain_constant(constants[child.name]):
                    pieces.append(_escape(str(constants[child.name])))
                else:
                    return None
            else:
                return None
    fmt = "".join(pieces)
    if not read:
        text = fmt.replace("{{", "{").replace("}}", "}")
        return lambda fields: text
    if len(read) == 1:
        (name,) = read
        return lambda fields: fmt.format(fields[name])
    getter = itemgetter(*read)
    return lambda fields: fmt.format(*getter(fields))


def _plain_constant(value: Any) -> bool:
    """Values whose ``str()`` is what Jinja2 outputs for them (no markup, no custom ``__str__``)."""
    return type(value) in (str, int, float, bool) or value is None
