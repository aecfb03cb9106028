"""The segmented engine: several lanes at once, big files split into ranges.

One SSH stream over a distant link is window-limited far below the link;
like ``lftp pget -n``, this engine runs ``connections`` workers, each with a
lane of its own on both endpoints (an SSH endpoint opens a connection per
lane), splits big files into ranges and hands ranges and batches of small
files to whichever worker is free. It asks the source for ranged readers and
the destination for positional writers (rclone's multi-thread copy): it
never asks which side is remote.

A file is written at its offsets into its partial file (mover.partial) and
renamed into place only when every range is in. A file of several ranges
keeps a ranges record, written before any data, so a re-run transfers only
the missing ranges. Memory is bounded by the SSH window per connection plus
``DEPTH`` chunks: about 10 MB each.
"""

import posixpath
import queue
import threading
import time
from typing import List, Optional, Tuple

from mover import partial
from mover.endpoints.sftp_batch import FILES
from mover.errors import MoverError, TransferError
from mover.transfer import Job
from mover.transfer.progress import Progress, stall_error
from mover.transfer.segments import File, Result, segment_size

CONNECTIONS = 8                 # like lftp pget -n 8
RANGES_SUFFIX = partial.RANGES
BATCH = 4 * FILES               # small files a worker takes at a time
STOP_WAIT = 10.0                # seconds given to aborted workers to end
POLL = 0.5                      # seconds between the watchdog's looks


class Aborted(TransferError):
    """Another worker of the run failed; this one stops too (never shown)."""


class _Run:
    """One job: the files, the task queue, and what the workers share."""

    def __init__(self, job: Job, progress: Progress):
        self.job, self.progress = job, progress
        self.files = [File(rel, size, posixpath.join(job.src_root, rel),
                            posixpath.join(job.dst_root, rel), segment_size(size))
                      for rel, size in sorted(job.items, key=lambda item: -item[1])]
        self.tasks: "queue.SimpleQueue[Tuple[File, int]]" = queue.SimpleQueue()
        for item in self.files:
            for index in range(item.count):
                self.tasks.put((item, index))
        self.abort = threading.Event()
        self.result, self.errors = Result(), []  # type: ignore
        self.unopened: list = []    # lanes that failed to open: no cause of a stall
        self.lanes: list = []
        self._lock = threading.Lock()

    def enlist(self, lane) -> None:
        """Keep ``lane`` to abort if the run stalls; abort it now if it did. Every
        byte it hears (a write's acknowledgement too) is a sign of life."""
        lane.listen(self.progress.alive)
        with self._lock:
            self.lanes.append(lane)
        if self.abort.is_set():
            lane.abort()

    def stop(self, endpoints: bool = False) -> None:
        """Abort every lane (and with ``endpoints`` both endpoints' own
        connections): I/O blocked in a worker fails and the worker ends."""
        self.abort.set()
        with self._lock:
            lanes = list(self.lanes)
        for lane in lanes:
            lane.abort()
        if endpoints:
            self.job.src.abort()
            self.job.dst.abort()

    def count(self, **more: int) -> None:
        """Add ``more`` (bytes_moved=, ranges_moved=, ...) to the Result."""
        with self._lock:
            for name, value in more.items():
                setattr(self.result, name, getattr(self.result, name) + value)

    def feed(self, item: File, offset: int, data) -> None:
        """Count ``item``'s chunk: the piece verifier and the progress (which may
        sleep for the bandwidth limit). Raise Aborted once another worker failed."""
        if self.abort.is_set():
            raise Aborted("stopped: another connection failed")
        if self.job.verifier is not None:
            self.job.verifier.feed(item.rel, offset, data)
        self.progress.add(len(data))
        if self.abort.is_set():     # stopped while the bandwidth limit held it back
            raise Aborted("stopped: another connection failed")

    def in_place(self, item: File) -> bool:
        """Return True, and count it, if ``item`` is already whole at its final path."""
        final = self.job.dst.stat(item.dst)
        self.progress.alive()       # an answer: the link lives (the watchdog reads it)
        if final is None or final.is_link or final.is_dir or final.size != item.size \
                or self.job.checksum:
            return False
        item.skip, item.done = True, set(range(item.count))
        self.count(files_skipped=1)
        return True

    def small_batch(self, first: File) -> List[File]:
        """Return ``first`` and up to BATCH - 1 more queued small files still to move.

        Each is marked taken; one already in place is counted and left out.
        """
        items = [first]
        while len(items) < BATCH:
            try:
                item, index = self.tasks.get_nowait()
            except queue.Empty:
                break
            if not item.small:
                self.tasks.put((item, index))
                break
            items.append(item)
        todo = []
        for item in items:
            with item.lock:
                item.ready = True
                if self.in_place(item):
                    self.progress.skip(item.size)   # in place: no bandwidth wait
                    continue
            todo.append(item)
        return todo

    def prepare(self, item: File, lane) -> None:
        """Decide what of ``item`` is still to move; create its partial file.

        Call with ``item.lock`` held. A multi-range file records its ranges
        before any data is written; without a record, a partial file left by
        a sequential engine counts as done up to its size.
        """
        item.ready = True
        if self.in_place(item):
            return
        dst = self.job.dst
        found = dst.stat(item.tmp)
        have = found.size if found is not None and not (found.is_link or found.is_dir) \
            and found.size <= item.size else -1
        done = set()
        if have >= 0 and item.count > 1 and not self.job.checksum:
            done = partial.load_ranges(lane, dst, item.dst, item.size, item.segment)
            if done is None:
                done = set(range(item.count))
            done = {i for i in done if item.bounds(i)[1] <= have}
        item.done = done
        if item.count > 1:
            partial.save_ranges(lane, dst, item.dst, item.size, item.segment, item.done)
        partial.writer(lane, dst, item.tmp, item.size, resume=bool(item.done)).close()

    def finish_range(self, item: File, index: int, lane) -> None:
        """Record range ``index`` of ``item`` done; rename the file once all are."""
        with item.lock:
            item.done.add(index)
            if len(item.done) < item.count:
                if self.abort.is_set():     # the retry may own the ranges record now
                    raise Aborted("stopped: another connection failed")
                partial.save_ranges(lane, self.job.dst, item.dst, item.size, item.segment,
                                    item.done)
                return
        written = self.job.dst.stat(item.tmp)
        if written is None or written.size != item.size:
            raise TransferError(f"copy of {item.rel} ended at "
                                f"{written.size if written else 0} of {item.size} bytes")
        if self.abort.is_set():     # a retry may already be writing this partial file
            raise Aborted("stopped: another connection failed")
        self.job.dst.rename(item.tmp, item.dst)
        if item.count > 1:
            partial.forget_ranges(self.job.dst, item.dst)


