"""Atomic, versioned JSON files.

``write(path, data, version)`` writes to a temp file in the same folder and
renames it into place, so a reader never sees half a file. ``read`` returns
the data or None when the file is absent; a file that does not parse is moved
aside (``NAME.corrupt-TIMESTAMP``) with a warning and treated as absent.
"""

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Optional

log = logging.getLogger("mover.state")
Upgrade = Callable[[dict], dict]


def write(path: Path, data: dict, version: int) -> None:
    """Write ``data`` plus ``format_version`` to ``path`` atomically (fsynced)."""
    payload = dict(data, format_version=version)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def read(path: Path, version: int,
         upgrades: Optional[Dict[int, Upgrade]] = None) -> Optional[dict]:
    """Return the data in ``path`` upgraded to ``version``, or None if absent/corrupt.

    ``upgrades`` maps an old version to a function returning the next version's
    data. A file from a newer version is moved aside like a corrupt one.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        found = int(data.get("format_version", 0))
        while found < version:
            data = (upgrades or {})[found](data)
            found += 1
        if found != version:
            raise ValueError(f"format version {found} is newer than {version}")
        return data
    except (ValueError, KeyError, TypeError) as exc:   # UnicodeDecodeError too
        quarantine(path, exc)
        return None


def quarantine(path: Path, reason: object) -> None:
    """Move an unusable state file aside (``NAME.corrupt-TIME``) with a warning."""
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return
    log.warning("state file %s was unreadable (%s); moved aside to %s", path, reason, aside)
