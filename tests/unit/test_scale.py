"""Issue 11 §9: the cost of a move must not grow with the torrents on the source.

A whole move through the fake clients (local topology), once with 5 and once
with 300 other torrents in the same save path: the API calls of each kind to
the source client must be the same (one torrents/info list for the
cross-seed check, file lists only of the moved torrent), and the hook on an
ineligible torrent must make no list call at all.
"""
from collections import Counter

from mover.move import Outcome
from tests.unit.fakes import World
from tests.unit.machine import make_config, make_torrent, run

FIELDS = {"state": "stalledUP", "progress": 1.0, "save_path": "/d"}   # a sync entry's


def index_over(client):
    """Return a SourceIndex whose every login is ``client`` (a stand-in with sync)."""
    from mover.source_index import SourceIndex

    class Factory:
        def client(self, _cfg):
            return client

    return SourceIndex(Factory(), None)


def _calls_of_a_move(tmp_path, others: int) -> Counter:
    world = World()
    cfg = make_config(tmp_path)
    made = make_torrent(world, tmp_path, name=f"Show {others}")   # a hash of its own
    for index in range(others):
        make_torrent(world, tmp_path, name=f"Other {index}", sizes=(100 + index,),
                     category="other")
    world.src.calls.clear()
    result = run(world, cfg, made.hash)
    assert result.outcome is Outcome.MOVED, result
    assert made.hash not in world.src.t
    return Counter(what for what, _ in world.src.calls)


def test_a_move_asks_the_source_the_same_whatever_the_torrents_beside_it(tmp_path):
    few = _calls_of_a_move(tmp_path / "few", 5)
    many = _calls_of_a_move(tmp_path / "many", 300)
    assert few == many, (few, many)
    assert many["list the torrent's files"] <= 2, many


def test_whole_lists_only_twice_per_move(tmp_path):
    """Two lists of every torrent per move, whatever their number: the cross-seed
    group's discovery before the copy and the fresh cross-seed check at the
    removal (through a real client both are one sync/maindata login: everything
    once, then only what changed; the fake has no sync, so it lists twice)."""
    world = World()
    cfg = make_config(tmp_path)
    made = make_torrent(world, tmp_path)
    for index in range(50):
        make_torrent(world, tmp_path, name=f"Other {index}", sizes=(10 + index,),
                     category="other")
    world.src.calls.clear()
    assert run(world, cfg, made.hash).outcome is Outcome.MOVED
    whole = [what for what, h in world.src.calls if what == "list torrents" and not h]
    assert len(whole) == 2, world.src.calls
    files = [h for what, h in world.src.calls if what == "list the torrent's files"]
    assert set(files) == {made.hash}, files


def test_the_hook_on_an_ineligible_torrent_lists_nothing(tmp_path):
    world = World()
    cfg = make_config(tmp_path)
    other = make_torrent(world, tmp_path, name="Other", category="other")
    for index in range(100):
        make_torrent(world, tmp_path, name=f"More {index}", sizes=(10,), category="other")
    world.src.calls.clear()
    assert run(world, cfg, other.hash).outcome is Outcome.NOT_ELIGIBLE
    assert all(h == other.hash for _, h in world.src.calls), world.src.calls


def test_sync_updates_merge_into_the_list():
    """sync/maindata answers: a full one replaces everything; a partial one adds,
    changes only the fields sent, and removes."""
    from mover.qbit import SyncUpdate
    from mover.source_index import apply
    state = {"old": {"save_path": "/x"}}
    apply(state, SyncUpdate(1, True, {"a": {"save_path": "/a", "name": "A"},
                                      "b": {"save_path": "/b", "name": "B"}}, []))
    assert set(state) == {"a", "b"}
    apply(state, SyncUpdate(2, False, {"a": {"save_path": "/moved"},
                                       "c": {"save_path": "/c", "name": "C"}}, ["b"]))
    assert state == {"a": {"save_path": "/moved", "name": "A"},
                     "c": {"save_path": "/c", "name": "C"}}


def test_a_sweeps_moves_share_one_source_index(tmp_path):
    """Every Session of one Factory (a sweep's parallel moves) gets the same index."""
    from mover.session import Session
    from mover import source_index
    world = World()
    cfg = make_config(tmp_path)
    factory = world.factory()
    one, two = Session(cfg, factory=factory), Session(cfg, factory=factory)
    assert source_index.index_for(one) is source_index.index_for(two)
    assert source_index.index_for(Session(cfg, factory=world.factory())) is not \
        source_index.index_for(one)


def test_group_discovery_may_reuse_the_last_list_removal_never():
    """A client with sync/maindata: the first list is fetched whole, a fresh list
    (every removal's cross-seed check) asks what changed, and a list that may be
    as of the last answer (group discovery) asks nothing at all."""
    from mover.qbit import SyncUpdate

    class Client:
        def __init__(self):
            self.rids = []

        def sync(self, rid):
            self.rids.append(rid)
            new = {"a": dict(FIELDS, name="A")} if rid == 0 else \
                {"b": dict(FIELDS, name="B")}
            return SyncUpdate(rid + 1, rid == 0, new, [])

    client = Client()
    index = index_over(client)
    assert [t.hash for t in index.torrents(None, fresh=False)] == ["a"]   # none yet: fetched
    assert [t.hash for t in index.torrents(None, fresh=False)] == ["a"]   # as of the last
    assert sorted(t.hash for t in index.torrents(None)) == ["a", "b"]     # fresh: asked
    assert client.rids == [0, 1]


