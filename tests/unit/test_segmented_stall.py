"""The segmented engine's watchdog: a write that blocks with no timeout of its
own (a socket write to a link that stopped forwarding) ends when the run
aborts its lanes, and the run raises StalledError."""
from __future__ import annotations

import os
import threading
import time

import pytest

from mover.endpoints.local import LocalEndpoint
from mover.endpoints.local_lane import LocalLane
from mover.errors import ProvisioningError, StalledError, TransferError
from mover.transfer import Job, Progress
from mover.transfer.segmented import segmented_job

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def quick_watchdog(monkeypatch):
    """The watchdogs look every 0.05 s and the bandwidth limit sleeps in slices of
    0.1 s, so that half-second watchdogs keep these tests short."""
    from mover.transfer import progress, segmented, stream
    monkeypatch.setattr(segmented, "POLL", 0.05)
    monkeypatch.setattr(stream, "POLL", 0.05)
    monkeypatch.setattr(progress, "HOLD_SLICE", 0.1)


class BlockedLane(LocalLane):
    """Writes hang after the first ``after`` bytes until ``abort()`` is called,
    then fail, like a paramiko write whose connection was closed."""

    def __init__(self, endpoint, after: int, then_write: bool = False):
        super().__init__(endpoint)
        self.after, self.gone, self.then_write = after, threading.Event(), then_write
        endpoint.lanes.append(self)

    def abort(self) -> None:
        self.gone.set()

    def open_writer(self, path, size, fresh):
        writer, lane = super().open_writer(path, size, fresh), self
        real_write = writer.write_at

        def write_at(offset, data):
            if offset + len(data) > lane.after:
                lane.gone.wait()
                if not lane.then_write:
                    raise TransferError("connection closed")
            real_write(offset, data)
        writer.write_at = write_at
        return writer


class StallingEndpoint(LocalEndpoint):
    def __init__(self, root, after, then_write=False):
        super().__init__("destination", root=root)
        self.after, self.lanes, self.then_write = after, [], then_write

    def lane(self, timeout=120.0, own_connection=False):
        return BlockedLane(self, self.after, self.then_write)


class RefusingLane(LocalLane):
    def open_reader(self, path, size, within=None):
        if path.endswith("refused.bin"):
            raise ProvisioningError(f"cannot read {path}: permission denied")
        return super().open_reader(path, size, within)


class RefusingSource(LocalEndpoint):
    def lane(self, timeout=120.0, own_connection=False):
        return RefusingLane(self)


def job_for(tmp_path, after):
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    (src / "big.bin").write_bytes(os.urandom(3 * MiB))
    dst = StallingEndpoint(str(dest), after)
    return Job(LocalEndpoint("source"), dst, str(src), str(dest), (("big.bin", 3 * MiB),),
               stall_timeout=0.5), dst


def test_a_write_blocked_for_good_is_aborted_and_reported_as_a_stall(tmp_path):
    job, dst = job_for(tmp_path, after=MiB)
    started = time.monotonic()
    with pytest.raises(StalledError, match=r"no byte moved for \d+ s \(watchdog_timeout\)"):
        segmented_job(job, Progress(), connections=2)
    assert time.monotonic() - started < 5
    assert dst.lanes and all(lane.gone.is_set() for lane in dst.lanes)
    assert not (tmp_path / "dest" / "big.bin").exists()


def test_a_run_that_moves_is_not_stopped(tmp_path):
    job, dst = job_for(tmp_path, after=10 * MiB)
    segmented_job(job, Progress(), connections=2)
    assert (tmp_path / "dest" / "big.bin").stat().st_size == 3 * MiB
    assert not any(lane.gone.is_set() for lane in dst.lanes)


def test_a_write_let_through_after_the_stall_never_puts_the_file_in_place(tmp_path):
    """A worker whose last write returns after the watchdog fired (a slow link,
    not a dead one) must not rename the file into place: the retry may already
    be writing that partial file again."""
    job, dst = job_for(tmp_path, after=3 * MiB - 1)
    dst.then_write = True
    with pytest.raises(StalledError):
        segmented_job(job, Progress(), connections=1)
    time.sleep(0.5)
    assert not (tmp_path / "dest" / "big.bin").exists()


