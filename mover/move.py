"""Move one torrent, one small function per stage, resuming from the journal.

Stages (state.journal.Stage): plan -> transfer -> add to the destination
(stopped) -> recheck to 100% -> start at the destination -> remove from the
source. Each is recorded before the next starts; the source is touched only
after the destination client verified the data and was started.
"""

import enum
import logging
import posixpath
import time
from dataclasses import dataclass
from typing import Optional

from mover import cleanup, plan as plans, verify
from mover.errors import ClientError, MoverError, VerificationError
from mover.qbit import Torrent
from mover.session import Session
from mover.transfer import Job, Progress, run_job
from state.journal import Journal, Stage, Status

log = logging.getLogger("mover")
SETTLE_WAIT = 60.0


class Outcome(enum.Enum):
    MOVED = "moved"
    NOT_ELIGIBLE = "not eligible"
    DRY_RUN = "dry run"
    TEST_RUN = "test run"
    KEPT_SOURCE = "moved, source kept"

    @property
    def ok(self) -> bool:
        return True


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    test_run: bool = False


@dataclass(frozen=True)
class Result:
    hash: str
    outcome: Outcome
    message: str


def ineligible_reason(torrent: Optional[Torrent], category: str) -> Optional[str]:
    """Return why ``torrent`` may not be moved, or None if it may."""
    if torrent is None:
        return "not found on the source client"
    if category and torrent.category != category:
        return f"category is {torrent.category!r}, not {category!r} (category_to_move)"
    if not torrent.is_complete:
        return f"not complete (state {torrent.state.value}, {torrent.progress:.1%})"
    return None


def settled_torrent(session: Session, torrent_hash: str) -> Optional[Torrent]:
    """Return the source torrent once qBittorrent stopped moving/checking it (<= 60 s)."""
    deadline = time.monotonic() + SETTLE_WAIT
    torrent = session.src.torrent(torrent_hash)
    while torrent is not None and torrent.state.is_transient and time.monotonic() < deadline:
        time.sleep(1.0)
        torrent = session.src.torrent(torrent_hash)
    return torrent


def make_plan(session: Session, torrent: Torrent) -> plans.Plan:
    """Return the Plan for ``torrent`` from the source client's file list."""
    files = [(f.name, f.size) for f in session.src.files(torrent.hash)]
    cfg = session.cfg
    return plans.build(torrent.hash, torrent.name, torrent.category, torrent.tags,
                       torrent.save_path, files, cfg.destination_path,
                       cfg.remote_destination_path)


def dry_run(session: Session, torrent_hash: str) -> Result:
    """Print what a move would do; change nothing anywhere."""
    torrent = settled_torrent(session, torrent_hash)
    reason = ineligible_reason(torrent, session.cfg.settings.category_to_move)
    if reason:
        return Result(torrent_hash, Outcome.NOT_ELIGIBLE, reason)
    plan = make_plan(session, torrent)
    s, cfg = session.cfg.settings, session.cfg
    lines = plan.describe() + [
        f"would copy {len(plan.files)} file(s) with {s.transfer_mode} ({cfg.topology})",
        f"would add the torrent stopped to {cfg.destination_client.url} at "
        f"{plan.dst_save_path}, recheck it and start it",
        "would then remove it from the source" if s.delete_after_transfer
        else "would keep it on the source (delete_after_transfer = false)"]
    print("\n".join(lines))
    return Result(torrent_hash, Outcome.DRY_RUN, "dry run: nothing changed")


def transfer(session: Session, journal: Journal, plan: plans.Plan,
             checksum: bool = False, only=None) -> None:
    """Copy the plan's files to the destination (through the cache for a relay)."""
    cfg, s = session.cfg, session.cfg.settings
    items = tuple((f.rel, f.size) for f in plan.files if only is None or f.rel in only)
    progress = Progress(on_beat=journal.beat, limit_bps=s.bandwidth_limit * 1e6)
    common = dict(items=items, workers=s.max_concurrent_file_transfers,
                  checksum=checksum, stall_timeout=s.watchdog_timeout)
    if cfg.topology == "relay" and s.local_cache_path:
        cache = posixpath.join(s.local_cache_path, plan.hash)
        run_job(Job(session.src_ep, session.cache_ep, plan.src_save_path, cache, **common),
                s.transfer_mode, progress, src_server=cfg.source_server)
        run_job(Job(session.cache_ep, session.dst_ep, cache, plan.dst_root, **common),
                s.transfer_mode, progress, dst_server=cfg.destination_server)
        return
    mode = "sftp" if cfg.topology == "relay" else s.transfer_mode
    run_job(Job(session.src_ep, session.dst_ep, plan.src_save_path, plan.dst_root, **common),
            mode, progress, src_server=cfg.source_server, dst_server=cfg.destination_server)


def add_to_destination(session: Session, plan: plans.Plan) -> None:
    """Add the source's .torrent to the destination, stopped, at the planned save path."""
    torrent_bytes = session.src.export(plan.hash)
    session.dst.add(torrent_bytes, plan.dst_save_path, plan.category, plan.tags)
    verify.wait_for(session.dst, plan.hash, timeout=60)


