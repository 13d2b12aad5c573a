"""Tests for campaigner.content.templates, jinja_sandbox and jinja_limits: checks, sandbox, per-row rendering, limits."""

from __future__ import annotations

import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campaigner.campaign.spec import Campaign
from campaigner.content import jinja_sandbox, templates
from campaigner.content.sms import SmsMeasure, measure
from campaigner.content.templates import Content, Rendered, compile_content, describe_ucs2
from campaigner.errors import InputError, InputErrors

CAMPAIGN = Path("campaigns/spring.yaml")
CSV = Path("recipients/x.csv")
HEADER = ("phone", "first_name", "discount", "segment")
# Where each value sits in the (imaginary) campaign file: a stand-in for load.py's locate().
POSITIONS: dict[tuple[str | int, ...], tuple[int, int]] = {
    ("line",): (14, 1),
    ("line", "text"): (15, 9),
    ("line", "url"): (16, 8),
    ("line", "thumbnailUrl"): (17, 17),
    ("line", "packageId"): (16, 14),
    ("line", "stickerId"): (17, 14),
    ("sms",): (20, 1),
    ("sms", "text"): (21, 9),
}
ROW = {"phone": "385977666618", "first_name": "Ana", "discount": "15", "segment": "gold"}


def locate(keys: tuple[str | int, ...]) -> tuple[int, int]:
    while keys and keys not in POSITIONS:
        keys = keys[:-1]
    return POSITIONS.get(keys, (1, 1))


def campaign(
    line: dict[str, Any] | None = None, sms: dict[str, Any] | None = None, vars: dict[str, Any] | None = None
) -> Campaign:
    flow = [{"channel": "LINE", "from": "APPKEY"}] * (line is not None) + [{"channel": "SMS", "from": "385"}] * (
        sms is not None
    )
    data: dict[str, Any] = {
        "campaign": "spring-sale",
        "scenario": {"name": "Loyalty", "flow": flow},
        "recipients": {"csv": str(CSV), "phoneNumber": "phone"},
        "vars": vars or {},
    }
    if line is not None:
        data["line"] = line
    if sms is not None:
        data["sms"] = sms
    return Campaign.model_validate(data)


def compiled(
    line: dict[str, Any] | None = None,
    sms: dict[str, Any] | None = None,
    vars: dict[str, Any] | None = None,
    header: tuple[str, ...] = HEADER,
) -> Content:
    return compile_content(
        campaign(line, sms, vars), campaign_path=CAMPAIGN, locate=locate, header=header, csv_path=CSV
    )


def errors(
    line: dict[str, Any] | None = None, sms: dict[str, Any] | None = None, vars: dict[str, Any] | None = None
) -> list[str]:
    with pytest.raises(InputErrors) as caught:
        compiled(line, sms, vars)
    return caught.value.lines()


def render(content: Content, row: int = 7, **fields: str) -> Rendered:
    return content.render({**ROW, **fields}, row=row, phone_number="385977666618", line_user_key="U1234")


def row_error(content: Content, row: int = 7, **fields: str) -> str:
    with pytest.raises(InputError) as caught:
        render(content, row, **fields)
    return caught.value.format()


def sms_error(text: str) -> list[str]:
    return errors(sms={"text": text}, vars={"shop": "shop.example"})


# ---------------------------------------------------------------------------------- rendering


def test_renders_row_columns_vars_and_recipient() -> None:
    content = compiled(
        line={"text": "Hi {{ first_name }}! {{ discount }}% off until {{ ends }}.", "validityPeriod": 30},
        sms={
            "text": "{{ first_name }}, {{ discount }}% off at {{ shop }} (row {{ recipient.row }})",
            "validityPeriod": 1440,
        },
        vars={"shop": "shop.example", "ends": "31 March"},
    )
    assert render(content) == Rendered(
        line={"text": "Hi Ana! 15% off until 31 March.", "validityPeriod": 30},
        sms={"text": "Ana, 15% off at shop.example (row 7)", "validityPeriod": 1440},
        sms_measure=SmsMeasure("GSM7", 36, 1, ""),
    )
    assert content.columns == {"first_name", "discount"}
    assert not content.static


def test_recipient_fields() -> None:
    content = compiled(sms={"text": "{{ recipient.phoneNumber }}/{{ recipient.lineUserKey }}/{{ recipient['row'] }}"})
    assert render(content, row=12).sms == {"text": "385977666618/U1234/12"}
    no_key = content.render(ROW, row=3, phone_number="385977666618", line_user_key=None)
    assert no_key.sms == {"text": "385977666618//3"}


def test_a_column_with_the_name_of_a_var_is_an_error_naming_both() -> None:
    assert errors(sms={"text": "{{ segment }}"}, vars={"segment": "from vars", "row": "x", "recipient": "y"}) == [
        "campaigns/spring.yaml:1:1: error: vars.segment: recipients/x.csv has a column named 'segment' too "
        "(rename one of them: a template could not tell which one it reads)",
        "campaigns/spring.yaml:1:1: error: vars.row: 'row' is a built-in template variable (choose another name)",
        "campaigns/spring.yaml:1:1: error: vars.recipient: 'recipient' is a built-in template variable "
        "(choose another name)",
    ]


def test_row_reads_columns_by_name() -> None:
    header = ("phone", "first name", "last-name", "if", "segment")
    text = "{{ row['first name'] }} {{ row['last-name'] }} {{ row['if'] }} {{ row.segment }} {{ segment }}"
    content = compiled(sms={"text": text}, header=header)
    fields = {"phone": "385977666618", "first name": "Ana", "last-name": "Horvat", "if": "x", "segment": "gold"}
    rendered = content.render(fields, row=2, phone_number="385977666618", line_user_key=None)
    assert rendered.sms == {"text": "Ana Horvat x gold gold"}
    assert content.columns == {"first name", "last-name", "if", "segment"}
    every = compiled(sms={"text": "{% for k, v in row.items() %}{{ k }}={{ v }};{% endfor %}"}, header=header)
    assert every.columns == set(header)
    assert every.render(fields, row=2, phone_number="1", line_user_key=None).sms == {
        "text": "phone=385977666618;first name=Ana;last-name=Horvat;if=x;segment=gold;"
    }


