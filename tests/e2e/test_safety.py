"""Issue 8: the cases where a move could lose the only copy, undo a test run,
hide a stuck torrent, or race another mover. Real clients (4.5 and 5.x), real
hook.py processes; every test failed on the code before the fix.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from tests.e2e import util
from tests.e2e.test_faults import (MiB, Output, SafetyMonitor, assert_moved, assert_seeding,
                                   engine_config, flip_byte, landed, make_source,
                                   processes_mentioning, stop_hook, wait_landed)
from tests.harness import eventually, torrents

MOVING_TAG = "torrent-mover-moving"


def output(proc) -> str:
    return proc.stdout + proc.stderr


def local_source(ws, src, dst, big: int = 2 * MiB, **settings):
    """A small torrent complete on ``src``; a local-topology config. Returns make_source's."""
    made = make_source(ws, src, big=big, piece_size=65536)
    util.write_config(ws, src, dst, mode="local", **settings)
    return made


# -- 1. a verification from an earlier run never deletes the only copy ---------------

def test_test_run_then_destination_lost_sends_again(qbt_trio, tmp_root):
    """--test-run, then the destination folder is lost: ``hook.py H`` must not
    trust the earlier verification. It sends the data again, verifies it, and
    only then removes the source."""
    src, dst = qbt_trio.src, qbt_trio.dst
    ws = util.workspace(tmp_root)
    ih, top, expected, files = local_source(ws, src, dst)
    util.assert_clean_run(util.run_hook(ws, "--test-run", ih))
    assert util.digest_tree(ws.dest) == expected
    assert torrents.is_complete(src.client(), ih)
    for child in ws.dest.iterdir():          # the disk was swapped, the user deleted it
        shutil.rmtree(child)
    with SafetyMonitor(src, dst, ih, files) as monitor:
        proc = util.run_hook(ws, ih)
    util.assert_clean_run(proc)
    assert not monitor.violations, monitor.violations
    assert_moved(ws, src, dst, ih, expected, top)


def test_crash_after_verified_then_destination_damaged(qbt_trio, tmp_root):
    """kill -9 right after VERIFIED, then a destination byte flips: the re-run
    verifies again (finds and repairs the piece) before removing the source."""
    src, dst = qbt_trio.src, qbt_trio.dst
    ws = util.workspace(tmp_root)
    ih, top, expected, files = local_source(ws, src, dst)
    proc = util.run_hook(ws, ih, TORRENT_MOVER_CRASH_AT="VERIFIED")
    assert proc.returncode == -signal.SIGKILL, output(proc)
    flip_byte(ws.dest / util.NASTY_DIR / "big.bin")
    with SafetyMonitor(src, dst, ih, files) as monitor:
        proc = util.run_hook(ws, ih)
    util.assert_clean_run(proc)
    assert not monitor.violations, monitor.violations
    assert_moved(ws, src, dst, ih, expected, top)


def test_stream_verification_of_an_earlier_run_not_trusted(qbt45_trio, tmp_root):
    """verify = stream: a run verified every piece and was killed; a destination
    file changed afterwards. The next run may not add with skip_checking on the
    strength of the earlier run: it verifies again and repairs."""
    src, dst = qbt45_trio.src, qbt45_trio.dst
    ws = util.workspace(tmp_root)
    ih, top, expected, files = local_source(ws, src, dst, verify="stream")
    proc = util.run_hook(ws, ih, TORRENT_MOVER_CRASH_AT="TRANSFERRED")
    assert proc.returncode == -signal.SIGKILL, output(proc)
    assert util.read_journal(ws, ih)["extra"].get("stream_verified") is True
    flip_byte(ws.dest / util.NASTY_DIR / "big.bin")
    with SafetyMonitor(src, dst, ih, files) as monitor:
        proc = util.run_hook(ws, ih)
    util.assert_clean_run(proc)
    assert not monitor.violations, monitor.violations
    assert_moved(ws, src, dst, ih, expected, top)


# -- 2. the next sweep never undoes a --test-run --------------------------------------

