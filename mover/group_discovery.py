"""Which cross-seeds move together: a torrent's group (mover.groups drives it).

``discover`` reuses the cross-seed check of mover.cleanup: one list of the
source's torrents (mover.source_index), the torrents that can share a file
with ours (``cleanup._candidates``: overlapping paths, links), then their
files compared with ours by resolved path and device+inode (mover.endpoints.
identity), following sharers of sharers. A sharer joins (a *member*) only
when one destination copy can serve it: the same save path (or, in another
one, every file of it a hard link of one of the group's), every shared file
at the same relative path, eligible now, not blocked, not partial, and not
already at the destination otherwise; any other sharer *stays*, with why.
"""

import logging
import posixpath
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from mover import cleanup, eligibility, plan as plans, rules, source_index
from mover.endpoints import identity
from mover.move import Options, make_plan
from mover.qbit import Torrent, TorrentGoneError
from state.journal import Journal, Status

log = logging.getLogger("mover.groups")


@dataclass
class Member:
    """A torrent that moves with the group: its source state, plan and category decision."""

    torrent: Torrent
    plan: plans.Plan
    decision: rules.Decision

    @property
    def hash(self) -> str:
        return self.torrent.hash


@dataclass
class Group:
    """The members (the torrent asked for first) and the sharers that stay, with why."""

    members: List[Member]
    staying: Dict[str, str] = field(default_factory=dict)

    @property
    def leader(self) -> str:
        return self.members[0].hash

    @property
    def hashes(self) -> List[str]:
        return [m.hash for m in self.members]

    def record(self) -> dict:
        """Return what each member's journal keeps (``Record.group``)."""
        return {"leader": self.leader, "members": self.hashes, "staying": dict(self.staying)}


def _norm(path: str) -> str:
    return posixpath.normpath(path)


def sharers(session, torrent: Torrent, plan: plans.Plan,
            others: List[Torrent]) -> Dict[str, List[Tuple[str, str, bool]]]:
    """Return {hash: [(our source path, their relative name, by_inode)]} of the
    torrents in ``others`` that use one of the plan's files (same path, a link
    to it, or the same device and inode; ``by_inode`` when only the device and
    inode match: a hard link or a bind mount). Raise ProvisioningError when the
    source host cannot tell (mover.endpoints.identity)."""
    mine = [_norm(f.src) for f in plan.files]
    if not mine or not others:
        return {}
    mapping = cleanup._Mapping(getattr(session, "cfg", None))   # [SOURCE_PATHS]
    others = [mapping.torrent(t) for t in others]
    top = _norm(mapping.path(torrent.content_path)) if torrent.content_path \
        else posixpath.commonpath(mine)
    contents = [_norm(t.content_path or t.save_path) for t in others]
    ep = session.src_ep
    ids = {p: mapping.identity(i) for p, i in identity.identities(
        ep, mine + sorted(cleanup._ancestors(mine)) + contents).items()}
    ours = cleanup._Ours(mine, ids)
    by_real = {i.real: p for p, i in ours.files.items()}
    by_key = {i.key: p for p, i in ours.files.items() if i.key}
    theirs: Dict[str, List[Tuple[str, str]]] = {}
    for other in cleanup._candidates(ep, top, ours, others, ids, mapping):
        try:
            names = [f.name for f in session.src.files(other.hash)]
        except TorrentGoneError:
            continue
        theirs[other.hash] = [(_norm(posixpath.join(other.save_path, n)), n) for n in names]
    their_ids = {p: mapping.identity(i) for p, i in identity.identities(
        ep, [p for v in theirs.values() for p, _ in v]).items()}
    found: Dict[str, List[Tuple[str, str, bool]]] = {}
    for h, files in theirs.items():
        for path, name in files:
            ident = their_ids[path]
            by_path = path if path in ours.files else by_real.get(ident.real)
            ours_path = by_path or (by_key.get(ident.key) if ident.key else None)
            if ours_path:
                found.setdefault(h, []).append((ours_path, name, by_path is None))
    return found


def _why_apart(session, leader: plans.Plan, other: Torrent,
               shared: List[Tuple[str, str, bool]], sweep: bool) -> Optional[str]:
    """Return why ``other`` cannot move with the group, or None when it can.
    In another save path it can only by hard links (or a bind mount) of the
    group's files at the same relative paths (``_own_files`` checks it has
    no other file)."""
    reason = eligibility.reason(session, other)
    if reason:
        return reason
    if _elsewhere(session, leader, other) and not all(by_inode for *_, by_inode in shared):
        return (f"its save path {other.save_path!r} is not {leader.src_save_path!r}: "
                f"it cannot share one destination copy")
    for ours_path, name, _ in shared:
        if _norm(posixpath.join(leader.src_save_path, plans.safe_relative(name))) != ours_path:
            return (f"it holds {ours_path!r} as {name!r}, another layout: it cannot share "
                    f"one destination copy")
    return _blocked(session, other.hash, sweep, leader.hash)


