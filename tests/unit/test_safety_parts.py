"""The parts of issue 8's fixes, one by one: the recheck evidence (against the
fake client), the Proof, the machine-wide lock, file identity and cleanup
through links, signals, the journal's liveness, the breaker's rules."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mover import argv as build, cleanup, verify
from mover.endpoints import identity
from mover.endpoints.local import LocalEndpoint
from mover.errors import (ClientAuthError, ClientUnreachableError, ConfigError,
                          ProvisioningError, TransferError, VerificationError,
                          not_the_torrents_fault)
from mover.plan import build as build_plan
from state.hostlock import HostLock, held_elsewhere
from state.journal import Journal, Record, Stage, Status, moving_now
from tests.unit.fakes import World
from tests.unit.machine import KiB, make_torrent

REPO = Path(__file__).resolve().parents[2]
H = "ab" * 20


# -- verify: what counts as a recheck ------------------------------------------

def added(tmp_path, flavor="4.5", **options):
    """A World whose destination holds the torrent at 100% (checked earlier)."""
    world = World(flavor, **options)
    made = make_torrent(world, tmp_path)
    world.dst.add(made.data, made.src_save, "move", (), skip_checking=True)
    return world, made


def flip(path: str) -> None:
    with open(path, "r+b") as handle:
        handle.seek(10)
        byte = handle.read(1)
        handle.seek(10)
        handle.write(bytes([byte[0] ^ 1]))


@pytest.mark.parametrize("flavor", ["4.5", "5"])
def test_a_stale_100_is_never_a_proof(tmp_path, flavor):
    """The data changed since the client last checked it: torrents/info still
    says 100% for a while after the recheck; no Proof, a result below 100%."""
    world, made = added(tmp_path, flavor)
    flip(os.path.join(made.src_save, made.layout.files[0].rel))
    torrent, proof = verify.check(world.dst, made.hash, 600, clock=world.clock)
    assert proof is None and torrent.progress < 1


def test_a_recheck_too_quick_to_see_is_made_again_after_a_fresh_add(tmp_path):
    world, made = added(tmp_path, instant=True)
    torrent, proof = verify.check(world.dst, made.hash, 600, clock=world.clock)
    assert proof is not None and proof.hash == made.hash
    assert ("delete the torrent", made.hash) in world.dst.calls   # added again
    assert world.dst.t[made.hash].save_path == made.src_save


def test_no_recheck_is_asked_while_a_check_runs(tmp_path):
    world, made = added(tmp_path)
    world.dst.speed = 1e5
    world.dst.recheck(made.hash)            # someone else's check, still running
    torrent, proof = verify.check(world.dst, made.hash, 600, clock=world.clock)
    assert proof is not None and not world.dst.t[made.hash].stuck


def test_proof_only_from_verify_never_saved(tmp_path):
    import pickle
    with pytest.raises(TypeError):
        verify.Proof(object(), H, "recheck")
    world, made = added(tmp_path)
    _, proof = verify.check(world.dst, made.hash, 600, clock=world.clock)
    assert verify.require(proof, made.hash) is proof
    with pytest.raises(TypeError):
        pickle.dumps(proof)
    with pytest.raises(VerificationError):
        verify.require(proof, H)
    with pytest.raises(VerificationError):
        verify.require(None, made.hash)


# -- the machine-wide lock -------------------------------------------------------

def test_lock_is_exclusive_and_leaves_no_file(tmp_path):
    first, second = HostLock(H), HostLock(H)
    assert first.acquire() and not second.acquire()
    assert held_elsewhere(H) and moving_now(H)
    path = Path(first.path)
    assert path.parent == Path(os.environ["TORRENT_MOVER_LOCK_DIR"])
    assert (path.stat().st_mode & 0o777) == 0o644
    first.release()
    assert not path.exists()
    assert second.acquire() and not held_elsewhere(H) is False
    second.release()


def test_lock_opens_a_file_it_may_only_read(tmp_path):
    """Another user's 0644 lock file: opened read-only, never with O_CREAT."""
    path = Path(HostLock(H).path)
    path.write_text("")
    path.chmod(0o444)
    lock = HostLock(H)
    assert lock.acquire()
    lock.release()


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_lock_refuses_what_is_not_a_plain_file(tmp_path, kind):
    path = Path(HostLock(H).path)
    if kind == "symlink":
        path.symlink_to(tmp_path / "elsewhere")
    else:
        os.mkfifo(path)
    with pytest.raises(ProvisioningError):
        HostLock(H).acquire()
    assert not (tmp_path / "elsewhere").exists()