def test_sweep_leaves_a_test_run_and_hook_rechecks_eligibility(qbt_trio, tmp_root):
    src, dst = qbt_trio.src, qbt_trio.dst
    ws = util.workspace(tmp_root)
    ih, top, expected, files = local_source(ws, src, dst)
    util.assert_clean_run(util.run_hook(ws, "--test-run", ih))
    proc = util.run_hook(ws, "--sweep")
    util.assert_clean_run(proc)
    assert f"{ih}  test run, source kept" in proc.stdout, output(proc)
    assert "0 moved" in proc.stdout
    assert torrents.is_complete(src.client(), ih) and util.digest_tree(ws.src_save) == expected

    # the user decides to keep it: a new category; the explicit run respects that
    src.client().torrents_create_category(name="keep")
    src.client().torrents_set_category(category="keep", torrent_hashes=ih)
    proc = util.run_hook(ws, ih)
    util.assert_clean_run(proc)
    assert "category is 'keep'" in output(proc), output(proc)
    assert torrents.is_complete(src.client(), ih) and util.digest_tree(ws.src_save) == expected
    proc = util.run_hook(ws, "--sweep")
    util.assert_clean_run(proc)
    assert torrents.is_complete(src.client(), ih)

    # back in category_to_move, an explicit run finishes it
    src.client().torrents_set_category(category="move", torrent_hashes=ih)
    util.assert_clean_run(util.run_hook(ws, ih))
    assert_moved(ws, src, dst, ih, expected, top)


# -- 3. the destination already has that torrent --------------------------------------

@pytest.mark.parametrize("what", ["other-path", "deselected"])
def test_destination_already_has_it_differently(qbt_trio, tmp_root, what):
    """The destination holds the hash at another save path, or with a file not
    wanted: stop before the transfer, say what is there, keep the source."""
    src, dst = qbt_trio.src, qbt_trio.dst
    ws = util.workspace(tmp_root)
    ih, top, expected, files = local_source(ws, src, dst)
    data = src.client().torrents_export(torrent_hash=ih)
    if what == "other-path":
        elsewhere = ws.root / "elsewhere"
        shutil.copytree(ws.src_save, elsewhere)
        torrents.add_complete(dst.client(), data, elsewhere)
        needle = str(elsewhere)
    else:
        torrents.add(dst.client(), data, ws.dest, stopped=True)
        dst.client().torrents_file_priority(torrent_hash=ih, file_ids=[1], priority=0)
        eventually(lambda: any(f.priority == 0 for f in dst.client().torrents_files(ih)))
        needle = "not wanted"
    proc = util.run_hook(ws, ih)
    util.assert_clean_run(proc, code=1)
    assert "already has this torrent" in output(proc) and needle in output(proc), output(proc)
    assert landed(ws.dest) == 0, "bytes were sent to a destination that was refused"
    assert torrents.is_complete(src.client(), ih)
    assert util.digest_tree(ws.src_save) == expected


# -- 4. cross-seeds joined by links ---------------------------------------------------

@pytest.mark.parametrize("link", ["file-links", "dir-link"])
def test_cross_seed_through_symlinks_keeps_its_files(qbt_trio, tmp_root, link):
    """Another source torrent reaches the moved torrent's files through symlinks
    (one per file, or a linked folder): those files stay; the cross-seed still
    checks 100% afterwards. A file only the moved torrent has is deleted."""
    cross_seed_case(qbt_trio, tmp_root, link)


def test_cross_seed_through_symlinks_on_an_ssh_source(qbt45_trio, sshd, tmp_root):
    """The same with the source files on an SSH server (a pull): the links are
    found and resolved there, by one remote command per batch."""
    cross_seed_case(qbt45_trio, tmp_root, "file-links", sshd=sshd)


def source_for(qbt_trio, tmp_root, sshd=None):
    """A workspace and local_source's torrent; over SSH (a pull) with ``sshd``.
    Return (ws, src, ih, top, expected)."""
    src, dst = qbt_trio.src, qbt_trio.dst
    ws = util.workspace(tmp_root)
    ih, top, expected, _ = local_source(ws, src, dst)
    if sshd is not None:
        engine_config(ws, src, dst, sshd, "sftp-pull")
    return ws, src, ih, top, expected


