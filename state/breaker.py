"""The circuit breaker: a torrent that keeps failing is left alone for a while.

State lives in ``breaker.json`` (atomic, versioned) under a file lock, so it
survives restarts and is shared by every process.
"""

import contextlib
import time
from typing import Dict, Iterator, Optional

import filelock

from state import paths, store

VERSION = 1


@contextlib.contextmanager
def _locked() -> Iterator[Dict[str, dict]]:
    """Yield the breaker table under its lock; write it back afterwards."""
    with filelock.FileLock(str(paths.lock_path("breaker")), timeout=30):
        path = paths.store_path("breaker")
        data = store.read(path, VERSION) or {}
        table = data.get("torrents", {})
        yield table
        store.write(path, {"torrents": table}, VERSION)


def open_until(torrent_hash: str, threshold: int, cooldown: float) -> Optional[float]:
    """Return the time the breaker of ``torrent_hash`` closes again, or None if closed."""
    with _locked() as table:
        entry = table.get(torrent_hash)
    if not entry or entry["failures"] < threshold:
        return None
    until = entry["opened_at"] + cooldown
    return until if until > time.time() else None


def record_failure(torrent_hash: str, error: str) -> int:
    """Count one failed move; return the failures so far."""
    with _locked() as table:
        entry = table.setdefault(torrent_hash, {"failures": 0})
        entry["failures"] += 1
        entry["opened_at"] = time.time()
        entry["last_error"] = error[:500]
        return entry["failures"]


def reset(torrent_hash: str) -> bool:
    """Close the breaker of ``torrent_hash``; return True if there was one."""
    with _locked() as table:
        return table.pop(torrent_hash, None) is not None


def table() -> Dict[str, dict]:
    """Return a copy of every breaker entry."""
    with _locked() as entries:
        return dict(entries)
