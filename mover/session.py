"""One run's connections: both clients and both endpoints, opened on first use."""

import functools
import logging
import shutil

from mover.config import Config
from mover.endpoints import Endpoint, open_endpoint
from mover.qbit import Qbit

log = logging.getLogger("mover")


class Session:
    """Lazily opened clients and endpoints for ``cfg``; ``close()`` releases them."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._opened = []

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

    @functools.cached_property
    def auto_mode(self) -> str:
        """Return the engine ``transfer_mode = auto`` picks for this run; log why.

        Push and pull time the remote side's round trip (and, on a short
        link, check that rsync runs on both ends). Raise what connecting raises.
        """
        from mover.transfer import SHORT_LINK, auto_mode
        cfg = self.cfg
        rtt, rsync_ok, remote = None, False, None
        if cfg.topology in ("push", "pull") and cfg.settings.verify != "stream":
            remote, server = (self.src_ep, cfg.source_server) if cfg.topology == "pull" \
                else (self.dst_ep, cfg.destination_server)
            rtt = remote.round_trip()
            rsync_ok = rtt < SHORT_LINK and self._rsync_runs(remote, server)
        mode = auto_mode(cfg.topology, cfg.settings.verify, rtt, rsync_ok)
        why = f"round trip {rtt * 1000:.1f} ms to the {remote.label} server" \
            if rtt is not None else f"{cfg.topology} move, verify = {cfg.settings.verify}"
        log.info("transfer_mode = auto: using %s (%s)", mode, why)
        return mode

    @staticmethod
    def _rsync_runs(remote: Endpoint, server) -> bool:
        """True if rsync (and sshpass, for a password) is here and rsync on ``remote``."""
        from mover.errors import TransferError
        if not shutil.which("rsync") or (server.password and not shutil.which("sshpass")):
            return False
        try:
            remote.run(["rsync", "--version"])
        except TransferError as exc:
            log.info("no usable rsync on the %s server (%s)", remote.label, exc)
            return False
        return True

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
