"""Tests for campaigner.content.fast_render: the same bytes as the sandboxed Jinja2 render, on random input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jinja2 import TemplateSyntaxError

from campaigner.campaign.spec import Campaign
from campaigner.content.fast_render import plain_renderer
from campaigner.content.jinja_sandbox import SandboxEnvironment
from campaigner.content.templates import Content, compile_content
from campaigner.errors import InputError, InputErrors

HEADER = ("phone", "first_name", "discount", "coupon")
VARS: dict[str, Any] = {"shop": "shop.example {x}", "n": 20, "rate": 0.5, "on": True}
NAMES = ["first_name", "discount", "coupon", "shop", "n", "rate", "on", "phone"]


def _campaign(source: str) -> Campaign:
    return Campaign.model_validate(
        {
            "campaign": "fast",
            "scenario": {
                "name": "Fast",
                "flow": [{"channel": "LINE", "from": "KEY"}, {"channel": "SMS", "from": "385"}],
            },
            "recipients": {"csv": "r.csv", "phoneNumber": "phone"},
            "vars": VARS,
            "line": {"text": source},
            "sms": {"text": source},
        }
    )


def _compile(source: str) -> Content:
    return compile_content(
        _campaign(source),
        campaign_path=Path("c.yaml"),
        locate=lambda key: (1, 1),
        header=HEADER,
        csv_path=Path("r.csv"),
    )


def _outcome(content: Content, row: dict[str, str]) -> object:
    try:
        r = content.render(row, row=2, phone_number="385991234567", line_user_key=None)
    except InputError as exc:
        return ("error", str(exc))
    return (r.line, r.sms, r.sms_measure)


def _fields(content: Content) -> list[Any]:
    return [f for part in (content._line, content._sms) if part is not None for f in part.fields]


_space = st.sampled_from(["", " ", "  ", "\t", "\n"])
_trim = st.sampled_from(["", "", "-"])
_output = st.builds(
    lambda lt, a, name, b, rt: "{{" + lt + a + name + b + rt + "}}",
    _trim,
    _space,
    st.sampled_from(NAMES),
    _space,
    _trim,
)
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
_tricky = st.sampled_from(
    ["{", "}", "{{", "}}", "{%", "%}", "{#", "#}", "%", "#", "\n", "\r\n", " ", "\t", "{x}", "{0}"]
)
_jinja = st.sampled_from(
    [
        "{% raw %}{{ coupon }}{% endraw %}",
        "{{ first_name|upper }}",
        "{% if discount %}x{% endif %}",
        "{%- if 1 -%} y {%- endif %}\n",
        "{{ 'lit' }}",
        "{{ n + 1 }}",
        "{# a comment #}",
        "  {% if 1 %}\n",
        "{% endif %}",
    ]
)
_fragment = st.one_of(_text, _text, _output, _output, _output, _tricky, _jinja)  # mostly text and plain variables
_pieces = st.lists(_fragment, max_size=6).map("".join)
_source = st.builds(lambda a, out, b: a + out + b, _pieces, _output, _pieces)  # reads at least one name
_value = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_row = st.fixed_dictionaries({name: _value for name in HEADER})


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(source=_source, rows=st.lists(_row, min_size=1, max_size=4))
def test_fast_path_renders_the_same_bytes_as_jinja2(source: str, rows: list[dict[str, str]]) -> None:
    try:
        fast, slow = _compile(source), _compile(source)
    except (InputErrors, InputError, ValueError):  # a template the checks refuse: nothing to render
        assume(False)
        return
    for f in _fields(slow):
        f.fast = None
    for row in rows:
        assert _outcome(fast, row) == _outcome(slow, row)


@settings(max_examples=200, deadline=None)
@given(source=_source, row=_row)
def test_plain_renderer_matches_the_sandbox_render(source: str, row: dict[str, str]) -> None:
    env = SandboxEnvironment()
    try:
        ast = env.parse(source)
    except TemplateSyntaxError:
        assume(False)
        return
    fast = plain_renderer(ast, HEADER, VARS)
    assume(fast is not None)
    assert fast is not None
    expected = env.from_string(source).render({**VARS, **row})
    assert fast(row) == expected


def test_text_and_plain_variables_take_the_fast_path() -> None:
    content = _compile("Hi {{ first_name }}! {{ discount }}% off at {{ shop }}, code {{coupon}} ({{ n }}).")
    assert all(f.fast is not None for f in _fields(content))
    row = {"phone": "385991234567", "first_name": "Ana", "discount": "15", "coupon": "P0000001"}
    rendered = content.render(row, row=2, phone_number="385991234567", line_user_key=None)
    assert rendered.sms is not None
    assert rendered.sms["text"] == "Hi Ana! 15% off at shop.example {x}, code P0000001 (20)."


def test_filters_blocks_and_recipient_stay_with_jinja2() -> None:
    env = SandboxEnvironment()
    for source in (
        "{{ first_name|upper }}",
        "{% if discount %}x{% endif %}",
        "{{ recipient.row }}",
        "{{ 'text' }}",
        "{{ range }}",
        "{% set x = 1 %}{{ x }}",
    ):
        assert plain_renderer(env.parse(source), HEADER, VARS) is None, source
    for name in ("self", "row", "recipient", "loop"):  # their own meaning, even when a column has the name
        assert plain_renderer(env.parse("{{ " + name + " }}"), (*HEADER, name), VARS) is None, name


def test_a_row_without_a_column_is_told_by_jinja2() -> None:
    content = _compile("Hi {{ coupon }}")
    outcome = _outcome(content, {"phone": "385991234567", "first_name": "Ana", "discount": "15"})
    assert outcome[0] == "error"
