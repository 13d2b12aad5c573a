"""Tests for campaigner.omni.config: secrets read from the environment are checked and never shown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from campaigner.errors import TargetError
from campaigner.omni.config import ApiKeyAuth, ClientConfig, redact

BASE = {"INFOBIP_BASE_URL": "https://xxxxx.api.infobip.com"}
KEY = "0123456789abcdef0123456789abcdef-0123"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"INFOBIP_API_KEY": f"{KEY}\nSECRET-TAIL"},
            "error: INFOBIP_API_KEY has a space, a line break, a control or a non-ASCII character at character 38, "
            "which cannot be part of it (set it again, copied without surrounding text; its value is not shown)",
            id="api-key-newline",
        ),
        pytest.param(
            {"INFOBIP_API_KEY": f"{KEY}é"},
            "error: INFOBIP_API_KEY has a space, a line break, a control or a non-ASCII character at character 38, "
            "which cannot be part of it (set it again, copied without surrounding text; its value is not shown)",
            id="api-key-non-ascii",
        ),
        pytest.param(
            {"INFOBIP_USERNAME": "ana:x", "INFOBIP_PASSWORD": "pw"},
            "error: INFOBIP_USERNAME has a ':' at character 4, which cannot be part of it "
            "(set it again, copied without surrounding text; its value is not shown)",
            id="username-colon",
        ),
        pytest.param(
            {"INFOBIP_USERNAME": "ana", "INFOBIP_PASSWORD": "pw\x1bSECRET"},
            "error: INFOBIP_PASSWORD has a line break or another control character at character 3, which cannot "
            "be part of it (set it again, copied without surrounding text; its value is not shown)",
            id="password-control",
        ),
    ],
)
def test_bad_characters_in_a_secret_are_one_line_without_the_secret(environ: dict[str, str], message: str) -> None:
    with pytest.raises(TargetError) as caught:
        ClientConfig.from_env({**BASE, **environ})
    assert str(caught.value) == message


def test_a_password_may_hold_spaces_and_non_ascii() -> None:
    config = ClientConfig.from_env({**BASE, "INFOBIP_USERNAME": "ana", "INFOBIP_PASSWORD": "žuta kuća"})
    assert config is not None


def test_redact_catches_a_secret_escaped_as_a_repr_shows_it() -> None:
    secret = "abc\ndef-0123"
    text = f"LocalProtocolError: Illegal header value {('App ' + secret).encode()!r}; also {secret!r} and {secret}"
    assert redact(text, (secret,)) == (
        "LocalProtocolError: Illegal header value b'App [redacted]'; also '[redacted]' and [redacted]"
    )


def test_a_key_no_header_can_carry_is_a_target_error_not_a_crash() -> None:
    from campaigner.omni.client import OmniClient

    with pytest.raises(TargetError) as caught:
        OmniClient(ClientConfig(base_url="http://127.0.0.1:9", auth=ApiKeyAuth(f"{KEY}é")))
    assert KEY not in str(caught.value)


def test_plan_with_a_broken_key_prints_one_line_and_no_key(
    workdir: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFOBIP_BASE_URL", BASE["INFOBIP_BASE_URL"])
    monkeypatch.setenv("INFOBIP_API_KEY", f"{KEY}\nSECRET-TAIL")
    result = cli("plan", "campaigns/spring-sale-2026.yaml")
    assert result.code == 1
    assert result.err.count("\n") == 1 and "INFOBIP_API_KEY has a space, a line break" in result.err
    assert KEY not in result.out + result.err and "SECRET-TAIL" not in result.out + result.err
    assert not (workdir / ".campaigner" / "crash.log").exists()
