"""Where messages go: the real provider from the environment, or the embedded sandbox on loopback.

With ``INFOBIP_BASE_URL`` and a key (or user and password) set, the target is the provider. With
neither, it is the embedded sandbox, started in-process on a free loopback port with its state beside
the ledger; every command says which in its first line. In CI (``CI`` set) without a provider, apply
must be told ``--target sandbox``: a secret missing from a pipeline must not look like a sent campaign.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from campaigner.errors import TargetError

if TYPE_CHECKING:
    from campaigner.ledger.location import StateLocation
    from campaigner.omni.config import ClientConfig

SANDBOX = "sandbox"
SANDBOX_KEY = "sandbox"
SANDBOX_SETTLE_SECONDS = 0.5
PROVIDER_SETTLE_SECONDS = 60.0


def state_location(environ: Mapping[str, str] | None = None, given: str | None = None) -> StateLocation:
    """The ledger: ``--state`` (``given``), ``CAMPAIGNER_STATE`` (a file or a ``postgresql://`` URL), or the default."""
    from campaigner.ledger.location import state_location as locate

    return locate(os.environ if environ is None else environ, Path.cwd(), given)


def state_path(environ: Mapping[str, str] | None = None) -> Path:
    """The ledger file: ``CAMPAIGNER_STATE`` or ``.campaigner/state.db`` under the working directory."""
    from campaigner.ledger.messages import default_state_path

    return default_state_path(os.environ if environ is None else environ, Path.cwd())


def sandbox_state_path(environ: Mapping[str, str] | None = None, state: StateLocation | None = None) -> Path:
    """The embedded sandbox's state file, beside the ledger file (under ``.campaigner`` for a server ledger)."""
    return (state or state_location(environ)).local_dir / "sandbox.db"


def provider_configured(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("INFOBIP_BASE_URL") or environ.get("INFOBIP_API_KEY"))


def target_id_for(base_url: str) -> str:
    """A provider target's id: its scheme and host (never a key, never a path)."""
    raw = base_url if "://" in base_url else f"https://{base_url}"
    parts = urlsplit(raw)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    default = {"https": 443, "http": 80}.get(scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{scheme}://{host}{port}"


@dataclass(frozen=True)
class Target:
    """A chosen target, before connecting."""

    kind: Literal["sandbox", "provider"]
    id: str

    @property
    def is_sandbox(self) -> bool:
        return self.kind == "sandbox"

    @property
    def settle_seconds(self) -> float:
        """How long a send must be absent from the provider's logs before it counts as not received.

        ``CAMPAIGNER_SETTLE_SECONDS`` overrides it (tests against a sandbox started on its own).
        """
        override = os.environ.get("CAMPAIGNER_SETTLE_SECONDS")
        if override:
            return float(override)
        return SANDBOX_SETTLE_SECONDS if self.is_sandbox else PROVIDER_SETTLE_SECONDS


def choose_target(
    forced: str | None = None, *, for_apply: bool = False, environ: Mapping[str, str] | None = None
) -> Target:
    """Pick the target from ``--target`` and the environment (see the module docstring)."""
    env = os.environ if environ is None else environ
    if forced == SANDBOX:
        return Target("sandbox", SANDBOX)
    if provider_configured(env):
        from campaigner.omni.config import ClientConfig

        config = ClientConfig.from_env(env)
        if config is None:  # pragma: no cover - from_env returns a config or raises when half set
            raise TargetError("error: INFOBIP_BASE_URL and INFOBIP_API_KEY must both be set")
        return Target("provider", target_id_for(config.base_url))
    if forced == "provider":
        raise TargetError(
            "error: --target provider needs INFOBIP_BASE_URL and INFOBIP_API_KEY "
            "(or INFOBIP_USERNAME and INFOBIP_PASSWORD) in the environment"
        )
    if for_apply and env.get("CI"):
        raise TargetError(
            "error: CI is set and no provider is configured (INFOBIP_BASE_URL / INFOBIP_API_KEY are missing); "
            "refusing to apply to the sandbox by accident: pass --target sandbox to mean it"
        )
    return Target("sandbox", SANDBOX)


@dataclass(frozen=True)
class Connection:
    """A target ready to talk to: its client configuration and a line that says what it is."""

    target: Target
    config: ClientConfig
    description: str


def _tuned(config: ClientConfig, env: Mapping[str, str]) -> ClientConfig:
    """``CAMPAIGNER_READ_TIMEOUT`` (seconds) shortens the client's read timeout, for fault tests."""
    read = env.get("CAMPAIGNER_READ_TIMEOUT")
    if not read:
        return config
    return dataclasses.replace(config, timeouts=dataclasses.replace(config.timeouts, read=float(read)))


@contextmanager
def connect(
    target: Target,
    environ: Mapping[str, str] | None = None,
    *,
    state: StateLocation | None = None,
    writes: bool = True,
) -> Iterator[Connection]:
    """Yield a client configuration for ``target``; for the sandbox, run it for the duration.

    With ``writes=False`` (plan) nothing is created: a sandbox with no state file yet runs in memory.
    """
    from campaigner.omni.config import ClientConfig

    env = os.environ if environ is None else environ
    if not target.is_sandbox:
        config = ClientConfig.from_env(env)
        assert config is not None
        yield Connection(target, _tuned(config, env), f"Target: Infobip {target.id}")
        return
    from campaigner.sandbox.server import SandboxServer

    db = sandbox_state_path(env, state)
    if writes or db.exists():
        db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        sandbox_state: Path | str = db
    else:
        sandbox_state = ":memory:"
    server = SandboxServer(db_path=sandbox_state, api_key=SANDBOX_KEY)
    server.start()
    try:
        config = ClientConfig.from_env({"INFOBIP_BASE_URL": server.url, "INFOBIP_API_KEY": SANDBOX_KEY})
        assert config is not None
        config = _tuned(config, env)
        yield Connection(
            target,
            config,
            f"Target: embedded sandbox ({server.url}, state {db}{'' if sandbox_state == db else ' (none yet)'}); "
            "nothing leaves this machine",
        )
    finally:
        server.stop()
