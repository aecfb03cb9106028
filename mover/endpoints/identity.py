"""What a path is on its host: the file it resolves to, and the links on the way.

Two paths name the same file when their resolved paths (every symlink
followed) are equal, or when they resolve to the same device and inode (a
bind mount, or a hard link: ``nlink`` tells how many directory entries the
file has). Cleanup asks this to keep files a cross-seed reaches through
links or mounts.

Works with any Endpoint: on this machine with os calls; on an SSH server
with one remote command per batch of paths (built by mover.argv, every path
quoted, run through the endpoint's ``run``), which needs GNU coreutils
(realpath, stat) and find there. Paths must be absolute.
"""

import os
import re
import stat
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from mover import argv as build
from mover.errors import MoverError, ProvisioningError

BATCH_BYTES = 64 * 1024     # argv bytes per remote command


@dataclass(frozen=True)
class Identity:
    """``path`` on its host: resolved path, and device/inode of what it resolves to."""

    path: str
    real: str                       # every symlink followed (the path itself if unknown)
    exists: bool                    # something is there (a dangling link counts)
    is_link: bool = False           # the path itself is a symlink
    is_dir: bool = False            # it resolves to a folder
    dev: Optional[int] = None
    ino: Optional[int] = None
    nlink: Optional[int] = None

    @property
    def key(self) -> Optional[Tuple[int, int]]:
        """(device, inode) of the file it resolves to, or None when unknown."""
        return (self.dev, self.ino) if self.dev is not None and self.ino is not None else None


def _local(path: str, parents: Optional[Dict[str, str]] = None) -> Identity:
    """``parents`` caches the resolved folders of a batch: thousands of torrents
    in one save path resolve it once (a path that is itself a link is resolved
    whole)."""
    parent, name = os.path.split(os.path.normpath(path))
    try:
        lst = os.lstat(path)
    except OSError:
        lst = None
    is_link = lst is not None and stat.S_ISLNK(lst.st_mode)
    if parents is None or is_link or not name or name in (".", ".."):
        real = os.path.realpath(path)
    else:
        if parent not in parents:
            parents[parent] = os.path.realpath(parent)
        real = os.path.join(parents[parent], name)
    if lst is None:
        return Identity(path, real, exists=False)
    try:
        st = os.stat(path)
    except OSError:
        return Identity(path, real, exists=True, is_link=is_link)
    return Identity(path, real, True, is_link, stat.S_ISDIR(st.st_mode),
                    st.st_dev, st.st_ino, st.st_nlink)


def _batches(paths: Sequence[str]) -> Iterable[List[str]]:
    batch, size = [], 0
    for path in paths:
        if batch and size + len(path) > BATCH_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += len(path.encode("utf-8", "surrogateescape")) + 3
    if batch:
        yield batch


def parse_identities(paths: Sequence[str], output: str) -> Dict[str, Identity]:
    """Return {path: Identity} from the output of argv.identity_command(paths).

    Raise ValueError if the output does not have the expected shape.
    """
    fields = output.split("\0")
    if len(fields) < len(paths) + 1 or fields[len(paths)] != "":
        raise ValueError("realpath did not answer for every path")
    reals = fields[:len(paths)]
    rest = fields[len(paths) + 1:]
    cut = rest.index("")            # the end of the stat -L records
    followed, lstat_part = rest[:cut], rest[cut + 1:]
    if len(followed) % 2:
        raise ValueError("odd stat output")
    target = {followed[i]: followed[i + 1] for i in range(0, len(followed), 2)}
    own = {lstat_part[i]: lstat_part[i + 1] for i in range(0, len(lstat_part) - 1, 2)
           if lstat_part[i]}
    found = {}
    for path, real in zip(paths, reals):
        info = target.get(path)
        if info is None:
            found[path] = Identity(path, real or path, exists=path in own,
                                   is_link=own.get(path) == "symbolic link")
            continue
        dev, ino, nlink, kind = info.split(" ", 3)
        found[path] = Identity(path, real or path, True, own.get(path) == "symbolic link",
                               kind == "directory", int(dev), int(ino), int(nlink))
    return found


def identities(endpoint, paths: Iterable[str]) -> Dict[str, Identity]:
    """Return {path: Identity} for every (absolute) path on ``endpoint``'s host.

    Raise ProvisioningError when the server cannot tell (no GNU coreutils),
    TransferError when it cannot be reached.
    """
    unique = sorted(set(paths))
    if endpoint.is_local:
        parents: Dict[str, str] = {}
        return {p: _local(p, parents) for p in unique}
    found: Dict[str, Identity] = {}
    for batch in _batches(unique):
        output = endpoint.run(build.identity_command(batch), timeout=300)
        try:
            found.update(parse_identities(batch, output))
        except (ValueError, IndexError) as exc:
            raise ProvisioningError(
                f"cannot tell on the {endpoint.label} server which files other torrents "
                f"reach through links ({exc}); it needs GNU coreutils (realpath, stat). "
                f"Nothing was deleted") from None
    return found


