"""Bad inputs are rejected with a message that says what was expected."""
from __future__ import annotations

import pytest
import torch

from helpers import tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model("none", dtype=torch.float32)


@pytest.mark.parametrize("x, got", [
    (torch.rand(2, 8, 8), r"got shape \(2, 8, 8\)"),
    (torch.rand(2, 3, 8, 8), r"got shape \(2, 3, 8, 8\)"),
    (torch.rand(2, 1, 16, 16), r"got shape \(2, 1, 16, 16\)"),
    (torch.randint(0, 255, (2, 1, 8, 8), dtype=torch.uint8), "got dtype torch.uint8"),
    (torch.full((2, 1, 8, 8), float("nan")), "got NaN values"),
    (torch.rand(2, 1, 8, 8) * 255, r"got values in \[\d[\d.]*, \d{3}"),
    (torch.rand(2, 1, 8, 8) - 1.0, r"got values in \[-"),
    ([[0.5]], "got a list"),
])
def test_bad_inputs_are_rejected_with_what_was_expected(model, x, got):
    with pytest.raises(ValueError, match=r"tiny expects a float tensor of shape \(N, 1, 8, 8\) with values in \[0, 1\], " + got):
        model(x)


def test_valid_float_input_in_range_is_accepted(model):
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(3, 1, 8, 8, dtype=dtype)
        x[0, 0, 0, 0], x[1, 0, 0, 0] = 0.0, 1.0
        assert model.to(dtype)(x).shape == (3, 10)