def cross_seed_case(qbt_trio, tmp_root, link: str, sshd=None) -> None:
    ws, src, ih, top, expected = source_for(qbt_trio, tmp_root, sshd)
    shared = [top / "big.bin", top / "sub dir" / "it's; a \"test\" `x`.nfo"]
    only_mine = top / "sub dir" / "deeper" / "\u00fcn\u00ef c\u00f8d\u00e9 \u2713.srt"
    if link == "file-links":
        cross_save = ws.root / "cross"
        cross_top = cross_save / util.NASTY_DIR
        for path in shared:
            alias = cross_top / path.relative_to(top)
            alias.parent.mkdir(parents=True, exist_ok=True)
            alias.symlink_to(path)
        (cross_top / "cross only.txt").write_bytes(b"x" * 5000)   # another hash
    else:
        cross_save = ws.root / "alias"
        cross_save.symlink_to(ws.src_save, target_is_directory=True)
        cross_top = cross_save / util.NASTY_DIR
        # the same folder seen through the link, without the .srt: another hash
        staged = ws.root / "staged" / util.NASTY_DIR
        for path in shared:
            (staged / path.relative_to(top)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, staged / path.relative_to(top))
        cross_top = staged
    data, cross = torrents.make_torrent(cross_top, piece_size=65536)
    if link == "dir-link":
        shutil.rmtree(ws.root / "staged")
    torrents.add_complete(src.client(), data, cross_save, category="other")
    util.assert_clean_run(util.run_hook(ws, ih))
    assert util.digest_tree(ws.dest) == expected
    assert torrents.info(src.client(), ih) is None
    for path in shared:
        assert path.is_file(), f"{path} was deleted but the cross-seed links to it"
    assert not only_mine.exists()
    src.client().torrents_recheck(torrent_hashes=cross)
    time.sleep(1)
    eventually(lambda: torrents.is_complete(src.client(), cross), timeout=30,
               message="the cross-seed lost data")


def test_single_file_cross_seed_by_hard_link(qbt_trio, tmp_root):
    """cross-seed's hard link mode: a single-file cross-seed in its own folder holds
    our big.bin by a hard link. Our name of it goes with our torrent (its own
    name keeps the data: nothing is left behind on the seedbox), and the
    cross-seed still checks 100%."""
    single_file_cross_seed_case(qbt_trio, tmp_root, "hard-link")


def test_single_file_cross_seed_by_bind_mount(qbt45_trio, tmp_root):
    """The same file bind-mounted into the cross-seed's folder is one directory
    entry at two paths: it stays, even with a hard link in a media library
    beside it (more than one link, yet the cross-seed's path is a mount point).
    (4.5 only: the 5.x client's chroot does not see a mount made after it
    started.)"""
    single_file_cross_seed_case(qbt45_trio, tmp_root, "bind-mount")


def test_single_file_cross_seed_by_hard_link_on_an_ssh_source(qbt45_trio, sshd, tmp_root):
    """The same hard link with the source files on an SSH server (a pull): the
    links are counted and the folders compared there."""
    single_file_cross_seed_case(qbt45_trio, tmp_root, "hard-link", sshd=sshd)


def test_hard_linked_movie_and_its_cross_seed_move_as_a_group(qbt_trio, tmp_root):
    """The common movie case of cross-seed's hard link mode: Movie.mkv (single
    file) in the save path, its cross-seed a hard link of it in its own folder,
    both in category_to_move. One hook run moves both (issue 11 §1): one copy
    at the destination, both seeding there on it with their own category and
    tags, and both names gone from the source."""
    hard_linked_movie_case(qbt_trio, tmp_root)


def test_hard_linked_movie_group_from_an_ssh_source(qbt45_trio, sshd, tmp_root):
    """The same with the source files on an SSH server (a pull): the hard link is
    found, and told from a bind mount, there."""
    hard_linked_movie_case(qbt45_trio, tmp_root, sshd)


@pytest.mark.parametrize("over", ["local", "ssh"])
def test_hard_linked_pack_and_its_cross_seed_move_as_a_group(qbt45_trio, sshd, tmp_root,
                                                             over):
    """A season pack and its cross-seed, the pack's folder rebuilt of hard links in
    a folder of its own: found by the hard links below that folder (locally, or
    by one find on the SSH server), moved as one group, both seeding on one
    copy, nothing left at the source."""
    ws = util.workspace(tmp_root)
    top = ws.src_save / util.NASTY_DIR
    torrents.make_content(top, {"e01.mkv": 2 * MiB + 1, "sub dir/e02 $(x).mkv": 1 * MiB},
                          seed=ws.root.name)
    data, ih = torrents.make_torrent(top, piece_size=65536)
    cross_top = ws.root / "cross-seeds" / util.NASTY_DIR
    for path in sorted(p for p in top.rglob("*") if p.is_file()):
        link = cross_top / path.relative_to(top)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, link)
    cross_data, cross = torrents.make_torrent(cross_top, piece_size=32768)
    move_linked_pair(ws, qbt45_trio, (data, ih, ws.src_save), (cross_data, cross,
                                                                cross_top.parent),
                     sshd if over == "ssh" else None)
    assert not [p for p in ws.src_save.rglob("*") if p.is_file()]
    assert not [p for p in cross_top.parent.rglob("*") if p.is_file()]


