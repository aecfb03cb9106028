"""A minimal SFTP v3 client on one paramiko channel: the SSH endpoint's data path.

paramiko's SFTPFile costs several times more CPU per byte than speaking the
protocol directly with large reads and many requests in flight; this module
does only what moving data safely needs: open, close, pipelined ranged read
and write, lstat, realpath, remove, mkdir and statvfs. Only the SSH endpoint
(mover.endpoints.ssh, sftp_lane) uses it.
"""

import collections
import socket
import struct
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Set, Tuple

from mover.endpoints.fast_pipe import FastPipe
from mover.errors import MoverError, ProvisioningError, StalledError, TransferError

CHUNK = 255 * 1024              # OpenSSH sftp-server's largest read
MAX_MESSAGE = CHUNK + 64 * 1024  # the longest reply we accept (data plus headers)
DEPTH = 16                      # requests in flight per connection
WINDOW = 8 * 1024 * 1024        # SSH channel window per connection
PACKET = 32 * 1024              # SSH packet size we accept (paramiko is slower above)
# requests
OPEN, CLOSE, READ, WRITE, LSTAT = 3, 4, 5, 6, 7
REMOVE, MKDIR, REALPATH, EXTENDED = 13, 14, 16, 200
# replies
STATUS, HANDLE, DATA, NAME, ATTRS, EXTENDED_REPLY = 101, 102, 103, 104, 105, 201
# open flags
PF_READ, PF_WRITE, PF_CREAT, PF_TRUNC, PF_EXCL = 1, 2, 8, 0x10, 0x20
# status codes
FX_OK, FX_EOF, FX_NO_SUCH_FILE, FX_PERMISSION_DENIED, FX_FAILURE = 0, 1, 2, 3, 4
S_IFMT, S_IFDIR, S_IFREG, S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000
ST_RDONLY = 1


@dataclass(frozen=True)
class Attrs:
    """What an LSTAT reply says about a path: its size and its mode (type bits)."""

    size: int
    mode: int

    @property
    def is_dir(self) -> bool:
        return self.mode & S_IFMT == S_IFDIR

    @property
    def is_link(self) -> bool:
        return self.mode & S_IFMT == S_IFLNK

    @property
    def is_file(self) -> bool:
        return self.mode & S_IFMT == S_IFREG


def string(data: bytes) -> bytes:
    """Return ``data`` as an SFTP string (length, then bytes)."""
    return struct.pack(">I", len(data)) + data


def path_string(path: str) -> bytes:
    """Return ``path`` as an SFTP string (UTF-8, undecodable bytes kept)."""
    return string(path.encode("utf-8", "surrogateescape"))


def parse_attrs(rest) -> Attrs:
    """Return the Attrs of an ATTRS reply body (after the request id)."""
    flags, at = struct.unpack_from(">I", rest)[0], 4
    size = mode = 0
    if flags & 1:
        size, at = struct.unpack_from(">Q", rest, at)[0], at + 8
    if flags & 2:
        at += 8
    if flags & 4:
        mode = struct.unpack_from(">I", rest, at)[0]
    return Attrs(size, mode)


def _nothing() -> None:
    pass


