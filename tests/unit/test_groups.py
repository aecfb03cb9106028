"""Cross-seed groups (issue 11 §1) against the fake clients: two source torrents
sharing files move together, data copied once; a member that is excluded,
incomplete or laid out differently stays with the shared files; a crash at
any fault point of a group move loses nothing and a re-run of either member
(then a sweep) finishes the group; no member leaves the source unless every
member still there was verified by the running process.
"""
from __future__ import annotations

import os

import pytest
import torf

from mover import report, stages
from mover.actions import status
from mover.move import Outcome
from mover.pieces import Layout
from mover.session import Session
from mover.sweep import sweep
from mover.move import Options
from state.journal import Journal, Status, all_records, set_fault_hook
from tests.unit.fakes import World
from tests.unit.machine import Crash, KiB, Made, full_copy, make_config, next_process, run

FLAVORS = ["4.5", "5"]
SIZES = (300 * KiB + 7, 70 * KiB, 5)


def write_show(folder, nfo: bool) -> None:
    for index, size in enumerate(SIZES):
        path = folder / ("sub" if index else "") / f"part {index} $(x).bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes((index * 7 + i * 13) % 251 for i in range(size)))
    if nfo:
        (folder / "Show.nfo").write_bytes(b"release notes\n" * 50)


def add(world: World, folder, save, piece: int, category: str, tags, exclude=()) -> Made:
    """Make a .torrent of ``folder`` and add it complete (seeding) to the fake source."""
    torrent = torf.Torrent(path=folder, created_by=None, creation_date=None,
                           exclude_globs=list(exclude))
    torrent.piece_size = piece
    torrent.generate()
    data = torrent.dump()
    world.src.add(data, str(save), category, tuple(tags), skip_checking=True)
    h = torrent.infohash.lower()
    world.src.t[h].stopped = False
    return Made(h, data, Layout.from_torrent(data), str(save), "")


def pair(world: World, root, nfo: bool = True, b_category: str = "move",
         b_save=None):
    """Two cross-seeds of one show: A (16 KiB pieces, without the .nfo) and B
    (32 KiB pieces, with it when ``nfo``), in one save path unless ``b_save``."""
    save = root / "src"
    write_show(save / "Show", nfo)
    a = add(world, save / "Show", save, 16 * KiB, "move", ("tv", "keep me"),
            exclude=["*.nfo"])
    if b_save is None:
        b = add(world, save / "Show", save, 32 * KiB, b_category, ("cross",))
    else:
        target = b_save / "Show"
        for path in sorted((save / "Show").rglob("*")):
            if path.is_file():
                link = target / path.relative_to(save / "Show")
                link.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, link)
        b = add(world, target, b_save, 32 * KiB, b_category, ("cross",))
    for made in (a, b):
        made.dest = str(root / "dest")
    return a, b


def movie_pair(world: World, root, link=os.link):
    """A: one file in root/src; B: the same file as a single-file torrent in its own
    folder root/cross, reached by ``link(target, path)`` (cross-seed's hard
    link mode by default). Both in category move."""
    save, cross = root / "src", root / "cross"
    save.mkdir(parents=True)
    cross.mkdir()
    movie = save / "Movie (2024) $(x).mkv"
    movie.write_bytes(bytes((i * 31) % 251 for i in range(200 * KiB + 9)))
    a = add(world, movie, save, 16 * KiB, "move", ("tv", "keep me"))
    link(movie, cross / movie.name)
    b = add(world, cross / movie.name, cross, 32 * KiB, "move", ("cross",))
    for made in (a, b):
        made.dest = str(root / "dest")
    return a, b


def pack_pair(world: World, root):
    """A: a season pack in root/src; B: the same files, hard links in root/cross
    (cross-seed's hard link mode for a folder)."""
    return pair(world, root, nfo=False, b_save=root / "cross")


def pair_of(layout: str):
    return {"same-folder": pair, "hard-linked-elsewhere": movie_pair,
            "hard-linked-folder": pack_pair}[layout]


