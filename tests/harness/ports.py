"""Free TCP ports on 127.0.0.1, never the same one twice in a process."""
from __future__ import annotations

import socket
import threading

_lock = threading.Lock()
_handed_out: set[int] = set()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The kernel picks it (bind to port 0); the same UDP port must be free too
    (a BitTorrent port is both). A port already returned by this process is
    never returned again. Raises RuntimeError if no new port is
    found after 200 tries.
    """
    with _lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            if port not in _handed_out and _udp_free(port):
                _handed_out.add(port)
                return port
    raise RuntimeError("no new free port on 127.0.0.1 after 200 tries")


def _udp_free(port: int) -> bool:
    """True if UDP ``port`` on 127.0.0.1 can be bound (BitTorrent uses both)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