def test_hints_for_columns_that_are_not_plain_names_give_a_form_that_works() -> None:
    header = ("phone", "first name", "last-name")
    with pytest.raises(InputErrors) as caught:
        compiled(sms={"text": "{{ first_name }} {{ surname }} {{ zzz }}\n{{ row['first'] }} {{ row }}"}, header=header)
    assert caught.value.lines() == [
        "campaigns/spring.yaml:21:9: error: sms.text: unknown variable 'first_name' "
        "(did you mean row['first name'] or row['last-name']?)",
        "campaigns/spring.yaml:21:9: error: sms.text: unknown variable 'surname' (did you mean row['last-name']?)",
        "campaigns/spring.yaml:21:9: error: sms.text: unknown variable 'zzz' (the variables are the CSV columns "
        "(phone, first name, last-name), recipient and row; read a column such as 'first name' as row['first name'])",
        "campaigns/spring.yaml:22:9: error: sms.text: row is not a value on its own "
        "(read a column as row['first name'], or all of them with row.items())",
        "campaigns/spring.yaml:22:9: error: sms.text: row has no column 'first' (did you mean row['first name']?)",
    ]
    content = compiled(sms={"text": "{{ row['first name'] }}"}, header=header)
    assert content.render({"phone": "1", "first name": "Ana", "last-name": "H"}, row=1, phone_number="1",
                          line_user_key=None).sms == {"text": "Ana"}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "{{ recipient }}",
            "recipient is not a value on its own (use recipient.phoneNumber, recipient.lineUserKey or recipient.row)",
        ),
        (
            "{% set r = recipient %}{{ r.phoneNumber }}",
            "recipient is not a value on its own (use recipient.phoneNumber, recipient.lineUserKey or recipient.row)",
        ),
        (
            "{{ recipient|string }}",
            "recipient is not a value on its own (use recipient.phoneNumber, recipient.lineUserKey or recipient.row)",
        ),
        ("{{ self }}", "self is not available in campaign templates"),
        ("{{ self.x() }}", "self is not available in campaign templates"),
    ],
    ids=["output", "assigned", "filtered", "self", "self-block"],
)
def test_recipient_and_self_are_not_values(text: str, expected: str) -> None:
    assert sms_error(text) == [f"campaigns/spring.yaml:21:9: error: sms.text: {expected}"]


def test_recipient_never_shows_the_raw_address() -> None:
    shown = repr(templates.Recipient("385977666618", "Uabc", 3)) + str(templates.Recipient("385977666618", "Uabc", 3))
    assert "385977666618" not in shown
    assert "Uabc" not in shown


def test_a_column_named_like_a_builtin_is_not_shadowed_silently() -> None:
    header = ("phone", "recipient", "row", "self")
    with pytest.raises(InputErrors) as caught:
        compiled(sms={"text": "{{ recipient.phoneNumber }} {{ row['row'] }} {{ self }}"}, header=header)
    assert caught.value.lines() == [
        "campaigns/spring.yaml:21:9: error: sms.text: self is not available in campaign templates "
        "(read the CSV column 'self' as row['self'])",
        "campaigns/spring.yaml:21:9: error: sms.text: 'recipient' names both the built-in recipient and a column of "
        "recipients/x.csv (read the column as row['recipient'])",
        "campaigns/spring.yaml:21:9: error: sms.text: 'row' names both the built-in row and a column of "
        "recipients/x.csv (read the column as row['row'])",
    ]
    content = compiled(sms={"text": "{{ row['recipient'] }}/{{ row['self'] }}"}, header=("phone", "recipient", "self"))
    fields = {"phone": "1", "recipient": "Ana", "self": "me"}
    assert content.render(fields, row=1, phone_number="1", line_user_key=None).sms == {"text": "Ana/me"}


def test_jinja_features_still_work() -> None:
    text = (
        "{% if discount|int > 10 %}Big{% else %}Small{% endif %} {{ first_name|upper }} "
        "{{ '%s-%03d'|format(segment, 7) }} {{ '{:>6}'.format(first_name) }} {{ first_name ~ '!' }} "
        "{% for n in range(3) %}{{ loop.index }}{% endfor %} {{ [1, 2, 3]|join(',') }} {{ 2 ** 10 }} "
        "{{ 'ab' * 3 }} {{ first_name.replace('A', 'E') }} {{ [1, 2]|sum }}"
        "{% macro m(x) %}<{{ x }}>{% endmacro %} {{ m(segment) }}"
        "{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% endfor %} {{ ns.n }}"
    )
    content = compiled(sms={"text": text})
    assert render(content).sms == {"text": "Big ANA gold-007    Ana Ana! 123 1,2,3 1024 ababab Ena 3 <gold> 6"}


