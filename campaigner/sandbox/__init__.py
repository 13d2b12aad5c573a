"""The embedded sandbox: a real HTTP server on loopback that speaks the provider's OMNI API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from campaigner.sandbox.server import SandboxServer

__all__ = ["SandboxServer"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the model or the rules does not import uvicorn.
    if name == "SandboxServer":
        from campaigner.sandbox.server import SandboxServer

        return SandboxServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
