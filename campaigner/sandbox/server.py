"""``SandboxServer``: the sandbox served by uvicorn on loopback, in a background thread or the foreground."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from campaigner.sandbox.delivery import (
    DEFAULT_NO_LINE_SHARE,
    DEFAULT_SMS_FAILURE_RATE,
    DEFAULT_TIME_SCALE,
    DeliveryRules,
)
from campaigner.sandbox.exceptions import SandboxError
from campaigner.sandbox.faults import FaultInjector, FaultSpec, parse_faults
from campaigner.sandbox.latency import Latency, parse_latency
from campaigner.sandbox.models import SandboxModel
from campaigner.sandbox.responses import OmniResponses
from campaigner.sandbox.routes import build_app

log = logging.getLogger("campaigner.sandbox")

DEFAULT_DB_PATH = Path(".campaigner") / "sandbox.db"
DEFAULT_API_KEY = "sandbox"
START_TIMEOUT = 10.0


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SandboxError(f"the sandbox listens on loopback only (127.0.0.1, ::1 or localhost), not {host!r}")


class SandboxServer:
    """The embedded OMNI sandbox on a loopback port. ``start()``/``stop()``, or use it as a context manager."""

    def __init__(
        self,
        *,
        db_path: Path | str = DEFAULT_DB_PATH,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        faults: str | None = None,
        seed: int = 0,
        time_scale: float = DEFAULT_TIME_SCALE,
        timeout_delay: float = 30.0,
        no_line_share: float = DEFAULT_NO_LINE_SHARE,
        sms_failure_rate: float = DEFAULT_SMS_FAILURE_RATE,
        latency: Latency | str | None = None,
        reject_suffix: str | None = None,
    ) -> None:
        """``latency``: every provider answer held that long, e.g. ``"50ms"`` or ``"50ms,10ms"`` (± jitter)."""
        _check_loopback(host)
        if not time_scale > 0:
            raise SandboxError(f"time scale must be above zero, got {time_scale}")
        if timeout_delay < 0:
            raise SandboxError(f"timeout delay cannot be negative, got {timeout_delay}")
        for name, rate in (("no_line_share", no_line_share), ("sms_failure_rate", sms_failure_rate)):
            if not 0.0 <= rate <= 1.0:
                raise SandboxError(f"{name} must be within 0..1, got {rate}")
        if not api_key:
            raise SandboxError("the sandbox API key cannot be empty")
        self.db_path = Path(db_path)
        self.host = host
        self.port = port
        self.api_key = api_key
        self.fault_spec: FaultSpec = parse_faults(faults)
        self.latency = latency if isinstance(latency, Latency) else parse_latency(latency)
        self.seed = seed
        self.time_scale = time_scale
        self.timeout_delay = timeout_delay
        self.rules = DeliveryRules(seed, no_line_share, sms_failure_rate, reject_suffix)
        self.model: SandboxModel | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._bound_port: int | None = None

    @property
    def url(self) -> str:
        if self._bound_port is None:
            raise SandboxError("the sandbox is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._bound_port}"

    def start(self) -> SandboxServer:
        """Open the state, listen, serve in a daemon thread; returns once connections are accepted."""
        if self._thread is not None:
            return self
        self._stopping.clear()
        model = SandboxModel(self.db_path, rules=self.rules, time_scale=self.time_scale)
        try:
            sock = self._bind()
        except BaseException:
            model.close()
            raise
        responses = OmniResponses(
            model,
            faults=FaultInjector(self.fault_spec, self.seed),
            timeout_delay=self.timeout_delay,
            stopping=self._stopping,
        )
        config = uvicorn.Config(
            build_app(responses, api_key=self.api_key, latency=self.latency, seed=self.seed),
            log_config=None,
            log_level="error",  # not even "Invalid HTTP request received" from killed clients
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=self._run, args=(server, sock), name="campaigner-sandbox", daemon=True)
        self.model, self._server, self._thread = model, server, thread
        self._bound_port = sock.getsockname()[1]
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SandboxError(f"the sandbox did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        log.info("sandbox listening on %s (state %s)", self.url, self.db_path)
        return self

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only when the protocol says TCP
        # (without it every answer waits ~40 ms for the client's delayed ACK).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            raise SandboxError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        sock.set_inheritable(True)
        return sock

    @staticmethod
    def _run(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except Exception:
            log.exception("sandbox: server thread failed")
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def stop(self) -> None:
        """Stop serving (waking held answers), join the thread and close the state. Idempotent."""
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            if self._thread.is_alive():
                log.warning("sandbox: server thread did not stop in time")
        if self.model is not None:
            self.model.close()
        self.model, self._server, self._thread, self._bound_port = None, None, None, None

    def serve_forever(self) -> None:
        """Serve until the server stops or the calling thread is interrupted (Ctrl-C); always stops cleanly."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.25)
        finally:
            self.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._bound_port is not None else "stopped"
        extra: dict[str, Any] = {"state": str(self.db_path), "faults": str(self.fault_spec) or None}
        return f"SandboxServer({where}, {extra})"
