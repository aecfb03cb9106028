"""Test harness for torrent-mover: real qBittorrent clients, sshd, test torrents.

Modules: ``ports`` (free loopback ports), ``qbt`` (qbittorrent-nox 4.5 / 5.x
processes), ``sshd`` (a private OpenSSH server), ``torrents`` (content,
.torrent files, seeding and peer-to-peer transfers). ``eventually`` lives here.
"""
from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def eventually(fn: Callable[[], T], timeout: float = 30, interval: float = 0.2,
               message: str = "") -> T:
    """Call ``fn`` until it returns a truthy value and return that value.

    Exceptions raised by ``fn`` count as a falsy try (the last one is kept).
    Raises AssertionError after ``timeout`` seconds, quoting the last value
    or exception and ``message``.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - retried, reported below
            last = exc
        if time.monotonic() >= deadline:
            what = f"{message}: " if message else ""
            raise AssertionError(
                f"{what}not true after {timeout:g}s; last value: {last!r}")
        time.sleep(interval)
