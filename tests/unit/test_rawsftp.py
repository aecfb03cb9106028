"""The bytearray pipe that replaces paramiko's channel buffer in RawSftp."""

import threading

import pytest
from paramiko.buffered_pipe import BufferedPipe, PipeTimeout

from mover.endpoints.fast_pipe import FastPipe as _fast_pipe


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


def test_pipe_wakes_its_reader_only_once_it_wants_are_in():
    """With ``want`` set, a read waits for that many bytes, not for the first feed."""
    pipe, got = _fast_pipe(), []
    pipe.want = 6
    reader = threading.Thread(target=lambda: got.append(bytes(pipe.read(100, timeout=5))))
    reader.start()
    pipe.feed(b"abc")
    reader.join(0.2)
    assert reader.is_alive() and not got
    pipe.feed(b"def")
    reader.join(5)
    assert got == [b"abcdef"]


def test_pipe_gives_what_it_has_when_time_is_up():
    """A read that times out with some bytes in returns them; with none it raises."""
    pipe = _fast_pipe()
    pipe.want = 10
    pipe.feed(b"ab")
    assert bytes(pipe.read(100, timeout=0.05)) == b"ab"
    with pytest.raises(PipeTimeout):
        pipe.read(100, timeout=0.05)
