"""mover.qbit: TorrentState predicates across qBittorrent 4.x/5.x, Torrent.is_complete,
and the mapping of raw torrents/info entries."""

import pytest

from mover.qbit import Torrent, TorrentState, _torrent

S = TorrentState


@pytest.mark.parametrize("raw", ["pausedUP", "pausedDL", "stoppedUP", "stoppedDL"])
def test_paused_4x_and_stopped_5x_are_stopped(raw):
    assert S.parse(raw).is_stopped


@pytest.mark.parametrize("state", [s for s in S if s not in
                                   (S.PAUSED_UP, S.PAUSED_DL, S.STOPPED_UP, S.STOPPED_DL)])
def test_other_states_are_not_stopped(state):
    assert not state.is_stopped


def test_checking_states():
    assert {s for s in S if s.is_checking} == {S.CHECKING_UP, S.CHECKING_DL,
                                               S.CHECKING_RESUME_DATA}
    for state in (S.CHECKING_UP, S.CHECKING_DL, S.CHECKING_RESUME_DATA, S.MOVING,
                  S.ALLOCATING, S.META_DL, S.FORCED_META_DL, S.UNKNOWN):
        assert state.is_transient, state


@pytest.mark.parametrize("raw", ["queuedForChecking", "", "PAUSEDUP", "bogus", "stopped"])
def test_unknown_strings_give_unknown(raw):
    assert S.parse(raw) is S.UNKNOWN


def test_every_known_value_parses_to_itself():
    for state in S:
        assert S.parse(state.value) is state


def test_errored_and_upload():
    assert {s for s in S if s.is_errored} == {S.ERROR, S.MISSING_FILES}
    assert S.STOPPED_UP.is_upload and S.PAUSED_UP.is_upload and S.STALLED_UP.is_upload
    assert not S.STOPPED_DL.is_upload and not S.DOWNLOADING.is_upload


def torrent(state="stalledUP", progress=1.0, amount_left=0):
    return Torrent(hash="a" * 40, name="n", state=S.parse(state), progress=progress,
                   save_path="/d", content_path="/d/n", category="", tags=(), size=10,
                   amount_left=amount_left)


@pytest.mark.parametrize("state", ["uploading", "stalledUP", "pausedUP", "stoppedUP",
                                   "queuedUP", "forcedUP", "stalledDL"])
def test_complete(state):
    assert torrent(state).is_complete


@pytest.mark.parametrize("kwargs", [
    {"progress": 0.999},
    {"amount_left": 1},
    {"state": "checkingUP"},
    {"state": "checkingResumeData"},
    {"state": "moving"},
    {"state": "missingFiles"},
    {"state": "error"},
    {"state": "something-new"},
])
def test_not_complete(kwargs):
    assert not torrent(**kwargs).is_complete


def test_raw_torrent_mapping():
    raw = {"hash": "b" * 40, "name": "N", "state": "stoppedUP", "progress": 1,
           "save_path": "/x", "content_path": "/x/N", "category": None,
           "tags": "a, b ,,c", "size": "5", "amount_left": 0}
    t = _torrent(raw)
    assert t.state is S.STOPPED_UP
    assert t.tags == ("a", "b", "c")
    assert t.category == ""
    assert t.size == 5 and t.progress == 1.0
    assert _torrent({**raw, "tags": ""}).tags == ()
