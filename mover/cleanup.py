"""Remove a moved torrent from the source, keeping files other torrents use.

Cross-seeds share data: another source torrent may name the same file by
the same path, reach it through a symlink (one per file, or a linked folder
or save path), or through a bind mount or hard link (same device and
inode). Any of these makes the file shared: the torrent is then removed
without its files and only the unshared files are deleted by us.

The cost does not grow with one API call per source torrent: one list of
every torrent (mover.source_index: fetched once per process in the
background while the move runs, brought up to date at the removal), then
the file lists of the few torrents that can
share a file with ours, found by
- content paths that overlap ours as strings;
- content paths that resolve to one of our files or one of their folders;
- symlinks below other torrents' content folders that resolve to those
  (one filesystem scan, one command on an SSH server);
- other names (hard links) of our files below those folders, looked for
  only when one of our files has more than one link (one more command);
- mount points below those folders that are ours (a bind mount).
Their files are then compared with ours by resolved path and device+inode.
"""

import dataclasses
import logging
import posixpath
from typing import Dict, Iterable, List, Optional, Sequence, Set

from mover import plan as plans
from mover import source_index
from mover.endpoints import Endpoint
from mover.endpoints import identity
from mover.qbit import Torrent, TorrentGoneError

log = logging.getLogger("mover.cleanup")


def _norm(path: str) -> str:
    return posixpath.normpath(path)


def _nested(a: str, b: str) -> bool:
    """True if path ``a`` is ``b``, inside it, or holds it."""
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def _ancestors(paths: Iterable[str]) -> Set[str]:
    found = set()
    for path in paths:
        parent = posixpath.dirname(path)
        while parent not in found:
            found.add(parent)
            if parent == "/":
                break
            parent = posixpath.dirname(parent)
    return found


class _Ours:
    """Our files and the folders above them, as their host resolves them."""

    def __init__(self, files: Sequence[str], ids: Dict[str, identity.Identity]):
        self.files = {p: ids[p] for p in files}
        self.file_reals = {i.real for i in self.files.values()}
        self.file_keys = {i.key for i in self.files.values() if i.key}
        dirs = [ids[d] for d in _ancestors(files)]
        self.reals = self.file_reals | {i.real for i in dirs}
        self.keys = self.file_keys | {i.key for i in dirs if i.key}

    def reaches(self, ident: identity.Identity) -> bool:
        """True if ``ident`` resolves to one of our files or a folder above one."""
        return ident.real in self.reals or (ident.key is not None and ident.key in self.keys)


def _candidates(endpoint: Endpoint, top: str, ours: _Ours, others: List[Torrent],
                ids: Dict[str, identity.Identity], mapping: "_Mapping") -> List[Torrent]:
    """Return the other torrents that may share a file with ours."""
    content = {t.hash: _norm(t.content_path or t.save_path) for t in others}
    picked = {t.hash for t in others
              if _nested(content[t.hash], top) or ours.reaches(ids[content[t.hash]])}
    roots = {content[t.hash]: t for t in others if t.hash not in picked
             and ids[content[t.hash]].is_dir and not ids[content[t.hash]].is_link}
    # symlinks, and mount points (ours bind-mounted in theirs), that reach ours
    reaching = identity.links_under(endpoint, roots) + \
        (identity.mounted_under(endpoint, roots) if roots else [])
    reaching_ids = {p: mapping.identity(i) for p, i in
                    identity.identities(endpoint, reaching).items()} if reaching else {}
    found = [path for path in reaching if ours.reaches(reaching_ids[path])]
    linked = {i.key for i in ours.files.values() if i.key and (i.nlink or 0) >= 2}
    if linked and roots:            # another name of one of our files, in their folder
        found += identity.hard_links_under(endpoint, roots, linked)
    owners: Dict[str, List[str]] = {}
    for t in others:
        owners.setdefault(content[t.hash], []).append(t.hash)
    for path in found:
        for folder in [path] + sorted(_ancestors([path])):
            picked.update(owners.get(folder, []))
    return [t for t in others if t.hash in picked]


