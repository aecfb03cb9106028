"""Helpers for end-to-end tests: config files, running hook.py, comparing trees."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness import torrents

REPO = Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")
MARK = "tm-PWNED"   # a shell running any name would create this file in its cwd
# Every shell-meaningful character the brief names, plus unicode.
NASTY_DIR = f"-Show $(touch {MARK}) 'q' \"dq\"; `touch {MARK}` é ✓"
NASTY_FILES = {
    f"-e01 $(touch {MARK}).mkv": 3 * 1024 * 1024 + 17,
    "sub dir/it's; a \"test\" `x`.nfo": 70_001,
    "sub dir/deeper/ünï cødé ✓.srt": 12_345,
}


@dataclass
class Workspace:
    """Folders of one test: source data, destination, cache, state, config."""

    root: Path
    src_save: Path = field(init=False)
    dest: Path = field(init=False)
    cache: Path = field(init=False)
    state: Path = field(init=False)
    config: Path = field(init=False)

    def __post_init__(self) -> None:
        self.src_save = self.root / "src-data"
        self.dest = self.root / "dest-data"
        self.cache = self.root / "cache"
        self.state = self.root / "state"
        self.config = self.root / "config.ini"
        for folder in (self.src_save, self.dest, self.cache, self.state):
            folder.mkdir(parents=True, exist_ok=True)


def workspace(tmp_root: Path) -> Workspace:
    """Return a fresh Workspace under the session root (seen by 5.x chroots too)."""
    return Workspace(Path(tmp_root) / f"t-{uuid.uuid4().hex[:10]}")


def server_section(name: str, sshd, password: bool = False) -> str:
    auth = f"password = {sshd.password}\n" if password else f"key_file = {sshd.key_file}\n"
    user = sshd.password_user if password else sshd.user
    return (f"[{name}]\nhost = {sshd.host}\nport = {sshd.port}\nusername = {user}\n"
            f"{auth}known_hosts = {sshd.known_hosts}\n")


def write_config(ws: Workspace, src, dst, *, src_server=None, dst_server=None,
                 mode: str = "rsync", category: str = "move", password: bool = False,
                 **settings) -> Path:
    """Write ws.config for clients ``src``/``dst`` (harness Qbt) and optional sshd's."""
    text = ""
    for section, client in (("SOURCE_CLIENT", src), ("DESTINATION_CLIENT", dst)):
        text += (f"[{section}]\nhost = {client.host}\nport = {client.port}\n"
                 f"username = {client.username}\npassword = {client.password}\n\n")
    if src_server is not None:
        text += server_section("SOURCE_SERVER", src_server, password) + "\n"
    if dst_server is not None:
        text += server_section("DESTINATION_SERVER", dst_server, password) + "\n"
    text += f"[DESTINATION_PATHS]\ndestination_path = {ws.dest}\n\n"
    values = {"transfer_mode": mode, "category_to_move": category,
              "retry_backoff": 1, "recheck_timeout": 120, "free_space_margin_mb": 0}
    values.update(settings)
    text += "[SETTINGS]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
    ws.config.write_text(text)
    ws.config.chmod(0o600)
    return ws.config


def hook_env(ws: Workspace, **extra: str) -> dict:
    env = dict(os.environ, TORRENT_MOVER_STATE_DIR=str(ws.state))
    env.pop("TORRENT_MOVER_CONFIG", None)
    env.update(extra)
    return env


def run_hook(ws: Workspace, *args: str, timeout: float = 300, **env: str):
    """Run ``hook.py --config ws.config ARGS``; return the CompletedProcess."""
    return subprocess.run([PYTHON, str(REPO / "hook.py"), "--config", str(ws.config),
                           *args], env=hook_env(ws, **env), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def start_hook(ws: Workspace, *args: str, **env: str) -> subprocess.Popen:
    """Start hook.py in the background (for kill -9 tests)."""
    return subprocess.Popen([PYTHON, str(REPO / "hook.py"), "--config", str(ws.config),
                             *args], env=hook_env(ws, **env), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)


def digest_tree(folder: Path) -> dict:
    """Return {relative path: sha256} of every file below ``folder``."""
    out = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file():
            out[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def nasty_torrent(ws: Workspace, single: bool = False, seed: str = "x"):
    """Create content with hostile names under ws.src_save; return (bytes, hash, top)."""
    if single:
        top = ws.src_save / f"{NASTY_DIR}.mkv"
        torrents.make_content(ws.src_save, {top.name: 2 * 1024 * 1024 + 5}, seed)
    else:
        top = ws.src_save / NASTY_DIR
        torrents.make_content(top, NASTY_FILES, seed)
    data, ih = torrents.make_torrent(top, piece_size=16384 * 4)
    return data, ih, top


def assert_clean_run(proc, code: int = 0) -> None:
    """Assert the exit code and that no traceback reached the user."""
    output = proc.stdout + proc.stderr
    assert proc.returncode == code, output
    assert "Traceback" not in output, output
    for folder in (Path.cwd(), Path.home(), Path("/home/tmtest"), Path("/")):
        assert not (folder / MARK).exists(), "a shell expanded a file name"


def read_journal(ws: Workspace, ih: str) -> dict:
    """Return the parsed journal of torrent ``ih``."""
    import json
    return json.loads((ws.state / "journal" / f"{ih}.json").read_text())
