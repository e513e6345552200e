"""The guidance terms' pieces, per example: the three distances D (KL of the softmaxes, mean
squared logit difference, 1 - cosine of the logits), the default scale, the label y given or
taken from f(x'), and the patterns accepted."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from zoo.models.guidance import DISTANCES, Guidance

REF = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], dtype=torch.float64)
LOGITS = torch.tensor([[1.0, 1.0, 0.0], [-0.5, 2.0, 1.0]], dtype=torch.float64)


def by_hand(name, ref, logits):
    """Each distance per row, written out with numpy."""
    out = []
    for r, z in zip(ref.numpy(), logits.numpy()):
        p, q = np.exp(r) / np.exp(r).sum(), np.exp(z) / np.exp(z).sum()
        out.append({"kl": float((p * np.log(p / q)).sum()), "mse": float(((r - z) ** 2).mean()),
                    "cosine": float(1 - r @ z / np.linalg.norm(r) / np.linalg.norm(z))}[name])
    return out


@pytest.mark.parametrize("name", ["kl", "mse", "cosine"])
def test_each_distance_is_per_example_zero_at_the_reference_and_as_defined(name):
    distance = DISTANCES[name]
    got = distance(REF, LOGITS)
    assert got.shape == (2,)
    assert got.tolist() == pytest.approx(by_hand(name, REF, LOGITS), rel=1e-12)
    assert distance(REF, REF).abs().max() < 1e-12
    assert bool((got > 0).all())


def test_cosine_distance_ignores_scale_and_reaches_two_for_opposite_logits():
    cosine = DISTANCES["cosine"]
    torch.testing.assert_close(cosine(REF, 3.0 * LOGITS), cosine(REF, LOGITS))
    assert cosine(REF, -REF).tolist() == pytest.approx([2.0, 2.0])


def test_guidance_defaults_labels_and_patterns():
    net = nn.Linear(3, 3).double()
    guidance = Guidance(net, "robust")
    assert guidance.scale == 1.0
    x = torch.rand(4, 3, dtype=torch.float64)
    taken = guidance.context(x)
    assert taken.labels.tolist() == net(x).argmax(1).tolist()
    given = torch.tensor([2, 2, 0, 1])
    context = guidance.context(x, given)
    assert context.labels is given  # label: classifier, the classifier's prediction, used as given
    torch.testing.assert_close(context.ref_logits, net(x))
    with pytest.raises(ValueError, match="guidance pattern must be 'plain' or 'robust', got 'none'"):
        Guidance(net, "none")