def test_trailing_newline_of_a_block_scalar_is_dropped_and_block_lines_trimmed() -> None:
    content = compiled(sms={"text": "Hi {{ first_name }}\n{% if segment == 'gold' %}\nGold!\n{% endif %}\nBye\n"})
    assert render(content).sms == {"text": "Hi Ana\nGold!\nBye"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            {"text": "Hi {{ first_name }}", "validityPeriod": 30, "validityPeriodTimeUnit": "MINUTES"},
            {"text": "Hi Ana", "validityPeriod": 30, "validityPeriodTimeUnit": "MINUTES"},
        ),
        (
            {
                "type": "IMAGE",
                "url": "https://cdn.example/{{ segment }}.jpg",
                "thumbnailUrl": "https://cdn.example/t.jpg",
            },
            {"type": "IMAGE", "url": "https://cdn.example/gold.jpg", "thumbnailUrl": "https://cdn.example/t.jpg"},
        ),
        (
            {
                "type": "VIDEO",
                "url": "https://cdn.example/v.mp4",
                "thumbnailUrl": "https://cdn.example/{{ segment }}.jpg",
            },
            {"type": "VIDEO", "url": "https://cdn.example/v.mp4", "thumbnailUrl": "https://cdn.example/gold.jpg"},
        ),
        (
            {"type": "AUDIO", "url": "https://cdn.example/{{ segment }}.m4a", "duration": 60000, "validityPeriod": 5},
            {"type": "AUDIO", "url": "https://cdn.example/gold.m4a", "duration": 60000, "validityPeriod": 5},
        ),
        (
            {"type": "STICKER", "packageId": 446, "stickerId": "{{ 1988 if segment == 'gold' else 1989 }}"},
            {"type": "STICKER", "packageId": "446", "stickerId": "1988"},
        ),
    ],
    ids=["text", "image", "video", "audio", "sticker"],
)
def test_line_objects_per_type(line: dict[str, Any], expected: dict[str, Any]) -> None:
    assert render(compiled(line=line)).line == expected


def test_sms_object_carries_its_options_and_measure() -> None:
    content = compiled(
        sms={
            "text": "{{ first_name }}’s offer",
            "validityPeriod": 2,
            "validityPeriodTimeUnit": "HOURS",
            "transliteration": "TURKISH",
        }
    )
    result = render(content)
    assert result.sms == {
        "text": "Ana’s offer",
        "validityPeriod": 2,
        "validityPeriodTimeUnit": "HOURS",
        "transliteration": "TURKISH",
    }
    assert result.sms_measure == SmsMeasure("UCS2", 11, 1, "’")
    assert result.line is None


# ------------------------------------------------------------------------- rendered once / cached


def count_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = jinja_sandbox.render

    def counting(env: Any, template: Any, parent: dict[str, Any]) -> str:
        calls.append("render")
        return real(env, template, parent)

    monkeypatch.setattr(templates, "render", counting)
    monkeypatch.setattr(templates, "plain_renderer", lambda *args: None)  # every render through Jinja2
    return calls


def test_static_templates_are_rendered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_renders(monkeypatch)
    content = compiled(
        line={"text": "Sale at {{ shop }}"}, sms={"text": "Sale at {{ shop|upper }}"}, vars={"shop": "shop.example"}
    )
    assert len(calls) == 2  # at compile time, once each
    first = render(content, row=2)
    assert all(render(content, row=n, first_name=f"N{n}") is first for n in range(3, 100))
    assert len(calls) == 2
    assert content.static
    assert first.line == {"text": "Sale at shop.example"}
    assert first.sms == {"text": "Sale at SHOP.EXAMPLE"}


