"""The provider's OMNI API: the HTTP client, where and how it connects, its bodies and its retry policy.

Shell: the only package that talks HTTP to the provider.
"""

from campaigner.omni.client import OmniClient
from campaigner.omni.config import ClientConfig

__all__ = ["ClientConfig", "OmniClient"]
