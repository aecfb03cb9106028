"""This machine's filesystem as an Endpoint."""

import errno
import os
import stat
from typing import BinaryIO, Optional

from mover.endpoints.base import Endpoint, FileStat
from mover.errors import NoSpaceError, ProvisioningError


def os_error(exc: OSError, what: str, where: str) -> Exception:
    """Return the MoverError for an OSError met while doing ``what`` on ``where``."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpaceError(f"no space left while trying to {what} {where}")
    return ProvisioningError(f"cannot {what} {where}: {exc.strerror or exc}")


class LocalEndpoint(Endpoint):
    """Files on this machine."""

    is_local = True

    def __init__(self, label: str = "local"):
        self.label = label

    def stat(self, path: str) -> Optional[FileStat]:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_error(exc, "read", path) from None
        return FileStat(size=st.st_size, is_dir=stat.S_ISDIR(st.st_mode))

    def open_read(self, path: str, offset: int = 0) -> BinaryIO:
        try:
            handle = open(path, "rb")
            handle.seek(offset)
            return handle
        except OSError as exc:
            raise os_error(exc, "read", path) from None

    def open_write(self, path: str, append: bool = False) -> BinaryIO:
        try:
            return open(path, "ab" if append else "wb")
        except OSError as exc:
            raise os_error(exc, "write", path) from None

    def makedirs(self, path: str) -> None:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise os_error(exc, "create folder", path) from None

    def rename(self, src: str, dst: str) -> None:
        try:
            os.replace(src, dst)
        except OSError as exc:
            raise os_error(exc, "rename", f"{src} to {dst}") from None

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise os_error(exc, "remove", path) from None

    def rmdir(self, path: str) -> bool:
        try:
            os.rmdir(path)
            return True
        except OSError:
            return False

    def free_space(self, path: str) -> int:
        while path and not os.path.exists(path):
            path = os.path.dirname(path)
        st = os.statvfs(path or "/")
        return st.f_bavail * st.f_frsize