class _Worker:
    """One pair of lanes (source, destination) taking tasks until none are left."""

    def __init__(self, run: _Run, src, dst):
        self.run, self.src, self.dst = run, src, dst
        self.item: Optional[File] = None
        self.reader = self.writer = None

    def release(self) -> None:
        """Close the reader and writer of the current file."""
        if self.item is not None:
            self.item = None
            try:
                self.writer.close()
            finally:
                self.reader.close()

    def discard(self) -> None:
        """Drop the current file's reader and writer after an error."""
        if self.item is not None:
            self.item = None
            self.writer.discard()
            self.reader.discard()

    def switch(self, item: File) -> None:
        """Open ``item`` on both sides unless it is already the current file."""
        if item is self.item:
            return
        self.release()
        job = self.run.job
        reader = self.src.open_reader(item.src, item.size, within=job.src_root)
        try:
            self.writer = partial.writer(self.dst, job.dst, item.tmp, item.size, resume=True)
        except BaseException:
            reader.discard()
            raise
        self.item, self.reader = item, reader

    def move(self, item: File, index: int) -> None:
        """Move range ``index`` of ``item`` unless it is already done."""
        with item.lock:
            if not item.ready:
                self.run.prepare(item, self.dst)
            if index in item.done:
                start, end = item.bounds(index)
                self.run.progress.skip(end - start)
                return
        self.switch(item)
        start, end = item.bounds(index)
        feed, write = self.run.feed, self.writer.write_at
        for offset, data in self.reader.read(start, end):
            feed(item, offset, data)
            write(offset, data)
        self.writer.flush()
        self.run.count(bytes_moved=end - start, ranges_moved=1)
        self.run.finish_range(item, index, self.dst)

    def batch(self, items: List[File]) -> None:
        """Move whole small ``items`` with many in flight on each lane."""
        run, job = self.run, self.run.job

        def chunks_of(indices: List[int]):
            chosen = [items[i] for i in indices]
            source = self.src.read_files([(f.src, f.size) for f in chosen], job.src_root)
            for at, offset, data in source:
                run.feed(chosen[at], offset, data)
                yield indices[at], offset, data

        def closed(index: int) -> None:
            run.count(bytes_moved=items[index].size, ranges_moved=1)
            run.finish_range(items[index], 0, self.dst)

        partial.write_files(self.dst, job.dst, [(f.tmp, f.size) for f in items],
                            chunks_of, closed)

    def loop(self) -> None:
        """Take tasks until the queue is empty; on error, abort the run."""
        try:
            while not self.run.abort.is_set():
                try:
                    item, index = self.run.tasks.get_nowait()
                except queue.Empty:
                    break
                if item.small:
                    self.release()
                    self.batch(self.run.small_batch(item))
                else:
                    self.move(item, index)
            self.release()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            self.run.abort.set()
            self.run.errors.append(exc)
            self.discard()


