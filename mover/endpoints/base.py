"""The small interface every engine uses to reach files on one side of a move."""

import abc
import posixpath
from dataclasses import dataclass
from typing import BinaryIO, Optional


@dataclass(frozen=True)
class FileStat:
    """Size and kind of a path."""

    size: int
    is_dir: bool


class Endpoint(abc.ABC):
    """Files on one host. Paths are absolute POSIX paths on that host.

    Methods raise ProvisioningError for what the user must fix (permission,
    missing path, no space) and TransferError for connection failures.
    """

    label: str = ""
    is_local: bool = True

    @abc.abstractmethod
    def stat(self, path: str) -> Optional[FileStat]:
        """Return the FileStat of ``path``, or None if it does not exist."""

    @abc.abstractmethod
    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        """Return a binary reader positioned at ``offset``."""

    @abc.abstractmethod
    def open_write(self, path: str, append: bool = False) -> BinaryIO:
        """Return a binary writer that truncates, or appends when ``append``."""

    @abc.abstractmethod
    def makedirs(self, path: str) -> None:
        """Create ``path`` and its parents (no error if it exists)."""

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
