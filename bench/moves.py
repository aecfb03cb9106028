"""Whole moves timed end to end: ``verify = recheck`` against ``verify = stream``.

The engine rows time a transfer alone; a user waits for the whole move:
transfer, add at the destination, verification, removal at the source. This
module times that, as the user sees it: ``hook.py --config FILE HASH`` from
process start to exit (tests.e2e.util.run_hook).

Self-contained, under ``root`` (WORKDIR/moves): it starts an sshd and a source
and a destination qbittorrent-nox 4.5 from the test harness (tests.harness),
makes one single-file torrent of the benchmark's big size, and deletes
everything again when done. Topology: pull with transfer_mode = sftp (the mover
runs beside the destination client and reads SOURCE_SERVER over ssh). Before
every run the torrent is put back on the source: its data hard-linked from a
pristine copy, added with a normal check, seeding. After every run both clients
are emptied, files included.
"""

import os
import shutil
import statistics
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional

from bench import data as datamod
from tests.e2e import util
from tests.harness import eventually, torrents
from tests.harness.qbt import Qbt, reset
from tests.harness.sshd import Sshd

MODES = ("recheck", "stream")
TOPOLOGY = "sftp pull"
CATEGORY = "move"
RECHECK_LINE = "rechecking on the destination"      # mover/move.py, before a recheck
STREAM_LINE = "stream verification passed"          # mover/streamcheck.py


@dataclass
class Rig:
    """The running processes of a measurement and the torrent they move."""

    root: Path
    sshd: Sshd
    src: Qbt
    dst: Qbt
    pristine: Path        # the content file; only hard links of it reach a client
    torrent: bytes
    hash: str

    @property
    def size(self) -> int:
        """Return the torrent's size in bytes."""
        return self.pristine.stat().st_size

    def deadline(self, floor: float) -> float:
        """Return ``floor`` seconds plus one second per 20 MB of the torrent."""
        return floor + self.size / 20e6


def _stop_all(procs: List) -> None:
    """Stop every harness process in ``procs`` (last started first), errors ignored."""
    for proc in reversed(procs):
        try:
            proc.stop()
        except Exception as exc:  # noqa: BLE001 - stop the others anyway
            print(f"  moves: could not stop {proc!r}: {exc}", flush=True)


@contextmanager
def rig(root: Path, size: int) -> Iterator[Rig]:
    """Start sshd, a source and a destination qBittorrent 4.5 under ``root``; yield a Rig.

    ``size``: bytes of the torrent's single file. On exit every process is
    stopped and ``root`` removed, also after an error. Raise RuntimeError if a
    process cannot start (tests.harness).
    """
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    root = root.resolve()
    procs: List = []
    try:
        sshd = Sshd(root / "sshd")
        procs.append(sshd)
        sshd.start()
        src, dst = Qbt(root, "qbt-src"), Qbt(root, "qbt-dst")
        for client in (src, dst):
            procs.append(client)
            client.start()
        folder = datamod.make(datamod.DataSet("pristine", 1, size, "big.bin"), root)
        data, ih = torrents.make_torrent(folder / "big.bin")
        yield Rig(root, sshd, src, dst, folder / "big.bin", data, ih)
    finally:
        _stop_all(procs)
        shutil.rmtree(root, ignore_errors=True)


def put_back(rig_: Rig, ws: util.Workspace) -> None:
    """Put the torrent on the source with its data in ``ws.src_save``; wait until it seeds.

    The data is a hard link of the pristine file (a copy if links fail), and the
    torrent is added with a normal check, as a finished download would be.
    Raise AssertionError if it does not seed in time.
    """
    target = ws.src_save / rig_.pristine.name
    try:
        os.link(rig_.pristine, target)
    except OSError:
        shutil.copyfile(rig_.pristine, target)
    client = rig_.src.client()
    torrents.add(client, rig_.torrent, ws.src_save, category=CATEGORY)
    eventually(lambda: torrents.seeding(client, rig_.hash), timeout=rig_.deadline(60),
               message="source torrent not seeding after its check")


def time_move(rig_: Rig, mode: str, ws: util.Workspace) -> float:
    """Write the config for ``mode`` (recheck or stream), run hook.py; return its seconds.

    Raise RuntimeError if hook.py exits with an error, subprocess.TimeoutExpired
    if it does not finish in time.
    """
    util.write_config(ws, rig_.src, rig_.dst, src_server=rig_.sshd, mode="sftp",
                      category=CATEGORY, verify=mode,
                      recheck_timeout=int(rig_.deadline(120)))
    subprocess.run(["sync"], check=False)
    start = time.monotonic()
    proc = util.run_hook(ws, rig_.hash, timeout=rig_.deadline(300))
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip()[-600:]
        raise RuntimeError(f"hook.py exited with {proc.returncode}: {tail}")
    return seconds


