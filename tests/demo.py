"""`make demo`: a real move through the real hook, in a sandbox on 127.0.0.1.

Starts three qbittorrent-nox (seeder, source, destination) and an sshd,
installs hook.py on the source with install_hook.py, lets the source download
a sample torrent from the seeder so that qBittorrent itself fires the hook,
and shows the torrent arriving verified at the destination and leaving the
source (pushed over SSH with rsync). Everything is removed afterwards.
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e import util
from tests.harness import torrents
from tests.harness.qbt import Qbt
from tests.harness.sshd import Sshd

MiB = 1024 * 1024
SAMPLE = {"Sample Show S01E01 – “demo” ✓.mkv": 24 * MiB, "Subs/en.srt": 40_000,
          "Subs/fr (forced).srt": 30_000}


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def wait_for_move(seeder, src, dst, ih, timeout=180.0) -> None:
    """Keep the peers connected until the destination seeds and the source is empty."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        s, d = torrents.info(src.client(), ih), torrents.info(dst.client(), ih)
        line = (f"   source: {f'{s.state} {s.progress:.0%}' if s else 'gone'}   "
                f"destination: {f'{d.state} {d.progress:.0%}' if d else '-'}")
        if line != last:
            print(line, flush=True)
            last = line
        if s is None and d is not None and d.progress == 1:
            return
        if s is not None and s.progress < 1:
            torrents.connect(seeder, src, ih)
        time.sleep(0.5)
    raise SystemExit("the demo move did not finish in time; see the logs above")


def run(root: Path) -> None:
    ws = util.workspace(root)
    say("starting a seeder, a source and a destination qbittorrent-nox, and an sshd")
    env = {"TORRENT_MOVER_STATE_DIR": str(ws.state)}
    with Sshd(root / "sshd") as sshd, Qbt(root, "seeder") as seeder, \
            Qbt(root, "source", env=env) as src, Qbt(root, "destination") as dst:
        for name, q in (("seeder", seeder), ("source", src), ("destination", dst)):
            print(f"   {name:<12} qBittorrent {q.client().app_version()} at {q.url}")
        print(f"   sshd         127.0.0.1:{sshd.port} (its host key in {sshd.known_hosts})")
        util.write_config(ws, src, dst, dst_server=sshd, mode="rsync")
        say(f"config (push over SSH with rsync): {ws.config}")
        print("   " + ws.config.read_text().replace(src.password, "***")
              .replace(dst.password, "***").replace("\n", "\n   "))
        say("installing the hook on the source: install_hook.py")
        subprocess.run([util.PYTHON, str(util.REPO / "install_hook.py"), "--config",
                        str(ws.config)], check=True, env=util.hook_env(ws))
        seed_dir = root / "seed-data"
        folder = seed_dir / "Sample Show S01"
        torrents.make_content(folder, SAMPLE, seed="demo")
        data, ih = torrents.make_torrent(folder, piece_size=262144)
        torrents.add_complete(seeder.client(), data, seed_dir)
        say(f"the source downloads 'Sample Show S01' ({ih}) from the seeder, category 'move'")
        torrents.add(src.client(), data, ws.src_save, category="move")
        wait_for_move(seeder, src, dst, ih)
        show_result(ws, ih, seed_dir)


def show_result(ws, ih: str, seed_dir: Path) -> None:
    say("qBittorrent fired the hook; what it logged:")
    log = (ws.state / "logs" / "torrent-mover.log").read_text()
    for line in log.splitlines():
        if " DEBUG " not in line:
            print("   " + line.split(": ", 1)[-1])
    journal = json.loads((ws.state / "journal" / f"{ih}.json").read_text())
    say("journal: " + " -> ".join(h["stage"] for h in journal["history"]))
    same = util.digest_tree(ws.dest) == util.digest_tree(seed_dir)
    say(f"destination files byte-identical to the original: {'yes' if same else 'NO'}")
    for path in sorted(ws.dest.rglob("*")):
        if path.is_file():
            print(f"   {path.relative_to(ws.dest)}  ({path.stat().st_size} bytes)")
    left = list(ws.src_save.rglob("*"))
    say(f"files left at the source: {len(left)}")
    if not same or left:
        raise SystemExit("demo FAILED")
    print("\ndemo OK: moved, verified at 100% by the destination, removed from the source")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="torrent-mover-demo-", dir="/tmp"))
    root.chmod(0o755)
    try:
        run(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
