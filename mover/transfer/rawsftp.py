"""A minimal SFTP v3 client on one paramiko channel, for the segmented engine.

paramiko's SFTPFile costs several times more CPU per byte than speaking the
protocol directly with large reads and many requests in flight; this module
does only what moving data needs: open, close, pipelined ranged read and write.
"""

import collections
import struct
import socket
import time
from typing import Callable, Dict, List, Set, Tuple

from paramiko.buffered_pipe import BufferedPipe, PipeTimeout

from mover.errors import MoverError, ProvisioningError, StalledError, TransferError

CHUNK = 255 * 1024              # OpenSSH sftp-server's largest read
MAX_MESSAGE = CHUNK + 64 * 1024  # the longest reply we accept (data plus headers)
DEPTH = 16                      # requests in flight per connection
WINDOW = 8 * 1024 * 1024        # SSH channel window per connection
PACKET = 32 * 1024              # SSH packet size we accept (paramiko is slower above)
_OPEN, _CLOSE, _READ, _WRITE = 3, 4, 5, 6
_STATUS, _HANDLE, _DATA = 101, 102, 103
_PF_READ, _PF_WRITE, _PF_CREAT = 1, 2, 8
_FX_EOF, _FX_NO_SUCH_FILE, _FX_PERMISSION_DENIED = 1, 2, 3


class Aborted(TransferError):
    """Another connection of the run failed; this one stops too (never shown)."""


