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
