"""Ranged reads and positional writes over one SFTP channel (an SSH endpoint's lane).

A lane speaks plain SFTP v3 (mover.endpoints.sftp_raw) on a channel of the
endpoint's connection, or of a connection of its own (``own_connection``:
the segmented engine opens several to fill a long link). Reads keep
``DEPTH`` requests in flight; writes are pipelined the same way and
acknowledged by ``flush``/``close``. Many small files go through
``read_files``/``write_files`` (mover.endpoints.sftp_batch) with many files
in flight at once.
"""

import contextlib
import logging
import posixpath
import struct
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from mover.endpoints.base import (Chunk, Lane, PathGone, RangeReader, WriterAt, inside,
                                  link_error, outside_error)
from mover.endpoints.sftp_raw import (FX_NO_SUCH_FILE, HANDLE, NAME, OPEN, PF_CREAT,
                                      PF_EXCL, PF_READ, PF_WRITE, REALPATH,
                                      PipelinedWrites, RawSftp, path_string)
from mover.endpoints.ssh_connect import connect, prefer_gcm
from mover.errors import MoverError, ProvisioningError

log = logging.getLogger("mover.ssh")
NEW = PF_WRITE | PF_CREAT | PF_EXCL


class SftpReader(RangeReader):
    """One remote file open for ranged reads."""

    def __init__(self, lane: "SftpLane", handle: bytes, path: str):
        self.lane, self.handle, self.path = lane, handle, path

    def read(self, start: int, end: int) -> Iterator[Tuple[int, bytes]]:
        return self.lane.chan.read_range(self.handle, self.path, start, end)

    def close(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            with contextlib.suppress(MoverError):   # every byte wanted was read
                self.lane.chan.close(handle, self.path)

    def discard(self) -> None:
        self.handle = None      # it goes with the lane, which is closed after an error


class SftpWriter(WriterAt):
    """One remote file open for pipelined positional writes."""

    def __init__(self, lane: "SftpLane", handle: bytes, path: str, size: int):
        self.lane, self.handle, self.path = lane, handle, path
        self.writes = PipelinedWrites(
            lane.chan, handle, path, lambda e: lane.endpoint.diagnose(e, path, size))

    def write_at(self, offset: int, data) -> None:
        self.writes.write(offset, data)

    def flush(self) -> None:
        self.writes.drain()

    def close(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            self.writes.drain()
            try:
                self.lane.chan.close(handle, self.path)
            except MoverError as exc:
                raise self.lane.endpoint.diagnose(exc, self.path) from None

    def discard(self) -> None:
        self.handle = None      # it goes with the lane, which is closed after an error


class SftpLane(Lane):
    """A RawSftp channel of ``endpoint`` for one thread."""

    def __init__(self, endpoint, timeout: float, own_connection: bool = False):
        self.endpoint, self.client = endpoint, None
        client = endpoint.client
        try:
            if own_connection:
                client = self.client = connect(endpoint.server)
                prefer_gcm(client)
            self.chan = RawSftp(client, endpoint.server.display, timeout)
        except BaseException:
            if self.client is not None:
                self.client.close()
            raise
        self._real: Dict[str, str] = {}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.chan.chan.close()
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.close()

    def abort(self) -> None:
        # Closing the connection, not the channel: a thread blocked in a socket
        # write holds the transport's send lock, which closing a channel waits for.
        with contextlib.suppress(Exception):
            (self.client or self.endpoint.client).close()

    def listen(self, alive) -> None:
        self.chan.on_heard = alive

    def describe(self, path: str) -> str:
        return self.endpoint.describe(path)

    def real_root(self, within: str) -> str:
        """Return the server's realpath of ``within`` (asked once per lane)."""
        if within not in self._real:
            self._real[within] = self.chan.realpath(within)
        return self._real[within]

    def check_parents(self, paths: Sequence[str]) -> List[int]:
        """Check the folders of ``paths`` below the endpoint's root (sftp_guard);
        return the indices of paths whose folder is missing."""
        guard, seen, gone = self.endpoint.guard, {}, []
        for index, path in enumerate(paths):
            folder = posixpath.dirname(path)
            if folder not in seen:
                try:
                    guard.parents(path, self.chan.lstat, self.endpoint._stat)
                    seen[folder] = True
                except PathGone:
                    seen[folder] = False
            if not seen[folder]:
                gone.append(index)
        return gone

    def open_reader(self, path: str, size: int, within: Optional[str] = None) -> RangeReader:
        chan = self.chan
        root = self.real_root(within) if within is not None else None
        real_id = chan.send(REALPATH, path_string(path), hold=True) if root else None
        open_id = chan.send(OPEN, path_string(path) + struct.pack(">II", PF_READ, 0))
        replies = {}
        while len(replies) < (2 if root else 1):
            rid, kind, rest = chan.reply()
            replies[rid] = (kind, bytes(rest))
        kind, rest = replies[open_id]
        if kind != HANDLE:
            raise chan.failure(rest, "read", path)
        handle = chan.handle_of(rest)
        if root:
            kind, rest = replies[real_id]
            resolved = chan.name_of(rest) if kind == NAME else "an unreadable path"
            if not inside(resolved, root):
                chan.close(handle, path)
                raise outside_error(self.describe(path), within, resolved)
        return SftpReader(self, handle, path)

    def open_writer(self, path: str, size: int, fresh: bool) -> WriterAt:
        if self.check_parents([path]):
            raise PathGone(f"folder of {self.describe(path)} does not exist")
        if fresh:
            return SftpWriter(self, self.create(path, size), path, size)
        attrs = self.chan.lstat(path)
        if attrs is None:
            raise ProvisioningError(f"cannot write {self.describe(path)}: no such file")
        if attrs.is_link:
            raise link_error(self.describe(path), "file")
        if not attrs.is_file:
            raise ProvisioningError(f"cannot write {self.describe(path)}: not a regular file")
        return SftpWriter(self, self.chan.open(path, PF_WRITE), path, size)

    def create(self, path: str, size: int) -> bytes:
        """Create ``path`` exclusively (a file or link there is removed first, never
        followed); return its handle. Raise PathGone if its folder is missing."""
        chan = self.chan
        kind, rest = chan.call(OPEN, path_string(path) + struct.pack(">II", NEW, 0))
        if kind == HANDLE:
            return chan.handle_of(rest)
        self.not_created(path, size, kind, rest)
        kind, rest = chan.call(OPEN, path_string(path) + struct.pack(">II", NEW, 0))
        if kind != HANDLE:
            raise self.endpoint.diagnose(chan.failure(rest, "create", path), path, size)
        return chan.handle_of(rest)

    def not_created(self, path: str, size: int, kind: int, rest) -> None:
        """After an exclusive create of ``path`` failed (reply ``kind``, ``rest``):
        raise PathGone for a missing folder; remove what is in the way (a link with
        a warning, never a folder); raise the diagnosed failure otherwise."""
        chan = self.chan
        if chan.status_code(kind, rest) == FX_NO_SUCH_FILE:
            self.endpoint.guard.forget(posixpath.dirname(path))
            raise PathGone(f"folder of {self.describe(path)} does not exist")
        attrs = chan.lstat(path)
        if attrs is None:
            raise self.endpoint.diagnose(chan.failure(rest, "create", path), path, size)
        if attrs.is_dir:
            raise ProvisioningError(f"cannot write {self.describe(path)}: a folder is in "
                                    f"the way")
        if attrs.is_link:
            log.warning("removed a symbolic link found in place of %s (its target is "
                        "untouched)", self.describe(path))
        chan.remove(path)

    def read_files(self, files: Sequence[Tuple[str, int]],
                   within: Optional[str] = None) -> Iterator[Chunk]:
        from mover.endpoints.sftp_batch import BatchReader
        root = self.real_root(within) if within is not None else None
        return BatchReader(self, files, within, root).chunks()

    def write_files(self, files: Sequence[Tuple[str, int]], chunks: Iterable[Chunk],
                    on_closed: Callable[[int], None]) -> List[int]:
        from mover.endpoints.sftp_batch import BatchWriter
        gone = self.check_parents([path for path, _ in files])
        return BatchWriter(self, files, on_closed, gone).run(iter(chunks))
