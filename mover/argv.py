"""Pure functions that build the argv of every external command.

Nothing here runs anything (``mover.process`` does). Names never pass through
a shell: argv lists locally, ``shlex.join`` for the one string OpenSSH and
rsync's ``-e`` hand to the remote side, and rsync's secluded (protected)
arguments plus ``--files-from --from0`` for file names.
"""

import shlex
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from mover.config import ServerConfig
from mover.partial import DIR as PARTIAL_DIR


@dataclass(frozen=True)
class Command:
    """An argv plus the extra environment it needs (e.g. SSHPASS, never in argv)."""

    argv: List[str]
    env: Dict[str, str] = field(default_factory=dict, repr=False)


def ssh_options(server: ServerConfig, connect_timeout: int = 20) -> List[str]:
    """Return OpenSSH argv (``ssh`` and options) that verify the host key strictly."""
    argv = ["ssh", "-p", str(server.port),
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={server.known_hosts}",
            "-o", f"ConnectTimeout={connect_timeout}",
            "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
            "-o", "Compression=no", "-o", "LogLevel=ERROR",
            # AES-GCM first (hardware AES: less CPU per byte than chacha20);
            # "^" keeps the rest of the default list, so any server still works.
            "-o", "Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com"]
    if server.key_file:
        argv += ["-i", server.key_file, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
    else:
        argv += ["-o", "PreferredAuthentications=password,keyboard-interactive",
                 "-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1"]
    return argv


def _password_wrap(argv: List[str], server: Optional[ServerConfig]) -> Command:
    """Prefix ``sshpass -e`` when the server uses a password (given via env)."""
    if server is not None and not server.key_file and server.password:
        return Command(["sshpass", "-e"] + argv, {"SSHPASS": server.password})
    return Command(argv)


def remote_spec(server: Optional[ServerConfig], path: str) -> str:
    """Return rsync's location for ``path``: plain when local, ``user@host:path`` remote."""
    if server is None:
        return path
    host = f"[{server.host}]" if ":" in server.host else server.host
    return f"{server.username}@{host}:{path}"


def rsync(src_root: str, dst_root: str, list_file: str,
          server: Optional[ServerConfig], checksum: bool = False,
          bwlimit_kbps: int = 0) -> Command:
    """Return the rsync Command copying the files named in ``list_file``.

    ``list_file`` holds NUL-separated paths relative to ``src_root``;
    ``src_root``/``dst_root`` are folders, already in remote_spec form where
    remote (at most one side is remote). Partial files are kept in
    PARTIAL_DIR for resuming and renamed into place when complete.
    ``checksum`` compares content, not size and time, and sends deltas.
    """
    argv = ["rsync", "--recursive", "--times", "--secluded-args",
            "--files-from", list_file, "--from0",
            "--partial-dir", PARTIAL_DIR, "--info=progress2,name0", "--outbuf=L"]
    if checksum:
        argv += ["--checksum", "--no-whole-file"]
    if bwlimit_kbps:
        argv += [f"--bwlimit={bwlimit_kbps}"]
    if server is not None:
        argv += ["-e", shlex.join(ssh_options(server))]
    argv += ["--", src_root.rstrip("/") + "/", dst_root.rstrip("/") + "/"]
    return _password_wrap(argv, server)


def rsync_probe(server: ServerConfig) -> Command:
    """Return the command that runs ``rsync --version`` on ``server`` over OpenSSH,
    exactly as the rsync engine reaches it (same options, same authentication)."""
    host = f"[{server.host}]" if ":" in server.host else server.host
    return _password_wrap(ssh_options(server, connect_timeout=10)
                          + ["--", f"{server.username}@{host}", "rsync --version"], server)


def rsync_local_probe() -> Command:
    """Return the command that checks this rsync knows ``--secluded-args``."""
    return Command(["rsync", "--secluded-args", "--version"])


def ssh_keyscan_hint(server: ServerConfig) -> str:
    """Return the command a user runs to record the server's host key."""
    return (f"ssh-keyscan -p {server.port} {shlex.quote(server.host)} "
            f">> {shlex.quote(server.known_hosts)}  (check the fingerprint first)")


def df(path: str) -> List[str]:
    """Return argv printing free space (POSIX format, KiB) of ``path``."""
    return ["df", "-Pk", "--", path]


def remote(argv: List[str]) -> str:
    """Return the one string an SSH exec request carries, every word quoted."""
    return shlex.join(argv)


# What each path resolves to, for mover.endpoints.identity: realpath of every
# path (NUL-terminated, in order), an empty record, "name, dev ino nlink type"
# records of what they resolve to, an empty record, "name, type" records of
# the paths themselves. Paths arrive as arguments ("$@"), never as code.
IDENTITY_SCRIPT = ("realpath -z -m -- \"$@\" || exit 3\n"
                   "printf '\\0'\n"
                   "stat -L --printf '%n\\0%d %i %h %F\\0' -- \"$@\" 2>/dev/null\n"
                   "printf '\\0'\n"
                   "stat --printf '%n\\0%F\\0' -- \"$@\" 2>/dev/null\n"
                   "exit 0\n")


def identity_command(paths: List[str]) -> List[str]:
    """Return argv printing, for absolute ``paths``, what identity.parse_identities reads."""
    return ["sh", "-c", IDENTITY_SCRIPT, "sh", *paths]


def find_linked_command(roots: List[str]) -> List[str]:
    """Return argv listing, NUL-separated, "device inode path" of every regular file
    with more than one link at or below the absolute ``roots`` (links not
    followed). The caller picks the inodes it wants: a list of them on the
    command line could outgrow the kernel's limit on one argument."""
    if any(not root.startswith("/") for root in roots):
        raise ValueError("find roots must be absolute paths")
    return ["find", "-P", *roots, "-type", "f", "-links", "+1", "-printf", "%D %i %p\\0"]


def mountinfo_command() -> List[str]:
    """Return argv printing the host's mount table (identity.parse_mountinfo reads it)."""
    return ["cat", "/proc/self/mountinfo"]


def find_links_command(roots: List[str]) -> List[str]:
    """Return argv listing (NUL-separated) every symlink at or below the absolute
    ``roots``, links not followed."""
    if any(not root.startswith("/") for root in roots):
        raise ValueError("find roots must be absolute paths")
    return ["find", "-P", *roots, "-type", "l", "-print0"]


def recycle_list_command(recycle_path: str) -> List[str]:
    """Return argv listing, NUL-separated, "depth, path below ``recycle_path``, type
    letter, mtime" of every entry in it and in its folders one level down, links
    not followed (mover.recycle.parse_listing reads it)."""
    if not recycle_path.startswith("/"):
        raise ValueError("recycle_path must be an absolute path")
    return ["find", "-P", recycle_path, "-mindepth", "1", "-maxdepth", "2",
            "-printf", "%d\\0%P\\0%y\\0%T@\\0"]


def remove_tree_command(path: str) -> List[str]:
    """Return argv removing ``path`` and everything below it, following no link and
    staying on its filesystem."""
    if not path.startswith("/"):
        raise ValueError("refusing to remove a relative path")
    return ["rm", "-rf", "--one-file-system", "--", path]
