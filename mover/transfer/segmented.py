"""The segmented engine: several SSH connections, big files split into ranges.

One SSH stream over a distant link is window-limited far below the link;
like ``lftp pget -n``, this engine opens ``connections`` SSH connections to
the one remote side (pull: source remote; push: destination remote), splits
big files into ranges and hands ranges and small files to whichever
connection is free. Each connection speaks plain SFTP v3 on its own channel
with large reads (255 KiB, sftp-server's maximum) and ``DEPTH`` requests in
flight: paramiko's SFTPFile is several times slower per byte.

A file is written at its offsets into ``.torrent-mover-partial/NAME``
(opened without truncating) and renamed into place only when every range is
in. A file of several ranges keeps ``NAME.torrent-mover-ranges`` (JSON: size,
segment, done ranges) beside the partial file, written before any data, so
a re-run transfers only the missing ranges. Memory is bounded by the SSH
window per connection (``WINDOW``) plus ``DEPTH`` chunks: about 10 MB each.
"""

import json
import os
import posixpath
import queue
import threading
from dataclasses import dataclass, field
from typing import List, Optional, Set, Tuple

from mover.config import ServerConfig
from mover.endpoints.local import os_error
from mover.errors import MoverError, NoSpaceError, ProvisioningError, StalledError, \
    TransferError
from mover.transfer import Job
from mover.transfer.batch import FILES, SMALL, Batch
from mover.transfer.progress import Progress
from mover.transfer.stream import partial_path
from mover.transfer.rawsftp import (_PF_CREAT, _PF_READ, _PF_WRITE, Aborted, RawSftp,
                                    prefer_gcm)

