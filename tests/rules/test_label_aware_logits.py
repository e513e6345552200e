"""The label-aware logits AutoAttack's gradient attacks see: z = log p_final + w log p_label, i.e.
softmax(z) is the product of experts p_final * p_label^w (normalised), on one scale whatever each
network's logit offset; they pass the defense's call arguments on, and name and point to the
attacker gradient they wrap."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.attacks.gradients import LabelAware, gradient_label, label_aware_attacker


class Net(nn.Module):
    """A fixed linear classifier of 1x2x2 inputs, recording the extra arguments it was called with."""

    def __init__(self, seed, offset=0.0):
        super().__init__()
        torch.manual_seed(seed)
        self.linear, self.offset, self.calls = nn.Linear(4, 5), offset, []

    def forward(self, x, *args):
        self.calls.append(args)
        return self.linear(x.flatten(1)) + self.offset


X = torch.rand(3, 1, 2, 2, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("weight", [0.0, 0.5, 2.0])
def test_softmax_of_the_logits_is_the_normalised_product_of_experts(weight):
    base, label = Net(1), Net(2)
    z = LabelAware(base, label, weight)(X)
    product = base(X).softmax(1) * label(X).softmax(1) ** weight
    torch.testing.assert_close(z.softmax(1), product / product.sum(1, keepdim=True))
    # log-probabilities, not raw logits: shifting either network's logits changes nothing
    torch.testing.assert_close(LabelAware(Net(1, offset=7.0), Net(2, offset=-3.0), weight)(X), z)
    assert float(torch.logsumexp(z, 1).max().detach()) <= 1e-6  # sum_c p_final(c) p_label(c)^w <= 1


def test_weight_zero_is_the_final_log_probabilities_and_the_call_arguments_reach_the_defense():
    base, label = Net(1), Net(2)
    generator = torch.Generator()
    z = LabelAware(base, label, 0.0)(X, generator)
    torch.testing.assert_close(z, base(X).log_softmax(1))
    assert base.calls[0] == (generator,) and label.calls == [()]


@pytest.mark.parametrize("weight", [-1.0, float("nan")])
def test_a_negative_or_missing_weight_and_a_missing_label_network_are_refused(weight):
    with pytest.raises(ValueError, match="label weight must be >= 0"):
        LabelAware(Net(1), Net(2), weight)
    with pytest.raises(ValueError, match=r"the label-aware attacker needs a label network; .*\(pattern none, or "
                                         r"no purifier\): use the plain attack"):
        LabelAware(Net(1), None)


def test_it_names_and_points_to_the_gradient_it_wraps():
    plain = LabelAware(Net(1), Net(2))
    assert (plain.mode, plain.is_ablation, plain.label) == ("exact", False, gradient_label("exact"))
    assert plain.defense is plain.base and plain.weight == 1.0
    ablation = Net(3)
    ablation.mode, ablation.label, ablation.defense = "bpda", "bpda (weaker)", Net(4)
    wrapped = LabelAware(ablation, Net(2), 3)
    assert (wrapped.mode, wrapped.is_ablation, wrapped.label) == ("bpda", True, "bpda (weaker)")
    assert wrapped.defense is ablation.defense and isinstance(wrapped.weight, float)


def test_the_attacker_takes_the_models_own_label_network():
    model = Net(1)
    model.label_network = Net(2)
    attacker = label_aware_attacker(model, weight=2.0)
    assert attacker.base is model and attacker.label_net is model.label_network and attacker.weight == 2.0
    other = Net(5)
    assert label_aware_attacker(model, other).base is other
    assert label_aware_attacker(model).weight == 1.0
    with pytest.raises(ValueError, match="needs a label network"):
        label_aware_attacker(Net(1))


def test_the_label_aware_pgd_loss_defaults_and_refusals():
    from zoo.attacks.losses import LabelAwareLoss, label_aware_loss

    model = Net(1)
    model.label_network = Net(2)
    assert LabelAwareLoss(Net(2)).weight == 1.0 and label_aware_loss(model).weight == 1.0
    assert label_aware_loss(model).label_net is model.label_network
    with pytest.raises(ValueError, match=r"the label-aware loss needs a label network; .*\(pattern none, or no "
                                         r"purifier\): use the plain loss"):
        label_aware_loss(Net(1))  # a model without a label network at all
    with pytest.raises(ValueError, match="label weight must be >= 0"):
        LabelAwareLoss(Net(2), weight=-0.5)
