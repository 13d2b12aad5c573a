"""campaigner: declarative LINE-then-SMS campaigns for the Infobip OMNI API, planned and applied exactly once."""

from __future__ import annotations

__version__ = "0.1.0"