class RawSftp:
    """Plain SFTP v3 on one channel of ``client`` (a paramiko SSHClient).

    Only what moving data needs: open, close, pipelined ranged read and
    write. Every method raises TransferError (StalledError when nothing
    arrives for ``timeout`` seconds) or ProvisioningError.
    """

    def __init__(self, client, where: str, timeout: float):
        self.client, self.where = client, where
        self._ids, self._chunks, self._have = 0, collections.deque(), 0
        self._out: List[bytes] = []
        self.on_heard: Callable[[], None] = _nothing   # each time bytes arrive
        try:
            self.chan = client.get_transport().open_session(window_size=WINDOW,
                                                            max_packet_size=PACKET)
            self.chan.settimeout(timeout)
            self._pipe = FastPipe()
            if hasattr(self.chan, "in_buffer"):     # before any data can arrive
                self.chan.in_buffer = self._pipe
            self.chan.invoke_subsystem("sftp")
            self.chan.sendall(struct.pack(">IBI", 5, 1, 3))
            kind, _ = self._message()
        except MoverError:
            raise
        except Exception as exc:  # paramiko raises many kinds
            raise TransferError(f"cannot start SFTP on {where}: {exc}") from None
        if kind != 2:
            raise TransferError(f"{where} answered SFTP init with message {kind}")

    def send(self, kind: int, *body: bytes, hold: bool = False) -> int:
        """Send request ``kind`` with ``body`` parts (after the id); return its id.

        With ``hold``, keep it to go out with the next request sent without
        ``hold`` (or ``flush()``): one SSH packet for many small requests.
        """
        self._ids = (self._ids + 1) & 0xFFFFFFFF
        self._out.append(struct.pack(">IBI", sum(map(len, body)) + 5, kind, self._ids))
        self._out.extend(body)
        if not hold:
            self.flush()
        return self._ids

    def flush(self) -> None:
        """Send the requests held back by ``send(..., hold=True)``."""
        if not self._out:
            return
        data, self._out = b"".join(self._out), []
        try:
            self.chan.sendall(data)
        except socket.timeout:
            raise StalledError(f"SFTP to {self.where} stalled") from None
        except Exception as exc:
            raise TransferError(f"SFTP to {self.where} failed: {exc}") from None

    def _take(self, count: int) -> memoryview:
        """Return the next ``count`` bytes from the channel (one copy at most)."""
        while self._have < count:
            self._pipe.want = count - self._have
            try:
                data = self.chan.recv(max(count, WINDOW))
            except socket.timeout:
                raise StalledError(f"no data from {self.where} for "
                                   f"{self.chan.gettimeout():.0f} s") from None
            except Exception as exc:
                raise TransferError(f"SFTP from {self.where} failed: {exc}") from None
            if not data:
                raise TransferError(f"{self.where} closed the SFTP connection")
            self.on_heard()
            self._chunks.append(memoryview(data))
            self._have += len(data)
        self._have -= count
        first = self._chunks[0]
        if len(first) >= count:
            self._chunks[0] = first[count:]
            if len(first) == count:
                self._chunks.popleft()
            return first[:count]
        parts, need = [], count
        while need:
            part = self._chunks.popleft()
            if len(part) > need:
                self._chunks.appendleft(part[need:])
                part = part[:need]
            parts.append(part)
            need -= len(part)
        return memoryview(b"".join(parts))

    def _message(self) -> Tuple[int, memoryview]:
        """Return (type, body) of the next message; body starts with the id."""
        length, kind = struct.unpack(">IB", self._take(5))
        if not 5 <= length <= MAX_MESSAGE:
            raise TransferError(f"{self.where} sent an SFTP message of {length} bytes")
        return kind, self._take(length - 1)

    def reply(self) -> Tuple[int, int, memoryview]:
        """Return (id, type, rest) of the next reply."""
        kind, body = self._message()
        return struct.unpack_from(">I", body)[0], kind, body[4:]

    def failure(self, rest, what: str, path: str) -> MoverError:
        """Return the MoverError for a STATUS reply body ``rest`` (after the id).

        No such file and permission denied are ProvisioningError; anything
        else (SFTP v3 says only "Failure" for a full or read-only disk, an
        existing file) is a TransferError the caller may diagnose further.
        """
        code, size = struct.unpack_from(">II", rest)
        text = bytes(rest[8:8 + size]).decode(errors="replace")
        where = f"{self.where}:{path}"
        if code in (FX_NO_SUCH_FILE, FX_PERMISSION_DENIED):
            return ProvisioningError(f"cannot {what} {where}: {text}")
        return TransferError(f"cannot {what} {where}: {text} (SFTP status {code})")

    @staticmethod
    def status_code(kind: int, rest) -> int:
        """Return the status code of a STATUS reply, -1 for any other reply."""
        return struct.unpack_from(">I", rest)[0] if kind == STATUS else -1

    def check_status(self, kind: int, rest: memoryview, what: str, path: str) -> None:
        """Raise the MoverError for a reply that is not a STATUS of success."""
        if kind != STATUS or struct.unpack_from(">I", rest)[0] != FX_OK:
            raise self.failure(rest, what, path)

    def data_of(self, kind: int, rest: memoryview, path: str, offset: int,
                size: int) -> memoryview:
        """Return the bytes of the reply to a READ of ``size`` at ``offset``.

        Raise TransferError for end of file, an empty or oversized reply, and
        the failure of any other status.
        """
        if kind != DATA:
            if kind == STATUS and struct.unpack_from(">I", rest)[0] == FX_EOF:
                raise TransferError(f"{self.where}:{path} is shorter than expected "
                                    f"(ends before byte {offset})")
            raise self.failure(rest, "read", path)
        data = rest[4:4 + struct.unpack_from(">I", rest)[0]]
        if not data or len(data) > size:
            raise TransferError(f"{self.where} sent {len(data)} bytes of {path} at "
                                f"{offset} for {size} asked")
        return data

    @staticmethod
    def handle_of(rest) -> bytes:
        """Return the handle carried by a HANDLE reply body."""
        return bytes(rest[4:4 + struct.unpack_from(">I", rest)[0]])

    @staticmethod
    def name_of(rest) -> str:
        """Return the first name carried by a NAME reply body (REALPATH)."""
        size = struct.unpack_from(">I", rest, 4)[0]
        return bytes(rest[8:8 + size]).decode("utf-8", "surrogateescape")

    def call(self, kind: int, *body: bytes) -> Tuple[int, memoryview]:
        """Send one request and return (type, rest) of its reply.

        Only while no other request is in flight on this channel.
        """
        rid = self.send(kind, *body)
        got, reply, rest = self.reply()
        if got != rid:
            raise TransferError(f"{self.where} answered SFTP request {got}, not {rid}")
        return reply, rest

    def open(self, path: str, flags: int) -> bytes:
        """Open ``path`` with SFTP ``flags``; return the handle."""
        kind, rest = self.call(OPEN, path_string(path) + struct.pack(">II", flags, 0))
        if kind != HANDLE:
            raise self.failure(rest, "open", path)
        return self.handle_of(rest)

    def close(self, handle: bytes, path: str) -> None:
        """Close ``handle``; raise if the server reports an error (e.g. write-back)."""
        kind, rest = self.call(CLOSE, string(handle))
        self.check_status(kind, rest, "close", path)

    def lstat(self, path: str) -> Optional[Attrs]:
        """Return the Attrs of ``path`` itself (a link is not followed), None if absent."""
        kind, rest = self.call(LSTAT, path_string(path))
        if kind == ATTRS:
            return parse_attrs(rest)
        if self.status_code(kind, rest) == FX_NO_SUCH_FILE:
            return None
        raise self.failure(rest, "look at", path)

    def realpath(self, path: str) -> str:
        """Return ``path`` with every symbolic link resolved (the server's realpath)."""
        kind, rest = self.call(REALPATH, path_string(path))
        if kind != NAME:
            raise self.failure(rest, "resolve", path)
        return self.name_of(rest)

    def remove(self, path: str) -> bool:
        """Remove the file (or link) ``path``; return False if it did not exist."""
        kind, rest = self.call(REMOVE, path_string(path))
        if self.status_code(kind, rest) == FX_NO_SUCH_FILE:
            return False
        self.check_status(kind, rest, "remove", path)
        return True

    def statvfs(self, path: str) -> Optional[Dict[str, int]]:
        """Return the filesystem of ``path`` (statvfs@openssh.com: bavail, frsize,
        flag, namemax), or None if the server lacks the extension."""
        kind, rest = self.call(EXTENDED, string(b"statvfs@openssh.com"), path_string(path))
        if kind != EXTENDED_REPLY:
            return None
        fields = struct.unpack_from(">11Q", rest)
        return {"frsize": fields[1], "bavail": fields[4], "flag": fields[9],
                "namemax": fields[10]}

    def read_range(self, handle: bytes, path: str, start: int, end: int):
        """Yield (offset, data) for [start, end) of ``handle``, ``DEPTH`` reads in flight.

        Leave the generator only at its end or with an error (then close the
        channel: replies may still be on the way).
        """
        todo = [(off, min(CHUNK, end - off)) for off in range(start, end, CHUNK)][::-1]
        pending: Dict[int, Tuple[int, int]] = {}
        while todo or pending:
            while todo and len(pending) < DEPTH:
                off, size = todo.pop()
                pending[self.send(READ, string(handle) + struct.pack(">QI", off, size))] = \
                    (off, size)
            rid, kind, rest = self.reply()
            off, size = pending.pop(rid)
            data = self.data_of(kind, rest, path, off, size)
            if len(data) < size:
                todo.append((off + len(data), size - len(data)))
            yield off, data


