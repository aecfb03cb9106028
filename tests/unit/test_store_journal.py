"""state.store (atomic versioned JSON) and state.journal (stages, status, lock)."""

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mover.errors import BusyError, TransferError
from state import journal as journals
from state import paths, store
from state.journal import Journal, Stage, Status

REPO = Path(__file__).resolve().parents[2]
H = "ab" * 20
H2 = "cd" * 32   # a 64-digit (v2) hash


# ---- store ---------------------------------------------------------------------

def test_write_then_read(tmp_path):
    path = tmp_path / "s.json"
    store.write(path, {"a": 1, "name": "Ünï $(x)"}, 3)
    assert store.read(path, 3) == {"a": 1, "name": "Ünï $(x)", "format_version": 3}
    assert json.loads(path.read_text())["format_version"] == 3


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "s.json"
    for i in range(20):
        store.write(path, {"i": i}, 1)
    assert os.listdir(tmp_path) == ["s.json"]
    assert store.read(path, 1)["i"] == 19


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "s.json"
    store.write(path, {"ok": True}, 1)
    with pytest.raises(TypeError):
        store.write(path, {"bad": object()}, 1)   # not JSON-serialisable
    assert os.listdir(tmp_path) == ["s.json"]
    assert store.read(path, 1) == {"ok": True, "format_version": 1}


def test_absent_file_reads_none(tmp_path):
    assert store.read(tmp_path / "nope.json", 1) is None


def aside_files(folder, name):
    return sorted(p for p in os.listdir(folder) if p.startswith(name + ".corrupt-"))


@pytest.mark.parametrize("content", ['{"half": ', "[1, 2, 3]", '"text"', "",
                                     '{"format_version": "x"}'])
def test_corrupt_json_is_moved_aside(tmp_path, caplog, content):
    path = tmp_path / "s.json"
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="mover.state"):
        assert store.read(path, 1) is None
    assert not path.exists()
    (aside,) = aside_files(tmp_path, "s.json")
    assert (tmp_path / aside).read_text() == content
    assert any("moved aside" in r.getMessage() and r.levelno == logging.WARNING
               for r in caplog.records)
    store.write(path, {"fresh": 1}, 1)   # the name is free again
    assert store.read(path, 1)["fresh"] == 1


def test_invalid_utf8_is_moved_aside_like_any_corrupt_file(tmp_path):
    """A state file holding bytes that are not UTF-8 (disk damage, a crash) does not
    parse, so it must be moved aside and read as None, not raise UnicodeDecodeError."""
    path = tmp_path / "s.json"
    path.write_bytes(b"\xff\xfe{\x00garbage")
    assert store.read(path, 1) is None
    assert not path.exists()
    assert len(aside_files(tmp_path, "s.json")) == 1


def test_upgrades_run_in_order(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"format_version": 1, "n": 1}))
    upgrades = {1: lambda d: {**d, "n": d["n"] * 10}, 2: lambda d: {**d, "n": d["n"] + 5}}
    assert store.read(path, 3, upgrades)["n"] == 15


def test_newer_version_is_not_used_and_not_lost(tmp_path):
    path = tmp_path / "s.json"
    store.write(path, {"future": True}, 9)
    assert store.read(path, 1) is None
    kept = [tmp_path / p for p in os.listdir(tmp_path)]
    assert len(kept) == 1 and json.loads(kept[0].read_text())["future"] is True


# ---- journal -------------------------------------------------------------------

def test_new_journal(state_dir):
    j = Journal(H)
    assert j.is_new and j.stage is Stage.NEW and j.record.status is Status.ACTIVE
    assert j.path == state_dir / "journal" / f"{H}.json"
    assert not j.path.exists()


def test_bad_hash_is_refused():
    for bad in ("../../etc/passwd", "AB" * 20, "ab" * 19, ""):
        with pytest.raises(ValueError):
            Journal(bad)


def test_hash_with_trailing_newline_is_refused(state_dir):
    """The hash check must match the whole string: '$' also matches before a final
    newline, which would put a newline into the journal and lock file names."""
    with pytest.raises(ValueError):
        paths.journal_path(H + "\n")
    assert not any("\n" in p.name for p in state_dir.rglob("*"))