def _elsewhere(session, leader: plans.Plan, other: Torrent) -> bool:
    """True when ``other``'s save path (on the source host) is not the leader's."""
    save_path = cleanup._Mapping(getattr(session, "cfg", None)).path(other.save_path)
    return _norm(save_path) != _norm(leader.src_save_path)


def _own_files(session, leader: plans.Plan, joined: "Member",
               shared: List[Tuple[str, str, bool]]) -> Optional[str]:
    """Return why a sharer in another save path cannot move with the group when
    it has a file that is not one of the group's (it would have to be copied
    from its own folder), else None."""
    if not _elsewhere(session, leader, joined.torrent):
        return None
    names = {plans.safe_relative(name) for _, name, _ in shared}
    own = [f.rel for f in joined.plan.files if f.rel not in names]
    if own:
        return (f"its save path {joined.torrent.save_path!r} is not "
                f"{leader.src_save_path!r} and {own[0]!r} is a file of its own: it "
                f"cannot share one destination copy")
    return None


def _blocked(session, torrent_hash: str, sweep: bool, asked: str) -> Optional[str]:
    """Return why a sharer may not move now though eligible, or None: the circuit
    breaker or a failed recheck blocks it, or it is a test run, which only an
    explicit run finishes: a run of that torrent, or (not ``sweep``) a run of
    ``asked`` (the torrent this run was started for) when the test run moved
    both in one group. The hook of another torrent never finishes it."""
    from mover import move
    journal = Journal(torrent_hash)       # read only; the lock is taken by ``drive``
    record = journal.record
    if record.status is Status.TEST_RUN and (
            sweep or asked not in (record.group or {}).get("members", [])):
        return f"test run, source kept (hook.py {torrent_hash} finishes it)"
    result = move._blocked(session, journal, Options(sweep=True))
    return result.message if result else None


def discover(session, torrent: Torrent, plan: plans.Plan, decision: rules.Decision,
             sweep: bool = False) -> Group:
    """Return the Group of ``torrent`` (its ``plan`` and category ``decision``):
    members first the torrent itself, then every sharer (and sharer of a
    member) that can move with it; the others in ``staying`` with why.
    ``sweep``: run by a sweep (a test run's torrent stays)."""
    group = Group([Member(torrent, plan, decision)])
    if plan.partial:        # files deselected: its copy cannot serve another torrent
        return group
    # Who moves along may come from this process's last list (a sweep's earlier
    # move fetched it): a cross-seed added since is caught by the removal's
    # fresh cross-seed check, which keeps the files it uses.
    everyone = {t.hash: t for t in source_index.source_torrents(session, fresh=False)}
    queue, seen = [group.members[0]], {torrent.hash}
    while queue:
        member = queue.pop(0)
        others = [t for h, t in everyone.items() if h not in seen]
        for h, shared in sorted(sharers(session, member.torrent, member.plan, others).items()):
            seen.add(h)
            why = _why_apart(session, plan, everyone[h], shared, sweep)
            if why:
                group.staying[h] = why
                continue
            decision = rules.destination_category(session, everyone[h])
            joined = Member(everyone[h], make_plan(session, everyone[h], decision.category),
                            decision)
            why = "it has files deselected: a partial torrent moves alone" \
                if joined.plan.partial else _own_files(session, plan, joined, shared) \
                or _conflict(session, joined.plan)
            if why:
                group.staying[h] = why
                continue
            group.members.append(joined)
            queue.append(joined)
    return group


def describe(group: Group) -> List[str]:
    """Return --dry-run lines about the group (none for a torrent alone)."""
    from mover.text import printable
    lines = [f"would move with its cross-seed {m.hash} ({printable(m.plan.name)}, category "
             f"{printable(m.plan.category) or '-'}): one copy, each added and rechecked"
             for m in group.members[1:]]
    lines += [f"cross-seed {h} stays at the source ({printable(why)}); so do the files "
              f"it uses" for h, why in sorted(group.staying.items())]
    return lines


def _conflict(session, plan: plans.Plan) -> Optional[str]:
    """Return why the destination client has the torrent other than as planned
    (mover.stages.check_destination), or None."""
    from mover import stages
    from mover.errors import DestinationConflictError
    try:
        stages.check_destination(session, plan)
    except DestinationConflictError as exc:
        return f"the destination client has it otherwise: {exc}"
    return None