def test_a_static_part_is_shared_while_the_other_renders_per_row(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_renders(monkeypatch)
    content = compiled(
        line={"text": "Sale at {{ shop }}"}, sms={"text": "Hi {{ first_name }}"}, vars={"shop": "shop.example"}
    )
    results = [render(content, row=n, first_name=f"N{n}") for n in range(2, 12)]
    assert len(calls) == 1 + 10
    assert all(r.line is results[0].line for r in results)
    assert [r.sms["text"] for r in results if r.sms] == [f"Hi N{n}" for n in range(2, 12)]


def test_templates_reading_few_values_are_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_renders(monkeypatch)
    content = compiled(
        line={
            "type": "IMAGE",
            "url": "https://cdn.example/{{ segment }}.jpg",
            "thumbnailUrl": "https://cdn.example/t.jpg",
        },
        sms={"text": "Your {{ segment }} offer"},
    )
    results = [render(content, row=n, segment=("gold", "silver", "bronze")[n % 3]) for n in range(30)]
    assert len(calls) == 1 + 3 * 2  # the literal thumbnailUrl once, then each segment once per part
    assert results[0].line is results[3].line
    assert [r.sms["text"] for r in results[:3] if r.sms] == [
        "Your gold offer",
        "Your silver offer",
        "Your bronze offer",
    ]


def test_recipient_templates_are_not_cached() -> None:
    content = compiled(sms={"text": "{{ segment }} {{ recipient.row }}"})
    assert [render(content, row=n).sms for n in (2, 3)] == [{"text": "gold 2"}, {"text": "gold 3"}]


# ------------------------------------------------------------------- variables and syntax, at load


@pytest.mark.parametrize(
    ("sms", "expected"),
    [
        (
            "Hi {{ frist_name }}",
            "campaigns/spring.yaml:21:9: error: sms.text: unknown variable 'frist_name' (did you mean 'first_name'?)",
        ),
        (
            "Hi\n{{ first_name }}\n\n{{ sgement }}",
            "campaigns/spring.yaml:24:9: error: sms.text: unknown variable 'sgement' (did you mean 'segment'?)",
        ),
        (
            "{{ zzz }}",
            "campaigns/spring.yaml:21:9: error: sms.text: unknown variable 'zzz' (the variables are the CSV columns "
            "(phone, first_name, discount, segment), vars (shop), recipient and row)",
        ),
        (
            "{{ recipient.phone }}",
            "campaigns/spring.yaml:21:9: error: sms.text: recipient has no attribute 'phone' (did you mean 'phoneNumber'?)",
        ),
        (
            "{{ recipient.email }}",
            "campaigns/spring.yaml:21:9: error: sms.text: recipient has no attribute 'email' "
            "(recipient has phoneNumber, lineUserKey and row)",
        ),
        (
            "Hi {{ first_name ",
            "campaigns/spring.yaml:21:9: error: sms.text: template syntax error: unexpected end of template, expected 'end of print statement'",
        ),
        (
            "Hi\n{% if first_name %}\n{{ first_name }\n{% endif %}",
            "campaigns/spring.yaml:23:9: error: sms.text: template syntax error: unexpected '}'",
        ),
        (
            "{{ x|nosuchfilter }}",
            "campaigns/spring.yaml:21:9: error: sms.text: template syntax error: No filter named 'nosuchfilter'",
        ),
        (
            "{% include 'other.txt' %}",
            "campaigns/spring.yaml:21:9: error: sms.text: a template cannot extend, include or import other templates",
        ),
        (
            "x" * 20_001,
            "campaigns/spring.yaml:21:9: error: sms.text: the template is 20001 characters long; the limit is 20000",
        ),
    ],
    ids=[
        "did-you-mean",
        "multiline",
        "no-close-name",
        "recipient-attr",
        "recipient-attr-far",
        "syntax",
        "syntax-line-3",
        "no-filter",
        "include",
        "too-long",
    ],
)
def test_template_problems_are_found_before_any_row(sms: str, expected: str) -> None:
    assert sms_error(sms) == [expected]


def test_every_problem_of_every_template_is_collected() -> None:
    lines = errors(
        line={
            "type": "IMAGE",
            "url": "http://cdn.example/a.jpg",
            "thumbnailUrl": "https://cdn.example/{{ segmnt }}.jpg",
        },
        sms={"text": "{{ first_nam }} {{ discont }}"},
    )
    assert lines == [
        "campaigns/spring.yaml:16:8: error: line.url: must be an https:// URL: 'http://cdn.example/a.jpg'",
        "campaigns/spring.yaml:17:17: error: line.thumbnailUrl: unknown variable 'segmnt' (did you mean 'segment'?)",
        "campaigns/spring.yaml:21:9: error: sms.text: unknown variable 'first_nam' (did you mean 'first_name'?)",
        "campaigns/spring.yaml:21:9: error: sms.text: unknown variable 'discont' (did you mean 'discount'?)",
    ]


def test_names_a_template_defines_are_not_unknown() -> None:
    content = compiled(
        sms={"text": "{% set greeting = 'Hi' %}{% for x in [first_name] %}{{ greeting }} {{ x }}{% endfor %}"}
    )
    assert render(content).sms == {"text": "Hi Ana"}


# --------------------------------------------------------------------------- sandbox escapes


ESCAPES = {
    "str-class-mro": (
        "{{ ''.__class__.__mro__ }}",
        "access to attribute '__class__' is not allowed (names starting with _ are private)",
    ),
    "cycler-globals": (
        "{{ cycler.__init__.__globals__ }}",
        "access to attribute '__init__' is not allowed (names starting with _ are private)",
    ),
    "template-reference": (
        "{{ self._TemplateReference__context }}",
        "access to attribute '_TemplateReference__context' is not allowed (names starting with _ are private)",
    ),
    "getitem-dunder": (
        "{{ first_name['__class__'] }}",
        "access to attribute '__class__' is not allowed (names starting with _ are private)",
    ),
    "attr-filter": ("{{ first_name|attr('__class__') }}", "access to attribute '__class__' of 'str' object is unsafe"),
    "format-dunder": (
        "{{ '{0.__class__}'.format(first_name) }}",
        "access to attribute '__class__' is not allowed (names starting with _ are private)",
    ),
    "format-dunder-nested": (
        "{{ '{0:{1.__class__}}'.format(first_name, 1) }}",
        "access to attribute '__class__' is not allowed (names starting with _ are private)",
    ),
    "format-dunder-at-run-time": (
        "{{ ('{0.__cl' ~ segment[:0] ~ 'ass__}').format(first_name) }}",
        "access to attribute '__class__' of 'str' object is unsafe",
    ),
    "to-bytes": ("{{ (1).to_bytes(10**9, 'big') }}", "calling 'to_bytes' is not allowed in templates"),
    "str-encode": ("{{ first_name.encode() }}", "calling str.encode() is not allowed in templates"),
    "str-translate": ("{{ first_name.translate({}) }}", "calling str.translate() is not allowed in templates"),
    "lipsum-gone": ("{{ lipsum(10**9) }}", None),
    "random-gone": ("{{ [1, 2]|random }}", None),
    "recursive-loop": ("{% for x in [1] recursive %}{{ loop([1, 1]) }}{% endfor %}", "recursive loops are not allowed"),
    "autoescape": (
        "{% autoescape true %}{{ first_name }}{% endautoescape %}",
        "autoescape blocks are not allowed (LINE and SMS texts are not HTML)",
    ),
}


@pytest.mark.parametrize(("text", "message"), ESCAPES.values(), ids=ESCAPES.keys())
def test_templates_cannot_reach_python_internals(text: str, message: str | None) -> None:
    try:
        content = compiled(sms={"text": text})
    except InputErrors as exc:
        assert len(exc.errors) == 1
        line = exc.lines()[0]
    else:
        line = row_error(content)
    assert ": error: sms.text: " in line
    if message is not None:
        assert line.endswith(f"sms.text: {message}")


BOMBS = {
    "str-times-huge": (
        "{{ 'x' * 10**11 }}",
        "the result of * would build 100000000000 characters or items; the limit is 100000",
    ),
    "str-times-int": (
        "{{ 'ab' * 999999999 }}",
        "the result of * would build 1999999998 characters or items; the limit is 100000",
    ),
    "int-times-str": (
        "{{ 10**9 * 'x' }}",
        "the result of * would build 1000000000 characters or items; the limit is 100000",
    ),
    "list-times": (
        "{{ [1] * 10**9 }}",
        "the result of * would build 1000000000 characters or items; the limit is 100000",
    ),
    "center-filter": (
        "{{ 'x'|center(10**9) }}",
        "center would build 1000000000 characters or items; the limit is 100000",
    ),
    "center-method": (
        "{{ 'x'.center(10**9) }}",
        "center would build 1000000000 characters or items; the limit is 100000",
    ),
    "ljust-method": ("{{ 'x'.ljust(10**9) }}", "ljust would build 1000000000 characters or items; the limit is 100000"),
    "zfill-method": ("{{ 'x'.zfill(10**9) }}", "zfill would build 1000000000 characters or items; the limit is 100000"),
    "indent-width": (
        "{{ 'x'|indent(10**9) }}",
        "indent would build 1000000000 characters or items; the limit is 100000",
    ),
    "indent-lines": (
        "{{ ('x\\n' * 50000)|indent(1000) }}",
        "indent would build 50001000 characters or items; the limit is 100000",
    ),
    "wordwrap": (
        "{{ 'x y'|wordwrap(1, wrapstring='a' * 90000) }}",
        "wordwrap would build 360000 characters or items; the limit is 100000",
    ),
    "format-filter": (
        "{{ '%0999999999d'|format(1) }}",
        "the % format would build 999999999 characters or items; the limit is 100000",
    ),
    "percent-width": (
        "{{ '%0999999999d' % 1 }}",
        "the % format would build 999999999 characters or items; the limit is 100000",
    ),
    "percent-star": ("{{ '%*d' % (999999999, 1) }}", "'*' widths are not allowed in % formats"),
    "percent-precision": (
        "{{ '%.999999999f' % 1.0 }}",
        "the % format would build 999999999 characters or items; the limit is 100000",
    ),
    "percent-nested-key": (
        "{{ '%(a(b)c)0999999999d' % {'a(b)c': 1} }}",
        "the % format would build 999999999 characters or items; the limit is 100000",
    ),
    "str-format-width": ("{{ '{:>999999999}'.format(1) }}", "format widths add up to 999999999; the limit is 100000"),
    "str-format-nested-width": (
        "{{ '{:>{}}'.format(1, 10**9) }}",
        "format widths add up to 1000000000; the limit is 100000",
    ),
    "format-map": (
        "{{ '{a:.999999999f}'.format_map({'a': 1.0}) }}",
        "format widths add up to 999999999; the limit is 100000",
    ),
    "replace-method": (
        "{{ ('x' * 100000).replace('x', 'x' * 1000) }}",
        "replace would build 100000000 characters or items; the limit is 100000",
    ),
    "replace-filter": (
        "{{ ('x' * 100000)|replace('x', 'x' * 1000) }}",
        "replace would build 100000000 characters or items; the limit is 100000",
    ),
    "join-filter": ("{{ (['x' * 100000] * 100000)|join }}", "join would build over 100000 characters"),
    "join-method": ("{{ ''.join(['x' * 100000] * 100000) }}", "join would build over 100000 characters"),
    "big-pow": ("{{ 10**(10**10) }}", "the result of ** would have over 30000000000 bits; the limit is 65536"),
    "big-int-times": ("{{ (2**60000) * (2**60000) }}", "the result of * would have 120002 bits; the limit is 65536"),
    "float-pow": ("{{ 2.0 ** 100000 }}", "OverflowError: (34, 'Numerical result out of range')"),
    "range": (
        "{{ range(10**9) }}",
        "range(1000000000) is too big; the sandbox allows at most 100000 items",
    ),
    "round-precision": ("{{ 5|round(-10**9) }}", "round precision -1000000000 is too large; the limit is 100"),
    "batch": ("{{ [1]|batch(10**9, 'x')|list }}", "batch size 1000000000 is too large; the limit is 100000"),
    "slice": ("{{ [1]|slice(10**9)|list }}", "slice count 1000000000 is too large; the limit is 100000"),
    "tojson-indent": ("{{ [[1]]|tojson(indent=10**9) }}", "tojson indent is too large; the limit is 16"),
    "shared-refs-output": (
        "{{ ['x' * 100000] * 100000 }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "shared-refs-string": (
        "{{ (['x' * 100000] * 100000)|string }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "shadowed-column": (
        "{% set first_name = ['x' * 100000] * 100000 %}{{ first_name }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "shared-refs-items": (
        "{{ {'a': ['x' * 100000] * 100000}.items() }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "sum-lists": (
        "{{ ([[1] * 50000] * 100)|sum(start=[]) }}",
        "the result of + would build 150000 characters or items; the limit is 100000",
    ),
    "concat-doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "plus-doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
        "the result of + would build 131072 characters or items; the limit is 100000",
    ),
    "macro-doubling": (
        "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}{% endif %}{% endmacro %}{{ f('x', 60) }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "macro-output-doubling": (
        "{% macro d(s) %}{{ s }}{{ s }}{% endmacro %}{% macro f(s, n) %}{% if n %}{{ f(d(s), n - 1) }}{% else %}{{ s|length }}"
        "{% endif %}{% endmacro %}{{ f('x', 60) }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "nested-loops": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        None,  # 1,000,000 steps, or 2 s under tracemalloc on a slow machine: either limit may stop it
    ),
    "nested-loops-with-text": (
        "{% for i in range(100000) %}{% for j in range(100000) %}" + "x" * 1000 + "{% endfor %}{% endfor %}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "loop-literal": (
        "{% set x %}{% for i in range(100000) %}" + "x" * 50 + "{% endfor %}{% endset %}{{ x|length }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "loop-membership": (
        "{% set big = range(100000)|list %}{% for i in range(100000) %}{% if -1 in big %}{% endif %}{% endfor %}",
        None,  # the work budget or the clock, whichever comes first
    ),
    "recursion": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", None),
    "format-repeated-field": ("{{ ('{0}' * 30000).format('x' * 90000) }}", "format would build over 100000 characters"),
    "format-map-repeated-key": (
        "{{ ('{a}' * 30000).format_map({'a': 'x' * 90000}) }}",
        "format would build over 100000 characters",
    ),
    "percent-mapping-repeated-key": (
        "{{ ('%(a)s' * 20000) % {'a': 'x' * 90000} }}",
        "the % format would build over 100000 characters",
    ),
    "format-filter-repeated-key": (
        "{{ ('%(a)s' * 20000)|format(a='x' * 90000) }}",
        "the % format would build over 100000 characters",
    ),
    "percent-repr-escapes": (
        "{{ '%r%r' % ('\\x00' * 9000, '\\x00' * 9000) }}",
        "the % format would build over 100000 characters",
    ),
    "list-count": (
        "{% set b = [[1] * 100000] * 100000 %}{{ b.count([1] * 100000) }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "list-index": (
        "{% set b = [[1] * 100000] * 100000 %}{{ b.index([2] * 100000) }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "list-in": (
        "{% set b = [[1] * 100000] * 100000 %}{{ [1] * 100000 in b }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "list-not-in": (
        "{% set b = [[1] * 100000] * 100000 %}{% if [2] * 100000 not in b %}no{% endif %}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "list-eq": (
        "{% set b = [[1] * 100000] * 100000 %}{{ b == [[1] * 100000] * 100000 }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "list-lt-chain": (
        "{% set b = [[1] * 100000] * 100000 %}{{ [] < b <= [[1] * 100000] * 100000 }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "test-in": (
        "{% set b = [[1] * 100000] * 100000 %}{{ ([1] * 100000) is in b }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "select-eq": (
        "{% set b = [[1] * 100000] * 100000 %}{{ b|select('eq', [1] * 100000)|list|length }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "dict-literal-hash": (
        "{% set t = ((1,) * 100000,) * 100000 %}{{ {t: 1}|length }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "subscript-hash": (
        "{% set t = ((1,) * 100000,) * 100000 %}{{ {'a': 1}[t] }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "dict-get-hash": (
        "{% set t = ((1,) * 100000,) * 100000 %}{{ {'a': 1}.get(t) }}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "membership-in-a-loop": (
        "{% set b = [0] * 100000 %}{% for i in range(100) %}{% if i in b %}{% endif %}{% endfor %}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
    "filter-chain-in-loop": (
        "{% for i in range(1000) %}{{ ('x' * 100000)|upper|length }}{% endfor %}",
        "the template does too much work (over 1000000 characters built or steps taken)",
    ),
}


@pytest.fixture
def small_and_fast() -> Iterator[None]:
    tracemalloc.start()
    started = time.monotonic()
    yield
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB"
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(("text", "message"), BOMBS.values(), ids=BOMBS.keys())
@pytest.mark.usefixtures("small_and_fast")
def test_memory_and_time_bombs_are_errors(text: str, message: str | None) -> None:
    lines = sms_error(text)  # no row variable: rendered once, at the campaign file
    assert len(lines) == 1
    assert lines[0].startswith("campaigns/spring.yaml:21:9: error: sms.text: ")
    if message is not None:
        assert lines[0] == f"campaigns/spring.yaml:21:9: error: sms.text: {message}"


@pytest.mark.usefixtures("small_and_fast")
def test_bombs_built_from_a_row_value_name_the_row() -> None:
    content = compiled(sms={"text": "{{ first_name * (discount|int) }}"})
    assert render(content, discount="3").sms == {"text": "AnaAnaAna"}
    assert row_error(content, row=9, discount="999999999") == (
        "recipients/x.csv:row 9: error: sms.text: the result of * would build 2999999997 characters or items; "
        "the limit is 100000"
    )


def test_comparisons_still_work() -> None:
    text = (
        "{{ 1 < 2 < 3 }} {{ 3 < 2 < 1/0 }} {{ 'A' in first_name }} {{ 'x' not in segment }} {{ [1] == [1] }} "
        "{{ discount|int >= 15 }} {{ segment in {'gold': 1} }} {{ 2 is eq 2 }} {{ [1, 2, 3]|select('in', [2, 3])|list }} "
        "{{ [3, 1].index(1) }} {{ (1, 1).count(1) }} {{ {'a': 1}['a'] }} {{ [1, 2, 3][1:] }} {{ {segment: 1}[segment] }} "
        "{{ {'x': 2}.get(segment, 0) }}"
    )
    assert render(compiled(sms={"text": text})).sms == {
        "text": "True False True True True True True True [2, 3] 1 2 1 [2, 3] 1 0"
    }


def test_every_render_has_a_wall_clock_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from campaigner.content import jinja_limits

    monkeypatch.setattr(jinja_limits, "MAX_SECONDS", 0.01)
    content = compiled(
        sms={"text": "{% for i in range(90000) %}{% if i < first_name|length %}{% endif %}{% endfor %}{{ first_name }}"}
    )
    started = time.monotonic()
    assert row_error(content, row=3) == (
        "recipients/x.csv:row 3: error: sms.text: the template takes too long to render (over 0.01 s)"
    )
    assert time.monotonic() - started < 5
    monkeypatch.setattr(jinja_limits, "MAX_SECONDS", 2.0)
    assert render(content).sms is not None  # each render has its own clock


def test_the_budget_is_per_render() -> None:
    content = compiled(
        sms={"text": "{% for i in range(20000) %}{% endfor %}{{ ('x' * 90000)|length }} {{ first_name }}"}
    )
    for n in range(30):  # each render spends ~200000 of its 1000000 units: no carry-over
        assert render(content, row=n).sms == {"text": "90000 Ana"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hi {{ first_name }} {{ 'x' * 10**11 }}",
            "21:9: error: sms.text: the result of * would build 100000000000 characters or items; the limit is 100000",
        ),
        (
            "Hi {{ first_name ~ ('x' * 10**11) }}",
            "21:9: error: sms.text: the result of * would build 100000000000 characters or items; the limit is 100000",
        ),
        (
            "Hi {{ first_name }}\n{% for a in range(99999) %}{% for b in range(99999) %}x{% endfor %}{% endfor %}",
            "22:9: error: sms.text: the template does too much work (over 1000000 characters built or steps taken)",
        ),
        (
            "Hi {{ first_name }}\n\n{{ 10 ** (10 ** 10) }}",
            "23:9: error: sms.text: the result of ** would have over 30000000000 bits; the limit is 65536",
        ),
        (
            "{{ first_name }} {{ range(10**10)|list }}",
            "21:9: error: sms.text: range(10000000000) is too big; the sandbox allows at most 100000 items",
        ),
        ("{% if first_name %}{{ 1 / 0 }}{% endif %}", "21:9: error: sms.text: ZeroDivisionError: division by zero"),
        (
            "{{ first_name }}{% set big = 'x' * 10**6 %}",
            "21:9: error: sms.text: the result of * would build 1000000 characters or items; the limit is 100000",
        ),
        (
            "{{ first_name }} {{ shop * 10**9 }}",
            "21:9: error: sms.text: the result of * would build 12000000000 characters or items; the limit is 100000",
        ),
    ],
    ids=["expression", "sub-expression", "statement", "line-3", "range", "inside-if", "assignment", "vars"],
)
def test_parts_that_read_no_row_variable_fail_once_at_the_campaign_file(text: str, expected: str) -> None:
    assert sms_error(text) == [f"campaigns/spring.yaml:{expected}"]