CONNECTIONS = 8                 # like lftp pget -n 8
MIN_SEGMENT = 8 * 1024 * 1024
MAX_SEGMENT = 64 * 1024 * 1024
RANGES_SUFFIX = ".torrent-mover-ranges"
BATCH = 4 * FILES               # small files a connection takes at a time
@dataclass
class _File:
    """One file of the job and the state of its ranges (guarded by ``lock``)."""

    rel: str
    size: int
    src: str
    dst: str
    segment: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    ready: bool = False
    skip: bool = False
    done: Set[int] = field(default_factory=set)

    @property
    def count(self) -> int:
        return max(1, -(-self.size // self.segment))

    @property
    def tmp(self) -> str:
        return partial_path(self.dst)

    def bounds(self, index: int) -> Tuple[int, int]:
        return index * self.segment, min(self.size, (index + 1) * self.segment)


@dataclass
class Result:
    """What a run did: bytes and ranges moved, files already in place, connections."""

    bytes_moved: int = 0
    ranges_moved: int = 0
    files_skipped: int = 0
    connections: int = 0


def segment_size(size: int) -> int:
    """Return the range size for a file of ``size`` bytes: about 1/16 of it, in MiB,
    from MIN_SEGMENT to MAX_SEGMENT; a file under 2 * MIN_SEGMENT is one range.

    It depends on the size only, so a re-run with other settings still resumes.
    """
    if size < 2 * MIN_SEGMENT:
        return max(size, 1)
    wanted = -(-size // (16 << 20)) << 20
    return min(MAX_SEGMENT, max(MIN_SEGMENT, wanted))


def _skip(progress: Progress, count: int) -> None:
    """Count bytes already in place without holding back for the bandwidth limit."""
    skip = getattr(progress, "skip", None)
    (skip or progress.add)(count)


class _Run:
    """One job: the files, the task queue, and what the workers share."""

    def __init__(self, job: Job, progress: Progress, server: ServerConfig, pull: bool):
        self.job, self.progress, self.server, self.pull = job, progress, server, pull
        self.files = [_File(rel, size, posixpath.join(job.src_root, rel),
                            posixpath.join(job.dst_root, rel), segment_size(size))
                      for rel, size in sorted(job.items, key=lambda item: -item[1])]
        self.tasks: "queue.SimpleQueue[Tuple[_File, int]]" = queue.SimpleQueue()
        for item in self.files:
            for index in range(item.count):
                self.tasks.put((item, index))
        self.abort = threading.Event()
        self.result, self.errors = Result(), []  # type: ignore
        self._lock, self._dirs = threading.Lock(), set()  # type: ignore

    def count(self, **more: int) -> None:
        """Add ``more`` (bytes_moved=, ranges_moved=, ...) to the Result."""
        with self._lock:
            for name, value in more.items():
                setattr(self.result, name, getattr(self.result, name) + value)

    def makedirs(self, path: str) -> None:
        """Create ``path`` on the destination once per run."""
        if path not in self._dirs:
            self.job.dst.makedirs(path)
            with self._lock:
                self._dirs.add(path)

    def ranges_path(self, item: _File) -> str:
        return item.tmp + RANGES_SUFFIX

    def load_ranges(self, item: _File) -> Optional[Set[int]]:
        """Return the done ranges recorded for ``item``, or None if none are usable."""
        path = self.ranges_path(item)
        if self.job.dst.stat(path) is None:
            return None
        with self.job.dst.open_read(path) as handle:
            try:
                state = json.loads(handle.read(1 << 20))
            except ValueError:
                return None
        if state.get("size") != item.size or state.get("segment") != item.segment:
            return None
        return {i for i in state.get("done", []) if isinstance(i, int) and i < item.count}

    def save_ranges(self, item: _File) -> None:
        """Record ``item``'s done ranges beside its partial file (write, then rename)."""
        path = self.ranges_path(item)
        state = {"size": item.size, "segment": item.segment, "done": sorted(item.done)}
        with self.job.dst.open_write(path + ".new") as handle:
            handle.write(json.dumps(state).encode())
        self.job.dst.rename(path + ".new", path)

    def write_at(self, item: _File, fd: int, offset: int, data) -> None:
        """Write pulled ``data`` at ``offset`` of ``item``'s partial file (``fd``);
        feed the piece verifier and the progress. Raise Aborted if another
        connection failed, NoSpaceError or ProvisioningError if the write fails."""
        if self.abort.is_set():
            raise Aborted("stopped: another connection failed")
        try:
            os.pwrite(fd, data, offset)
        except OSError as exc:
            raise os_error(exc, "write", item.tmp) from None
        self._account(item, offset, data)

    def read_at(self, item: _File, fd: int, offset: int, size: int) -> bytes:
        """Return ``size`` bytes at ``offset`` of ``item``'s local source (``fd``) to
        push; feed the verifier and the progress. Raise Aborted if another
        connection failed, TransferError if the file is shorter."""
        if self.abort.is_set():
            raise Aborted("stopped: another connection failed")
        data = os.pread(fd, size, offset)
        if len(data) != size:
            raise TransferError(f"{item.src} is shorter than expected "
                                f"(ends before byte {offset + len(data)})")
        self._account(item, offset, data)
        return data

    def _account(self, item: _File, offset: int, data) -> None:
        if self.job.verifier is not None:
            self.job.verifier.feed(item.rel, offset, data)
        self.progress.add(len(data))

    def no_space(self, error: TransferError, where: str, path: str, needed: int) -> Exception:
        """Return NoSpaceError if the destination of ``path`` has under ``needed``
        bytes free (SFTP v3 has no "disk full" status), else ``error``."""
        if isinstance(error, StalledError):     # the link is dead: do not probe it
            return error
        if self.job.dst.free_space(posixpath.dirname(path)) < needed:
            return NoSpaceError(f"no space left on {where} for {path}: {error}")
        return error

    def in_place(self, item: _File) -> bool:
        """Return True, and count it, if ``item`` is already whole at its final path."""
        final = self.job.dst.stat(item.dst)
        if final is None or final.size != item.size or self.job.checksum:
            return False
        item.skip, item.done = True, set(range(item.count))
        self.count(files_skipped=1)
        return True

    def small_batch(self, first: _File) -> List[_File]:
        """Return ``first`` and up to BATCH - 1 more queued small files still to move.

        Each is marked taken; one already in place is counted and left out;
        the partial folders are created.
        """
        items = [first]
        while len(items) < BATCH:
            try:
                item, index = self.tasks.get_nowait()
            except queue.Empty:
                break
            if item.count != 1 or item.size > SMALL:
                self.tasks.put((item, index))
                break
            items.append(item)
        todo = []
        for item in items:
            with item.lock:
                item.ready = True
                if self.in_place(item):
                    _skip(self.progress, item.size)
                    continue
            self.makedirs(posixpath.dirname(item.tmp))
            todo.append(item)
        return todo

    def prepare(self, item: _File, chan: RawSftp) -> None:
        """Decide what of ``item`` is still to move; create its partial file.

        Call with ``item.lock`` held. A multi-range file records its ranges
        before any data is written; without a record, a partial file left by
        a sequential engine counts as done up to its size.
        """
        item.ready = True
        if self.in_place(item):
            return
        self.makedirs(posixpath.dirname(item.tmp))
        done = None if self.job.checksum or item.count == 1 else self.load_ranges(item)
        if done is None and item.count > 1 and not self.job.checksum:
            partial = self.job.dst.stat(item.tmp)
            have = partial.size if partial is not None and partial.size <= item.size else 0
            done = {i for i in range(item.count) if item.bounds(i)[1] <= have}
        item.done = done or set()
        if item.count > 1:
            self.save_ranges(item)
        flags = os.O_WRONLY | os.O_CREAT | (0 if item.done else os.O_TRUNC)
        if self.pull:
            try:
                os.close(os.open(item.tmp, flags, 0o644))
            except OSError as exc:
                raise os_error(exc, "write", item.tmp) from None
        else:
            chan.close(chan.open(item.tmp, _PF_WRITE | _PF_CREAT
                                 | (0 if item.done else 0x10)), item.tmp)

    def finish_range(self, item: _File, index: int) -> None:
        """Record range ``index`` of ``item`` done; rename the file once all are."""
        with item.lock:
            item.done.add(index)
            if len(item.done) < item.count:
                self.save_ranges(item)
                return
        written = self.job.dst.stat(item.tmp)
        if written is None or written.size != item.size:
            raise TransferError(f"copy of {item.rel} ended at "
                                f"{written.size if written else 0} of {item.size} bytes")
        self.job.dst.rename(item.tmp, item.dst)
        if item.count > 1:
            self.job.dst.remove(self.ranges_path(item))


class _Worker:
    """One SSH connection taking tasks until none are left or the run aborts."""

    def __init__(self, run: _Run, chan: RawSftp):
        self.run, self.chan = run, chan
        self.item: Optional[_File] = None
        self.handle, self.fd = b"", -1

    def release(self) -> None:
        """Close the remote handle and local file of the current file."""
        if self.item is not None:
            path = self.item.src if self.run.pull else self.item.tmp
            self.item = None
            os.close(self.fd)
            self.chan.close(self.handle, path)

    def switch(self, item: _File) -> None:
        """Open ``item`` on both sides unless it is already the current file."""
        if item is self.item:
            return
        self.release()
        pull = self.run.pull
        local = item.tmp if pull else item.src
        try:
            fd = os.open(local, os.O_WRONLY if pull else os.O_RDONLY)
        except OSError as exc:
            raise os_error(exc, "write" if pull else "read", local) from None
        try:
            self.handle = self.chan.open(item.src, _PF_READ) if pull else \
                self.chan.open(item.tmp, _PF_WRITE)
        except BaseException:
            os.close(fd)
            raise
        self.item, self.fd = item, fd

    def move(self, item: _File, index: int) -> None:
        """Move range ``index`` of ``item`` unless it is already done."""
        with item.lock:
            if not item.ready:
                self.run.prepare(item, self.chan)
            if index in item.done:
                start, end = item.bounds(index)
                _skip(self.run.progress, end - start)
                return
        self.switch(item)
        start, end = item.bounds(index)
        if self.run.pull:
            self.chan.read_range(self.handle, item.src, start, end, self._sink)
        else:
            try:
                self.chan.write_range(self.handle, item.tmp, start, end, self._source)
            except TransferError as exc:
                raise self.run.no_space(exc, self.chan.where, item.tmp, end - start) from None
        self.run.count(bytes_moved=end - start, ranges_moved=1)
        self.run.finish_range(item, index)

    def _sink(self, offset: int, data: bytes) -> None:
        self.run.write_at(self.item, self.fd, offset, data)

    def _source(self, offset: int, size: int) -> bytes:
        return self.run.read_at(self.item, self.fd, offset, size)

    def loop(self) -> None:
        """Take tasks until the queue is empty; on error, abort the run."""
        try:
            while not self.run.abort.is_set():
                try:
                    item, index = self.run.tasks.get_nowait()
                except queue.Empty:
                    break
                if item.count == 1 and item.size <= SMALL:
                    self.release()
                    Batch(self.run, self.chan, self.run.small_batch(item)).copy()
                else:
                    self.move(item, index)
            self.release()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self.run.abort.set()
            self.run.errors.append(exc)
            if self.item is not None:   # the channel may be dead: close only the file
                os.close(self.fd)


def _connection(run: _Run) -> None:
    """Thread body: connect, run a worker, close. Connection errors are recorded."""
    from mover.endpoints.ssh import connect
    try:
        client = connect(run.server)
    except MoverError as exc:
        run.errors.append(exc)      # others may still do the work
        return
    try:
        prefer_gcm(client)
        run.count(connections=1)
        _Worker(run, RawSftp(client, run.server.display, run.job.stall_timeout)).loop()
    except MoverError as exc:
        run.abort.set()
        run.errors.append(exc)
    finally:
        client.close()


def segmented_job(job: Job, progress: Progress, src_server: Optional[ServerConfig] = None,
                  dst_server: Optional[ServerConfig] = None,
                  connections: int = CONNECTIONS) -> Result:
    """Copy ``job`` over ``connections`` SSH connections to its one remote side.

    Return a Result. Raise ProvisioningError unless exactly one side is
    remote, and the first MoverError a connection met (TransferError for
    anything unexpected) if any file is left unfinished.
    """
    if (src_server is None) == (dst_server is None):
        raise ProvisioningError("the segmented engine needs exactly one remote side "
                                "(pull or push); use sftp for a relay, local otherwise")
    run = _Run(job, progress, src_server or dst_server, src_server is not None)
    job.dst.makedirs(job.dst_root)
    threads = [threading.Thread(target=_connection, args=(run,), daemon=True,
                                name=f"segment-{i}")
               for i in range(min(max(1, connections), run.tasks.qsize() or 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    unfinished = [f.rel for f in run.files if len(f.done) < f.count]
    if unfinished or (run.errors and run.abort.is_set()):
        error = next((e for e in run.errors if not isinstance(e, Aborted)), None)
        if isinstance(error, MoverError):
            raise error
        raise TransferError(f"segmented copy failed ({error!r}); "
                            f"{len(unfinished)} file(s) unfinished") from error
    for path in sorted({posixpath.dirname(f.tmp) for f in run.files}, reverse=True):
        job.dst.rmdir(path)
    return run.result