def move_linked_pair(ws, qbt_trio, first, second, sshd=None) -> None:
    """Add ``first`` (torrent bytes, hash, save path; tag tv) and its hard-linked
    cross-seed ``second`` (tag cross) complete, both in category move; run the
    hook of the first (over SSH, a pull, with ``sshd``): both seed at the
    destination on one copy, both leave the source."""
    src, dst = qbt_trio.src, qbt_trio.dst
    for (data, _, save), tag in ((first, "tv"), (second, "cross")):
        torrents.add_complete(src.client(), data, save, category="move", tags=[tag])
    expected = util.digest_tree(ws.src_save)
    util.write_config(ws, src, dst, mode="local")
    if sshd is not None:
        engine_config(ws, src, dst, sshd, "sftp-pull")
    proc = util.run_hook(ws, first[1])
    util.assert_clean_run(proc)
    assert second[1] in output(proc)
    assert_seeding(ws, dst, first[1], "move", ("tv",))
    assert_seeding(ws, dst, second[1], "move", ("cross",))
    assert util.digest_tree(ws.dest) == expected
    eventually(lambda: all(torrents.info(src.client(), h) is None
                           for h in (first[1], second[1])), timeout=15,
               message="a member is still on the source")


def hard_linked_movie_case(qbt_trio, tmp_root, sshd=None) -> None:
    ws = util.workspace(tmp_root)
    movie = ws.src_save / "Movie (2024) $(x).mkv"
    movie.write_bytes(os.urandom(3 * MiB + 5))
    data, ih = torrents.make_torrent(movie, piece_size=65536)
    alias = ws.root / "cross-seeds" / movie.name
    alias.parent.mkdir()
    os.link(movie, alias)
    cross_data, cross = torrents.make_torrent(alias, piece_size=32768)
    move_linked_pair(ws, qbt_trio, (data, ih, ws.src_save), (cross_data, cross,
                                                              alias.parent), sshd)
    assert not movie.exists() and not alias.exists()
    again = util.run_hook(ws, cross)
    util.assert_clean_run(again)
    assert f"moved with group of {ih}" in output(again)


def single_file_cross_seed_case(qbt_trio, tmp_root, how: str, sshd=None) -> None:
    ws, src, ih, top, expected = source_for(qbt_trio, tmp_root, sshd)
    big = top / "big.bin"
    alias = ws.root / "cross-seeds" / "big.bin"
    alias.parent.mkdir()
    if how == "hard-link":
        os.link(big, alias)
    else:
        (ws.root / "library").mkdir()
        os.link(big, ws.root / "library" / "big.bin")
        alias.write_bytes(b"")
        subprocess.run(["mount", "--bind", str(big), str(alias)], check=True)
    try:
        content = alias.read_bytes()
        data, cross = torrents.make_torrent(alias, piece_size=65536)
        torrents.add_complete(src.client(), data, alias.parent, category="other")
        util.assert_clean_run(util.run_hook(ws, ih))
        assert util.digest_tree(ws.dest) == expected
        assert torrents.info(src.client(), ih) is None
        if how == "hard-link":
            assert not big.exists(), "our name of a hard-linked file was left behind"
        else:
            assert big.is_file(), "a file the cross-seed reaches by a bind mount was deleted"
        assert alias.read_bytes() == content
        src.client().torrents_recheck(torrent_hashes=cross)
        time.sleep(1)
        eventually(lambda: torrents.is_complete(src.client(), cross), timeout=30,
                   message="the cross-seed lost data")
    finally:
        if how == "bind-mount":
            subprocess.run(["umount", str(alias)], check=False)


# -- 5. interrupts and the circuit breaker --------------------------------------------