def test_parts_that_depend_on_the_row_are_left_to_the_rows() -> None:
    content = compiled(
        sms={"text": "{% for i in range(discount|int) %}{{ first_name }}{% endfor %}{{ 5 // (segment|length - 4) }}"}
    )
    assert render(content, discount="2", segment="silver").sms == {"text": "AnaAna2"}
    assert (
        row_error(content, row=5)
        == "recipients/x.csv:row 5: error: sms.text: ZeroDivisionError: integer division or modulo by zero"
    )


def test_a_static_template_error_names_its_own_line() -> None:
    assert sms_error("Hello\nthere\n{{ 1 / 0 }}") == [
        "campaigns/spring.yaml:23:9: error: sms.text: ZeroDivisionError: division by zero"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ discount|int(strict=true) }}", "filter 'int' has no argument 'strict'"),
        ("{{ first_name|upper(1) }}", "filter 'upper' cannot be called so: too many positional arguments"),
        ("{{ first_name|replace('a') }}", "filter 'replace' cannot be called so: missing a required argument: 'new'"),
        (
            "{% filter indent(width=2, firstline=true) %}{{ first_name }}{% endfilter %}",
            "filter 'indent' has no argument 'firstline'",
        ),
    ],
    ids=["unknown-keyword", "too-many", "missing", "filter-block"],
)
def test_filters_called_with_wrong_arguments(text: str, expected: str) -> None:
    assert sms_error(text) == [f"campaigns/spring.yaml:21:9: error: sms.text: {expected}"]