def verify_destination(session: Session, plan: plans.Plan) -> None:
    """Recheck on the destination; raise VerificationError unless it is 100%."""
    torrent = verify.recheck_and_wait(session.dst, plan.hash,
                                      session.cfg.settings.recheck_timeout)
    if torrent.progress < 1.0 or torrent.state.is_errored:
        raise VerificationError(
            f"destination recheck of {plan.name!r} ended at {torrent.progress:.2%} "
            f"(state {torrent.state.value}); the source was left untouched")


def remove_source(session: Session, journal: Journal, torrent: Optional[Torrent],
                  plan: Optional[plans.Plan]) -> None:
    """Remove the torrent from the source, keeping files another torrent uses.

    Refuse (VerificationError) unless the destination still has it at 100%.
    """
    dest = session.dst.torrent(journal.hash)
    if dest is None or dest.progress < 1.0 or dest.state.is_errored:
        raise VerificationError("the destination no longer has the torrent at 100%; "
                                "the source was left untouched")
    if torrent is not None:
        shared = cleanup.shared_paths(session.src, torrent, plan)
        doomed = cleanup.files_to_delete(plan, shared)
        journal.advance(Stage.STARTED, source_cleanup=doomed if shared else None,
                        save_path=plan.src_save_path)
        session.src.delete(journal.hash, delete_files=not shared)
        if shared:
            log.info("kept %d file(s) that another source torrent uses", len(shared))
        verify.wait_for(session.src, journal.hash, timeout=60, present=False)
    leftover = journal.record.extra.get("source_cleanup")
    if leftover:
        cleanup.delete_files(session.src_ep, leftover, journal.record.extra["save_path"])
    journal.advance(Stage.SOURCE_REMOVED)


def move_one(session: Session, torrent_hash: str, options: Options) -> Result:
    """Move one torrent, continuing from its journal. Return a Result.

    Raise BusyError when another process moves it, and the MoverError of a
    failed stage (recorded in the journal; the source is untouched).
    """
    if options.dry_run:
        return dry_run(session, torrent_hash)
    with Journal(torrent_hash) as journal:
        try:
            return _drive(session, journal, options)
        except MoverError as exc:
            journal.set_status(Status.FAILED, exc)
            raise


def _drive(session: Session, journal: Journal, options: Options) -> Result:
    s, h = session.cfg.settings, journal.hash
    record = journal.record
    if record.status is Status.DONE and record.stage >= Stage.STARTED:
        return Result(h, Outcome.NOT_ELIGIBLE, "already moved (journal says done)")
    torrent = settled_torrent(session, h)
    plan = None
    if not journal.stage.verified:
        reason = ineligible_reason(torrent, s.category_to_move)
        if reason:
            return Result(h, Outcome.NOT_ELIGIBLE, reason)
        plan = _prepare(session, journal, torrent, options)
    elif torrent is not None:
        plan = make_plan(session, torrent)
    if journal.stage < Stage.STARTED:
        session.dst.start(h)
        journal.advance(Stage.STARTED)
        log.info("%s: seeding on the destination", h)
    if options.test_run:
        journal.set_status(Status.TEST_RUN)
        return Result(h, Outcome.TEST_RUN, "moved and verified; source kept (--test-run)")
    if not s.delete_after_transfer:
        journal.set_status(Status.DONE)
        return Result(h, Outcome.KEPT_SOURCE, "moved and verified; source kept "
                                              "(delete_after_transfer = false)")
    remove_source(session, journal, torrent, plan)
    journal.set_status(Status.DONE)
    _clean_cache(session, h)
    return Result(h, Outcome.MOVED, f"moved {record.name!r}; removed from the source")


def _prepare(session: Session, journal: Journal, torrent: Torrent,
             options: Options) -> plans.Plan:
    """Run the stages up to VERIFIED that the journal does not show as done."""
    plan = make_plan(session, torrent)
    journal.record.name = plan.name
    journal.record.attempts += 1
    journal.set_status(Status.ACTIVE)
    journal.advance(Stage.PLANNED, size=plan.total_size, files=len(plan.files))
    if journal.stage < Stage.TRANSFERRED:
        from mover.preflight import check_space
        check_space(session, plan)
        log.info("%s: copying %d bytes in %d file(s)", plan.hash, plan.total_size,
                 len(plan.files))
        transfer(session, journal, plan)
        journal.advance(Stage.TRANSFERRED)
    if journal.stage < Stage.ADDED:
        add_to_destination(session, plan)
        journal.advance(Stage.ADDED)
    log.info("%s: rechecking on the destination", plan.hash)
    verify_destination(session, plan)
    journal.advance(Stage.VERIFIED)
    return plan


def _clean_cache(session: Session, torrent_hash: str) -> None:
    """Remove the relay cache copy of a finished move, if any."""
    cache_root = session.cfg.settings.local_cache_path
    if session.cfg.topology != "relay" or not cache_root:
        return
    import shutil
    shutil.rmtree(posixpath.join(cache_root, torrent_hash), ignore_errors=True)