class GroupGuard:
    """At every fault point each torrent has a full copy somewhere; a source
    torrent is deleted only while every mover still on the source is verified
    at the destination by the running process, with a full copy there."""

    def __init__(self, world: World, made, movers):
        self.world, self.made, self.movers = world, made, movers
        self.points, self.crash_at, self.deletions = [], None, []
        world.on_delete = self.on_delete

    def fault(self, name: str) -> None:
        self.points.append(name)
        for m in self.made:
            assert full_copy(m, m.src_save) or full_copy(m, m.dest), \
                f"no full copy of {m.hash} at {name}"
        if self.crash_at and self.crash_at == (name, self.points.count(name)):
            self.crash_at = None
            raise Crash(name)

    def on_delete(self, client, torrent_hash, torrent, delete_files) -> None:
        if client is not self.world.src:
            return
        self.deletions.append(torrent_hash)
        dst = self.world.dst
        for m in self.movers:
            if m.hash == torrent_hash or m.hash in self.world.src.t:
                assert m.hash in dst.t, f"{torrent_hash} deleted while {m.hash} is not there"
                assert dst.verified_in(m.hash) == self.world.process, \
                    f"{torrent_hash} deleted; {m.hash} was verified by another process"
                assert full_copy(m, m.dest)

    def __enter__(self):
        set_fault_hook(self.fault)
        return self

    def __exit__(self, *exc):
        set_fault_hook(None)
        self.world.on_delete = None


def count_transfers(monkeypatch) -> list:
    calls = []
    real = stages.transfer

    def counting(session, journal, plan, **kwargs):
        calls.append((plan.hash, len(plan.files)))
        return real(session, journal, plan, **kwargs)
    monkeypatch.setattr(stages, "transfer", counting)
    return calls


def assert_seeding(world: World, made: Made, category: str, tags) -> None:
    t = world.dst.t[made.hash]
    assert not t.stopped and t.category == category and set(t.tags) == set(tags)
    assert t.save_path == made.dest and full_copy(made, made.dest)


def no_files(folder) -> bool:
    """True when no file is left below ``folder`` (the fake client, unlike
    qBittorrent, leaves empty folders behind)."""
    return not [p for p in folder.rglob("*") if p.is_file()]


def do_sweep(world: World, cfg):
    with Session(cfg, factory=world.factory(), clock=world.clock) as session:
        return sweep(session, Options())


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("nfo", [True, False], ids=["extra-nfo", "same-files"])
def test_group_moves_together(tmp_path, monkeypatch, flavor, nfo):
    """One hook run moves both: one copy, both added with their own category and
    tags, both verified by this process and seeding, both gone from the source."""
    world = World(flavor)
    cfg = make_config(tmp_path)
    a, b = pair(world, tmp_path, nfo=nfo)
    transfers = count_transfers(monkeypatch)
    with GroupGuard(world, [a, b], [a, b]) as guard:
        result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED, result.message
    assert b.hash in result.message
    assert transfers == [(a.hash, 4 if nfo else 3)], "the data is copied once"
    assert_seeding(world, a, "move", ("tv", "keep me"))
    assert_seeding(world, b, "move", ("cross",))
    assert world.src.t == {} and sorted(guard.deletions) == sorted([a.hash, b.hash])
    assert no_files(tmp_path / "src" / "Show")
    for made in (a, b):
        record = Journal(made.hash).record
        assert record.status is Status.DONE and record.stage.finished
        assert record.group["leader"] == a.hash
        assert sorted(record.group["members"]) == sorted([a.hash, b.hash])
    again = run(world, cfg, b.hash)
    assert again.message == f"moved with group of {a.hash}"