def test_filters_called_rightly_pass_the_check() -> None:
    text = "{{ first_name|truncate(2, true, '') }} {{ discount|int(0, base=10) }} {{ [3, 1]|sort(reverse=true)|join(',') }}"
    assert render(compiled(sms={"text": text})).sms == {"text": "Ana 15 3,1"}


def test_a_sandbox_stop_on_a_row_is_marked_as_such() -> None:
    content = compiled(sms={"text": "{{ first_name * (discount|int) }}"})
    with pytest.raises(templates.SandboxLimitError):
        render(content, discount="10000000")
    plain = compiled(sms={"text": "{{ 1 // (discount|int) }}"})
    with pytest.raises(InputError) as caught:
        render(plain, discount="0")
    assert type(caught.value) is InputError


# ----------------------------------------------------------------------------- per-row failures


def test_a_row_that_fails_to_render_names_the_csv_row() -> None:
    content = compiled(sms={"text": "{{ 100 // (discount|int) }} off"})
    assert render(content, discount="4").sms == {"text": "25 off"}
    assert row_error(content, row=7, discount="0") == (
        "recipients/x.csv:row 7: error: sms.text: ZeroDivisionError: integer division or modulo by zero"
    )


def test_an_undefined_attribute_of_a_value_names_the_row() -> None:
    content = compiled(sms={"text": "{{ first_name.nickname }}"})
    assert (
        row_error(content, row=4) == "recipients/x.csv:row 4: error: sms.text: 'str object' has no attribute 'nickname'"
    )


