"""Small files over one SFTP connection, several in flight at once.

Copied one by one, a small file costs a connection three waits (open, read,
close) and a thread wake-up for each: on 2,000 files of 256 KiB that, not
the bytes, was the limit. Here one connection keeps up to ``FILES`` files
open and ``DEPTH`` data requests in flight across them, and handles replies
in whatever order they come. Each file still lands under its partial name
and is renamed only once all its bytes are written and its handle closed.
"""

import collections
import functools
import os
import posixpath
import struct
from typing import Callable, Deque, Dict, List, Tuple

from mover.endpoints.local import os_error
from mover.errors import NoSpaceError, TransferError
from mover.transfer.rawsftp import (_CLOSE, _DATA, _FX_EOF, _HANDLE, _OPEN, _PF_CREAT,
                                    _PF_READ, _PF_WRITE, _READ, _STATUS, _WRITE, CHUNK,
                                    DEPTH, Aborted, RawSftp, _string)

FILES = 16                      # files open at once per connection
SMALL = 4 * CHUNK               # a file up to this size goes into a batch
_PF_TRUNC = 0x10


class _Open:
    """One file of the batch: its item, local fd, remote handle, bytes left."""

    def __init__(self, item, fd: int):
        self.item, self.fd, self.handle, self.left = item, fd, b"", item.size