class _Mapping:
    """The source client's paths as the source host sees them ([SOURCE_PATHS])."""

    def __init__(self, cfg=None):
        self.client = getattr(cfg, "remote_source_path", None)
        self.host = getattr(cfg, "source_path", None)

    def path(self, path: str) -> str:
        return plans.source_host_path(path, self.client, self.host)

    def torrent(self, t: Torrent) -> Torrent:
        """Return ``t`` with its save and content paths mapped to the host."""
        if not self.client:
            return t
        return dataclasses.replace(t, save_path=self.path(t.save_path),
                                   content_path=self.path(t.content_path))

    def identity(self, ident: identity.Identity) -> identity.Identity:
        """Return ``ident`` with a link target that does not resolve on the host but
        lies below remote_source_path (a link made inside the container) mapped."""
        if not self.client or ident.key is not None:
            return ident
        real = self.path(ident.real)
        return ident if real == ident.real else dataclasses.replace(ident, real=real)


def _shared(client, endpoint: Endpoint, mine: Sequence[str], top: str,
            others: List[Torrent], mapping: Optional[_Mapping] = None) -> List[str]:
    """Return the paths in ``mine`` that a torrent in ``others`` uses.

    ``mine`` are host paths; ``others`` as the client lists them (``mapping``
    turns their paths into host paths).
    """
    if not mine or not others:
        return []
    mapping = mapping or _Mapping()
    others = [mapping.torrent(t) for t in others]
    contents = [_norm(t.content_path or t.save_path) for t in others]
    ids = identity.identities(endpoint, list(mine) + sorted(_ancestors(mine)) + contents)
    ids = {p: mapping.identity(i) for p, i in ids.items()}
    ours = _Ours(mine, ids)
    theirs: List[str] = []
    for other in _candidates(endpoint, top, ours, others, ids, mapping):
        try:
            names = [f.name for f in client.files(other.hash)]
        except TorrentGoneError:
            continue   # removed meanwhile (a parallel move, the user): uses no file now
        theirs += [_norm(posixpath.join(other.save_path, n)) for n in names]
    if not theirs:
        return []
    their_ids = {p: mapping.identity(i)
                 for p, i in identity.identities(endpoint, theirs).items()}
    paths = set(theirs)
    reals = {i.real for i in their_ids.values()}
    shared = {m for m in mine if m in paths or ours.files[m].real in reals}
    by_key: Dict[tuple, List[identity.Identity]] = {}
    for ident in their_ids.values():
        if ident.key is not None:
            by_key.setdefault(ident.key, []).append(ident)
    keyed = sorted(m for m in mine if m not in shared and ours.files[m].key in by_key)
    return sorted(shared | _one_entry(endpoint, ours, keyed, by_key, mapping))


def _one_entry(endpoint: Endpoint, ours: _Ours, keyed: List[str],
               by_key: Dict[tuple, List[identity.Identity]], mapping: "_Mapping") -> Set[str]:
    """Return the files of ``keyed`` (ours, with the device and inode of files of
    theirs in ``by_key`` at another resolved path) that may be the very
    directory entry of theirs: a bind mount shows one entry at two paths, and
    deleting ours deletes theirs. A hard link is another entry (the file has
    more than one link, in another folder, neither path a mount point):
    deleting our name leaves their data, so it is not kept. In the same
    folder another name may be ours spelt otherwise (a case-insensitive
    share): kept. Anything unknown is kept."""
    if not keyed:
        return set()
    pairs = [(ours.files[m], by_key[ours.files[m].key]) for m in keyed]
    folders = {posixpath.dirname(i.real) for mine, theirs in pairs for i in [mine] + theirs}
    dirs = {p: mapping.identity(i) for p, i in identity.identities(endpoint, folders).items()}
    mounts = identity.mount_points(endpoint)

    def folder(ident: identity.Identity):
        return dirs[posixpath.dirname(ident.real)].key

    def one(mine: identity.Identity, theirs: identity.Identity) -> bool:
        return mounts is None or theirs.real in mounts or mine.real in mounts \
            or folder(theirs) is None or folder(theirs) == folder(mine)

    return {m for m, (mine, theirs) in zip(keyed, pairs)
            if not mine.nlink or mine.nlink < 2 or folder(mine) is None
            or any(one(mine, t) for t in theirs)}