@pytest.mark.parametrize("why", ["category", "incomplete", "ignored", "partial"])
def test_excluded_member_stays_with_the_shared_files(tmp_path, why):
    """B is not in category_to_move / not complete / ignored by a rule / partial
    (its .nfo deselected: its copy could not serve it): A moves alone, B keeps
    its files at the source and stays complete."""
    world = World()
    rules_file = tmp_path / "rules.json"
    cfg = make_config(tmp_path, rules_file=str(rules_file))
    a, b = pair(world, tmp_path, b_category="other" if why == "category" else "move")
    if why == "incomplete":
        world.src.t[b.hash].have = set(range(len(b.layout.hashes) - 1))
    if why == "ignored":
        rules_file.write_text('{"format_version": 1, "rules": {"junk.example": "Ignore", '
                              '"tv.example": "tv"}}')
        world.src.trackers = lambda h: ["https://tracker.junk.example/a" if h == b.hash
                                        else "https://tv.example/announce"]
    if why == "partial":
        [nfo] = [i for i, f in enumerate(world.src.files(b.hash)) if f.name.endswith(".nfo")]
        world.src.t[b.hash].priorities[nfo] = 0
    with GroupGuard(world, [a, b], [a]):
        result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED, result.message
    assert_seeding(world, a, "tv" if why == "ignored" else "move", ("tv", "keep me"))
    assert b.hash in world.src.t and b.hash not in world.dst.t
    if why != "incomplete":
        assert full_copy(b, b.src_save), "the shared files stayed for B"
    record = Journal(a.hash).record
    assert record.group["members"] == [a.hash] and b.hash in record.group["staying"]


@pytest.mark.parametrize("layout", ["symlinked-save-path", "hard-link-renamed"])
def test_other_layout_falls_back_to_one_torrent(tmp_path, layout):
    """B holds A's files through per-file symlinks under another save path, or
    as a hard link under another name: it cannot share one destination copy,
    so A moves alone and B keeps its data at the source (a hard link: under
    its own name only; A's name of the file goes with A)."""
    world = World()
    cfg = make_config(tmp_path)
    save = tmp_path / "src"
    write_show(save / "Show", nfo=False)
    a = add(world, save / "Show", save, 16 * KiB, "move", ("tv", "keep me"))
    if layout == "symlinked-save-path":
        cross = tmp_path / "cross"
        for path in sorted(p for p in (save / "Show").rglob("*") if p.is_file()):
            link = cross / "Show" / path.relative_to(save / "Show")
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(path)
        b = add(world, cross / "Show", cross, 32 * KiB, "move", ("cross",))
        why = "save path"
    else:
        single = save / "renamed.bin"
        os.link(save / "Show" / "part 0 $(x).bin", single)
        b = add(world, single, save, 32 * KiB, "move", ("cross",))
        why = "another layout"
    a.dest = b.dest = str(tmp_path / "dest")
    with GroupGuard(world, [a, b], [a]):
        result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED
    assert b.hash in world.src.t and b.hash not in world.dst.t
    assert full_copy(b, b.src_save)
    assert why in Journal(a.hash).record.group["staying"][b.hash]
    if layout == "hard-link-renamed":   # B's own name keeps the data: A's name goes
        assert not [p for p in (save / "Show").rglob("*") if p.is_file()]


def test_group_cross_seeds_false_moves_one(tmp_path):
    world = World()
    cfg = make_config(tmp_path, group_cross_seeds=False)
    a, b = pair(world, tmp_path)
    result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED
    assert b.hash in world.src.t and b.hash not in world.dst.t
    assert full_copy(b, b.src_save)
    assert Journal(a.hash).record.group == {}


@pytest.mark.parametrize("order", ["member-smaller", "member-larger"])
def test_busy_member(tmp_path, order):
    """Another process holds B's lock (B started its own group move). If B's hash
    is smaller, A gives up at once and changes nothing (B's process moves the
    group); if larger, A waits for it (up to LOCK_WAIT) and then moves the group."""
    world = World()
    cfg = make_config(tmp_path)
    one, two = pair(world, tmp_path)
    a, b = (one, two) if (one.hash < two.hash) == (order == "member-larger") else (two, one)
    held = Journal(b.hash).lock()
    if order == "member-larger":
        world.clock.hooks.append(lambda: world.clock.now > 1010 and held.unlock())
    result = run(world, cfg, a.hash)
    held.unlock()
    if order == "member-smaller":
        assert result.outcome is Outcome.SKIPPED and b.hash in result.message
        assert world.dst.t == {} and len(world.src.t) == 2
    else:
        assert result.outcome is Outcome.MOVED, result.message
        assert world.src.t == {} and set(world.dst.t) == {a.hash, b.hash}


