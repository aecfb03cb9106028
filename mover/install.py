"""install_hook.py: set, check or remove qBittorrent's "run on torrent finished".

The command runs this checkout's interpreter and hook.py by absolute path,
with the config path and %K (the torrent ID). qBittorrent splits it on
spaces with double quotes grouping words, and uses no shell.
"""

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from mover.errors import ConfigError, MoverError, UsageError

log = logging.getLogger("mover.install")
HOOK = Path(__file__).resolve().parent.parent / "hook.py"


def hook_command(python: str, hook: str, config_path: str) -> str:
    """Return the autorun program line; raise ConfigError for a path qBittorrent cannot quote."""
    for path in (python, hook, config_path):
        if '"' in path or "%" in path:
            raise ConfigError(f"the path {path!r} contains '\"' or '%', which "
                              f"qBittorrent's command line cannot carry; move it")
    return f'"{python}" "{hook}" --config "{config_path}" %K'


def parser() -> argparse.ArgumentParser:
    class _P(argparse.ArgumentParser):
        def error(self, message):
            raise UsageError(message)
    p = _P(prog="install_hook.py", description="Install hook.py as the source "
           "qBittorrent's 'Run external program on torrent finished'.")
    p.add_argument("--config", help="config file (same lookup as hook.py)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="report whether it is installed")
    group.add_argument("--uninstall", action="store_true", help="remove it")
    p.add_argument("--force", action="store_true",
                   help="replace or remove a different program already set")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    """Do what ``args`` ask against the source client; return the exit code."""
    from mover import config
    from mover.qbit import Qbit
    cfg_path = config.locate(args.config)
    cfg = config.load(cfg_path)
    wanted = hook_command(sys.executable, str(HOOK), str(cfg_path))
    client = Qbit(cfg.source_client)
    prefs = client.preferences()
    current = prefs.get("autorun_program", "") if prefs.get("autorun_enabled") else ""
    ours = str(HOOK) in current
    if args.check:
        if current == wanted:
            print(f"installed on {cfg.source_client.url}: {current}")
            return 0
        print(f"NOT installed as expected on {cfg.source_client.url}; "
              f"found {current or 'nothing'!r}, want {wanted!r}")
        return 1
    if current and not ours and not args.force:
        raise MoverError(f"{cfg.source_client.url} already runs another program on "
                         f"torrent finished: {current!r}; use --force to replace it")
    if args.uninstall:
        if not current:
            print("nothing to uninstall")
            return 0
        client.set_preferences({"autorun_enabled": False, "autorun_program": ""})
        print(f"removed {current!r} from {cfg.source_client.url}")
        return 0
    client.set_preferences({"autorun_enabled": True, "autorun_program": wanted})
    if client.preferences().get("autorun_program") != wanted:
        raise MoverError("qBittorrent did not keep the autorun program; set it by hand: "
                         + wanted)
    print(f"installed on {cfg.source_client.url}: {wanted}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of install_hook.py: return the process exit code; never raise."""
    from mover.cli import guarded
    return guarded(run, parser, argv)
