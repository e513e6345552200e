"""Bad input is refused with an error that names the problem: the bad value as given and what is
allowed instead. The refusals themselves are tested beside each module; here each message is read
in full, so that a message emptied, garbled or pointing at the wrong value fails a test."""
from __future__ import annotations

import re

import pytest
import torch

from zoo.attacks.base import Attack
from zoo.attacks.least_robust import run_sub_attack
from zoo.attacks.losses import LabelAwareLoss
from zoo.models.diffusion.vpsde import NOISING, SAMPLERS, TruncatedVPSDE


def exactly(message: str) -> str:
    """A pattern matching ``message`` and nothing more."""
    return f"^{re.escape(message)}$"


@pytest.mark.parametrize("kw, message", [
    ({"t_star": 0}, "t_star must be in [1, 1000], got 0"),
    ({"t_star": 20, "num_timesteps": 10}, "t_star must be in [1, 10], got 20"),
    ({"t_star": 5, "noising": "cosine"}, f"noising must be one of {NOISING}, got 'cosine'"),
    ({"t_star": 5, "sampler": "heun"}, f"sampler must be one of {SAMPLERS}, got 'heun'"),
    ({"t_star": 5, "beta_min": 2.0, "beta_max": 1.0}, "need 0 < beta_min < beta_max, got 2.0, 1.0"),
    ({"t_star": 5, "t_end": 0.5}, "t_end must be in [0, t*=0.005), got 0.5"),
    ({"t_star": 5, "steps": 0}, "steps must be >= 1, got 0"),
])
def test_the_vpsde_names_the_bad_setting(kw, message):
    with pytest.raises(ValueError, match=exactly(message)):
        TruncatedVPSDE(**kw)


def test_an_unknown_autoattack_sub_attack_is_named():
    class Adversary:
        def get_seed(self):
            return 0

    with pytest.raises(ValueError, match=exactly("unknown AutoAttack sub-attack 'apgd-xx'")):
        run_sub_attack(Adversary(), "apgd-xx", torch.zeros(1, 1, 2, 2), torch.zeros(1, dtype=torch.long))


def test_the_label_aware_loss_without_a_label_network_points_to_the_plain_loss():
    with pytest.raises(ValueError, match=exactly("the label-aware loss needs a label network; this model has none "
                                                 "(pattern none, or no purifier): use the plain loss")):
        LabelAwareLoss(None, 1.0)


@pytest.mark.parametrize("x, message", [
    (torch.zeros(3, dtype=torch.long), "x must be a float tensor N x C x H x W, got torch.Size([3])"),
    ([0.0, 1.0], "x must be a float tensor N x C x H x W, got <class 'list'>"),
])
def test_an_attack_names_the_shape_or_type_of_a_bad_input(x, message):
    with pytest.raises(ValueError, match=exactly(message)):
        Attack._check(x, torch.zeros(2, dtype=torch.long))


def test_an_attack_names_the_dtype_and_shape_of_bad_labels_and_the_range_of_bad_pixels():
    x = torch.zeros(2, 1, 2, 2)
    with pytest.raises(ValueError, match=exactly("y must be a long tensor of shape (2,), got torch.float32 (3,)")):
        Attack._check(x, torch.zeros(3))
    with pytest.raises(ValueError, match=exactly("y must be a long tensor of shape (2,), got <class 'list'> ()")):
        Attack._check(x, [0, 1])
    with pytest.raises(ValueError, match=exactly("x must have values in [0, 1], got [-0.5, 1.25]")):
        Attack._check(torch.tensor([[-0.5, 1.25]]), torch.zeros(1, dtype=torch.long))


@pytest.mark.parametrize("bad", [-0.1, float("nan")])
def test_pgd_names_a_bad_step_size(bad):
    from torch import nn

    from zoo.attacks.pgd_eot import PGDEOT

    with pytest.raises(ValueError, match=exactly(f"step_size must be >= 0, got {bad!r}")):
        PGDEOT(nn.Flatten(), norm="Linf", eps=0.1, steps=1, step_size=bad)


def test_a_reverse_step_without_its_variance_names_the_backend_that_lacks_it():
    from zoo.models.diffusion.step import GaussianReverseStep

    class Halfway(GaussianReverseStep):
        pass

    with pytest.raises(NotImplementedError, match=exactly("Halfway must define step_variance")):
        Halfway().step_variance(0)


def test_gdmp_names_a_negative_scale_and_a_step_without_noise():
    from zoo.models.guidance import GDMPGuidance

    with pytest.raises(ValueError, match=exactly("scale must be >= 0, got -1.0")):
        GDMPGuidance(-1.0)
    with pytest.raises(ValueError, match=exactly("GDMP's guidance diffuses the input on every guided step: it needs "
                                                 "that step's noise")):
        GDMPGuidance(1.0).step_reference(torch.zeros(1, 1, 2, 2), 0.5, None)


def test_the_guidance_names_an_unknown_distance_and_the_known_ones():
    from torch import nn

    from zoo.models.guidance import DISTANCES, Guidance

    with pytest.raises(ValueError, match=exactly(f"distance must be one of {sorted(DISTANCES)}, got 'l7'")):
        Guidance(nn.Identity(), "robust", distance="l7")
