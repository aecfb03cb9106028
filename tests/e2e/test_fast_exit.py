"""hook.py for a torrent that is not eligible is quick (qBittorrent runs it for
every finished torrent, most of which are not ours)."""

import time

from tests.e2e import util
from tests.harness import torrents


def wall(ws, *args) -> float:
    start = time.monotonic()
    proc = util.run_hook(ws, *args)
    util.assert_clean_run(proc)
    assert "not eligible" in proc.stderr
    return time.monotonic() - start


def test_not_eligible_hook_under_half_a_second(qbt45_trio, tmp_root):
    src, dst = qbt45_trio.src, qbt45_trio.dst
    ws = util.workspace(tmp_root)
    data, ih, _ = util.nasty_torrent(ws)
    torrents.add_complete(src.client(), data, ws.src_save, category="not-ours")
    util.write_config(ws, src, dst)
    other_category = min(wall(ws, ih) for _ in range(3))
    unknown_hash = min(wall(ws, "c" * 40) for _ in range(3))
    print(f"not eligible: {other_category:.3f} s, unknown hash: {unknown_hash:.3f} s")
    assert other_category < 0.5 and unknown_hash < 0.5
    assert torrents.is_complete(src.client(), ih)
