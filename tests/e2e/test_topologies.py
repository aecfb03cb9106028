"""Whole moves through hook.py in every topology, against real clients, sshd, rsync.

Each test adds a complete torrent with hostile names to the source client,
runs ``hook.py HASH`` and checks: the destination copy is byte-identical and
seeding at 100% with the source's category and tags, and the source has
neither the torrent nor its files.
"""

import os
import pwd
import tempfile
from pathlib import Path

import pytest

from state.journal import Stage
from tests.e2e import util
from tests.harness import eventually, torrents

CASES = [("push", "rsync"), ("push", "sftp"), ("pull", "sftp"), ("pull", "rsync"),
         ("relay", "rsync"), ("relay", "sftp"), ("local", "local"), ("local", "rsync")]


def servers(topology, sshd):
    """Return (source server, destination server) for a topology."""
    return (sshd if topology in ("pull", "relay") else None,
            sshd if topology in ("push", "relay") else None)


@pytest.mark.parametrize("topology,mode", CASES, ids=[f"{t}-{m}" for t, m in CASES])
@pytest.mark.parametrize("single", [False, True], ids=["multi", "single"])
def test_move(qbt_trio, sshd, tmp_root, topology, mode, single):
    src, dst = qbt_trio.src, qbt_trio.dst
    ws = util.workspace(tmp_root)
    data, ih, top = util.nasty_torrent(ws, single=single)
    expected = util.digest_tree(ws.src_save)
    torrents.add_complete(src.client(), data, ws.src_save, category="move",
                          tags=["tv", "keep me"])
    src_server, dst_server = servers(topology, sshd)
    extra = {"local_cache_path": ws.cache} if topology == "relay" and mode == "rsync" else {}
    util.write_config(ws, src, dst, src_server=src_server, dst_server=dst_server,
                      mode=mode, **extra)

    util.assert_clean_run(util.run_hook(ws, ih))

    assert util.digest_tree(ws.dest) == expected
    entry = eventually(lambda: torrents.seeding(dst.client(), ih), timeout=30)
    assert entry.category == "move"
    assert set(entry.tags.split(", ")) == {"tv", "keep me"}
    assert entry.save_path.rstrip("/") == str(ws.dest)
    assert torrents.info(src.client(), ih) is None
    assert not top.exists()
    assert list(ws.cache.iterdir()) == []
    journal = util.read_journal(ws, ih)
    assert journal["stage"] == Stage.SOURCE_REMOVED.name and journal["status"] == "done"


def test_password_auth_push(qbt45_trio, sshd, tmp_root):
    """A password-authenticated server works with rsync (sshpass -e) and the
    password appears in no log."""
    src, dst = qbt45_trio.src, qbt45_trio.dst
    ws = util.workspace(tmp_root)
    ws.dest = Path(tempfile.mkdtemp(prefix="tm-password-dest-"))
    account = pwd.getpwnam(sshd.password_user)
    os.chown(ws.dest, account.pw_uid, account.pw_gid)  # the password user writes here
    data, ih, top = util.nasty_torrent(ws)
    expected = util.digest_tree(ws.src_save)
    torrents.add_complete(src.client(), data, ws.src_save, category="move")
    util.write_config(ws, src, dst, dst_server=sshd, mode="rsync", password=True)
    proc = util.run_hook(ws, ih, "-v")
    util.assert_clean_run(proc)
    assert util.digest_tree(ws.dest) == expected
    logs = "".join(p.read_text() for p in (ws.state / "logs").glob("*.log*"))
    assert sshd.password not in logs + proc.stdout + proc.stderr