def test_advance_persists_and_never_moves_backwards():
    with Journal(H) as j:
        j.advance(Stage.PLANNED, size=10)
        j.advance(Stage.ADDED)
        j.advance(Stage.TRANSFERRED)          # older stage: recorded in history only
        assert j.stage is Stage.ADDED
    again = Journal(H)
    assert not again.is_new
    assert again.stage is Stage.ADDED
    assert again.record.extra == {"size": 10}
    assert [h["stage"] for h in again.record.history] == ["PLANNED", "ADDED", "TRANSFERRED"]
    again.advance(Stage.NEW)
    assert Journal(H).stage is Stage.ADDED


def test_stage_predicates():
    assert not Stage.PLANNED.data_at_destination and Stage.TRANSFERRED.data_at_destination
    assert not Stage.ADDED.verified and Stage.VERIFIED.verified
    assert Stage.SOURCE_REMOVED.finished and not Stage.STARTED.finished
    assert list(Stage) == sorted(Stage)


def test_set_status_records_error_and_kind():
    j = Journal(H2)
    j.set_status(Status.FAILED, TransferError("link down"))
    rec = Journal(H2).record
    assert (rec.status, rec.error, rec.error_kind) == (Status.FAILED, "link down", "transfer")
    j.set_status(Status.DONE)
    rec = Journal(H2).record
    assert (rec.status, rec.error, rec.error_kind) == (Status.DONE, None, None)


def test_beat_records_pid():
    j = Journal(H)
    j.beat(1234)
    beat = Journal(H).record.heartbeat
    assert beat["pid"] == os.getpid() and beat["bytes_done"] == 1234


def test_lock_rereads_the_journal():
    early = Journal(H)
    with Journal(H) as other:
        other.advance(Stage.VERIFIED)
    with early:
        assert early.stage is Stage.VERIFIED


def test_reset_forgets():
    with Journal(H) as j:
        j.advance(Stage.STARTED)
        j.reset()
        assert j.stage is Stage.NEW and not j.path.exists()
        j.reset()   # twice is fine
    assert Journal(H).is_new


def test_second_journal_in_same_process_is_busy():
    first = Journal(H).lock()
    try:
        with pytest.raises(BusyError) as info:
            Journal(H).lock()
        assert info.value.exit_code == 0
        Journal(H2).lock().unlock()   # another torrent is not affected
    finally:
        first.unlock()
    with Journal(H):
        pass


HOLDER = textwrap.dedent("""
    import sys
    from state.journal import Journal
    from mover.errors import BusyError
    h, mode = sys.argv[1], sys.argv[2]
    if mode == "hold":
        j = Journal(h).lock()
        print("locked", flush=True)
        sys.stdin.readline()
        j.unlock()
    else:
        try:
            Journal(h).lock()
        except BusyError:
            print("busy", flush=True)
            sys.exit(3)
        print("got it", flush=True)
""")


def run_holder(mode, **kw):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-c", HOLDER, H, mode], cwd=str(REPO),
                            env=env, text=True, stdout=subprocess.PIPE, **kw)


def test_lock_held_by_another_process_raises_busy():
    holder = run_holder("hold", stdin=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(BusyError, match=H):
            Journal(H).lock()
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with Journal(H) as j:   # free once the other process let go
        j.advance(Stage.PLANNED)


def test_other_process_is_busy_while_we_hold_the_lock():
    with Journal(H):
        proc = run_holder("try")
        out, _ = proc.communicate(timeout=30)
        assert (proc.returncode, out.strip()) == (3, "busy")
    proc = run_holder("try")
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out.strip()) == (0, "got it")


def test_all_records_lists_journals():
    Journal(H).advance(Stage.TRANSFERRED)
    Journal(H2).advance(Stage.PLANNED)
    found = {r.hash: r.stage for r in journals.all_records()}
    assert found == {H: Stage.TRANSFERRED, H2: Stage.PLANNED}


def test_all_records_skips_corrupt_json():
    Journal(H).advance(Stage.TRANSFERRED)
    paths.journal_path(H2).write_text("{not json")
    assert [r.hash for r in journals.all_records()] == [H]


def test_all_records_skips_journal_that_is_not_utf8():
    Journal(H).advance(Stage.TRANSFERRED)
    paths.journal_path(H2).write_bytes(b"\x80\x81\xff")
    assert [r.hash for r in journals.all_records()] == [H]


def test_all_records_skips_journal_with_unknown_stage():
    """all_records promises to skip unreadable journals; one whose stage name this
    version does not know must not stop --status and --sweep with a KeyError."""
    Journal(H).advance(Stage.TRANSFERRED)
    store.write(paths.journal_path(H2), {"hash": H2, "stage": "TELEPORTED"}, journals.VERSION)
    assert [r.hash for r in journals.all_records()] == [H]
