"""Transfer slots shared by every torrent-mover process on this machine.

``parallel_jobs`` slots are lock files ``pool/slot-N.lock``. A move holds
one while it transfers; the OS releases it if the process dies (kill -9
included). ``slot.json`` beside each lock says who holds it, for --status
and for tests that count concurrent transfers.
"""

import contextlib
import os
import time
from typing import Iterator, List

import filelock

from mover.errors import QueuedError
from state import paths, store

VERSION = 1


def _slot_files(index: int):
    folder = paths.pool_dir()
    return folder / f"slot-{index}.lock", folder / f"slot-{index}.json"


@contextlib.contextmanager
def slot(size: int, wait: float, torrent_hash: str, poll: float = 0.5) -> Iterator[int]:
    """Hold one of ``size`` slots while the block runs; yield its index.

    Wait up to ``wait`` seconds for one to come free, then raise QueuedError.
    """
    deadline = time.monotonic() + wait
    while True:
        for index in range(size):
            lock_file, info_file = _slot_files(index)
            lock = filelock.FileLock(str(lock_file))
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                continue
            try:
                store.write(info_file, {"hash": torrent_hash, "pid": os.getpid(),
                                        "since": time.time()}, VERSION)
                yield index
            finally:
                with contextlib.suppress(OSError):
                    info_file.unlink()
                lock.release()
            return
        if time.monotonic() >= deadline:
            raise QueuedError(f"all {size} transfer slots (parallel_jobs) stayed busy for "
                              f"{wait:.0f} s (pool_wait_timeout); torrent {torrent_hash} "
                              f"is queued for the next sweep")
        time.sleep(poll)


def holders() -> List[dict]:
    """Return who holds a slot now (hash, pid, since), judged by the live locks."""
    found = []
    for info in sorted(paths.pool_dir().glob("slot-*.json")):
        lock = filelock.FileLock(str(info.with_suffix(".lock")))
        try:
            lock.acquire(timeout=0)
            lock.release()           # nobody holds it: a stale info file
        except filelock.Timeout:
            data = store.read(info, VERSION)
            if data:
                found.append(data)
    return found