def test_a_sweep_dry_run_does_not_look_for_groups(tmp_path, capsys):
    """`--sweep --dry-run` stays flat with thousands of torrents: no list of every
    torrent (the cross-seed group search), a pointer to `--dry-run HASH` instead;
    `--dry-run HASH` looks."""
    from mover.move import Options
    from mover.session import Session
    from mover.sweep import sweep
    world = World()
    cfg = make_config(tmp_path)
    made = make_torrent(world, tmp_path)
    for index in range(20):
        make_torrent(world, tmp_path, name=f"Other {index}", sizes=(10 + index,),
                     category="other")
    world.clock.sleep(2)        # done loading on the fake source
    world.src.calls.clear()
    with Session(cfg, factory=world.factory(), clock=world.clock) as session:
        summary = sweep(session, Options(dry_run=True))
    assert [h for h, _ in summary.skipped] == [made.hash], summary.lines()
    whole = [what for what, h in world.src.calls if what == "list torrents" and not h]
    assert len(whole) == 1, world.src.calls        # the sweep's own candidates list
    assert f"see --dry-run {made.hash}" in capsys.readouterr().out
    world.src.calls.clear()
    assert run(world, cfg, made.hash, dry_run=True).outcome is Outcome.DRY_RUN
    assert any(what == "list torrents" and not h for what, h in world.src.calls)


def test_the_whole_list_is_fetched_in_the_background_and_a_removal_still_asks_after():
    """The index fetches the whole list as soon as it is made (the move's first
    stages hide it). A removal that asks while that list is on its way gets an
    answer asked for after it called (a torrent added meanwhile is in it)."""
    import threading
    from mover.qbit import SyncUpdate
    release, asked = threading.Event(), threading.Event()

    class Client:
        def __init__(self):
            self.rids, self.torrents = [], {"a": dict(FIELDS, name="A")}

        def sync(self, rid):
            self.rids.append(rid)
            if rid == 0:
                asked.set()
                release.wait(5)
                return SyncUpdate(1, True, dict(self.torrents), [])
            return SyncUpdate(rid + 1, False, {"b": self.torrents["b"]}, [])

    client = Client()
    index = index_over(client)
    assert asked.wait(5), "the whole list was not asked for in the background"
    client.torrents["b"] = dict(FIELDS, name="B")   # added while the list is on its way
    threading.Timer(0.2, release.set).start()
    assert sorted(t.hash for t in index.torrents(None)) == ["a", "b"]
    assert client.rids == [0, 1]


def test_a_sweep_starts_the_whole_list_only_when_it_will_move_something(tmp_path):
    """A cron sweep with nothing to move, or a dry run, asks for no whole list
    (on a box of thousands that list costs the client a second); one that will
    move starts it before its first move."""
    from mover import source_index
    from mover.move import Options
    from mover.session import Session
    from mover.sweep import sweep
    world = World()
    cfg = make_config(tmp_path)
    make_torrent(world, tmp_path, name="Other", category="other")
    world.clock.sleep(2)
    for options, made in ((Options(), False), (Options(dry_run=True), True),
                          (Options(), True)):
        if made:
            make_torrent(world, tmp_path, name=f"Show {len(world.src.t)}")
            world.clock.sleep(2)
        factory = world.factory()
        with Session(cfg, factory=factory, clock=world.clock) as session:
            sweep(session, options)
        expected = made and not options.dry_run
        assert (factory in source_index._INDEXES) is expected, options


def test_an_answer_that_cannot_be_applied_whole_is_asked_for_again_whole():
    """A whole list with an entry the mover cannot read (here a torrent without
    its state) leaves no half list behind: the error is a clear ClientError
    and the next call asks for everything again (rid 0), never only for what
    changed since the broken answer, so no torrent is missed by a removal."""
    import pytest
    from mover.errors import ClientError
    from mover.qbit import SyncUpdate

    class Client:
        def __init__(self):
            self.rids, self.broken = [], 1

        def sync(self, rid):
            self.rids.append(rid)
            good = {"a": dict(FIELDS, name="A"), "b": dict(FIELDS, name="B")}
            if self.broken:
                self.broken -= 1
                good["c"] = {"name": "C"}   # new, without state or progress: unreadable
            return SyncUpdate(rid + 1, rid == 0, good, [])

    client = Client()
    index = index_over(client)
    index._login.join()                 # the background list met the broken answer
    assert sorted(t.hash for t in index.torrents(None)) == ["a", "b"]
    assert client.rids == [0, 0]
    client.broken = 1
    with pytest.raises(ClientError, match="torrent list could not be read"):
        index.torrents(None)
    assert sorted(t.hash for t in index.torrents(None)) == ["a", "b"]
    assert client.rids[-1] == 0


def test_a_login_made_after_close_is_logged_out():
    """close() runs at exit; a background login still under way then is logged
    out as soon as it is made (qBittorrent would keep it an hour)."""
    import threading
    from mover.qbit import SyncUpdate
    from mover.source_index import SourceIndex
    go, closed = threading.Event(), []

    class Client:
        def sync(self, rid):
            return SyncUpdate(1, True, {}, [])

        def close(self):
            closed.append(self)

    class Factory:
        def client(self, cfg):
            go.wait(5)
            return Client()

    index = SourceIndex(Factory(), None)
    index.close()
    go.set()
    index._login.join(5)
    assert len(closed) == 1 and index._client is None
