"""Edges of the per-example rules: what the verdicts accept (N x K predictions, N labels, integer
values however typed) and refuse, and the DLR loss's sign and class count."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from zoo.attacks.losses import dlr_sum, margins
from zoo.scoring.verdicts import DEFAULT, correct, headline_of, mean_correct, vote_correct, vote_label, worst_correct

PREDS = np.array([[1, 1, 2], [0, 2, 2], [3, 3, 3]])
LABELS = np.array([1, 2, 0])


@pytest.mark.parametrize("metric", ["vote", "worst", "mean"])
def test_integer_valued_floats_are_scored_as_their_integers(metric):
    """Labels and predictions read back as floats (a table column with gaps reads so) score alike."""
    expected = correct(PREDS, LABELS, metric)
    assert correct(PREDS.astype(float), LABELS.astype(float), metric).tolist() == expected.tolist()
    assert correct(PREDS.tolist(), LABELS.tolist(), metric).tolist() == expected.tolist()


def test_the_shown_vote_reads_integer_valued_floats_as_their_integers():
    for row in PREDS:
        assert vote_label(row.astype(float)) == vote_label(row.tolist()) == vote_label(row)
    assert vote_label([2.0, 0.0, 2.0, 0.0]) == 0  # a tie shows the smallest label


@pytest.mark.parametrize("provenance, metric", [({"headline": "worst"}, "worst"), ({"headline": "mean"}, "mean"),
                                                ({}, DEFAULT), ({"headline": None}, DEFAULT)])
def test_a_run_leads_with_its_recorded_headline_or_the_default(provenance, metric):
    assert headline_of(provenance) == metric


def test_an_unknown_recorded_headline_is_refused():
    with pytest.raises(ValueError, match="metric must be one of .* got 'best'"):
        headline_of({"headline": "best"})


@pytest.mark.parametrize("rule", [vote_correct, worst_correct, mean_correct])
@pytest.mark.parametrize("preds, labels", [
    (PREDS, LABELS[:2]),                  # one label short
    (PREDS, np.append(LABELS, 0)),        # one label too many
    (PREDS[:, 0], LABELS),                # N predictions, not N x K
    (PREDS[None], LABELS),                # N x K x 1
    (PREDS[:, :0], LABELS),               # K = 0 draws
])
def test_shapes_other_than_n_by_k_and_n_labels_are_refused(rule, preds, labels):
    with pytest.raises(ValueError, match=r"preds must be N x K \(K >= 1\) and labels N"):
        rule(preds, labels)


def test_dlr_keeps_the_margins_sign_and_needs_three_classes():
    logits = torch.tensor([[3.0, 3.0, 3.0, 1.0], [0.0, 2.0, 1.0, -1.0], [5.0, 1.0, 0.0, 0.0]])
    y = torch.tensor([3, 1, 0])
    per_example = torch.stack([dlr_sum(logits[i:i + 1], y[i:i + 1]) for i in range(3)])
    # row 0: the top three tie (gap 0) and the label is below them: still misclassified, positive
    assert torch.equal(torch.sign(per_example), torch.sign(margins(logits, y)))
    assert float(per_example[1]) == pytest.approx(-1 / 2) and float(per_example[2]) == pytest.approx(-4 / 5)
    three = torch.tensor([[2.0, 1.0, 0.0]])
    assert float(dlr_sum(three, torch.tensor([1]))) == pytest.approx(1 / 2)  # 3 classes are enough
    with pytest.raises(ValueError, match="at least 3 classes"):
        dlr_sum(three[:, :2], torch.tensor([1]))
