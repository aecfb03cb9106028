"""A pausable TCP relay on 127.0.0.1, for stalling a transfer on purpose.

``Relay(target_host, target_port)`` listens on 127.0.0.1:``port`` and forwards
every accepted connection to the target, both ways, one thread per direction.
``pause()`` stops forwarding bytes without closing anything: connections stay
open and new ones are still accepted, but nothing moves in either direction,
like a link that went dead without a reset. ``resume()`` lets bytes flow again.
The relay's own socket buffers are kept small so a pause stalls the sender
quickly instead of letting it fill megabytes of kernel buffers first.
``close()`` (or leaving the ``with`` block) closes every socket and joins
every thread.
"""
from __future__ import annotations

import socket
import threading

from .ports import free_port

BUFFER = 32 * 1024


def _small_buffers(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER)


class Relay:
    """A threaded TCP proxy 127.0.0.1:``port`` -> ``target_host``:``target_port``."""

    def __init__(self, target_host: str, target_port: int, host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.host = host
        self.port = free_port()
        self.connections = 0            # accepted so far
        self.bytes_forwarded = 0        # both directions
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None

    def __repr__(self) -> str:
        state = "paused" if self.paused else "flowing"
        return f"Relay({self.host}:{self.port} -> {self.target[0]}:{self.target[1]}, {state})"

    @property
    def paused(self) -> bool:
        return not self._flowing.is_set()

    def start(self) -> "Relay":
        """Listen and start accepting; return self."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _small_buffers(listener)  # inherited by accepted sockets (before the handshake)
        listener.bind((self.host, self.port))
        listener.listen(64)
        self._listener = listener
        self._spawn(self._accept_loop, "relay-accept")
        return self

    def pause(self) -> None:
        """Stop forwarding bytes; connections stay open."""
        self._flowing.clear()

    def resume(self) -> None:
        """Forward bytes again."""
        self._flowing.set()

    def close(self) -> None:
        """Close the listener and every connection; join every thread. Idempotent."""
        self._closed.set()
        self._flowing.set()  # wake forwarders waiting out a pause
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)
        for thread in list(self._threads):
            thread.join(10)

    def __enter__(self) -> "Relay":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _shut(self, sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        with self._lock:
            self._sockets.discard(sock)

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._track(client)
            upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            _small_buffers(upstream)
            self._track(upstream)
            try:
                upstream.connect(self.target)
            except OSError:
                self._shut(client)
                self._shut(upstream)
                continue
            self.connections += 1
            pair_done = threading.Event()
            self._spawn(self._forward, "relay-up", client, upstream, pair_done)
            self._spawn(self._forward, "relay-down", upstream, client, pair_done)

    def _forward(self, src: socket.socket, dst: socket.socket,
                 pair_done: threading.Event) -> None:
        """Copy src -> dst while flowing; on EOF or error close both ends."""
        try:
            while not pair_done.is_set():
                self._flowing.wait()            # a pause holds here: nothing is read
                if self._closed.is_set():
                    break
                data = src.recv(BUFFER)
                if not data:
                    break
                self._flowing.wait()            # paused after reading: hold the bytes
                dst.sendall(data)
                with self._lock:
                    self.bytes_forwarded += len(data)
        except OSError:
            pass
        finally:
            pair_done.set()
            self._shut(src)
            self._shut(dst)
