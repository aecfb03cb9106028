"""Endpoints: where files live (this machine, or an SSH server)."""

from typing import Optional

from mover.config import ServerConfig
from mover.endpoints.base import Endpoint, FileStat


def open_endpoint(server: Optional[ServerConfig], label: str) -> Endpoint:
    """Return the LocalEndpoint, or an SshEndpoint connected to ``server``."""
    if server is None:
        from mover.endpoints.local import LocalEndpoint
        return LocalEndpoint(label)
    from mover.endpoints.ssh import SshEndpoint
    return SshEndpoint(server)


__all__ = ["Endpoint", "FileStat", "open_endpoint"]