def shared_paths(session, torrent: Torrent, plan: plans.Plan) -> List[str]:
    """Return the plan's source files that another torrent on the source uses.

    ``session`` gives the source client and endpoint. Raise ProvisioningError
    when the source host cannot tell what links where (nothing is deleted then).
    """
    mine = [_norm(p) for p in plan.source_paths]     # deselected files too
    top = _norm(torrent.content_path) if torrent.content_path else \
        (posixpath.commonpath(mine) if mine else plan.src_save_path)
    mapping = _Mapping(getattr(session, "cfg", None))
    others = [t for t in source_index.source_torrents(session) if t.hash != torrent.hash]
    return _shared(session.src, session.src_ep, mine, mapping.path(top), others, mapping)


def shared_among(session, torrent_hash: str, paths: Sequence[str]) -> List[str]:
    """Return which of ``paths`` (left to delete by an earlier run of the move of
    ``torrent_hash``) another source torrent uses now."""
    mine = [_norm(p) for p in paths]
    others = [t for t in source_index.source_torrents(session) if t.hash != torrent_hash]
    top = posixpath.commonpath(mine) if mine else "/"
    return _shared(session.src, session.src_ep, mine, top, others,
                   _Mapping(getattr(session, "cfg", None)))


def files_to_delete(plan: plans.Plan, shared: List[str]) -> List[str]:
    """Return the plan's source paths that are not in ``shared``."""
    keep = set(shared)
    return [f.src for f in plan.files if _norm(f.src) not in keep]


def delete_files(endpoint: Endpoint, paths: List[str], save_path: str) -> None:
    """Delete ``paths`` on ``endpoint`` and prune folders left empty under ``save_path``."""
    for path in paths:
        endpoint.remove(path)
        endpoint.prune_dirs(posixpath.dirname(path), save_path)


def prepare(session, journal) -> bool:
    """Record in ``journal`` how the source files will go (source_delete), before the
    torrent is removed; return True when the mover removes them itself
    (recycle) rather than the client.

    With recycle, raise ProvisioningError if recycle_path is not a folder on
    the source host (nothing was removed then).
    """
    from mover import recycle
    s = session.cfg.settings
    journal.record.extra["source_delete"] = s.source_delete
    if not s.recycles:
        return False
    recycle.check_folder(session.src_ep, s.recycle_path)
    journal.record.extra["recycle_path"] = s.recycle_path
    return True


def dispose(session, journal, paths: List[str], save_path: str) -> None:
    """Remove ``paths`` (source files no other torrent uses) as the journal says:
    delete them, or move them into the recycle bin (mover.recycle), pruning
    folders left empty under ``save_path`` either way.

    The recycle entry's path is saved in the journal before the first file
    moves, so a re-run after a crash continues into the same entry.
    """
    extra = journal.record.extra
    if extra.get("source_delete") != "recycle":
        delete_files(session.src_ep, paths, save_path)
        return
    from mover import recycle
    endpoint = session.src_ep
    entry = extra.get("recycle_entry")
    if not entry:
        now = session.clock.time()
        entry = recycle.choose_entry(endpoint, extra["recycle_path"], journal.hash,
                                     journal.record.name or "", now)
        extra["recycle_entry"] = entry
        journal.save()
        recycle.write_note(endpoint, entry, journal.hash, journal.record.name or "",
                           save_path, [recycle.relative(p, save_path) for p in paths], now)
    moved = recycle.move_files(endpoint, entry, paths, save_path)
    log.info("%s: moved %d file(s) into the recycle bin %s", journal.hash, moved,
             endpoint.describe(entry))


def empty_recycle_bin(session) -> List[str]:
    """Empty the recycle bin's entries older than recycle_days (the sweep's job);
    return their names. Nothing to do unless ``source_delete = recycle``.

    Raise ProvisioningError if recycle_path cannot be read.
    """
    from mover import recycle
    s = session.cfg.settings
    if not s.recycles:
        return []
    removed = recycle.empty(session.src_ep, s.recycle_path, s.recycle_days,
                            session.clock.time())
    if removed:
        log.info("recycle bin: emptied %d entr%s older than %d day(s)", len(removed),
                 "y" if len(removed) == 1 else "ies", s.recycle_days)
    return removed
