"""The small interface every engine uses to reach files on one side of a move.

An ``Endpoint`` is the files of one host: metadata (stat, makedirs, rename,
remove), whole-file streams, and ``lane()``: a ``Lane`` gives ranged reads
(``RangeReader``, rclone's RangeOption) and positional writes (``WriterAt``,
rclone's OpenWriterAt) for one thread. An engine asks the source for
readers and the destination for writers and never asks which side is remote.

Safety lives here, once. An endpoint opened with a ``root`` (the
destination's destination_path, the relay's local_cache_path) follows no
symbolic link below it: a link in place of a folder is refused, a link in
place of a file is replaced, never written through. It creates folders
below the root, never the root itself. New files are created exclusively.
Readers given ``within`` (the torrent's save path) refuse a file that leads
outside it through a link.
"""

import abc
import contextlib
import logging
import posixpath
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

from mover.errors import ProvisioningError

log = logging.getLogger("mover.endpoints")
ROOT_KEYS = {"destination": "destination_path", "cache": "local_cache_path"}
Chunk = Tuple[int, int, bytes]      # (file index, offset, data)


@dataclass(frozen=True)
class FileStat:
    """Size and kind of a path (below a root: of the path itself, never a link's target)."""

    size: int
    is_dir: bool
    is_link: bool = False


class PathGone(ProvisioningError):
    """A folder to write in does not exist (another move may just have removed its
    empty partial folder); creating the folder again and retrying is safe."""


def below(root: Optional[str], path: str) -> Optional[List[str]]:
    """Return the components of ``path`` below ``root``; None when there is no root
    or ``path`` is not strictly below it."""
    if root is None:
        return None
    root, path = posixpath.normpath(root), posixpath.normpath(path)
    prefix = root if root.endswith("/") else root + "/"
    if not path.startswith(prefix):
        return None
    return path[len(prefix):].split("/")


def inside(resolved: str, root: str) -> bool:
    """True if the resolved path ``resolved`` is ``root`` or below it."""
    root = posixpath.normpath(root)
    return resolved == root or resolved.startswith(root.rstrip("/") + "/")


def link_error(where: str, what: str = "folder") -> ProvisioningError:
    """Return the error for a symbolic link found in place of a ``what`` at ``where``."""
    return ProvisioningError(
        f"refusing to write through {where}: it is a symbolic link where a {what} "
        f"belongs. The mover follows no link below destination_path; remove the link "
        f"(or point destination_path at the real folder)")


def outside_error(where: str, within: str, resolved: str) -> ProvisioningError:
    """Return the error for a source file that leads outside the save path ``within``."""
    return ProvisioningError(
        f"refusing to read {where}: through a symbolic link it leads to {resolved}, "
        f"outside the torrent's save path {within}. Put the file itself in the save "
        f"path (or remove the torrent's link) and run again")


class RangeReader(abc.ABC):
    """One file opened for ranged reads."""

    @abc.abstractmethod
    def read(self, start: int, end: int) -> Iterator[Tuple[int, bytes]]:
        """Yield (offset, data) covering [start, end); raise TransferError if the file
        ends before ``end``. Replies may come out of order; leave early only by error."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the file."""

    def discard(self) -> None:
        """Release the file after an error, without waiting on a server."""
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> "RangeReader":
        return self

    def __exit__(self, kind, *exc) -> None:
        self.discard() if kind else self.close()


class WriterAt(abc.ABC):
    """One file opened for positional writes."""

    @abc.abstractmethod
    def write_at(self, offset: int, data) -> None:
        """Write ``data`` at ``offset``; it may still be in flight when this returns
        (a failure then surfaces from a later call)."""

    def flush(self) -> None:
        """Return once every write so far is done; raise the first failure."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release the file; raise if a write failed."""

    def discard(self) -> None:
        """Release the file after an error, without waiting on a server."""
        with contextlib.suppress(Exception):
            self.close()

    def __enter__(self) -> "WriterAt":
        return self

    def __exit__(self, kind, *exc) -> None:
        self.discard() if kind else self.close()


