"""``campaigner sandbox``: run the embedded OMNI sandbox on loopback in the foreground until Ctrl-C."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType

import click

from campaigner.sandbox.delivery import DEFAULT_TIME_SCALE
from campaigner.sandbox.exceptions import FaultSpecError, SandboxError
from campaigner.sandbox.faults import parse_faults
from campaigner.sandbox.latency import parse_latency
from campaigner.sandbox.server import DEFAULT_API_KEY, DEFAULT_DB_PATH, SandboxServer


def _check_faults(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        parse_faults(value)
    except FaultSpecError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


def _check_latency(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        parse_latency(value)
    except SandboxError as exc:
        raise click.BadParameter(str(exc)) from exc
    return value


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command(name="sandbox")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0 picks a free port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="A loopback address.")
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB_PATH,
    show_default=True,
    help="SQLite file holding the sandbox's state (kept across restarts).",
)
@click.option(
    "--faults",
    callback=_check_faults,
    metavar="SPEC",
    help='Injected send faults, e.g. "500=0.05,429=0.05,timeout=0.02,lost-answer=0.02".',
)
@click.option(
    "--latency",
    callback=_check_latency,
    metavar="DELAY[,JITTER]",
    help='Hold every answer this long, like a provider far away, e.g. "50ms" or "50ms,10ms" (± jitter).',
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of delivery outcomes and faults.")
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIME_SCALE,
    show_default=True,
    help="Simulated seconds per real second.",
)
@click.option(
    "--timeout-delay",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds the answer of a `timeout` fault is held.",
)
@click.option(
    "--api-key",
    envvar="CAMPAIGNER_SANDBOX_KEY",
    default=DEFAULT_API_KEY,
    show_default=True,
    help="API key clients must send (env CAMPAIGNER_SANDBOX_KEY).",
)
def command(
    port: int,
    host: str,
    state: Path,
    faults: str | None,
    latency: str | None,
    seed: int,
    time_scale: float,
    timeout_delay: float,
    api_key: str,
) -> None:
    """Run the embedded OMNI sandbox on loopback in the foreground; Ctrl-C stops it."""
    server = SandboxServer(
        db_path=state,
        host=host,
        port=port,
        api_key=api_key,
        faults=faults,
        latency=latency,
        seed=seed,
        time_scale=time_scale,
        timeout_delay=timeout_delay,
    )
    server.start()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        key_hint = api_key if api_key == DEFAULT_API_KEY else "<the --api-key value>"
        extra = f", faults {server.fault_spec}" if server.fault_spec.rates else ""
        extra += f", latency {server.latency}" if server.latency else ""
        print(
            f"campaigner sandbox: listening on {server.url} (state {state}{extra}); use it with "
            f"INFOBIP_BASE_URL={server.url} INFOBIP_API_KEY={key_hint}; Ctrl-C stops it",
            flush=True,
        )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    print("campaigner sandbox: stopped", file=sys.stderr)
