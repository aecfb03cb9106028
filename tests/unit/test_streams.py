"""How many rsync processes and SFTP connections a link gets."""

import pytest

from mover.transfer import SHORT_LINK, auto_mode, streams


@pytest.mark.parametrize("rtt,cores,want", [
    (0.0003, 2, (2, 4)),        # loopback or LAN, 2 cores: streams only split the CPU
    (0.0003, 16, (4, 8)),       # many cores: the configured counts
    (0.0003, 1, (1, 2)),
    (SHORT_LINK, 2, (4, 8)),    # a long link keeps every stream
    (0.050, 2, (4, 8)),
])
def test_streams_fit_the_link(rtt, cores, want):
    assert streams(rtt, cores, workers=4, connections=8) == want


def test_streams_never_raise_what_is_configured():
    assert streams(0.0001, 8, workers=1, connections=1) == (1, 1)


@pytest.mark.parametrize("topology,verify,rtt,rsync_ok,want", [
    ("pull", "recheck", 0.0004, True, "rsync"),     # LAN: rsync spends less CPU
    ("push", "recheck", 0.0004, False, "sftp"),     # no rsync on one end
    ("pull", "recheck", 0.040, True, "sftp"),       # distant: segmented connections
    ("pull", "stream", 0.0004, True, "sftp"),       # only sftp checks pieces in passing
    ("relay", "recheck", None, True, "sftp"),
    ("local", "recheck", None, True, "local"),
])
def test_auto_mode_picks_the_engine_for_the_link(topology, verify, rtt, rsync_ok, want):
    assert auto_mode(topology, verify, rtt, rsync_ok) == want
