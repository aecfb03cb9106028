"""The streaming engine: read from one Endpoint, write to the other, file by file.

Used for transfer_mode "local" and for an SSH-to-SSH relay without a cache.
Files are copied in parallel (``Job.workers`` threads, each with a lane on
both endpoints), each in order from its start (or from where its partial
file ends) into its partial file (mover.partial), then renamed into place.
"""

import concurrent.futures
import contextlib
import posixpath
import threading
from typing import List, Tuple

from mover import partial
from mover.errors import MoverError, TransferError
from mover.transfer import Job
from mover.transfer.progress import Progress, stall_error

CHUNK = 1024 * 1024
POLL = 1.0                      # seconds between the watchdog's looks


def partial_path(path: str) -> str:
    """Return where ``path`` is written until it is complete (mover.partial.path)."""
    return partial.path(path)


class _Lanes:
    """One (source, destination) lane pair per worker thread, closed together.
    Every byte a lane hears (a write's acknowledgement too) is a sign of life
    for ``progress``'s watchdog."""

    def __init__(self, job: Job, progress: Progress):
        self.job, self.progress, self.local = job, progress, threading.local()
        self.opened: List = []
        self.lock = threading.Lock()

    def get(self) -> Tuple:
        pair = getattr(self.local, "pair", None)
        if pair is None:
            src = self.job.src.lane(self.job.stall_timeout)
            try:
                dst = self.job.dst.lane(self.job.stall_timeout)
            except BaseException:
                src.close()
                raise
            pair = self.local.pair = (src, dst)
            for lane in pair:
                lane.listen(self.progress.alive)
            with self.lock:
                self.opened += pair
        return pair

    def close(self) -> None:
        for lane in self.opened:
            with contextlib.suppress(Exception):
                lane.close()


def copy_one(job: Job, rel: str, size: int, progress: Progress, lanes=None) -> None:
    """Copy one file, resuming a partial copy; skip it if already in place.

    ``lanes``: the worker's _Lanes (one is opened for this call without).
    Raise TransferError if the copy ends with the wrong size.
    """
    own = lanes is None
    lanes = lanes or _Lanes(job, progress)
    try:
        _copy_one(job, rel, size, progress, *lanes.get())
    finally:
        if own:
            lanes.close()


def _copy_one(job: Job, rel: str, size: int, progress: Progress, src_lane, dst_lane) -> None:
    src, dst = posixpath.join(job.src_root, rel), posixpath.join(job.dst_root, rel)
    existing = job.dst.stat(dst)
    if existing is not None and not (existing.is_link or existing.is_dir) \
            and existing.size == size and not job.checksum:
        progress.skip(size)         # in place: no bandwidth wait for bytes never sent
        return
    tmp = partial.path(dst)
    found = job.dst.stat(tmp)
    offset = found.size if found is not None and not (found.is_link or found.is_dir) \
        and found.size <= size and not job.checksum else 0
    if partial.written_in_ranges(job.dst, dst, size):
        offset = 0          # holes may lie below its size: start over
    progress.skip(offset)
    try:
        with src_lane.open_reader(src, size, within=job.src_root) as reader, \
                partial.writer(dst_lane, job.dst, tmp, size, resume=offset > 0) as writer:
            for position, chunk in reader.read(offset, size):
                writer.write_at(position, chunk)
                if job.verifier is not None:
                    job.verifier.feed(rel, position, chunk)
                progress.add(len(chunk))
    except MoverError:
        raise
    except Exception as exc:    # paramiko: OSError("Socket is closed"), EOFError, ...
        raise TransferError(f"copy of {rel} was interrupted: {exc or type(exc).__name__}"
                            ) from None
    written = job.dst.stat(tmp)
    if written is None or written.size != size:
        raise TransferError(f"copy of {rel} ended at {written.size if written else 0} "
                            f"of {size} bytes")
    job.dst.rename(tmp, dst)


def stream_job(job: Job, progress: Progress) -> None:
    """Copy every item of ``job``, largest first, ``job.workers`` at a time."""
    items: Tuple = tuple(sorted(job.items, key=lambda item: -item[1]))
    job.dst.makedirs(job.dst_root)
    lanes = _Lanes(job, progress)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=job.workers) as pool:
            futures = [pool.submit(copy_one, job, rel, size, progress, lanes)
                       for rel, size in items]
            try:
                _wait(job, futures, progress)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        lanes.close()
    # Workers share each folder's partial dir: remove them only when all are done.
    partial.prune(job.dst, [posixpath.join(job.dst_root, rel) for rel, _ in items])


def _wait(job: Job, futures, progress: Progress) -> None:
    """Wait for ``futures``; raise the first error, or StalledError when nothing moves.

    On a stall both endpoints are aborted so that the blocked workers fail.
    """
    pending = set(futures)
    while pending:
        done, pending = concurrent.futures.wait(
            pending, timeout=POLL, return_when=concurrent.futures.FIRST_EXCEPTION)
        for future in done:
            future.result()
        if pending and progress.stalled(job.stall_timeout):
            job.src.abort()
            job.dst.abort()
            raise stall_error(job.stall_timeout)
