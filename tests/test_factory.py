"""The factory's assembly from built networks (what ``create_model`` and the speed harness share):
the networks are shared, not copied, and the result computes what ``create_model`` builds."""
from __future__ import annotations

import pytest
import torch

from zoo.models.factory import assemble, create_model
from zoo.registry.resolve import with_overrides

from helpers import tiny_model


@pytest.mark.parametrize("pattern, label", [("robust", "guidance"), ("plain", "classifier"), ("none", "guidance")])
def test_assembled_from_shared_networks_equals_a_fresh_build(pattern, label):
    base = tiny_model(pattern, t_star=3, label=label)
    entry = with_overrides(base.config, t_star=5, steps=5)
    guidance = base.purifier.guidance
    built = assemble(entry, base.classifier, base.purifier.eps_net, None if guidance is None else guidance.net,
                     "recompute")
    assert built.purifier.eps_net is base.purifier.eps_net and built.classifier is base.classifier
    if guidance is not None:
        assert built.purifier.guidance.net is guidance.net
    assert (built.purifier.label_net is base.classifier) == (label == "classifier")
    assert (built.purifier.diffusion.num_steps, built.purifier.grad_mode) == (5, "recompute")
    assert not built.training and not any(p.requires_grad for p in built.parameters())
    torch.manual_seed(0)  # tiny_model's seed: the same random weights
    fresh = create_model(entry, device="cpu", pretrained=False).double()
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    ours = built(x, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(ours, fresh(x, generator=torch.Generator().manual_seed(1)), rtol=0, atol=0)
    assert not torch.equal(ours, base(x, generator=torch.Generator().manual_seed(1)))  # t* 5, not 3


def test_a_purifying_entry_needs_its_noise_predictor():
    base = tiny_model("none")
    with pytest.raises(ValueError, match="eps_net"):
        assemble(base.config, base.classifier)
