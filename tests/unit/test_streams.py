"""How many rsync processes and SFTP connections a link gets."""

import pytest

from mover.transfer import SHORT_LINK, streams


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