@pytest.mark.parametrize("jobs", [1, 2])
def test_sweep_moves_the_group_once_and_reports_both(tmp_path, monkeypatch, jobs):
    """A sweep meets both members (in parallel too): the group moves once and the
    other member is reported as moved with it."""
    world = World()
    cfg = make_config(tmp_path, parallel_jobs=jobs)
    a, b = pair(world, tmp_path)
    transfers = count_transfers(monkeypatch)
    world.clock.sleep(2)        # both done loading on the fake source
    summary = do_sweep(world, cfg)
    assert len(transfers) == 1 and summary.ok, summary.lines()
    messages = sorted(r.message for r in summary.moved)
    assert len(messages) == 2 and not summary.skipped, summary.lines()
    assert any(m.startswith("moved with group of ") for m in messages)
    assert world.src.t == {} and set(world.dst.t) == {a.hash, b.hash}


def test_status_shows_the_group(tmp_path, capsys):
    world = World()
    cfg = make_config(tmp_path, delete_after_transfer=False)
    a, b = pair(world, tmp_path)
    assert run(world, cfg, a.hash).outcome is Outcome.KEPT_SOURCE
    rows = {r.hash: r for r in report.moves()}
    assert rows[a.hash].group["leader"] == a.hash
    assert "[group of 2: leads]" in status.row_line(rows[a.hash])
    assert f"[group of 2: with {a.hash}]" in status.row_line(rows[b.hash])


def test_test_run_of_a_group_then_finish(tmp_path):
    """--test-run moves and verifies both and keeps both sources; hook.py on
    either member then finishes the group (verified again by that process)."""
    world = World()
    cfg = make_config(tmp_path)
    a, b = pair(world, tmp_path)
    result = run(world, cfg, a.hash, test_run=True)
    assert result.outcome is Outcome.TEST_RUN
    assert len(world.src.t) == 2 and set(world.dst.t) == {a.hash, b.hash}
    assert {r.status for r in all_records()} == {Status.TEST_RUN}
    next_process(world)
    with GroupGuard(world, [a, b], [a, b]):
        result = run(world, cfg, b.hash)
    assert result.outcome is Outcome.MOVED, result.message
    assert world.src.t == {}


def clean_points(tmp_path, flavor, layout):
    world = World(flavor)
    cfg = make_config(tmp_path)
    a, b = pair_of(layout)(world, tmp_path)
    with GroupGuard(world, [a, b], [a, b]) as guard:
        run(world, cfg, a.hash)
    seen, out = {}, []
    for name in guard.points:
        seen[name] = seen.get(name, 0) + 1
        out.append((name, seen[name]))
    return out


@pytest.mark.parametrize("flavor, layout", [
    ("4.5", "same-folder"), ("5", "same-folder"),
    ("5", "hard-linked-elsewhere"), ("4.5", "hard-linked-folder")])   # make unit < 1 min
def test_crash_anywhere_in_a_group(tmp_path, flavor, layout):
    """kill -9 at every fault point of a group move, then a re-run of the other
    member (or the same one), then a sweep: nothing lost at any instant, nobody
    removed on an earlier process's verification, and the group ends moved."""
    points = clean_points(tmp_path / "probe", flavor, layout)
    assert len(points) >= 12
    for index, point in enumerate(points):
        case = tmp_path / f"case{index}"
        os.environ["TORRENT_MOVER_STATE_DIR"] = str(case / "state")
        world = World(flavor)
        cfg = make_config(case)
        a, b = pair_of(layout)(world, case)
        with GroupGuard(world, [a, b], [a, b]) as guard:
            guard.crash_at = point
            with pytest.raises(Crash):
                run(world, cfg, a.hash)
            next_process(world)
            world.clock.sleep(5)
            rerun = b if index % 2 == 0 else a
            run(world, cfg, rerun.hash)
            next_process(world)
            summary = do_sweep(world, cfg)
            assert summary.ok, (point, summary.lines())
        assert world.src.t == {}, (point, summary.lines())
        assert_seeding(world, a, "move", ("tv", "keep me"))
        assert_seeding(world, b, "move", ("cross",))
        assert no_files(case / "src") and no_files(case / "cross"), point


