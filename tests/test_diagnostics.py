"""The guidance diagnostic: exactly no effect for pattern none and s = 0, an effect growing with s,
the model's own chain, and per-step guidance norms equal to a hand computation with linear guidance."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from zoo.studies.diagnostics import guidance_diagnostic, guided_chain

from helpers import sharpen_guidance, tiny_model

ROOT = Path(__file__).resolve().parent.parent


def inputs(n=4):
    return torch.rand(n, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))


def with_scale(model, scale):
    model.purifier.guidance.scale = scale
    return model


@pytest.mark.parametrize("pattern", ["none", "robust", "plain"])
def test_no_guidance_and_zero_scale_change_nothing_at_all(pattern):
    model = tiny_model(pattern, t_star=4)
    if pattern != "none":
        with_scale(sharpen_guidance(model), 0.0)
    result = guidance_diagnostic(model, inputs())
    assert result["end_to_end"]["max_abs_diff"] == 0.0
    assert result["end_to_end"]["predictions_changed"] == 0
    assert all(r["guidance_shift"] == 0.0 for r in result["steps"])


def test_the_effect_grows_with_the_scale():
    model = sharpen_guidance(tiny_model("robust", t_star=4))
    diffs = [guidance_diagnostic(with_scale(model, s), inputs())["end_to_end"]["l2_diff_mean"]
             for s in (0.1, 1.0, 10.0, 100.0)]
    assert all(a < b for a, b in zip(diffs, diffs[1:])), diffs
    assert diffs[0] > 0


@pytest.mark.parametrize("pattern", ["robust", "plain"])
def test_the_diagnosed_chain_is_the_models_own(pattern):
    model = with_scale(sharpen_guidance(tiny_model(pattern, t_star=4)), 5.0)
    x = inputs()
    purified, _ = guided_chain(model, x, seed=7)
    torch.testing.assert_close(purified, model.purify(x, generator=torch.Generator().manual_seed(7)))


def test_first_step_guidance_norms_match_a_hand_computation():
    scale = 3.0
    model = with_scale(sharpen_guidance(tiny_model("robust", t_star=4)), scale)
    x = inputs()
    step = guidance_diagnostic(model, x, seed=5)["steps"][0]
    # by hand: x_t* from the generator's first draw; linear guidance z = W p + b on p = (x_t + 1) / 2
    diffusion = model.purifier.diffusion
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=x.dtype)
    abar = diffusion.alphas_cumprod[-1]
    x_t = float(abar.sqrt()) * (2 * x - 1) + float((1 - abar).sqrt()) * noise
    linear = model.purifier.guidance.net[1]
    W, b = linear.weight, linear.bias
    q = torch.softmax(x.flatten(1) @ W.T + b, dim=1)          # f(x') -> y and the reference
    y = q.argmax(1)
    p = torch.softmax(((x_t + 1) / 2).flatten(1) @ W.T + b, dim=1)
    sigma = float(diffusion.posterior_variance[-1])
    logp = scale * sigma * 0.5 * (torch.nn.functional.one_hot(y, 10).double() - p) @ W  # s Sigma grad log p_y
    dist = -scale * sigma * 0.5 * (p - q) @ W                   # -s Sigma grad KL(q || p)
    assert step["sigma"] == pytest.approx(sigma)
    assert step["logp_shift"] == pytest.approx(float(logp.norm(dim=1).mean()), rel=1e-9)
    assert step["distance_shift"] == pytest.approx(float(dist.norm(dim=1).mean()), rel=1e-9)
    assert step["guidance_shift"] == pytest.approx(float((logp + dist).norm(dim=1).mean()), rel=1e-9)
    assert step["distance_shift"] > 0 and step["logp_shift"] > 0


def test_diagnose_cli_writes_json_and_plot_labelled_with_its_weights(tmp_path):
    from zoo.cli import diagnose as cli  # = agdm-zoo diagnose, scripts/diagnose.py
    assert cli.main(["agdm-tiny-mnist", "--n", "2", "--random-weights", "--steps", "3", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "agdm-tiny-mnist.random.json").read_text())
    assert result["weights"].startswith("RANDOM")
    assert len(result["steps"]) == 3 and (tmp_path / "agdm-tiny-mnist.random.png").is_file()
    assert cli.main(["diffpure-tiny-mnist", "--n", "2", "--steps", "2", "--out", str(tmp_path)]) == 0
    assert json.loads((tmp_path / "diffpure-tiny-mnist.json").read_text())["end_to_end"]["max_abs_diff"] == 0.0