def test_a_field_rendering_over_its_cap_names_the_row() -> None:
    content = compiled(sms={"text": "{{ first_name * 4000 }}"})
    assert (
        row_error(content, row=5)
        == "recipients/x.csv:row 5: error: sms.text: renders to 12000 characters; the limit is 10000"
    )


def test_sms_text_must_not_render_empty() -> None:
    content = compiled(sms={"text": "{{ segment }}"})
    assert row_error(content, row=3, segment=" ") == "recipients/x.csv:row 3: error: sms.text: renders empty"
    assert sms_error("{{ '' }}") == ["campaigns/spring.yaml:21:9: error: sms.text: renders empty"]


def test_sms_text_over_25_parts() -> None:
    assert sms_error("a" * 3826) == [
        "campaigns/spring.yaml:21:9: error: sms.text: needs 26 SMS parts (3826 septets); the limit is 25"
    ]
    content = compiled(sms={"text": "{{ first_name }}" + "a" * 3823})
    assert render(content, first_name="Al").sms_measure == SmsMeasure("GSM7", 3825, 25, "")
    assert row_error(content, row=8, first_name="Ann") == (
        "recipients/x.csv:row 8: error: sms.text: needs 26 SMS parts (3826 septets); the limit is 25"
    )
    assert row_error(content, row=8, first_name="Zoë") == (
        "recipients/x.csv:row 8: error: sms.text: needs 58 SMS parts (3826 UCS-2 units); the limit is 25"
    )