def test_dry_run_names_the_group(tmp_path, capsys):
    world = World()
    cfg = make_config(tmp_path)
    a, b = pair(world, tmp_path)
    assert run(world, cfg, a.hash, dry_run=True).outcome is Outcome.DRY_RUN
    out = capsys.readouterr().out
    assert f"would move with its cross-seed {b.hash}" in out
    assert world.dst.t == {} and len(world.src.t) == 2


def test_sweep_never_takes_a_test_run_along(tmp_path):
    """B was moved with --test-run on its own (groups off); a sweep moving A
    leaves B and its source alone: only hook.py B finishes a test run."""
    world = World()
    a, b = pair(world, tmp_path)
    alone = make_config(tmp_path, group_cross_seeds=False)
    assert run(world, alone, b.hash, test_run=True).outcome is Outcome.TEST_RUN
    next_process(world)
    cfg = make_config(tmp_path, parallel_jobs=1)
    with GroupGuard(world, [a, b], [a]):
        summary = do_sweep(world, cfg)
    assert [r.hash for r in summary.moved] == [a.hash], summary.lines()
    assert b.hash in world.src.t and full_copy(b, b.src_save)
    assert Journal(b.hash).record.status is Status.TEST_RUN
    assert "test run" in Journal(a.hash).record.group["staying"][b.hash]


def test_group_cross_seeds_setting(tmp_path):
    """Default true; false and true parse; anything else is one clear problem."""
    from mover import config
    from tests.unit.test_config import problems_of, with_changes, write_config
    settings = {"transfer_mode": "rsync", "category_to_move": "move"}
    loaded = config.load(write_config(tmp_path, with_changes(SETTINGS=settings)))
    assert loaded.settings.group_cross_seeds is True
    off = write_config(tmp_path, with_changes(SETTINGS={**settings,
                                                        "group_cross_seeds": "false"}))
    assert config.load(off).settings.group_cross_seeds is False
    bad = write_config(tmp_path, with_changes(SETTINGS={**settings,
                                                        "group_cross_seeds": "maybe"}))
    assert any("group_cross_seeds" in line for line in problems_of(bad))


def test_member_moved_by_another_process_while_waiting(tmp_path):
    """A waits for B's lock while another process moves B alone: A then moves
    alone and leaves B's finished journal as it is."""
    world = World()
    cfg = make_config(tmp_path)
    one, two = pair(world, tmp_path)
    a, b = (one, two) if one.hash < two.hash else (two, one)
    held = Journal(b.hash).lock()
    alone = make_config(tmp_path, group_cross_seeds=False)

    def other_process_moves_b():
        if world.clock.now > 1005 and held._lock._fd is not None:
            held.unlock()
            world.clock.hooks.clear()
            assert run(world, alone, b.hash).outcome is Outcome.MOVED
    world.clock.hooks.append(other_process_moves_b)
    result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED, result.message
    assert world.src.t == {} and set(world.dst.t) == {a.hash, b.hash}
    assert Journal(b.hash).record.status is Status.DONE
    assert Journal(b.hash).record.group == {}
    assert "another process" in Journal(a.hash).record.group["staying"][b.hash]


GOOD_GROUP = {"leader": "a" * 40, "members": ["a" * 40, "c" * 40],
              "staying": {"b" * 40: "not complete"}}


@pytest.mark.parametrize("group", [GOOD_GROUP, {"leader": 5, "members": []},
                                   {"leader": "a" * 40, "members": "x"},
                                   {"leader": "a" * 40, "members": [1]},
                                   {"leader": "a" * 40, "members": [], "staying": {"b": 2}}])
