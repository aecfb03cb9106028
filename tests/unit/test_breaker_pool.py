"""state.breaker (persisted circuit breaker) and state.pool (transfer slots)."""

import json
import time

import pytest

from mover.errors import QueuedError
from state import breaker, paths, pool

H1, H2 = "1" * 40, "2" * 40


def test_breaker_opens_at_threshold():
    assert breaker.open_until(H1, 3, 3600) is None
    assert breaker.record_failure(H1, "one") == 1
    assert breaker.record_failure(H1, "two") == 2
    assert breaker.open_until(H1, 3, 3600) is None
    before = time.time()
    assert breaker.record_failure(H1, "three") == 3
    until = breaker.open_until(H1, 3, 3600)
    assert before + 3600 <= until <= time.time() + 3600
    assert breaker.open_until(H2, 3, 3600) is None      # per torrent


def test_breaker_closes_after_cooldown():
    breaker.record_failure(H1, "x")
    assert breaker.open_until(H1, 1, 3600) is not None
    assert breaker.open_until(H1, 1, 0) is None


def test_breaker_reset_and_table():
    breaker.record_failure(H1, "e" * 2000)
    breaker.record_failure(H2, "short")
    table = breaker.table()
    assert set(table) == {H1, H2}
    assert len(table[H1]["last_error"]) == 500
    assert breaker.reset(H1) is True
    assert breaker.reset(H1) is False
    assert set(breaker.table()) == {H2}


def test_breaker_persists_in_state_dir(state_dir):
    breaker.record_failure(H1, "boom")
    data = json.loads((state_dir / "breaker.json").read_text())
    assert data["torrents"][H1]["failures"] == 1
    assert data["format_version"] == breaker.VERSION


def test_corrupt_breaker_file_counts_as_empty(state_dir):
    state_dir.mkdir(parents=True, exist_ok=True)
    paths.store_path("breaker").write_text("{oops")
    assert breaker.open_until(H1, 1, 3600) is None
    assert breaker.record_failure(H1, "x") == 1


def test_non_utf8_breaker_file_counts_as_empty(state_dir):
    """breaker.open_until runs before every move: a damaged breaker.json that is not
    UTF-8 must be moved aside like any corrupt state file, not fail every move."""
    state_dir.mkdir(parents=True, exist_ok=True)
    paths.store_path("breaker").write_bytes(b"\xff\xfe\x00\x81")
    assert breaker.open_until(H1, 1, 3600) is None


# ---- pool -----------------------------------------------------------------------

def test_slot_records_its_holder_and_cleans_up():
    with pool.slot(2, 0, H1) as index:
        assert index == 0
        (holder,) = pool.holders()
        assert holder["hash"] == H1
    assert pool.holders() == []
    assert not list(paths.pool_dir().glob("slot-*.json"))


def test_slots_are_shared_and_limited():
    with pool.slot(2, 0, H1) as first:
        with pool.slot(2, 0, H2) as second:
            assert (first, second) == (0, 1)
            assert sorted(h["hash"] for h in pool.holders()) == [H1, H2]
            started = time.monotonic()
            with pytest.raises(QueuedError) as info:
                with pool.slot(2, 0.3, "3" * 40, poll=0.05):
                    pytest.fail("a third slot was handed out")
            assert time.monotonic() - started >= 0.3
            assert info.value.exit_code == 0
            assert "3" * 40 in str(info.value)


def test_slot_is_released_when_the_body_fails():
    with pytest.raises(RuntimeError):
        with pool.slot(1, 0, H1):
            raise RuntimeError("transfer failed")
    with pool.slot(1, 0, H2) as index:
        assert index == 0


def test_stale_info_file_is_not_a_holder():
    paths.pool_dir().joinpath("slot-0.json").write_text(json.dumps({"hash": H1}))
    assert pool.holders() == []
