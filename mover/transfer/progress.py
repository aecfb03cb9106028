"""Byte counting shared by engines: heartbeat, watchdog, bandwidth limit, events."""

import threading
import time
from typing import Callable, Optional

from mover import events
from mover.errors import StalledError

HOLD_SLICE = 1.0        # s: the bandwidth limit's longest sleep without a sign of life


class Progress:
    """Counts bytes moved; calls ``on_beat(bytes_done)`` at most every ``interval`` s.

    ``last_life`` is the monotonic time of the last sign of life, which the
    watchdog reads. ``limit_bps`` (0 = none) throttles ``add`` callers. With
    a ``torrent_hash``, "bytes" events (mover.events) report ``bytes_done`` of
    ``total`` at most every ``event_interval`` seconds.
    """

    def __init__(self, on_beat: Optional[Callable[[int], None]] = None,
                 interval: float = 5.0, limit_bps: float = 0.0,
                 torrent_hash: str = "", total: int = 0, event_interval: float = 0.25):
        self.bytes_done = 0
        self._skipped = 0       # of bytes_done: already in place, never throttled
        self.on_beat, self.interval, self.limit_bps = on_beat, interval, limit_bps
        self.torrent_hash, self.total, self.event_interval = torrent_hash, total, event_interval
        self._last_event = 0.0
        self.last_life = time.monotonic()
        self._last_beat = 0.0
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def alive(self) -> None:
        """Record a sign of life that moved no bytes (e.g. rsync checksumming)."""
        self.last_life = time.monotonic()

    def add(self, count: int) -> None:
        """Record ``count`` more bytes; sleep if over the bandwidth limit."""
        with self._lock:
            self.bytes_done += count
            done, sent = self.bytes_done, self.bytes_done - self._skipped
        self.alive()
        self._maybe_beat(done)
        if self.limit_bps:
            self._hold(sent / self.limit_bps - (time.monotonic() - self._started))

    def _hold(self, ahead: float) -> None:
        """Sleep ``ahead`` seconds for the bandwidth limit, in slices of at most a
        second, each a sign of life: a wait of our own making is no stall."""
        ends = time.monotonic() + ahead
        while (left := ends - time.monotonic()) > 0:
            self.alive()
            time.sleep(min(left, HOLD_SLICE))

    def skip(self, count: int) -> None:
        """Record ``count`` bytes that were already in place (no bandwidth wait)."""
        with self._lock:
            self.bytes_done += count
            self._skipped += count
            done = self.bytes_done
        self.alive()
        self._maybe_beat(done)

    def set_extra(self, key, value: int, totals: dict) -> None:
        """Record an absolute byte count reported by one of several processes."""
        with self._lock:
            totals[key] = value
            self.bytes_done = sum(totals.values())
            done = self.bytes_done
        self.alive()
        self._maybe_beat(done)

    def _maybe_beat(self, done: int) -> None:
        now = time.monotonic()
        if self.on_beat and now - self._last_beat >= self.interval:
            self._last_beat = now
            self.on_beat(done)
        if self.torrent_hash and now - self._last_event >= self.event_interval:
            self._last_event = now
            events.emit(events.Event("bytes", self.torrent_hash, done=done, total=self.total))

    def stalled(self, timeout: float) -> bool:
        """True when no sign of life came for more than ``timeout`` seconds."""
        return self.stalled_for() > timeout

    def stalled_for(self) -> float:
        """Return the seconds since the last sign of life."""
        return time.monotonic() - self.last_life


def stall_error(timeout: float) -> StalledError:
    """Return the error an engine raises once its watchdog closed a copy that
    moved no byte for ``timeout`` seconds (watchdog_timeout)."""
    return StalledError(f"no byte moved for {timeout:.0f} s (watchdog_timeout); "
                        f"connections closed")