def test_a_journal_with_a_bad_group_is_set_aside(group):
    """A hostile or damaged ``group`` field: the journal is moved aside (the
    move is planned again), never a traceback in --status."""
    import json
    from state import paths
    h = "c" * 40
    path = paths.journal_path(h)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(json.dumps({"format_version": 1, "hash": h, "stage": "PLANNED",
                                "status": "active", "group": group}))
    path.chmod(0o600)
    if group is GOOD_GROUP:
        assert Journal(h).record.group == GOOD_GROUP
        return
    assert Journal(h).record.group == {}
    assert list(path.parent.glob(f"{h}.json.corrupt-*"))


def test_leader_fails_at_its_removal_after_a_member_left(tmp_path):
    """The leader is removed last. If the destination loses it after the member
    left the source, the move fails with the leader's source intact; the
    member's journal stays done and a re-run finishes the leader alone."""
    from mover.errors import VerificationError
    world = World()
    cfg = make_config(tmp_path)
    a, b = pair(world, tmp_path)
    guard = GroupGuard(world, [a, b], [a, b])
    lose = guard.fault

    def fault(name):
        lose(name)
        if name == "SOURCE_REMOVED" and a.hash in world.dst.t:
            world.dst.t.pop(a.hash)
    with guard:
        set_fault_hook(fault)
        with pytest.raises(VerificationError):
            run(world, cfg, a.hash)
        assert a.hash in world.src.t and b.hash not in world.src.t
        assert Journal(b.hash).record.status is Status.DONE
        assert Journal(a.hash).record.status is Status.FAILED
        next_process(world)
        world.clock.sleep(5)
        set_fault_hook(guard.fault)
        assert run(world, cfg, a.hash).outcome is Outcome.MOVED
    assert world.src.t == {}
    assert_seeding(world, a, "move", ("tv", "keep me"))
    assert_seeding(world, b, "move", ("cross",))


def test_hook_of_another_member_never_takes_a_test_run_along(tmp_path):
    """B was moved with --test-run on its own (groups off); the hook for A (the
    client finished A: not a sweep, not a run asked for B) leaves B and its
    source alone: only hook.py B finishes B's test run."""
    world = World()
    a, b = pair(world, tmp_path)
    alone = make_config(tmp_path, group_cross_seeds=False)
    assert run(world, alone, b.hash, test_run=True).outcome is Outcome.TEST_RUN
    next_process(world)
    cfg = make_config(tmp_path)
    with GroupGuard(world, [a, b], [a]):
        result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED, result.message
    assert b.hash in world.src.t and full_copy(b, b.src_save)
    assert Journal(b.hash).record.status is Status.TEST_RUN
    assert "test run" in Journal(a.hash).record.group["staying"][b.hash]


def test_member_test_run_by_another_process_while_waiting(tmp_path):
    """A waits for B's lock while another process moves B with --test-run:
    B's source stays (only hook.py B finishes its test run); A moves alone."""
    world = World()
    cfg = make_config(tmp_path)
    one, two = pair(world, tmp_path)
    a, b = (one, two) if one.hash < two.hash else (two, one)
    held = Journal(b.hash).lock()
    alone = make_config(tmp_path, group_cross_seeds=False)

    def other_process_test_runs_b():
        if world.clock.now > 1005 and held._lock._fd is not None:
            held.unlock()
            world.clock.hooks.clear()
            assert run(world, alone, b.hash, test_run=True).outcome is Outcome.TEST_RUN
    world.clock.hooks.append(other_process_test_runs_b)
    with GroupGuard(world, [a, b], [a]):
        result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED, result.message
    assert b.hash in world.src.t and full_copy(b, b.src_save)
    assert Journal(b.hash).record.status is Status.TEST_RUN
    assert "test run" in Journal(a.hash).record.group["staying"][b.hash]