def test_a_permanent_error_is_not_held_up_or_hidden_by_a_blocked_write(tmp_path):
    """One worker cannot read its file (permission denied) while another is blocked
    in a write: the run stops the blocked one at once and raises the permanent
    error, not a (retryable) stall after the watchdog's 60 s."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    (src / "big.bin").write_bytes(os.urandom(3 * MiB))
    (src / "refused.bin").write_bytes(os.urandom(MiB))
    job = Job(RefusingSource("source"), StallingEndpoint(str(dest), after=MiB), str(src),
              str(dest), (("big.bin", 3 * MiB), ("refused.bin", MiB)), stall_timeout=60.0)
    started = time.monotonic()
    with pytest.raises(ProvisioningError, match="permission denied"):
        segmented_job(job, Progress(), connections=2)
    assert time.monotonic() - started < 10


class DrainingLane(LocalLane):
    """Every write is taken at once (counted as sent), then the file's first flush
    or close waits
    ``drain`` seconds for the acknowledgements, hearing one every 0.1 s: a
    slow link emptying its queue, not a dead one."""

    def __init__(self, endpoint, drain: float):
        super().__init__(endpoint)
        self.drain, self.heard = drain, (lambda: None)

    def listen(self, alive):
        self.heard = alive

    def open_writer(self, path, size, fresh):
        writer, lane, drained = super().open_writer(path, size, fresh), self, []

        def draining(real):
            def wait_then_call():
                ends = time.monotonic() + (0 if drained else lane.drain)
                drained.append(True)
                while time.monotonic() < ends:
                    time.sleep(0.1)
                    lane.heard()
                real()
            return wait_then_call
        writer.flush, writer.close = draining(writer.flush), draining(writer.close)
        return writer


class DrainingEndpoint(LocalEndpoint):
    def __init__(self, root, drain):
        super().__init__("destination", root=root)
        self.drain = drain

    def lane(self, timeout=120.0, own_connection=False):
        return DrainingLane(self, self.drain)


@pytest.mark.parametrize("engine", ["segmented", "stream"])
def test_acknowledgements_of_a_slow_drain_keep_the_watchdog_quiet(tmp_path, engine):
    """The last writes' acknowledgements trickle in for 1.2 s after every byte was
    counted; the watchdog (0.5 s) hears them and lets the copy end in place."""
    from mover.transfer.stream import stream_job
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    data = os.urandom(MiB)
    (src / "big.bin").write_bytes(data)
    job = Job(LocalEndpoint("source"), DrainingEndpoint(str(dest), drain=1.2), str(src),
              str(dest), (("big.bin", MiB),), stall_timeout=0.5)
    if engine == "segmented":
        segmented_job(job, Progress(), connections=1)
    else:
        stream_job(job, Progress())
    assert (dest / "big.bin").read_bytes() == data


class OneLaneRefused(StallingEndpoint):
    """The second lane cannot be opened (sshd's MaxStartups dropped it, an auth
    hiccup); the first one stalls for good."""

    def __init__(self, root, after, error):
        super().__init__(root, after)
        self.opened, self.error = 0, error

    def lane(self, timeout=120.0, own_connection=False):
        self.opened += 1
        if self.opened == 2:
            raise self.error
        return super().lane(timeout, own_connection)


@pytest.mark.parametrize("error", [ProvisioningError("example.org refused the key_file"),
                                   TransferError("cannot start SFTP on example.org: banner")])
def test_a_stall_is_reported_as_a_stall_even_if_a_lane_failed_to_open(tmp_path, error):
    """A lane that never opened did not stop the run (the others carried on), so
    it is not what the run ends on: the stall is (retried), not a permanent
    error from earlier."""
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    for name in ("big.bin", "other.bin"):
        (src / name).write_bytes(os.urandom(3 * MiB))
    job = Job(LocalEndpoint("source"), OneLaneRefused(str(dest), MiB, error), str(src),
              str(dest), (("big.bin", 3 * MiB), ("other.bin", 3 * MiB)), stall_timeout=0.5)
    with pytest.raises(StalledError):
        segmented_job(job, Progress(), connections=2)


def test_every_lane_failing_to_open_is_reported(tmp_path):
    class Refused(LocalEndpoint):
        def lane(self, timeout=120.0, own_connection=False):
            raise ProvisioningError("example.org refused the key_file")

    job, _ = job_for(tmp_path, after=10 * MiB)
    job = Job(job.src, Refused("destination", root=job.dst_root), job.src_root,
              job.dst_root, job.items, stall_timeout=1.0)
    with pytest.raises(ProvisioningError, match="refused the key_file"):
        segmented_job(job, Progress(), connections=2)


@pytest.mark.parametrize("engine", ["segmented", "stream"])
def test_a_copy_held_back_by_the_bandwidth_limit_is_not_a_stall(tmp_path, engine):
    """bandwidth_limit makes the engine itself wait between chunks (here 1.2 s
    for its one chunk against a 0.5 s watchdog): a wait of its own is no dead link."""
    from mover.transfer.stream import stream_job
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    (src / "big.bin").write_bytes(os.urandom(MiB))
    job = Job(LocalEndpoint("source"), LocalEndpoint("destination", root=str(dest)),
              str(src), str(dest), (("big.bin", MiB),), stall_timeout=0.5)
    progress = Progress(limit_bps=MiB / 1.2)
    if engine == "segmented":
        segmented_job(job, progress, connections=1)
    else:
        stream_job(job, progress)
    assert (dest / "big.bin").stat().st_size == MiB


def test_a_range_let_through_after_the_stall_never_rewrites_the_ranges_record(tmp_path):
    """A worker whose range's last write returns after the watchdog fired must not
    save the ranges record: the retry may already own it."""
    from mover import partial
    from mover.endpoints.local_lane import LocalLane
    from mover.transfer.segments import segment_size
    size = 2 * partial.RANGED_FROM
    segment = segment_size(size)
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    dest.mkdir()
    (src / "big.bin").write_bytes(os.urandom(size))
    dst = StallingEndpoint(str(dest), after=segment - 1, then_write=True)
    job = Job(LocalEndpoint("source"), dst, str(src), str(dest), (("big.bin", size),),
              stall_timeout=0.5)
    with pytest.raises(StalledError):
        segmented_job(job, Progress(), connections=1)
    time.sleep(0.5)
    done = partial.load_ranges(LocalLane(dst), dst, str(dest / "big.bin"), size, segment)
    assert not done, f"ranges {done} recorded after the stall"