def check_move(rig_: Rig, mode: str, ws: util.Workspace) -> None:
    """Check that the move finished and was verified the way ``mode`` says.

    recheck: the log shows a destination recheck. stream: the journal says
    stream-verified, the log shows the stream check passed and no recheck.
    Both: journal done, destination at 100% with every byte, source gone.
    Raise RuntimeError naming the first thing that is wrong.
    """
    journal = util.read_journal(ws, rig_.hash)
    log = (ws.state / "logs" / "torrent-mover.log").read_text(errors="replace")
    problems = []
    if (journal["stage"], journal["status"]) != ("SOURCE_REMOVED", "done"):
        problems.append(f"journal at {journal['stage']}/{journal['status']}")
    rechecked = RECHECK_LINE in log
    if mode == "recheck" and not rechecked:
        problems.append("no destination recheck in the log")
    if mode == "stream" and (rechecked or STREAM_LINE not in log
                             or not journal.get("extra", {}).get("stream_verified")):
        problems.append("not stream-verified (or a recheck ran)")
    entry = torrents.info(rig_.dst.client(), rig_.hash)
    if entry is None or entry.progress != 1:
        problems.append(f"destination not at 100% ({entry and entry.progress})")
    copy = ws.dest / rig_.pristine.name
    if not copy.is_file() or copy.stat().st_size != rig_.size:
        problems.append(f"destination file missing or short: {copy}")
    if torrents.info(rig_.src.client(), rig_.hash) is not None:
        problems.append("source still has the torrent")
    if problems:
        raise RuntimeError(f"verify={mode}: " + "; ".join(problems))


def clear(rig_: Rig, ws: util.Workspace) -> None:
    """Delete every torrent of both clients with its files, then the run's folder."""
    try:
        for client in (rig_.src, rig_.dst):
            reset(client.client(), timeout=rig_.deadline(30))
    finally:
        shutil.rmtree(ws.root, ignore_errors=True)


def one_move(rig_: Rig, mode: str, run: int, record: Dict) -> None:
    """Time one checked move with ``mode``; add its seconds (or its error) to ``record``.

    Never raises on a failed move: the error is printed and kept in
    record["errors"].
    """
    ws = util.Workspace(rig_.root / f"run{run}-{mode}")
    try:
        put_back(rig_, ws)
        seconds = time_move(rig_, mode, ws)
        check_move(rig_, mode, ws)
        record["seconds"].append(round(seconds, 3))
        print(f"  move run {run} verify={mode:8} {seconds:7.1f} s", flush=True)
    except Exception as exc:  # noqa: BLE001 - one failed move must not stop the benchmark
        record["errors"].append(f"{type(exc).__name__}: {exc}")
        print(f"  move run {run} verify={mode}: failed: {exc}", flush=True)
    finally:
        clear(rig_, ws)


def measure(root: Path, size_mib: int, runs: int) -> Dict:
    """Time ``runs`` whole moves of a ``size_mib`` MiB torrent per verify mode, interleaved.

    Return {"size_mib", "bytes", "topology", "qbittorrent", "records", "ratio",
    "error"}: records are {"mode", "seconds", "median", "bytes", "errors"} per
    mode; ratio is median stream / median recheck (None unless both have a
    time); error says why nothing could be measured (else None). Never raises
    on a failure of the rig or of a move.
    """
    size = size_mib * datamod.MiB
    records = {m: {"mode": m, "seconds": [], "median": None, "bytes": size, "errors": []}
               for m in MODES}
    result = {"size_mib": size_mib, "bytes": size, "topology": TOPOLOGY,
              "qbittorrent": None, "records": list(records.values()), "ratio": None,
              "error": None}
    print(f"whole moves of a {size_mib} MiB torrent ({TOPOLOGY}): verify = "
          f"{' vs '.join(MODES)}, {runs} run(s) each", flush=True)
    try:
        with rig(Path(root), size) as rig_:
            result["qbittorrent"] = str(rig_.dst.client().app.version).lstrip("v")
            for run in range(1, runs + 1):
                for mode in MODES:
                    one_move(rig_, mode, run, records[mode])
    except Exception as exc:  # noqa: BLE001 - reported, the benchmark goes on
        result["error"] = f"{type(exc).__name__}: {exc}"
        print(f"  moves: {result['error']}", flush=True)
    for record in records.values():
        if record["seconds"]:
            record["median"] = round(statistics.median(record["seconds"]), 3)
    stream, recheck = records["stream"]["median"], records["recheck"]["median"]
    if stream and recheck:
        result["ratio"] = round(stream / recheck, 3)
    return result


def describe(result: Optional[Dict]) -> str:
    """Return the one-line summary of a ``measure`` result ("" for None)."""
    if not result:
        return ""
    head = (f"whole move of a {result['size_mib']} MiB torrent ({result['topology']}, "
            f"qBittorrent {result['qbittorrent'] or '4.5'}): ")
    parts = []
    for record in result["records"]:
        failed = len(record["errors"])
        if record["median"] is not None:
            note = f" ({failed} run(s) failed)" if failed else ""
            parts.append(f"verify={record['mode']} {record['median']:.1f} s{note}")
        elif failed:
            last = " ".join(record["errors"][-1].split())[:200]
            parts.append(f"verify={record['mode']} failed ({last})")
    ratio = f" ({result['ratio']:.2f}x the time)" if result["ratio"] else ""
    error = f"failed: {' '.join(result['error'].split())}" if result["error"] else ""
    return head + "; ".join(p for p in (", ".join(parts) + ratio, error) if p)
