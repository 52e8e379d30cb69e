"""Journal lookups by id: an id SQLite cannot hold names nothing, rather than failing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stash_dedupe.errors import NotFoundError
from stash_dedupe.removal.journal import Journal, batch_actions, list_batches
from stash_dedupe.removal.recovery import undo_batch

BEYOND_64_BITS = [2**63, -(2**63) - 1, 99999999999999999999999]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(tmp_path / "journal.sqlite3") as opened:
        opened.start_batch("trash", None)
        yield opened


@pytest.mark.parametrize("batch_id", BEYOND_64_BITS)
def test_a_batch_id_beyond_64_bits_is_not_found(journal: Journal, batch_id: int) -> None:
    with pytest.raises(NotFoundError, match="no removal batch"):
        journal.batch(batch_id)
    with pytest.raises(NotFoundError):
        batch_actions(journal, batch_id)
    with pytest.raises(NotFoundError):
        undo_batch(journal, batch_id)
    assert list_batches(journal, batch_id) == []


@pytest.mark.parametrize("action_id", BEYOND_64_BITS)
def test_an_action_id_beyond_64_bits_is_not_found(journal: Journal, action_id: int) -> None:
    with pytest.raises(NotFoundError, match="no removal action"):
        journal.action(action_id)


def test_the_largest_64_bit_id_is_simply_not_there(journal: Journal) -> None:
    with pytest.raises(NotFoundError):
        journal.batch(2**63 - 1)


def _open_when_told(path: str, start: float) -> None:
    """A process that opens the journal at the given moment (so several open it at once)."""
    import time

    time.sleep(max(0.0, start - time.time()))
    with Journal.open(path):
        pass


def test_processes_opening_a_new_journal_at_once_all_open_it(tmp_path: Path) -> None:
    """The window and the CLI started together on a fresh install both create the journal:
    neither may fail with "database is locked" (SQLite's switch to WAL does not wait)."""
    import multiprocessing
    import time

    context = multiprocessing.get_context("fork")
    for round_number in range(15):
        path = str(tmp_path / f"journal-{round_number}.sqlite3")
        start = time.time() + 0.3
        workers = [context.Process(target=_open_when_told, args=(path, start)) for _ in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert [worker.exitcode for worker in workers] == [0] * 6, f"round {round_number}"
