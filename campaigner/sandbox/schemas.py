"""The provider's own request schemas: every body is checked against its OpenAPI document first.

The document (``omni-openapi.json``, a copy of ``shared/reference/infobip-omni-failover-openapi.json``)
ships as package data. Each operation's JSON body schema is compiled once, with ``jsonschema-rs``
(a Rust validator: ~1 µs for a one-destination send, ~80 µs for 1000 destinations, where the
pure-Python ``jsonschema`` takes 120 µs and 39 ms), and a body that fails it is answered 400 in the
provider's envelope, each problem under its field's path (``destinations[0].to.phoneNumber``),
before the sandbox's own rules (:mod:`campaigner.sandbox.validation`) see it.

Where the document contradicts the provider's documented behaviour, ``DEVIATIONS`` says how and why.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any

import jsonschema_rs

from campaigner.sandbox.exceptions import FieldErrors

DOCUMENT = "omni-openapi.json"
MAX_SCHEMA_ERRORS = 20  # problems named in one answer; the rest are counted

# Schema name suffix -> (keyword removed, why). The document names its schemas "<hash>.<Name>".
DEVIATIONS: dict[str, tuple[str, str]] = {
    "LineData": (
        "required",
        "one schema serves all six LINE types and lists the fields of every type as required "
        "(text messages would need packageId, stickerId, url, ...); each type's own fields are "
        "checked by the sandbox's rules (shared/omni-api.md, section 3)",
    ),
}

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "object": "an object",
    "array": "an array",
    "boolean": "true or false",
    "null": "null",
}


@functools.cache
def document() -> dict[str, Any]:
    """The provider's OpenAPI document, as shipped."""
    text = resources.files("campaigner.sandbox").joinpath(DOCUMENT).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def operations() -> list[tuple[str, str]]:
    """``(METHOD, path)`` of every operation the document describes."""
    methods = ("get", "put", "post", "delete", "patch")
    return [(m.upper(), path) for path, item in document()["paths"].items() for m in item if m in methods]


@functools.cache
def _components() -> dict[str, Any]:
    components: dict[str, Any] = copy.deepcopy(document()["components"])
    for name, schema in components["schemas"].items():
        deviation = DEVIATIONS.get(name.rpartition(".")[2])
        if deviation is not None:
            schema.pop(deviation[0], None)
    return components


@functools.cache
def body_validator(method: str, path: str) -> jsonschema_rs.Validator | None:
    """The compiled JSON body schema of an operation (None when it takes no JSON body)."""
    operation = document()["paths"][path][method.lower()]
    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    return jsonschema_rs.Draft202012Validator({**schema, "components": _components()})


def field_name(path: Sequence[str | int]) -> str:
    """``["destinations", 0, "to"]`` -> ``destinations[0].to``; the whole body is ``body``."""
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _message(error: Any) -> tuple[list[str | int], str]:
    """The field and the provider-style message for one schema error."""
    kind = error.kind
    path = list(error.instance_path)
    name = kind.name
    if name == "required":
        return [*path, kind.property], "must not be null"
    if name == "type":
        types = [kind.types] if isinstance(kind.types, str) else list(kind.types)
        return path, "must be " + " or ".join(_TYPE_WORDS.get(t, t) for t in types if t != "null")
    if name == "enum":
        return path, "must be one of " + ", ".join(str(option) for option in kind.options)
    if name == "maxLength":
        return path, f"size must be between 0 and {kind.limit}"
    if name == "minLength":
        return path, f"size must be at least {kind.limit}"
    if name == "minimum":
        return path, f"must be greater than or equal to {kind.limit}"
    if name == "maximum":
        return path, f"must be less than or equal to {kind.limit}"
    return path, f"does not match the provider's schema ({name})"


def schema_errors(method: str, path: str, body: Any) -> FieldErrors:
    """What is wrong with ``body`` by the provider's schema of the operation (empty when nothing is)."""
    errors = FieldErrors()
    validator = body_validator(method, path)
    if validator is None:
        return errors
    try:
        found: Iterable[Any] = list(validator.iter_errors(body))
    except UnicodeError:  # a lone surrogate, which JSON allows and the validator cannot read
        errors.add("body", "is not valid Unicode (a lone surrogate)")
        return errors
    except ValueError:  # the validator's own recursion limit
        errors.add("body", "is nested too deeply")
        return errors
    shown = 0
    for error in found:
        field, message = _message(error)
        if shown < MAX_SCHEMA_ERRORS:
            errors.add(field_name(field), message)
        shown += 1
    if shown > MAX_SCHEMA_ERRORS:
        errors.add("body", f"{shown - MAX_SCHEMA_ERRORS} more problems")
    return errors