@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_during_rsync_stops_everything_within_2s(qbt45_trio, sshd, tmp_root,
                                                        signum, code):
    src, dst = qbt45_trio.src, qbt45_trio.dst
    ws = util.workspace(tmp_root)
    ih, top, expected, files = make_source(ws, src, big=12 * MiB)
    engine_config(ws, src, dst, sshd, "rsync-push", bandwidth_limit=1,
                  max_concurrent_file_transfers=1)
    proc = util.start_hook(ws, ih)
    out = Output(proc)
    try:
        wait_landed(ws, proc, MiB // 2, out.text)
        assert processes_mentioning(str(ws.root), exclude={proc.pid}), "no rsync running"
        sent = time.monotonic()
        proc.send_signal(signum)
        text = out.wait(10)
        took = time.monotonic() - sent
    finally:
        stop_hook(proc)
    assert proc.returncode == code, text
    assert took < 2.0, f"exit took {took:.1f} s"
    assert not processes_mentioning(str(ws.root)), "a child survived the interrupt"
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if "interrupted" in ln]
    assert len(lines) == 1, text
    assert landed(ws.dest) < 12 * MiB
    record = util.read_journal(ws, ih)
    assert record["status"] == "interrupted", record
    assert torrents.is_complete(src.client(), ih)
    engine_config(ws, src, dst, sshd, "rsync-push")
    util.assert_clean_run(util.run_hook(ws, ih))
    assert_moved(ws, src, dst, ih, expected, top)


def test_sigterm_stops_a_sweep_of_parallel_moves(qbt45_trio, sshd, tmp_root):
    """Two moves at once in one sweep (threads): SIGTERM stops both transfers
    within 2 s, both journals say interrupted, the next sweep finishes both."""
    src, dst = qbt45_trio.src, qbt45_trio.dst
    ws = util.workspace(tmp_root)
    hashes = []
    for name in ("one.bin", "two.bin"):
        torrents.make_content(ws.src_save, {name: 6 * MiB}, seed=name)
        data, ih = torrents.make_torrent(ws.src_save / name, piece_size=262144)
        torrents.add_complete(src.client(), data, ws.src_save, category="move")
        hashes.append(ih)
    expected = util.digest_tree(ws.src_save)
    engine_config(ws, src, dst, sshd, "rsync-push", bandwidth_limit=1, parallel_jobs=2,
                  max_concurrent_file_transfers=1)
    proc = util.start_hook(ws, "--sweep")
    out = Output(proc)
    try:
        eventually(lambda: all((ws.state / "journal" / f"{ih}.json").exists()
                               for ih in hashes), timeout=60, message="both moves started")
        wait_landed(ws, proc, MiB, out.text)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        text = out.wait(10)
        took = time.monotonic() - sent
    finally:
        stop_hook(proc)
    assert proc.returncode == 143 and took < 2.0, (proc.returncode, took, text)
    assert not processes_mentioning(str(ws.root)), "a child survived the interrupt"
    for ih in hashes:
        assert util.read_journal(ws, ih)["status"] == "interrupted"
        assert torrents.is_complete(src.client(), ih)
    engine_config(ws, src, dst, sshd, "rsync-push")
    proc = util.run_hook(ws, "--sweep")
    util.assert_clean_run(proc)
    assert "sweep: 2 moved" in proc.stdout, output(proc)
    assert util.digest_tree(ws.dest) == expected


@pytest.mark.parametrize("wrong", ["password", "port"])
def test_wrong_destination_login_never_opens_the_breaker(qbt_trio, tmp_root, wrong):
    """A wrong destination password or port: found before any byte moves, and
    it never blocks the torrent, however often it is tried."""
    src, dst = qbt_trio.src, qbt_trio.dst
    ws = util.workspace(tmp_root)
    ih, top, expected, files = local_source(ws, src, dst, circuit_breaker_threshold=2)
    text = ws.config.read_text()
    head, _, tail = text.partition("[DESTINATION_CLIENT]")
    if wrong == "password":
        tail = tail.replace(f"password = {dst.password}", "password = not-it", 1)
    else:
        from tests.e2e.test_breaker import closed_port
        tail = tail.replace(f"port = {dst.port}", f"port = {closed_port()}", 1)
    ws.config.write_text(head + "[DESTINATION_CLIENT]" + tail)
    for _ in range(3):
        proc = util.run_hook(ws, ih)
        assert proc.returncode != 0, output(proc)
        assert "Traceback" not in output(proc)
        assert "circuit breaker" not in output(proc), output(proc)
        assert "destination" in output(proc), output(proc)
        assert landed(ws.dest) == 0, "bytes moved before the destination login was checked"
    breaker = ws.state / "breaker.json"
    assert not breaker.exists() or ih not in json.loads(breaker.read_text())["torrents"]
    assert torrents.is_complete(src.client(), ih)


def open_breaker(ws, ih: str, failures: int) -> None:
    """Record ``failures`` failed moves of ``ih`` in ws's breaker (what a failing
    torrent leaves behind)."""
    code = ("import sys; from state import breaker\n"
            f"for _ in range({failures}): breaker.record_failure({ih!r}, 'rsync failed (23)')")
    subprocess.run([util.PYTHON, "-c", code], cwd=util.REPO, env=util.hook_env(ws),
                   check=True, capture_output=True)


