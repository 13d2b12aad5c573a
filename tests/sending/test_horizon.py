"""Tests of campaigner.sending.horizon: when a fresh CI runner is refused before sending (#10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaigner.errors import CampaignerError
from campaigner.ledger.location import StateLocation
from campaigner.sending.horizon import refuse_fresh_runner
from campaigner.sending.target import Target

FILE = StateLocation(path=Path("/w/.campaigner/state.db"))
SERVER = StateLocation(url="postgresql://ci:pw@db/c")
PROVIDER = Target("provider", "https://api.infobip.com")
SANDBOX = Target("sandbox", "sandbox")
CI = {"CI": "true"}


@pytest.mark.parametrize(
    ("location", "existed", "target", "environ", "new_ledger"),
    [
        (FILE, False, PROVIDER, {}, False),  # not CI: a person at a laptop
        (FILE, True, PROVIDER, CI, False),  # the file was there (a cache, a persistent runner)
        (SERVER, False, PROVIDER, CI, False),  # a shared ledger
        (FILE, False, SANDBOX, CI, False),  # the embedded sandbox: nothing real is sent
        (FILE, False, PROVIDER, CI, True),  # acknowledged
    ],
    ids=["not-ci", "file-existed", "postgresql", "sandbox", "new-ledger"],
)
def test_allowed(
    location: StateLocation, existed: bool, target: Target, environ: dict[str, str], new_ledger: bool
) -> None:
    refuse_fresh_runner(location, existed, target, environ, new_ledger=new_ledger)


def test_a_fresh_runner_is_refused_naming_the_limit_and_the_fix() -> None:
    with pytest.raises(CampaignerError) as info:
        refuse_fresh_runner(FILE, False, PROVIDER, CI, new_ledger=False)
    assert str(info.value) == (
        "error: CI is set and the ledger /w/.campaigner/state.db did not exist before this run (a fresh runner): "
        "the provider's logs keep only 48 hours, so messages sent earlier could be sent again; keep the ledger "
        "where every runner sees it (CAMPAIGNER_STATE=postgresql://...), or pass --new-ledger if this campaign "
        "was never sent"
    )
