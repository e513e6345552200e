"""What the journal accepts: a record names its attack (a str) and its example (an int, not a
bool); within one batch as across batches, one example gets one result, and a second, different
result is refused before anything is written."""
from __future__ import annotations

import pytest

from zoo.running.journal import Journal, JournalConflict

SPEC = {"model": "tiny", "threat": "Linf", "eps": 0.1, "seed": 3}


@pytest.mark.parametrize("record", [
    {"index": 0}, {"attack": "a"}, {"attack": 1, "index": 0}, {"attack": None, "index": 0},
    {"attack": "a", "index": "0"}, {"attack": "a", "index": True}, {"attack": "a", "index": 0.0},
])
def test_a_record_without_a_str_attack_and_an_int_index_is_refused(tmp_path, record):
    path = tmp_path / "j.jsonl"
    with Journal(path, SPEC, resume=False) as journal:
        with pytest.raises(ValueError, match="needs a str 'attack' and an int 'index'"):
            journal.append([{"attack": "ok", "index": 1}, record])
        assert journal.records == []
    assert len(path.read_text().splitlines()) == 1  # the settings line only: the batch wrote nothing


def test_one_batch_holding_two_results_of_one_example_is_refused_whole(tmp_path):
    path = tmp_path / "j.jsonl"
    with Journal(path, SPEC, resume=False) as journal:
        with pytest.raises(JournalConflict, match="another result of a on example 0"):
            journal.append([{"attack": "a", "index": 0, "adv_preds": [1]}, {"attack": "b", "index": 0},
                            {"attack": "a", "index": 0, "adv_preds": [2]}])
        assert journal.records == []
        journal.append([{"attack": "a", "index": 0, "adv_preds": [1], "seconds": 1.0},
                        {"attack": "a", "index": 0, "adv_preds": [1], "seconds": 3.0}])  # the same result twice
        assert journal.records == [{"attack": "a", "index": 0, "adv_preds": [1], "seconds": 1.0}]
    assert len(path.read_text().splitlines()) == 2
    with Journal(path, SPEC, resume=True) as again:
        assert again.done() == {("a", 0)}
