"""Three clients of one flavor (seeder, src, dst) shared by a whole test session."""
from __future__ import annotations

import shutil
from pathlib import Path

from .qbt import FLAVORS, Qbt, _empty_dir, missing_binary

STATE_ENV = "TORRENT_MOVER_STATE_DIR"


class QbtTrio:
    """``seeder``, ``src`` and ``dst``: Qbt of one ``flavor``, all rooted at ``root``.

    Every member is a Qbt(root, f"qbt{flavor}-{role}", flavor) whose process
    gets env TORRENT_MOVER_STATE_DIR=``state_dir`` (so a hook started by
    qBittorrent inherits it). With flavor "5" the whole ``root`` is visible
    inside the chroot at the same path: give clients paths under ``root`` only.
    """

    ROLES = ("seeder", "src", "dst")

    def __init__(self, root: Path, flavor: str) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"unknown flavor {flavor!r}")
        self.root = Path(root)
        self.flavor = flavor
        self.state_dir = self.root / f"qbt{flavor}-state"
        env = {STATE_ENV: str(self.state_dir)}
        self.seeder = Qbt(root, f"qbt{flavor}-seeder", flavor, env)
        self.src = Qbt(root, f"qbt{flavor}-src", flavor, env)
        self.dst = Qbt(root, f"qbt{flavor}-dst", flavor, env)

    def __repr__(self) -> str:
        return f"QbtTrio({self.flavor!r}, {self.members})"

    def __iter__(self):
        return iter(self.members)

    @property
    def members(self) -> tuple[Qbt, Qbt, Qbt]:
        """(seeder, src, dst)."""
        return (self.seeder, self.src, self.dst)

    @property
    def missing(self) -> str | None:
        """A message naming what is missing to run this flavor, or None."""
        return missing_binary(self.flavor)

    def start(self) -> "QbtTrio":
        """Start every member that is not running (RuntimeError on failure)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for member in self.members:
            member.start()
        return self

    def stop(self) -> None:
        """Stop every member; keeps going if one fails, then re-raises the first error."""
        first: BaseException | None = None
        for member in self.members:
            try:
                member.stop()
            except BaseException as exc:  # noqa: BLE001 - stop the others first
                first = first or exc
        if first:
            raise first

    def reset(self) -> None:
        """Bring all members back to a clean, running state for the next test.

        Restarts members a test stopped or killed, then Qbt.reset() on each
        and empties ``state_dir``. A member that cannot be reset (e.g. a test
        changed its password) is killed and recreated from a fresh profile.
        """
        self.start()
        for member in self.members:
            try:
                member.reset()
            except Exception:  # noqa: BLE001 - rebuild it from scratch
                member.kill()
                shutil.rmtree(member.profile, ignore_errors=True)
                member.start()
                member.reset()
        _empty_dir(self.state_dir)