class Lane(abc.ABC):
    """Ranged reads and positional writes for one thread (an SSH lane is one
    connection or one channel). After an error, close it and open another."""

    @abc.abstractmethod
    def open_reader(self, path: str, size: int, within: Optional[str] = None) -> RangeReader:
        """Open ``path`` (``size`` bytes expected) for ranged reads.

        With ``within``, refuse (ProvisioningError) a file whose real path,
        links resolved, is not below ``within``.
        """

    @abc.abstractmethod
    def open_writer(self, path: str, size: int, fresh: bool) -> WriterAt:
        """Open ``path`` for positional writes of a ``size``-byte file.

        ``fresh``: create it exclusively, removing a file or link already
        there (never following it). Otherwise open the existing file, which
        must be a regular file, not a link. Raise PathGone if its folder
        does not exist.
        """

    def abort(self) -> None:
        """Break I/O blocked in this lane from another thread (the segmented
        engine's watchdog calls this); the lane is unusable afterwards."""

    def listen(self, alive: Callable[[], None]) -> None:
        """Call ``alive()`` whenever the link delivers bytes (an answer, a write's
        acknowledgement), so a watchdog never reads the slow drain of writes
        already counted as a stall. A lane without a link ignores it."""

    def read_files(self, files: Sequence[Tuple[str, int]],
                   within: Optional[str] = None) -> Iterator[Chunk]:
        """Yield (index, offset, data) covering every (path, size) of ``files`` whole."""
        for index, (path, size) in enumerate(files):
            if size:
                with self.open_reader(path, size, within) as reader:
                    for offset, data in reader.read(0, size):
                        yield index, offset, data

    def write_files(self, files: Sequence[Tuple[str, int]], chunks: Iterable[Chunk],
                    on_closed: Callable[[int], None]) -> List[int]:
        """Write ``chunks`` into fresh files ``files`` (path, size); call
        ``on_closed(index)`` once a file is whole and closed.

        Return the indices whose folder was gone (PathGone): their chunks are
        dropped; the caller creates the folder again and retries them.
        """
        gone, writers, left = set(), {}, [size for _, size in files]
        try:
            for index, (path, size) in enumerate(files):
                if not size and self._fresh(path, 0, index, writers, gone):
                    writers.pop(index).close()
                    on_closed(index)
            for index, offset, data in chunks:
                if index in gone or (index not in writers and
                                     not self._fresh(files[index][0], files[index][1],
                                                     index, writers, gone)):
                    continue
                writers[index].write_at(offset, data)
                left[index] -= len(data)
                if left[index] <= 0:
                    writers.pop(index).close()
                    on_closed(index)
        finally:
            for writer in writers.values():
                writer.discard()
        return sorted(gone)

    def _fresh(self, path: str, size: int, index: int, writers: dict, gone: set) -> bool:
        try:
            writers[index] = self.open_writer(path, size, fresh=True)
            return True
        except PathGone:
            gone.add(index)
            return False

    def close(self) -> None:
        """Release the lane's connection or channel."""

    def __enter__(self) -> "Lane":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class StreamReader:
    """A file-like reader (``read(n)``) over a RangeReader, from ``offset`` to ``size``."""

    def __init__(self, reader: RangeReader, offset: int, size: int, owner=None):
        self.reader, self.owner = reader, owner
        self.chunks = reader.read(offset, size) if offset < size else iter(())
        self.buf, self.at = memoryview(b""), 0

    def read(self, count: int = -1) -> bytes:
        """Return up to ``count`` bytes; b"" at the end of the file."""
        if self.at >= len(self.buf):
            nxt = next(self.chunks, None)
            if nxt is None:
                return b""
            self.buf, self.at = memoryview(nxt[1]), 0
        end = len(self.buf) if count is None or count < 0 else self.at + count
        out = bytes(self.buf[self.at:end])
        self.at += len(out)
        return out

    def close(self) -> None:
        try:
            self.reader.close()
        finally:
            if self.owner is not None:
                self.owner.close()

    def __enter__(self) -> "StreamReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Endpoint(abc.ABC):
    """Files on one host. Paths are absolute POSIX paths on that host.

    ``root``: with one, nothing below it is written through a symbolic link
    and the root itself is never created (module docstring). Methods raise
    ProvisioningError for what the user must fix (permission, missing path,
    no space, a link) and TransferError for connection failures.
    """

    label: str = ""
    is_local: bool = True
    root: Optional[str] = None

    @abc.abstractmethod
    def stat(self, path: str) -> Optional[FileStat]:
        """Return the FileStat of ``path``, or None if it does not exist."""

    @abc.abstractmethod
    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        """Return a binary reader positioned at ``offset``."""

    @abc.abstractmethod
    def open_write(self, path: str, append: bool = False) -> BinaryIO:
        """Return a binary writer that truncates, or appends when ``append``
        (created if missing; never through a link)."""

    @abc.abstractmethod
    def makedirs(self, path: str) -> None:
        """Create ``path`` and its parents below the root (no error if it exists).

        Raise ProvisioningError if the root itself does not exist.
        """

    @abc.abstractmethod
    def rename(self, src: str, dst: str) -> None:
        """Rename ``src`` to ``dst``, replacing ``dst``."""

    @abc.abstractmethod
    def remove(self, path: str) -> None:
        """Remove the file ``path`` (no error if it is already gone)."""

    @abc.abstractmethod
    def rmdir(self, path: str) -> bool:
        """Remove the empty folder ``path``; return False if not empty or absent."""

    @abc.abstractmethod
    def free_space(self, path: str) -> int:
        """Return the bytes free on the filesystem holding ``path`` (or its parent)."""

    def lane(self, timeout: float = 120.0, own_connection: bool = False) -> Lane:
        """Return a Lane for one thread; ``own_connection`` asks an SSH endpoint
        for a connection of its own (several fill a long link). ``timeout``:
        seconds without data before a read or write is a StalledError."""
        raise NotImplementedError(f"{type(self).__name__} has no lanes")

    def root_problem(self) -> Optional[str]:
        """Return why the root cannot take files (missing, not a folder, read-only),
        or None when it can (or there is no root)."""
        return None

    def check_root(self) -> None:
        """Raise ProvisioningError if ``root_problem()`` names one."""
        problem = self.root_problem()
        if problem:
            raise ProvisioningError(problem)

    def root_message(self, problem: str) -> str:
        """Return ``problem`` of the root as a sentence naming its config key."""
        key = ROOT_KEYS.get(self.label, "the configured folder")
        hint = ": create it, or mount the disk" if problem == "does not exist" else ""
        return f"{key} {self.describe(self.root or '')} {problem}{hint}"

    def close(self) -> None:
        """Release connections."""

    def abort(self) -> None:
        """Break I/O blocked in other threads (the watchdog calls this)."""

    def describe(self, path: str) -> str:
        """Return ``path`` as a user should read it in a message."""
        return path

    def prune_dirs(self, top: str, stop: str) -> None:
        """Remove empty folders from ``top`` upwards, never ``stop`` or above it."""
        top, stop = posixpath.normpath(top), posixpath.normpath(stop)
        while top.startswith(stop + "/") and self.rmdir(top):
            top = posixpath.dirname(top)