def _walk(root: str, pick, what: str, out: List[str]) -> None:
    """Add to ``out`` every entry at or below ``root`` that ``pick(entry)`` takes;
    walk into the other folders (links not followed). Raise ProvisioningError
    when a folder cannot be read: ``what`` (links, hard links) could hide there."""
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ProvisioningError(f"cannot read {root} to look for {what} to the moved "
                                f"files: {exc.strerror or exc}; nothing was deleted") from None
    for entry in entries:
        if pick(entry):
            out.append(entry.path)
        elif entry.is_dir(follow_symlinks=False):
            _walk(entry.path, pick, what, out)


def links_under(endpoint, roots: Iterable[str]) -> List[str]:
    """Return every symlink at or below the (absolute) ``roots`` on ``endpoint``'s
    host, links not followed. A folder that cannot be read is an error
    (ProvisioningError): a link to our files could hide there."""
    roots = sorted({r for r in roots if r.startswith("/")})
    found: List[str] = []
    if endpoint.is_local:
        for root in roots:
            if os.path.islink(root):
                found.append(root)
            elif os.path.isdir(root):
                _walk(root, lambda entry: entry.is_symlink(), "links", found)
        return found
    return list(_found_on_server(endpoint, roots, build.find_links_command, "links"))


def _found_on_server(endpoint, roots: List[str], command, what: str) -> Iterator[str]:
    """Yield the NUL-separated records ``command(batch)`` prints on ``endpoint``'s
    server for each batch of ``roots``. Raise ProvisioningError when it fails:
    ``what`` (links, hard links) could hide there."""
    for batch in _batches(roots):
        try:
            output = endpoint.run(command(batch), timeout=600)
        except MoverError as exc:
            raise ProvisioningError(f"cannot look for {what} to the moved files on the "
                                    f"{endpoint.label} server: {exc}; nothing was "
                                    f"deleted") from None
        yield from (record for record in output.split("\0") if record)


def hard_links_under(endpoint, roots: Iterable[str],
                     keys: Set[Tuple[int, int]]) -> List[str]:
    """Return the regular files at or below the (absolute) ``roots`` on
    ``endpoint``'s host (links not followed) whose device and inode are one of
    ``keys``: other names of those files. A file mounted there is not seen
    (its folder lists the file below the mount; ``mounted_under`` finds it).
    A folder that cannot be read is an error (ProvisioningError), as in
    ``links_under``."""
    roots = sorted({r for r in roots if r.startswith("/")})
    inodes = {ino for _, ino in keys}
    if not roots or not inodes:
        return []
    found: List[str] = []
    if endpoint.is_local:
        for root in roots:
            if os.path.isdir(root) and not os.path.islink(root):
                _walk(root, lambda entry: entry.inode() in inodes
                      and entry.is_file(follow_symlinks=False), "hard links", found)
        return [p for p in found if _key(p) in keys]
    for record in _found_on_server(endpoint, roots, build.find_linked_command,
                                   "hard links"):
        dev, ino, path = (record.split(" ", 2) + ["", ""])[:3]
        if path and dev.isdigit() and ino.isdigit() and (int(dev), int(ino)) in keys:
            found.append(path)
    return found


def mounted_under(endpoint, roots: Iterable[str]) -> List[str]:
    """Return the mount points below the (absolute) ``roots`` on ``endpoint``'s host
    (a file or folder bind-mounted into another torrent's folder); none when
    the mount table cannot be read."""
    prefixes = sorted({r.rstrip("/") + "/" for r in roots if r.startswith("/")})
    return sorted(m for m in mount_points(endpoint) or ()
                  if any(m.startswith(prefix) for prefix in prefixes))


def _key(path: str) -> Optional[Tuple[int, int]]:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def parse_mountinfo(text: str) -> Set[str]:
    """Return the mount points listed in ``text`` (/proc/self/mountinfo: the fifth
    field of each line, with space, tab, newline and backslash octal-escaped)."""
    points = set()
    for line in text.split("\n"):   # the kernel escapes only \n; splitlines() splits on more
        fields = line.split(" ")
        if len(fields) > 4:
            points.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
    return points


def mount_points(endpoint) -> Optional[Set[str]]:
    """Return every mount point of ``endpoint``'s host, or None when its mount
    table cannot be read (not Linux; unreachable; a table without "/"). A
    file bind-mounted onto another path is a mount point there."""
    try:
        if endpoint.is_local:
            with open("/proc/self/mountinfo", encoding="utf-8", newline="",
                      errors="surrogateescape") as table:
                points = parse_mountinfo(table.read())
        else:
            points = parse_mountinfo(endpoint.run(build.mountinfo_command(), timeout=60))
    except (OSError, MoverError):
        return None
    return points if "/" in points else None    # no root: not a table to trust