def test_member_already_elsewhere_at_the_destination_stays(tmp_path):
    """The destination has B already, at another save path (the user added it
    there): B cannot share the one copy, so it stays at the source with its
    files; A, which moves fine alone, is not failed (or blocked) because of B."""
    world = World()
    cfg = make_config(tmp_path)
    a, b = pair(world, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    world.dst.add(b.data, str(elsewhere), "move", (), skip_checking=False)
    with GroupGuard(world, [a, b], [a]):
        result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED, result.message
    assert b.hash in world.src.t and full_copy(b, b.src_save)
    assert "destination" in Journal(a.hash).record.group["staying"][b.hash]


def test_dry_run_says_a_member_elsewhere_at_the_destination_stays(tmp_path, capsys):
    """--dry-run tells what the real run does: B, which the destination has at
    another save path, stays at the source."""
    world = World()
    cfg = make_config(tmp_path)
    a, b = pair(world, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    world.dst.add(b.data, str(elsewhere), "move", (), skip_checking=False)
    assert run(world, cfg, a.hash, dry_run=True).outcome is Outcome.DRY_RUN
    out = capsys.readouterr().out
    assert f"would move with its cross-seed {b.hash}" not in out
    assert f"cross-seed {b.hash} stays at the source" in out


def test_member_relocated_while_waiting_stays(tmp_path):
    """A waits for B's lock while the user relocates B on the source (same files,
    copied to another folder): B no longer shares A's copy, so it stays, with its
    files in both places; A moves alone."""
    import shutil
    world = World()
    cfg = make_config(tmp_path)
    one, two = pair(world, tmp_path)
    a, b = (one, two) if one.hash < two.hash else (two, one)
    held = Journal(b.hash).lock()
    elsewhere = tmp_path / "elsewhere"

    def user_relocates_b():
        if world.clock.now > 1005 and held._lock._fd is not None:
            shutil.copytree(tmp_path / "src" / "Show", elsewhere / "Show")
            world.src.t[b.hash].save_path = str(elsewhere)
            held.unlock()
            world.clock.hooks.clear()
    world.clock.hooks.append(user_relocates_b)
    result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED, result.message
    assert b.hash in world.src.t and b.hash not in world.dst.t
    assert "save path changed" in Journal(a.hash).record.group["staying"][b.hash]


@pytest.mark.parametrize("layout", ["hard-linked-elsewhere", "hard-linked-folder"])
@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_hard_linked_cross_seed_in_its_own_folder_moves_with_the_group(
        tmp_path, monkeypatch, flavor, layout):
    """cross-seed's hard link mode: B holds A's files by hard links in its own
    folder (one movie file, or a pack's folder). It moves with A: the files are
    copied once, both are added at the destination on that copy (the same
    relative paths), verified and seeding; both names are gone from the
    source."""
    world = World(flavor)
    cfg = make_config(tmp_path)
    a, b = pair_of(layout)(world, tmp_path)
    transfers = count_transfers(monkeypatch)
    with GroupGuard(world, [a, b], [a, b]):
        result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED, result.message
    assert transfers == [(a.hash, 1 if layout == "hard-linked-elsewhere" else 3)], \
        "the data is copied once"
    assert_seeding(world, a, "move", ("tv", "keep me"))
    assert_seeding(world, b, "move", ("cross",))
    assert world.src.t == {}
    assert no_files(tmp_path / "src") and no_files(tmp_path / "cross")


def test_a_symlinked_or_extended_cross_seed_in_its_own_folder_stays(tmp_path):
    """In another folder, a symlink (it would be left dangling) or a file of its
    own (it would have to be copied from there) keeps B at the source."""
    world = World()
    cfg = make_config(tmp_path)
    a, b = movie_pair(world, tmp_path, link=lambda target, path: path.symlink_to(target))
    result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED
    assert b.hash in world.src.t and full_copy(b, b.src_save)
    assert "save path" in Journal(a.hash).record.group["staying"][b.hash]



def test_a_hard_linked_pack_with_a_file_of_its_own_stays(tmp_path):
    """B, in its own folder, has the pack's files as hard links plus an .nfo that
    A does not have: that file would have to be copied from B's folder, so B
    stays (whole), and A moves alone."""
    world = World()
    cfg = make_config(tmp_path)
    a, b = pair(world, tmp_path, nfo=True, b_save=tmp_path / "cross")
    result = run(world, cfg, a.hash)
    assert result.outcome is Outcome.MOVED
    assert b.hash in world.src.t and full_copy(b, b.src_save)
    assert "a file of its own" in Journal(a.hash).record.group["staying"][b.hash]
