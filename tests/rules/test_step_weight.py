"""A guided step's gradient times its step weight (GDMP's sqrt((1 - abar_t) / abar_t); 1 for
AGDM, where the step adds no node to the graph and no rounding)."""
from __future__ import annotations

import pytest
import torch

from zoo.models.purifier import _weighted


@pytest.mark.parametrize("weight", [0.5, 2.0, 3.25])
def test_the_gradient_is_multiplied_by_the_step_weight(weight):
    gradient = torch.tensor([[1.0, -2.0], [0.25, 4.0]])
    torch.testing.assert_close(_weighted(gradient, weight), weight * gradient, rtol=0, atol=0)


def test_a_weight_of_one_hands_back_the_gradient_itself():
    gradient = torch.tensor([1.0, -3.0], requires_grad=True) * 1.0
    assert _weighted(gradient, 1.0) is gradient