class FastPipe(BufferedPipe):
    """A paramiko BufferedPipe that keeps its bytes in a bytearray and wakes its
    reader only once ``want`` bytes are in.

    paramiko's pipe appends to an ``array`` and copies twice per read
    (a slice, then ``tobytes``); that was a third of the engine's CPU. Here
    a feed is one append and a read of everything buffered hands over the
    bytearray itself (deleting from a bytearray's front is O(1)). paramiko
    also wakes the reader for every SSH packet (32 KiB); RawSftp sets
    ``want`` to the bytes its next message still needs, so a 255 KiB reply
    costs one wake-up, not eight. ``want`` stays far below the channel
    window, so the sender can always fill it.
    """

    def __init__(self):
        super().__init__()
        self._buffer = bytearray()
        self.want = 1

    def _buffer_frombytes(self, data):
        self._buffer += data

    def _buffer_tobytes(self, limit=None):
        """Return up to ``limit`` bytes; all of them hands over the bytearray itself."""
        if limit is None or limit >= len(self._buffer):
            out, self._buffer = self._buffer, bytearray()
            return out
        with memoryview(self._buffer) as view:
            return bytes(view[:limit])

    def feed(self, data):
        """Append ``data`` (paramiko's transport thread); wake the reader if it has enough."""
        with self._lock:
            if self._event is not None:
                self._event.set()
            self._buffer += data
            if len(self._buffer) >= self.want:
                self._cv.notify_all()

    def read(self, nbytes, timeout=None):
        """Return up to ``nbytes`` once ``want`` are in (or the pipe closed, or the
        time is up with some in); raise PipeTimeout if the time is up with none."""
        with self._lock:
            deadline = None if timeout is None else time.monotonic() + timeout
            while len(self._buffer) < min(self.want, nbytes) and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    if self._buffer:
                        break
                    raise PipeTimeout()
                self._cv.wait(left)
            out = self._buffer_tobytes(nbytes)
            if out is not self._buffer:
                del self._buffer[:len(out)]
            if not self._buffer and self._event is not None and not self._closed:
                self._event.clear()
            return out


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def prefer_gcm(client) -> None:
    """Re-key ``client``'s transport to AES-GCM if it negotiated something else.

    paramiko lists AES-CTR + HMAC first; GCM needs no HMAC and takes about a
    third less CPU per byte, which on a loopback or LAN link is the limit.
    A server without GCM keeps what it had. Raise TransferError on failure.
    """
    transport = client.get_transport()
    if "gcm" in (transport.remote_cipher or ""):
        return
    options = transport.get_security_options()
    gcm = tuple(c for c in options.ciphers if "gcm" in c)
    if not gcm:
        return
    options.ciphers = gcm + tuple(c for c in options.ciphers if c not in gcm)
    try:
        transport.renegotiate_keys()
    except Exception as exc:  # paramiko raises SSHException or EOFError
        raise TransferError(f"re-keying the SSH connection failed: {exc}") from None


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

    def failure(self, rest: bytes, what: str, path: str) -> MoverError:
        """Return the MoverError for a STATUS reply body ``rest``."""
        code, size = struct.unpack_from(">II", rest)
        text = bytes(rest[8:8 + size]).decode(errors="replace")
        where = f"{self.where}:{path}"
        if code in (_FX_NO_SUCH_FILE, _FX_PERMISSION_DENIED):
            return ProvisioningError(f"cannot {what} {where}: {text}")
        return TransferError(f"cannot {what} {where}: {text} (SFTP status {code})")

    def check_status(self, kind: int, rest: memoryview, what: str, path: str) -> None:
        """Raise the MoverError for a reply that is not a STATUS of success."""
        if kind != _STATUS or struct.unpack_from(">I", rest)[0] != 0:
            raise self.failure(rest, what, path)

    def data_of(self, kind: int, rest: memoryview, path: str, offset: int,
                size: int) -> memoryview:
        """Return the bytes of the reply to a READ of ``size`` at ``offset``.

        Raise TransferError for end of file, an empty or oversized reply, and
        the failure of any other status.
        """
        if kind != _DATA:
            if kind == _STATUS and struct.unpack_from(">I", rest)[0] == _FX_EOF:
                raise TransferError(f"{self.where}:{path} is shorter than expected "
                                    f"(ends before byte {offset})")
            raise self.failure(rest, "read", path)
        data = rest[4:4 + struct.unpack_from(">I", rest)[0]]
        if not data or len(data) > size:
            raise TransferError(f"{self.where} sent {len(data)} bytes of {path} at "
                                f"{offset} for {size} asked")
        return data

    def open(self, path: str, flags: int) -> bytes:
        """Open ``path`` with SFTP ``flags``; return the handle."""
        rid = self.send(_OPEN, _string(path.encode("utf-8", "surrogateescape"))
                         + struct.pack(">II", flags, 0))
        got, kind, rest = self.reply()
        if got != rid or kind != _HANDLE:
            raise self.failure(rest, "open", path)
        return bytes(rest[4:4 + struct.unpack_from(">I", rest)[0]])

    def close(self, handle: bytes, path: str) -> None:
        """Close ``handle``; raise if the server reports an error (e.g. write-back)."""
        rid = self.send(_CLOSE, _string(handle))
        got, kind, rest = self.reply()
        self.check_status(kind if got == rid else -1, rest, "close", path)

    def read_range(self, handle: bytes, path: str, start: int, end: int,
                   sink: Callable[[int, bytes], None]) -> None:
        """Read [start, end) of ``handle``, calling ``sink(offset, data)`` per reply."""
        todo = [(off, min(CHUNK, end - off)) for off in range(start, end, CHUNK)][::-1]
        pending: Dict[int, Tuple[int, int]] = {}
        while todo or pending:
            while todo and len(pending) < DEPTH:
                off, size = todo.pop()
                pending[self.send(_READ, _string(handle) + struct.pack(">QI", off, size))] = \
                    (off, size)
            rid, kind, rest = self.reply()
            off, size = pending.pop(rid)
            data = self.data_of(kind, rest, path, off, size)
            if len(data) < size:
                todo.append((off + len(data), size - len(data)))
            sink(off, data)

    def write_range(self, handle: bytes, path: str, start: int, end: int,
                    source: Callable[[int, int], bytes]) -> None:
        """Write [start, end) of ``handle`` with data from ``source(offset, size)``."""
        offsets = list(range(start, end, CHUNK))[::-1]
        pending: Set[int] = set()
        while offsets or pending:
            while offsets and len(pending) < DEPTH:
                off = offsets.pop()
                data = source(off, min(CHUNK, end - off))
                pending.add(self.send(_WRITE, _string(handle),
                                       struct.pack(">QI", off, len(data)), data))
            rid, kind, rest = self.reply()
            pending.discard(rid)
            self.check_status(kind, rest, "write", path)
