"""The actions behind each command-line flag (kept out of cli.py to keep it thin)."""

import dataclasses
import logging

from mover.config import Config
from mover.errors import MoverError

log = logging.getLogger("mover")


def with_parallel_jobs(cfg: Config, jobs: int) -> Config:
    """Return ``cfg`` with [SETTINGS] parallel_jobs replaced."""
    return dataclasses.replace(cfg, settings=dataclasses.replace(cfg.settings,
                                                                 parallel_jobs=jobs))


def move(cfg: Config, torrent_hash: str, args) -> int:
    """Move one torrent; return 0 (moved, not eligible, busy) or raise MoverError."""
    from mover.move import Options, move_one
    from mover.session import Session
    with Session(cfg) as session:
        result = move_one(session, torrent_hash,
                          Options(dry_run=args.dry_run, test_run=args.test_run))
    log.info("%s: %s: %s", torrent_hash, result.outcome.value, result.message)
    return 0


def sweep(cfg: Config, args) -> int:
    """Sweep; print the summary; return 1 if any move failed."""
    from mover.move import Options
    from mover.session import Session
    from mover.sweep import sweep as run_sweep
    with Session(cfg) as session:
        summary = run_sweep(session, Options(dry_run=args.dry_run, test_run=args.test_run))
    print("\n".join(summary.lines()))
    return 1 if summary.failed else 0


def check_config(cfg: Config) -> int:
    """Connect to both clients and every server; report each; 0 when all work."""
    from mover.session import Session
    failures = 0
    with Session(cfg) as session:
        checks = [("source qBittorrent", lambda: session.src),
                  ("destination qBittorrent", lambda: session.dst),
                  ("source files", lambda: session.src_ep),
                  ("destination files", lambda: session.dst_ep)]
        for label, check in checks:
            try:
                check()
                print(f"ok      {label}")
            except MoverError as exc:
                failures += 1
                print(f"FAILED  {label}: {exc}")
    return 1 if failures else 0


def test_permissions(cfg: Config) -> int:
    """Write and remove a probe file where data would land (and in the cache)."""
    import os
    import posixpath
    from mover.session import Session
    failures = 0
    with Session(cfg) as session:
        places = [(session.dst_ep, cfg.destination_path)]
        if cfg.settings.local_cache_path:
            places.append((session.cache_ep, cfg.settings.local_cache_path))
        for endpoint, folder in places:
            probe = posixpath.join(folder, f".torrent-mover-probe-{os.getpid()}")
            try:
                endpoint.makedirs(folder)
                with endpoint.open_write(probe) as handle:
                    handle.write(b"probe")
                endpoint.remove(probe)
                print(f"ok      can write to {endpoint.describe(folder)}")
            except MoverError as exc:
                failures += 1
                print(f"FAILED  {endpoint.describe(folder)}: {exc}")
    return 1 if failures else 0


def status(cfg_threshold: int = 0, cfg_cooldown: float = 0.0) -> int:
    """Print every journal, circuit breakers (open or not) and busy transfer slots."""
    import time
    from state import breaker, pool
    from state.journal import all_records
    for record in all_records():
        beat = record.heartbeat
        alive = f" pid {beat['pid']} {time.time() - beat['at']:.0f}s ago" if beat else ""
        print(f"{record.hash}  {record.stage.name:<15} {record.status.value:<15} "
              f"{record.name}{alive}  {record.error or ''}")
    for torrent_hash, entry in breaker.table().items():
        until = breaker.open_until(torrent_hash, cfg_threshold, cfg_cooldown) \
            if cfg_threshold else None
        state = (f"OPEN until {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(until))}"
                 if until else "closed")
        print(f"breaker {torrent_hash}  {state}, {entry['failures']} failure(s), last: "
              f"{entry.get('last_error', '')}")
    for holder in pool.holders():
        print(f"slot    {holder['hash']}  pid {holder['pid']}")
    return 0


def clear(which: str, torrent_hash: str) -> int:
    """Clear a recheck failure, a corruption record or an open circuit breaker.

    Return 0; the torrent is tried again by the next hook or sweep.
    """
    from state import breaker
    from state.journal import Journal, Status
    if which == "clear_circuit_breaker":
        found = breaker.reset(torrent_hash)
    else:
        with Journal(torrent_hash) as journal:
            record = journal.record
            found = record.status is Status.RECHECK_FAILED or "corrupt_files" in record.extra
            if which == "clear_corruption":
                record.extra.pop("corrupt_files", None)
                record.extra.pop("repairs", None)
            if record.status is Status.RECHECK_FAILED:
                record.status = Status.FAILED
            if not journal.is_new:
                journal.save()
        breaker.reset(torrent_hash)
    what = which.replace("clear_", "").replace("_", " ")
    print(f"{'cleared' if found else 'no'} {what} for {torrent_hash}")
    return 0
