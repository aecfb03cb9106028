"""transfer_mode = auto (the default): the engine is picked for the link and logged."""

import pytest

from tests.e2e import util
from tests.harness import torrents


def logs_of(ws) -> str:
    return "".join(p.read_text() for p in (ws.state / "logs").glob("*.log*"))


@pytest.mark.parametrize("verify,engine", [("recheck", "rsync"), ("stream", "sftp")])
def test_auto_picks_the_engine_for_a_loopback_pull(qbt45_trio, sshd, tmp_root, verify,
                                                   engine):
    """On loopback (a short link) auto takes rsync; stream verification needs sftp."""
    src, dst = qbt45_trio.src, qbt45_trio.dst
    ws = util.workspace(tmp_root)
    data, ih, top = util.nasty_torrent(ws)
    expected = util.digest_tree(ws.src_save)
    torrents.add_complete(src.client(), data, ws.src_save, category="move")
    util.write_config(ws, src, dst, src_server=sshd, mode="auto", verify=verify)

    util.assert_clean_run(util.run_hook(ws, ih))

    assert util.digest_tree(ws.dest) == expected
    assert torrents.info(src.client(), ih) is None and not top.exists()
    assert f"transfer_mode = auto: using {engine}" in logs_of(ws)


def test_dry_run_names_the_engine_auto_picks(qbt45_trio, sshd, tmp_root):
    src, dst = qbt45_trio.src, qbt45_trio.dst
    ws = util.workspace(tmp_root)
    data, ih, _ = util.nasty_torrent(ws)
    torrents.add_complete(src.client(), data, ws.src_save, category="move")
    util.write_config(ws, src, dst, dst_server=sshd, mode="auto")
    proc = util.run_hook(ws, "--dry-run", ih)
    util.assert_clean_run(proc)
    assert "with rsync (push)" in proc.stdout + proc.stderr
