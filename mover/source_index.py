"""Every source torrent's paths for the cross-seed check, without a full list per move.

Removing a source asks which other torrents may share its files, so it needs
every source torrent (mover.cleanup). On a box with 5,000 torrents one
``torrents/info`` list is 5.7 MB; qBittorrent 4.5 takes 0.4-0.9 s to build it
and qbittorrent-api another 0.3 s to wrap it.

A ``SourceIndex`` (one per process, so a sweep's moves share it) asks once
for everything (``sync/maindata`` from rid 0, on a login of its own, in the
background from the moment it is made) and at each later removal only for
what changed since (the torrents added, changed
or removed meanwhile: a few hundred bytes). Every answer is as fresh as a
new full list: the server compares with what it sent this login last, and
sends everything again when it cannot. qBittorrent still walks every
torrent to find the changes (about 0.3 s at 5,000 on 4.5): that is the
price of a fresh answer, paid once per removal, never per torrent.
A client without ``sync`` (the unit tests' fake) lists everything each time.
"""

import atexit
import logging
import threading
import weakref
from typing import Dict, List, Optional

from mover.errors import ClientError, MoverError
from mover.qbit import SyncUpdate, Torrent, torrent_from

log = logging.getLogger("mover.cleanup")
_INDEXES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class SourceIndex:
    """The source client's torrents, kept current through ``sync/maindata`` on a
    login of its own (one per process, shared by a sweep's parallel moves)."""

    def __init__(self, factory, client_cfg):
        self._factory, self._cfg = factory, client_cfg
        self._client = None
        self._state: Dict[str, dict] = {}
        self._made: Dict[str, Torrent] = {}
        self._rid = 0
        self._lock = threading.Lock()
        self._handoff = threading.Lock()      # a login made vs close() at exit
        self._closed = False
        self.last_full: Optional[bool] = None     # was the last answer everything?
        self._login = threading.Thread(target=self._log_in, name="source-index", daemon=True)
        self._login.start()

    def _log_in(self) -> None:
        """Log in and fetch the whole list in the background (a move's first steps
        hide its cost). Later answers are only what changed since."""
        try:
            with self._lock:
                if not self._keep(self._factory.client(self._cfg)):
                    return
                if hasattr(self._client, "sync"):
                    self._update()
        except Exception:  # noqa: BLE001 - torrents() asks again and reports it
            log.debug("background listing of the source client failed", exc_info=True)

    def _keep(self, client) -> bool:
        """Keep ``client`` as the index's login and return True; once closed (the
        process is ending), log it out instead and return False."""
        with self._handoff:
            if not self._closed:
                self._client = client
                return True
        self._logout(client)
        return False

    def close(self) -> None:
        """Log the index's own login out (at exit; never raises). A login still
        under way is logged out as soon as it is made."""
        with self._handoff:
            self._closed = True
            client, self._client = self._client, None
        self._logout(client)

    @staticmethod
    def _logout(client) -> None:
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing must never hide the outcome
                log.debug("closing the source index's login failed", exc_info=True)

    def torrents(self, fallback, fresh: bool = True) -> List[Torrent]:
        """Return every source torrent as the client has them now (the first call
        fetches everything, later ones what changed since).

        ``fresh`` False accepts the list as of the last answer when there is one
        (no request at all): for group discovery, which only chooses who moves
        along; every removal asks fresh. ``fallback`` (the session's Qbit)
        lists them the plain way when the client cannot sync (the unit tests'
        fake). Raise ClientError as the client does.
        """
        self._login.join()
        with self._lock:
            if not fresh and self._rid and self._client is not None:
                return list(self._made.values())
            if self._client is None:
                self._rid = 0
                if not self._keep(self._factory.client(self._cfg)):
                    return fallback.torrents()      # closed: the process is ending
            if not hasattr(self._client, "sync"):
                return fallback.torrents()
            try:
                self._update()
            except MoverError as exc:     # e.g. the login expired in a long sweep
                if not self._rid:
                    raise
                log.debug("source torrent list update failed (%s); listing all", exc)
                self._client = None
                return fallback.torrents()
            return list(self._made.values())

    def _update(self) -> None:
        """Ask what changed since the last answer (everything, the first time) and
        apply it. Call with the lock held. Raise ClientError as the client does.

        An answer that cannot be applied whole leaves nothing behind (rid 0,
        no list): a later call asks for everything again, never only for
        what changed since an answer half applied."""
        update = self._client.sync(self._rid)
        try:
            apply(self._state, update)
            if update.full:
                self._made.clear()
            for torrent_hash in update.removed:
                self._made.pop(torrent_hash, None)
            for torrent_hash in update.torrents:       # rebuilt only where changed
                self._made[torrent_hash] = torrent_from(torrent_hash,
                                                        self._state[torrent_hash])
        except BaseException as exc:
            self._rid, self.last_full = 0, None
            self._state.clear()
            self._made.clear()
            if isinstance(exc, Exception) and not isinstance(exc, MoverError):
                raise ClientError(f"the source client's torrent list could not be read "
                                  f"({type(exc).__name__}: {exc})") from None
            raise
        self._rid, self.last_full = update.rid, update.full


def apply(state: Dict[str, dict], update: SyncUpdate) -> None:
    """Bring ``state`` (hash -> fields) up to date with one ``sync/maindata`` answer."""
    if update.full:
        state.clear()
    for torrent_hash, fields in update.torrents.items():
        state.setdefault(torrent_hash, {}).update(fields)
    for torrent_hash in update.removed:
        state.pop(torrent_hash, None)


def start(session) -> None:
    """Make the index of ``session``'s process now, so its login and its first
    whole list happen in the background while the move runs; nothing when
    the source is kept (``delete_after_transfer`` off: no cross-seed check)."""
    if session.cfg.settings.delete_after_transfer:
        index_for(session)


def index_for(session) -> Optional[SourceIndex]:
    """Return the SourceIndex of ``session``'s Factory (made on first use), or None
    when the session has no factory."""
    factory = getattr(session, "factory", None)
    if factory is None:
        return None
    with _LOCK:
        index = _INDEXES.get(factory)
        if index is None:
            index = _INDEXES[factory] = SourceIndex(factory, session.cfg.source_client)
            atexit.register(index.close)
        return index


def source_torrents(session, fresh: bool = True) -> List[Torrent]:
    """Return every torrent of the session's source client: fresh, or with
    ``fresh`` False as of this process's last list when it has one (a sweep's
    later moves then discover their groups without asking; what to delete is
    always decided on a fresh list)."""
    index = index_for(session)
    if index is None:
        return session.src.torrents()
    return index.torrents(session.src, fresh=fresh)
