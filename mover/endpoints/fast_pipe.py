"""A paramiko channel buffer for bulk SFTP: fewer copies and fewer wake-ups
(mover.endpoints.sftp_raw installs it on each channel it opens)."""

import time

from paramiko.buffered_pipe import BufferedPipe, PipeTimeout


class FastPipe(BufferedPipe):
    """A paramiko BufferedPipe that keeps its bytes in a bytearray and wakes its
    reader only once ``want`` bytes are in.

    paramiko's pipe appends to an ``array`` and copies twice per read (a third
    of the engine's CPU); here a feed is one append and a read of everything
    buffered hands over the bytearray itself. paramiko also wakes the reader
    for every 32 KiB SSH packet; RawSftp sets ``want`` to the bytes its next
    message still needs, so a 255 KiB reply costs one wake-up, not eight.
    ``want`` stays far below the channel window, so the sender can fill it.
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