def _worker(run: _Run) -> None:
    """Thread body: open a lane on each side, run a worker, close. Errors are recorded."""
    lanes = []
    try:
        for endpoint in (run.job.src, run.job.dst):
            lanes.append(endpoint.lane(run.job.stall_timeout, own_connection=True))
            run.enlist(lanes[-1])
    except MoverError as exc:
        run.unopened.append(exc)    # others may still do the work
        for lane in lanes:
            lane.close()
        return
    try:
        run.count(connections=1)
        _Worker(run, *lanes).loop()
    finally:
        for lane in lanes:
            lane.close()


def segmented_job(job: Job, progress: Progress, connections: int = CONNECTIONS) -> Result:
    """Copy ``job`` with ``connections`` workers, each with its own lanes.

    Return a Result. Raise the first MoverError a worker met (TransferError
    for anything unexpected) if any file is left unfinished.
    """
    run = _Run(job, progress)
    progress.alive()                # the watchdog counts from this copy's start
    job.dst.makedirs(job.dst_root)
    threads = [threading.Thread(target=_worker, args=(run,), daemon=True,
                                name=f"segment-{i}")
               for i in range(min(max(1, connections), run.tasks.qsize() or 1))]
    for thread in threads:
        thread.start()
    stalled_with = _wait(run, threads)
    if stalled_with is not None:
        earlier = [e for e in run.errors[:stalled_with]
                   if isinstance(e, MoverError) and not isinstance(e, Aborted)]
        if earlier:
            raise earlier[0]
        raise stall_error(job.stall_timeout)
    unfinished = [f.rel for f in run.files if len(f.done) < f.count]
    if unfinished or (run.errors and run.abort.is_set()):
        error = next((e for e in run.errors + run.unopened if not isinstance(e, Aborted)),
                     None)
        if isinstance(error, MoverError):
            raise error
        raise TransferError(f"segmented copy failed ({error!r}); "
                            f"{len(unfinished)} file(s) unfinished") from error
    partial.prune(job.dst, [f.dst for f in run.files])
    return run.result


def _wait(run: _Run, threads: List[threading.Thread]) -> Optional[int]:
    """Join ``threads``; return None, or, when the watchdog stopped the run, how
    many errors the workers had recorded before it did.

    A write to a link that stopped forwarding blocks until its connection is
    closed. So after ``stall_timeout`` without a byte every lane and both
    endpoints are aborted, and once a worker failed the others' lanes are.
    Workers still running STOP_WAIT s later are left: the abort flag stops
    them before any write or rename."""
    stalled_with, deadline = None, None
    for thread in threads:
        while thread.is_alive():
            thread.join(POLL)
            if not thread.is_alive():
                break
            if deadline is None:
                if run.abort.is_set():
                    run.stop()
                    deadline = time.monotonic() + STOP_WAIT
                elif run.progress.stalled(run.job.stall_timeout):
                    stalled_with = len(run.errors)
                    run.stop(endpoints=True)
                    deadline = time.monotonic() + STOP_WAIT
            elif time.monotonic() > deadline:
                break
    return stalled_with
