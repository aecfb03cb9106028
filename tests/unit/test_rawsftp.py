"""The bytearray pipe that replaces paramiko's channel buffer in RawSftp."""

import threading

import pytest
from paramiko.buffered_pipe import BufferedPipe, PipeTimeout

from mover.transfer.rawsftp import _fast_pipe


@pytest.mark.parametrize("make", [_fast_pipe, BufferedPipe], ids=["fast", "paramiko"])
def test_pipe_reads_like_paramikos(make):
    """Feeds come out in order, whole or in parts, as paramiko's own pipe does."""
    pipe = make()
    pipe.feed(b"abc")
    pipe.feed(b"defg")
    assert len(pipe) == 7 and pipe.read_ready()
    assert bytes(pipe.read(2)) == b"ab"
    assert bytes(pipe.read(100)) == b"cdefg"
    assert not pipe.read_ready()
    with pytest.raises(PipeTimeout):
        pipe.read(10, timeout=0.05)
    pipe.feed(b"xyz")
    pipe.close()
    assert bytes(pipe.read(3)) == b"xyz"
    assert bytes(pipe.read(3)) == b""        # closed and drained: end of stream


def test_a_read_handed_everything_keeps_later_feeds_apart():
    """The bytearray given to a reader is never appended to afterwards."""
    pipe = _fast_pipe()
    pipe.feed(b"one")
    first = pipe.read(1 << 20)
    pipe.feed(b"two")
    assert bytes(first) == b"one" and bytes(pipe.read(10)) == b"two"


def test_a_waiting_reader_wakes_on_feed():
    """A reader blocked on an empty pipe gets the bytes another thread feeds."""
    pipe, got = _fast_pipe(), []
    reader = threading.Thread(target=lambda: got.append(bytes(pipe.read(10, timeout=5))))
    reader.start()
    pipe.feed(b"late")
    reader.join(5)
    assert got == [b"late"]
