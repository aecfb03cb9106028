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
import struct
from typing import Callable, Deque, Dict, List, Tuple

from mover.endpoints.local import os_error
from mover.errors import TransferError
from mover.transfer.rawsftp import (_CLOSE, _HANDLE, _OPEN, _PF_CREAT, _PF_READ,
                                    _PF_WRITE, _READ, _WRITE, CHUNK, DEPTH, Aborted,
                                    RawSftp, _string)

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
                data = self.run.read_at(state.item, state.fd, offset, size)
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
        item = state.item
        if self.pull:
            data = self.chan.data_of(kind, rest, item.src, offset, size)
            if len(data) < size:
                self.chunks.appendleft((state, offset + len(data), size - len(data)))
            self.run.write_at(item, state.fd, offset, data)
            size = len(data)
        else:
            try:
                self.chan.check_status(kind, rest, "write", item.tmp)
            except TransferError as exc:
                raise self.run.no_space(exc, self.chan.where, item.tmp, item.size) from None
        state.left -= size
        if state.left == 0:
            self._close(state)

    def _close(self, state: _Open) -> None:
        """Queue the remote CLOSE of a file whose bytes are all moved."""
        rid = self.chan.send(_CLOSE, _string(state.handle), hold=True)
        self.pending[rid] = functools.partial(self._on_close, state)

    def _on_close(self, state: _Open, kind: int, rest: memoryview) -> None:
        """The remote handle is closed: close the local file, rename into place."""
        self.chan.check_status(kind, rest, "close",
                               state.item.src if self.pull else state.item.tmp)
        self.open.remove(state)
        os.close(state.fd)
        self.run.count(bytes_moved=state.item.size, ranges_moved=1)
        self.run.finish_range(state.item, 0)