class Batch:
    """Copy a list of whole small files (segmented ``_File`` items) over ``chan``.

    ``run`` is the segmented engine's _Run: it holds the job, the progress,
    the abort flag and ``finish_range``. Call ``copy()``; it raises what the
    one-file path raises (TransferError, StalledError, ProvisioningError,
    NoSpaceError, Aborted), with every local file it opened closed.
    """

    def __init__(self, run, chan: RawSftp, items: List):
        self.run, self.chan, self.pull = run, chan, run.pull
        self.todo: Deque = collections.deque(items)
        self.pending: Dict[int, Callable[[int, memoryview], None]] = {}
        self.chunks: Deque[Tuple[_Open, int, int]] = collections.deque()
        self.open: List[_Open] = []
        self.in_flight = 0

    def copy(self) -> None:
        """Move every item; return when all are renamed into place."""
        try:
            self._fill()
            while self.pending:
                rid, kind, rest = self.chan.reply()
                handler = self.pending.pop(rid, None)
                if handler is None:
                    raise TransferError(f"{self.chan.where} answered SFTP request {rid}, "
                                        f"which was never sent")
                handler(kind, rest)
                self._fill()
        finally:
            for state in self.open:
                os.close(state.fd)

    def _fill(self) -> None:
        """Open files and send data requests up to FILES and DEPTH."""
        if self.run.abort.is_set():
            raise Aborted("stopped: another connection failed")
        while self.todo and len(self.open) < FILES:
            self._open(self.todo.popleft())
        while self.chunks and self.in_flight < DEPTH:
            state, offset, size = self.chunks.popleft()
            self.in_flight += 1
            if self.pull:
                rid = self.chan.send(_READ, _string(state.handle),
                                     struct.pack(">QI", offset, size), hold=True)
            else:
                data = self._source(state, offset, size)
                rid = self.chan.send(_WRITE, _string(state.handle),
                                     struct.pack(">QI", offset, size), data)
            self.pending[rid] = functools.partial(self._on_data, state, offset, size)
        self.chan.flush()

    def _open(self, item) -> None:
        """Open ``item`` locally and send the remote OPEN."""
        local = item.tmp if self.pull else item.src
        try:
            fd = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) \
                if self.pull else os.open(local, os.O_RDONLY)
        except OSError as exc:
            raise os_error(exc, "write" if self.pull else "read", local) from None
        state = _Open(item, fd)
        self.open.append(state)
        path, flags = (item.src, _PF_READ) if self.pull else \
            (item.tmp, _PF_WRITE | _PF_CREAT | _PF_TRUNC)
        rid = self.chan.send(_OPEN, _string(path.encode("utf-8", "surrogateescape"))
                             + struct.pack(">II", flags, 0), hold=True)
        self.pending[rid] = functools.partial(self._on_open, state, path)

    def _on_open(self, state: _Open, path: str, kind: int, rest: memoryview) -> None:
        """Keep the handle the server sent and queue the file's data requests."""
        if kind != _HANDLE:
            raise self.chan.failure(rest, "open", path)
        state.handle = bytes(rest[4:4 + struct.unpack_from(">I", rest)[0]])
        self.chunks.extend((state, offset, min(CHUNK, state.item.size - offset))
                           for offset in range(0, state.item.size, CHUNK))
        if not state.item.size:
            self._close(state)

    def _on_data(self, state: _Open, offset: int, size: int, kind: int,
                 rest: memoryview) -> None:
        """Handle the reply to a READ (pull) or WRITE (push) of [offset, offset+size)."""
        self.in_flight -= 1
        if self.pull:
            if kind != _DATA:
                if kind == _STATUS and struct.unpack_from(">I", rest)[0] == _FX_EOF:
                    raise TransferError(f"{self.chan.where}:{state.item.src} is shorter "
                                        f"than expected (ends before byte {offset})")
                raise self.chan.failure(rest, "read", state.item.src)
            data = rest[4:4 + struct.unpack_from(">I", rest)[0]]
            if not data or len(data) > size:
                raise TransferError(f"{self.chan.where} sent {len(data)} bytes of "
                                    f"{state.item.src} at {offset} for {size} asked")
            if len(data) < size:
                self.chunks.appendleft((state, offset + len(data), size - len(data)))
            self._sink(state, offset, data)
            size = len(data)
        elif kind != _STATUS or struct.unpack_from(">I", rest)[0] != 0:
            raise self._write_failure(state, rest)
        state.left -= size
        if state.left == 0:
            self._close(state)

    def _close(self, state: _Open) -> None:
        """Queue the remote CLOSE of a file whose bytes are all moved."""
        rid = self.chan.send(_CLOSE, _string(state.handle), hold=True)
        self.pending[rid] = functools.partial(self._on_close, state)

    def _on_close(self, state: _Open, kind: int, rest: memoryview) -> None:
        """The remote handle is closed: close the local file, rename into place."""
        path = state.item.src if self.pull else state.item.tmp
        if kind != _STATUS or struct.unpack_from(">I", rest)[0] != 0:
            raise self.chan.failure(rest, "close", path)
        self.open.remove(state)
        os.close(state.fd)
        self.run.count(bytes_moved=state.item.size, ranges_moved=1)
        self.run.finish_range(state.item, 0)

    def _sink(self, state: _Open, offset: int, data: memoryview) -> None:
        """Write pulled ``data`` at ``offset`` of the local partial file."""
        try:
            os.pwrite(state.fd, data, offset)
        except OSError as exc:
            raise os_error(exc, "write", state.item.tmp) from None
        self._account(state, offset, data)

    def _source(self, state: _Open, offset: int, size: int) -> bytes:
        """Return ``size`` bytes at ``offset`` of the local file being pushed."""
        data = os.pread(state.fd, size, offset)
        if len(data) != size:
            raise TransferError(f"{state.item.src} is shorter than expected "
                                f"(ends before byte {offset + len(data)})")
        self._account(state, offset, data)
        return data

    def _account(self, state: _Open, offset: int, data) -> None:
        """Feed the piece verifier and the progress (which holds the bandwidth limit)."""
        if self.run.job.verifier is not None:
            self.run.job.verifier.feed(state.item.rel, offset, data)
        self.run.progress.add(len(data))

    def _write_failure(self, state: _Open, rest: memoryview) -> Exception:
        """Return NoSpaceError if the destination is full, else the SFTP failure."""
        error = self.chan.failure(rest, "write", state.item.tmp)
        free = self.run.job.dst.free_space(posixpath.dirname(state.item.tmp))
        if free < state.item.size:
            return NoSpaceError(f"no space left on {self.chan.where} for "
                                f"{state.item.tmp}: {error}")
        return error