# ---------------------------------------------------------------------------------- LINE limits


def test_line_text_over_5000_characters() -> None:
    assert errors(line={"text": "x" * 5001}) == [
        "campaigns/spring.yaml:15:9: error: line.text: is 5001 characters long; the limit is 5000"
    ]
    assert errors(line={"text": "x" * 5001 + "{{ first_name }}"}) == [
        "campaigns/spring.yaml:15:9: error: line.text: is over 5000 characters long before its variables are filled in "
        "(5001); the limit is 5000"
    ]
    content = compiled(line={"text": "{{ first_name }}" + "x" * 4997})
    assert render(content, first_name="Al").line == {"text": "Al" + "x" * 4997}
    assert row_error(content, row=6, first_name="Anna") == (
        "recipients/x.csv:row 6: error: line.text: is 5001 characters long; the limit is 5000"
    )


def test_line_text_must_not_render_empty() -> None:
    content = compiled(line={"text": "{{ segment }}"})
    assert row_error(content, row=2, segment="") == "recipients/x.csv:row 2: error: line.text: renders empty"


IMAGE = {"type": "IMAGE", "thumbnailUrl": "https://cdn.example/t.jpg"}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://cdn.example/a.jpg", "must be an https:// URL: 'http://cdn.example/a.jpg'"),
        ("HTTP://cdn.example/{{ segment }}.jpg", "must be an https:// URL: 'HTTP://cdn.example/{{ segment }}.jpg'"),
        ("ftp://{{ segment }}", "must be an https:// URL: 'ftp://{{ segment }}'"),
        ("cdn.example/a.jpg", "must be an https:// URL: 'cdn.example/a.jpg'"),
        ("https:///a.jpg", "has no host: 'https:///a.jpg'"),
        ("https://cdn.example/a b.jpg", "must not contain spaces or control characters: 'https://cdn.example/a b.jpg'"),
        ("https://cdn.example/" + "a" * 990, "is 1010 characters long; the limit is 1000"),
        (
            "https://cdn.example/{{ segment }}/" + "a" * 990,
            "is over 1000 characters long before its variables are filled in (1011); the limit is 1000",
        ),
    ],
    ids=["http", "http-template", "ftp-template", "no-scheme", "no-host", "space", "too-long", "too-long-template"],
)
def test_a_bad_literal_url_is_reported_at_the_campaign_file(url: str, expected: str) -> None:
    assert errors(line={**IMAGE, "url": url}) == [f"campaigns/spring.yaml:16:8: error: line.url: {expected}"]


def test_a_bad_rendered_url_names_the_row() -> None:
    content = compiled(line={**IMAGE, "url": "{{ segment }}"})
    assert render(content, segment="https://cdn.example/gold.jpg").line == {
        **IMAGE,
        "url": "https://cdn.example/gold.jpg",
    }
    assert row_error(content, row=11, segment="http://cdn.example/gold.jpg") == (
        "recipients/x.csv:row 11: error: line.url: must be an https:// URL: 'http://cdn.example/gold.jpg'"
    )
    assert row_error(content, row=12, segment="https://cdn.example/gold tier.jpg") == (
        "recipients/x.csv:row 12: error: line.url: must not contain spaces or control characters: "
        "'https://cdn.example/gold tier.jpg'"
    )


def test_a_url_template_that_may_become_https_is_left_to_the_rows() -> None:
    content = compiled(line={**IMAGE, "url": "ht{{ 'tps' }}://cdn.example/{{ segment }}.jpg"})
    assert render(content).line == {**IMAGE, "url": "https://cdn.example/gold.jpg"}


def test_sticker_ids_must_not_render_empty() -> None:
    content = compiled(line={"type": "STICKER", "packageId": "446", "stickerId": "{{ segment }}"})
    assert row_error(content, row=3, segment="") == "recipients/x.csv:row 3: error: line.stickerId: renders empty"


# ------------------------------------------------------------------------------------- warnings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ana’s offer", '"’" forces UCS-2: 70 characters per message instead of 160'),
        ("Ana’s offer " * 10, '"’" forces UCS-2: 67 characters per part instead of 153 (2 parts)'),
        ("Ana’s “offer”", '"’", "“" and "”" force UCS-2: 70 characters per message instead of 160'),
        ("Ana\u00a0Maria", "U+00A0 NO-BREAK SPACE forces UCS-2: 70 characters per message instead of 160"),
        ("Plain GSM text €", None),
        ("日本語のメッセージ", None),  # mostly non-GSM: UCS-2 is expected, no warning
    ],
    ids=["one", "one-multipart", "three", "invisible", "gsm7", "many"],
)
def test_describe_ucs2(text: str, expected: str | None) -> None:
    assert describe_ucs2(measure(text)) == expected


# ------------------------------------------------------------------------------------- layering


def test_the_templates_core_imports_no_io_layer() -> None:
    code = (
        "import sys, campaigner.content.templates, campaigner.content.jinja_sandbox, campaigner.content.line, campaigner.content.sms; "
        "print(sorted(m for m in ('httpx', 'sqlite3', 'campaigner.ledger.messages', 'campaigner.omni.client') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