class PipelinedWrites:
    """WRITE requests on one RawSftp handle with up to ``DEPTH`` in flight.

    ``write`` returns once its request is sent (waiting for the oldest reply
    when DEPTH are out); ``drain`` waits for all. A failed write raises from
    a later ``write`` or from ``drain`` via ``on_failure(error)``.
    """

    def __init__(self, chan: RawSftp, handle: bytes, path: str,
                 on_failure: Callable[[MoverError], MoverError]):
        self.chan, self.handle, self.path = chan, handle, path
        self.on_failure = on_failure
        self.pending: Set[int] = set()

    def write(self, offset: int, data) -> None:
        """Send ``data`` to ``offset`` (split into CHUNK pieces)."""
        view = memoryview(data)
        for at in range(0, len(view), CHUNK):
            while len(self.pending) >= DEPTH:
                self._one()
            piece = view[at:at + CHUNK]
            self.pending.add(self.chan.send(WRITE, string(self.handle),
                                            struct.pack(">QI", offset + at, len(piece)),
                                            piece))

    def drain(self) -> None:
        """Wait for every write sent; raise the first failure."""
        while self.pending:
            self._one()

    def _one(self) -> None:
        rid, kind, rest = self.chan.reply()
        if rid not in self.pending:
            raise TransferError(f"{self.chan.where} answered SFTP request {rid}, "
                                f"which was never sent")
        self.pending.discard(rid)
        if kind != STATUS or struct.unpack_from(">I", rest)[0] != FX_OK:
            raise self.on_failure(self.chan.failure(rest, "write", self.path))