def test_blocked_torrent_is_visible(qbt45_trio, tmp_root):
    """A torrent the breaker blocks: a manual run exits non-zero naming
    --clear-circuit-breaker; the sweep lists it and exits non-zero."""
    src, dst = qbt45_trio.src, qbt45_trio.dst
    ws = util.workspace(tmp_root)
    ih, top, expected, files = local_source(ws, src, dst, circuit_breaker_threshold=2,
                                            circuit_breaker_cooldown=3600)
    open_breaker(ws, ih, 2)
    proc = util.run_hook(ws, ih)
    util.assert_clean_run(proc, code=1)
    assert f"--clear-circuit-breaker {ih}" in output(proc), output(proc)
    proc = util.run_hook(ws, "--sweep")
    util.assert_clean_run(proc, code=1)
    assert "1 blocked" in proc.stdout and f"blocked {ih}" in proc.stdout, output(proc)
    assert torrents.is_complete(src.client(), ih)
    util.assert_clean_run(util.run_hook(ws, "--clear-circuit-breaker", ih))
    util.assert_clean_run(util.run_hook(ws, ih))
    assert_moved(ws, src, dst, ih, expected, top)


# -- 7. one torrent, one mover, whoever runs it ---------------------------------------

OTHER_USER = "tmtest"


def as_other_user(ws, *args: str):
    """Start hook.py as OTHER_USER with its own HOME, state dir and config copy."""
    import pwd
    user = pwd.getpwnam(OTHER_USER)
    home = ws.root / "tm-home"
    for folder in (home, home / "state"):
        folder.mkdir(exist_ok=True)
        os.chown(folder, user.pw_uid, user.pw_gid)
    config = home / "config.ini"
    shutil.copy(ws.config, config)
    os.chown(config, user.pw_uid, user.pw_gid)
    site = next((util.REPO / ".venv" / "lib").glob("python3*/site-packages"))
    env = {"HOME": str(home), "PATH": os.environ["PATH"],
           "TORRENT_MOVER_STATE_DIR": str(home / "state"),
           "PYTHONPATH": f"{site}:{util.REPO}"}
    for key in ("TORRENT_MOVER_LOCK_DIR",):
        if key in os.environ:
            env[key] = os.environ[key]
    return subprocess.Popen(["runuser", "-u", OTHER_USER, "--", "env", "-i",
                             *[f"{k}={v}" for k, v in env.items()],
                             "/usr/bin/python3", str(util.REPO / "hook.py"),
                             "--config", str(config), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, cwd="/")


@pytest.mark.parametrize("first", ["root", OTHER_USER])
def test_two_users_never_move_one_torrent_at_once(qbt45_trio, tmp_root, first):
    """The hook as the qBittorrent user and a cron sweep as root, each with its
    own HOME and state dir: while one moves the torrent (tagged on the source
    for all to see) the other leaves it alone."""
    import pwd
    src, dst = qbt45_trio.src, qbt45_trio.dst
    ws = util.workspace(tmp_root)
    ih, top, expected, files = local_source(ws, src, dst, big=8 * MiB, bandwidth_limit=2)
    other = pwd.getpwnam(OTHER_USER)
    os.chown(ws.dest, other.pw_uid, other.pw_gid)
    start = (lambda *a: as_other_user(ws, *a)) if first == OTHER_USER \
        else (lambda *a: util.start_hook(ws, *a))
    second = (lambda *a: util.start_hook(ws, *a)) if first == OTHER_USER \
        else (lambda *a: as_other_user(ws, *a))
    proc = start(ih)
    out = Output(proc)
    try:
        wait_landed(ws, proc, MiB, out.text)
        assert MOVING_TAG in torrents.info(src.client(), ih).tags.split(", "), \
            "the source torrent does not show that it is being moved"
        for args in ((ih,), ("--sweep",)):
            rival = second(*args)
            text, _ = rival.communicate(timeout=60)
            assert rival.returncode == 0, text
            assert "already being moved" in text or "busy" in text, text
        assert proc.poll() is None, "the first mover ended before the rival ran"
        text = out.wait(120)
    finally:
        stop_hook(proc)
    assert proc.returncode == 0, text
    state = ws.root / "tm-home" / "state" if first == OTHER_USER else None
    assert_moved(ws, src, dst, ih, expected, top, state=state)