def test_lock_held_by_another_process_until_it_dies(tmp_path):
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from state.hostlock import HostLock
        assert HostLock({H!r}).acquire()
        print("held", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert not HostLock(H).acquire()
        with pytest.raises(Exception, match="already being moved"):
            Journal(H).lock()
    finally:
        proc.kill()
        proc.wait()
    lock = HostLock(H)
    assert lock.acquire()
    lock.release()


# -- the journal: who is moving it, and is it alive -------------------------------

def test_heartbeat_tells_a_live_process_from_a_dead_one():
    with Journal(H) as journal:
        journal.beat()
        assert journal.record.heartbeat_alive is True
    dead = subprocess.Popen(["true"])
    dead.wait()
    record = Record(hash=H, heartbeat={"pid": dead.pid, "host": os.uname().nodename,
                                       "started": 1})
    assert record.heartbeat_alive is False
    assert Record(hash=H, heartbeat={"pid": 1, "host": "elsewhere"}).heartbeat_alive is None
    assert Record(hash=H).heartbeat_alive is None


def test_interrupt_marks_every_locked_journal():
    with Journal(H) as journal:
        journal.advance(Stage.PLANNED)
        try:
            journal._on_interrupt()
            journal.set_status(Status.FAILED, TransferError("rsync was killed"))
            assert Journal(H).record.status is Status.INTERRUPTED
        finally:
            Journal._interrupted.clear()


# -- the breaker's rules ---------------------------------------------------------

def test_what_counts_toward_the_breaker():
    assert TransferError("x").counts_toward_breaker
    assert VerificationError("x").counts_toward_breaker
    for exc in (ConfigError("x"), ClientAuthError("x"), ClientUnreachableError("x"),
                not_the_torrents_fault(TransferError("cannot connect"))):
        assert not exc.counts_toward_breaker, exc
    assert TransferError("y").counts_toward_breaker   # marking one marks only that one


# -- file identity and cross-seeds through links ------------------------------------

def test_identity_command_reads_names_no_shell_would_survive(tmp_path):
    names = ["a b", "-e x", "$(touch pwned)", "q'\"", "new\nline", "ünï ✓"]
    paths = []
    for name in names:
        (tmp_path / name).write_text("x")
        paths.append(str(tmp_path / name))
    (tmp_path / "link").symlink_to(tmp_path / "a b")
    paths.append(str(tmp_path / "link"))
    paths.append(str(tmp_path / "missing"))
    out = subprocess.run(build.identity_command(paths), capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    remote = identity.parse_identities(paths, out)
    local = identity.identities(LocalEndpoint(), paths)
    assert remote == local
    assert remote[str(tmp_path / "link")].is_link
    assert remote[str(tmp_path / "link")].key == remote[str(tmp_path / "a b")].key
    assert not remote[str(tmp_path / "missing")].exists
    assert not (tmp_path / "pwned").exists()
    found = subprocess.run(build.find_links_command([str(tmp_path)]), capture_output=True,
                           text=True, check=True).stdout.split("\0")
    assert [p for p in found if p] == identity.links_under(LocalEndpoint(), [str(tmp_path)])


class _Session:
    """Just what cleanup needs: the source client and endpoint."""

    def __init__(self, world):
        self.src, self.src_ep = world.src, LocalEndpoint("source")


def cross_seed(world, made, root: Path, how: str) -> str:
    """Add another torrent to the source that reaches the moved one's files ``how``."""
    import torf
    shared = [s.rel for s in made.layout.files][:2]
    if how == "same-paths":
        save = made.src_save
        folder = root / "x" / made.layout.files[0].rel.split("/")[0]
    elif how == "dir-link":
        save = str(root / "alias")
        os.symlink(made.src_save, save)
        folder = root / "x" / made.layout.files[0].rel.split("/")[0]
    else:
        save = str(root / "cross")
        folder = Path(save) / made.layout.files[0].rel.split("/")[0]
    for rel in shared:
        target = Path(made.src_save) / rel
        alias = (root / "x" if how in ("same-paths", "dir-link") else Path(save)) / rel
        alias.parent.mkdir(parents=True, exist_ok=True)
        if how == "hard-link":
            os.link(target, alias)
        elif how in ("same-paths", "dir-link"):
            alias.write_bytes(target.read_bytes())
        else:
            alias.symlink_to(target)
    (folder / "extra.txt").write_bytes(b"another torrent")
    placed = Path(save) / made.layout.files[0].rel.split("/")[0] / "extra.txt"
    if not placed.exists():
        placed.write_bytes(b"another torrent")
    torrent = torf.Torrent(path=folder, created_by=None, creation_date=None)
    torrent.piece_size = 16 * KiB
    torrent.generate()
    world.src.add(torrent.dump(), save, "other", (), skip_checking=True)
    return torrent.infohash.lower()


@pytest.mark.parametrize("how", ["same-paths", "file-links", "dir-link", "hard-link"])
def test_files_a_cross_seed_reaches_are_shared(tmp_path, how):
    """By path, through a symlink per file, through a linked save path: shared.
    A hard link is not: deleting our name leaves the other torrent's file whole
    (and finding one would need every torrent's file list)."""
    world = World()
    made = make_torrent(world, tmp_path)
    cross = cross_seed(world, made, tmp_path, how)
    torrent = world.src.torrent(made.hash)
    plan = build_plan(made.hash, "Show", "move", (), made.src_save,
                      [(s.rel, s.size) for s in made.layout.files], made.dest, made.dest)
    shared = cleanup.shared_paths(_Session(world), torrent, plan)
    expected = sorted(os.path.join(made.src_save, s.rel) for s in made.layout.files[:2])
    assert shared == ([] if how == "hard-link" else expected)
    cleanup.delete_files(LocalEndpoint(), cleanup.files_to_delete(plan, shared),
                         made.src_save)
    other = world.src.t[cross]
    from tests.unit.fakes import good_pieces
    assert len(good_pieces(other.layout, other.save_path)) == len(other.layout.hashes), \
        "the cross-seed lost data"


def test_cleanup_cost_does_not_grow_with_unrelated_torrents(tmp_path):
    """200 other torrents in the same folder: no file list is asked for."""
    world = World()
    made = make_torrent(world, tmp_path)
    for index in range(200):
        make_torrent(world, tmp_path, name=f"Other {index}", sizes=(100 + index,))
    world.src.calls.clear()
    torrent = world.src.torrent(made.hash)
    plan = build_plan(made.hash, "Show", "move", (), made.src_save,
                      [(s.rel, s.size) for s in made.layout.files], made.dest, made.dest)
    assert cleanup.shared_paths(_Session(world), torrent, plan) == []
    assert [c for c, _ in world.src.calls].count("list the torrent's files") == 0


# -- signals ---------------------------------------------------------------------

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_every_child_within_2s(tmp_path, signum):
    """A child that ignores SIGTERM (and its own child) is gone within 2 s; the
    process exits 128 + the signal number with one line about it."""
    marker = f"tm-child-{os.getpid()}-{signum}"
    code = textwrap.dedent(f"""
        import logging, sys
        sys.path.insert(0, {str(REPO)!r})
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        from mover import process
        from mover.argv import Command
        from mover.errors import Interrupted
        try:
            with process.interrupts():
                process.stream(Command(["sh", "-c", "trap '' TERM; echo up; "
                                        "sleep 60 & wait", {marker!r}]),
                               lambda line: print(line, flush=True), 300)
        except Interrupted as exc:
            sys.exit(exc.exit_code)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "up"
    sent = time.monotonic()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=10)
    took = time.monotonic() - sent
    assert proc.returncode == 128 + signum, err
    assert took < 2.0, took
    assert err.count("interrupted by") == 1, err
    time.sleep(0.2)
    alive = [pid for pid in os.listdir("/proc") if pid.isdigit()
             and marker.encode() in _cmdline(pid)]
    assert not alive, f"children survived: {alive}"


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


@pytest.mark.parametrize("method", ["stat", "remove"])
def test_ssh_endpoint_never_turns_ctrl_c_into_a_retryable_error(method):
    """A KeyboardInterrupt inside an SFTP call propagates as it is: a
    TransferError would be retried and the Ctrl-C lost."""
    import threading
    import types
    from mover.endpoints.ssh import SshEndpoint

    class Sftp:
        def stat(self, path):
            raise KeyboardInterrupt

        remove = lstat = stat
    from mover.endpoints.sftp_guard import Guard
    from mover.errors import ProvisioningError
    endpoint = SshEndpoint.__new__(SshEndpoint)
    endpoint.server = types.SimpleNamespace(host="seedbox", display="u@seedbox:22")
    endpoint.root = None
    endpoint.guard = Guard(None, endpoint.describe, ProvisioningError)
    endpoint._local = threading.local()
    endpoint._local.sftp = Sftp()
    with pytest.raises(KeyboardInterrupt):
        getattr(endpoint, method)("/data/x")


def single_file_cross_seed(world, made, root: Path, link) -> str:
    """Add a single-file torrent of the moved torrent's first file, which
    ``link(target, path)`` puts in another folder; return its hash."""
    import torf
    target = Path(made.src_save) / made.layout.files[0].rel
    folder = root / "cross-seeds"
    folder.mkdir()
    link(target, folder / "episode.bin")
    torrent = torf.Torrent(path=folder / "episode.bin", created_by=None, creation_date=None)
    torrent.piece_size = 16 * KiB
    torrent.generate()
    world.src.add(torrent.dump(), str(folder), "other", (), skip_checking=True)
    return torrent.infohash.lower()


def test_our_name_of_a_file_a_single_file_cross_seed_hard_links_is_deleted(tmp_path):
    """cross-seed's hard link mode: a single-file cross-seed holds one of our files
    by a hard link in its own folder. Its file is another directory entry:
    deleting our name leaves its data, so our name goes (it was kept, and then
    left behind for good once our torrent was gone)."""
    world = World()
    made = make_torrent(world, tmp_path)
    cross = single_file_cross_seed(world, made, tmp_path, os.link)
    torrent = world.src.torrent(made.hash)
    plan = build_plan(made.hash, "Show", "move", (), made.src_save,
                      [(s.rel, s.size) for s in made.layout.files], made.dest, made.dest)
    assert cleanup.shared_paths(_Session(world), torrent, plan) == []
    cleanup.delete_files(LocalEndpoint(), cleanup.files_to_delete(plan, []), made.src_save)
    assert not (Path(made.src_save) / made.layout.files[0].rel).exists()
    from tests.unit.fakes import good_pieces
    other = world.src.t[cross]
    assert len(good_pieces(other.layout, other.save_path)) == len(other.layout.hashes)


@pytest.mark.parametrize("seen_as, kept", [
    ("one entry, another path", True),       # a bind mount of the file: one link
    ("same folder and name", True),          # a bind mount of its folder
    ("unknown links", True),
    ("a mount point", True),                 # bind-mounted there, hard-linked elsewhere
    ("no mount table", True),
    ("another entry", False),                # a hard link
])
def test_a_file_reached_by_device_and_inode_is_kept_unless_a_hard_link(
        tmp_path, monkeypatch, seen_as, kept):
    """The other torrent's file has our device and inode at another resolved path.
    Kept when it may be our very directory entry (a bind mount shows one entry
    at two paths: deleting ours deletes theirs; its path is then a mount point)
    or when the links or the mounts are unknown; not kept when it is another
    entry of the file (more than one link, another folder, no mount there):
    deleting our name leaves its data."""
    world = World()
    made = make_torrent(world, tmp_path)
    cross = single_file_cross_seed(world, made, tmp_path,
                                   lambda target, path: path.write_bytes(target.read_bytes()))
    ours = str(Path(made.src_save) / made.layout.files[0].rel)
    theirs = str(tmp_path / "cross-seeds" / "episode.bin")
    real = identity.identities

    def identities(endpoint, paths):
        found = real(endpoint, paths)
        key, nlink = found.get(ours, real(endpoint, [ours])[ours]).key, {
            "one entry, another path": 1, "unknown links": None}.get(seen_as, 2)
        for path in (ours, theirs):
            if path in found:
                found[path] = identity.Identity(path, path, True, dev=key[0], ino=key[1],
                                                nlink=nlink)
        if seen_as == "same folder and name":       # their folder: ours, bind-mounted
            for path in list(found):
                if path == os.path.dirname(theirs):
                    found[path] = real(endpoint, [os.path.dirname(ours)])[
                        os.path.dirname(ours)]
            found[theirs] = identity.Identity(
                theirs, os.path.join(os.path.dirname(theirs), os.path.basename(ours)), True,
                dev=key[0], ino=key[1], nlink=2)
        return found
    monkeypatch.setattr(identity, "identities", identities)
    mounts = {"a mount point": {theirs}, "no mount table": None}.get(seen_as, set())
    monkeypatch.setattr(identity, "mount_points", lambda endpoint: mounts)
    torrent = world.src.torrent(made.hash)
    plan = build_plan(made.hash, "Show", "move", (), made.src_save,
                      [(s.rel, s.size) for s in made.layout.files], made.dest, made.dest)
    shared = cleanup.shared_paths(_Session(world), torrent, plan)
    assert shared == ([ours] if kept else [])
    assert cross in world.src.t


def test_mount_table_fields_are_unescaped():
    text = ("36 35 98:0 /mnt1 /srv/a\\040b\\134c rw,noatime master:1 - ext4 /dev/sda1 rw\n"
            "37 35 98:0 / / rw - ext4 /dev/sda1 rw\n")
    assert identity.parse_mountinfo(text) == {"/srv/a b\\c", "/"}
    assert "/" in identity.mount_points(LocalEndpoint())


def test_a_mount_table_without_root_is_no_table():
    """An empty or cut /proc (a restricted container) tells nothing: None, so a
    file reached by device and inode is kept."""
    class Server:
        is_local = False

        def run(self, argv, timeout):
            return ""
    assert identity.mount_points(Server()) is None


@pytest.mark.parametrize("char", ["\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028"])
def test_a_mount_point_name_may_hold_any_line_separator_but_newline(char):
    """The kernel escapes only space, tab, newline and backslash in the mount
    table: every other character str.splitlines() splits on stays raw."""
    point = f"/srv/cross{char}seeds/ep.mkv"
    text = (f"37 35 98:0 / / rw - ext4 /dev/sda1 rw\n"
            f"40 37 98:0 /srv/A/ep.mkv {point} rw - ext4 /dev/sda1 rw\n")
    assert point in identity.parse_mountinfo(text)


@pytest.mark.parametrize("their_name", ["EP.mkv", "Ep.mkv", "e\u0301p.mkv"])
def test_another_spelling_in_the_same_folder_is_kept(tmp_path, monkeypatch, their_name):
    """A case- or normalization-insensitive folder (an SMB share, ZFS
    casesensitivity=insensitive, ext4 casefold): another torrent names our very
    entry ep.mkv as EP.mkv; same device, inode and (a library hard link) two
    links. In the same folder that may be our one entry: kept. (Simulated:
    what such a filesystem answers.)"""
    ours = tmp_path / "A" / "ep.mkv"
    ours.parent.mkdir()
    ours.write_bytes(b"x" * 1000)
    (tmp_path / "library").mkdir()
    os.link(ours, tmp_path / "library" / "ep.mkv")
    theirs = str(ours.parent / their_name)
    real = identity.identities

    def identities(endpoint, paths):
        paths = list(paths)
        found = real(endpoint, [p for p in paths if p != theirs])
        if theirs in paths:
            same = real(endpoint, [str(ours)])[str(ours)]
            found[theirs] = identity.Identity(theirs, theirs, True, False, False,
                                              same.dev, same.ino, same.nlink)
        return found
    monkeypatch.setattr(identity, "identities", identities)
    assert kept_beside(str(ours), theirs)


def kept_beside(ours: str, theirs: str) -> bool:
    """True if cleanup keeps our single file ``ours`` while another source torrent
    is the single file ``theirs``."""
    from types import SimpleNamespace as NS
    from mover.torrent import Torrent, TorrentState
    other = Torrent(hash="b" * 40, name=os.path.basename(theirs),
                    state=list(TorrentState)[0], progress=1.0,
                    save_path=os.path.dirname(theirs), content_path=theirs,
                    category="other", tags=(), size=1, amount_left=0)
    client = NS(files=lambda h: [NS(name=os.path.basename(theirs))])
    return ours in cleanup._shared(client, LocalEndpoint(), [ours], ours, [other])


def test_hard_links_under_a_folder_found_alike_here_and_on_a_server(tmp_path):
    """Other names of our files below other torrents' folders: the local walk and
    the remote find command (run here) find the same, whatever the names."""
    ours = tmp_path / "A" / "ep $(x).mkv"
    ours.parent.mkdir()
    ours.write_bytes(b"x" * 100)
    other = tmp_path / "cross" / "-dash; 'q' \u00e9"
    (other / "sub").mkdir(parents=True)
    os.link(ours, other / "sub" / "renamed $(y).mkv")
    (other / "plain.nfo").write_bytes(b"n")
    (other / "link.mkv").symlink_to(ours)
    st = ours.stat()
    keys = {(st.st_dev, st.st_ino)}

    class Server:
        is_local, label = False, "source"

        def run(self, argv, timeout):
            return subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    here = identity.hard_links_under(LocalEndpoint(), [str(tmp_path / "cross")], keys)
    there = identity.hard_links_under(Server(), [str(tmp_path / "cross")], keys)
    assert here == there == [str(other / "sub" / "renamed $(y).mkv")]
    assert not (tmp_path / "pwned").exists()
