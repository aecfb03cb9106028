"""One run's connections: both clients and both endpoints, opened on first use."""

import functools
import logging

from mover.config import Config
from mover.endpoints import Endpoint, open_endpoint
from mover.qbit import Qbit

log = logging.getLogger("mover")


class Session:
    """Lazily opened clients and endpoints for ``cfg``; ``close()`` releases them."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._opened = []
        self._auto = None

    def _keep(self, thing):
        self._opened.append(thing)
        return thing

    @functools.cached_property
    def src(self) -> Qbit:
        return self._keep(Qbit(self.cfg.source_client))

    @functools.cached_property
    def dst(self) -> Qbit:
        return self._keep(Qbit(self.cfg.destination_client))

    @functools.cached_property
    def src_ep(self) -> Endpoint:
        return self._keep(open_endpoint(self.cfg.source_server, "source"))

    @functools.cached_property
    def dst_ep(self) -> Endpoint:
        return self._keep(open_endpoint(self.cfg.destination_server, "destination"))

    @functools.cached_property
    def cache_ep(self) -> Endpoint:
        return self._keep(open_endpoint(None, "cache"))

    def auto_mode(self) -> str:
        """Return the engine ``transfer_mode = auto`` picks for this run; log why.

        Decided once per Session. Push and pull time the remote side's round
        trip and, on a short link, check that rsync runs on both ends. Raise
        what connecting raises.
        """
        if self._auto is None:
            from mover.transfer import SHORT_LINK, auto_mode, rsync_usable
            cfg = self.cfg
            rtt, rsync_ok, remote = None, False, None
            if cfg.topology in ("push", "pull") and cfg.settings.verify != "stream":
                remote, server = (self.src_ep, cfg.source_server) if cfg.topology == "pull" \
                    else (self.dst_ep, cfg.destination_server)
                rtt = remote.round_trip()
                rsync_ok = rtt < SHORT_LINK and rsync_usable(server)
            self._auto = auto_mode(cfg.topology, cfg.settings.verify, rtt, rsync_ok)
            why = f"round trip {rtt * 1000:.1f} ms to the {remote.label} server" \
                if rtt is not None else f"{cfg.topology} move, verify = {cfg.settings.verify}"
            log.info("transfer_mode = auto: using %s (%s)", self._auto, why)
        return self._auto

    def reset_endpoints(self) -> None:
        """Drop the endpoints so the next use reconnects (after a network failure)."""
        for name in ("src_ep", "dst_ep"):
            endpoint = self.__dict__.pop(name, None)
            if endpoint is not None:
                endpoint.close()
                self._opened.remove(endpoint)

    def close(self) -> None:
        for thing in reversed(self._opened):
            try:
                thing.close()
            except Exception:  # closing must never hide the real outcome
                log.debug("closing %r failed", thing, exc_info=True)
        self._opened.clear()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
