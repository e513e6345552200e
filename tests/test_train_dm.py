"""DDPM training (``agdm-zoo train-dm``): a killed run resumed from its step checkpoint ends
bit-identical to an uninterrupted one, other settings are refused, and the noising is Eq. (7)."""
from __future__ import annotations

import pytest
import torch

import zoo.training.checkpoints as checkpoints
import zoo.training.ddpm as ddpm
from zoo.data import mnist_demo
from zoo.models.diffusion import alphas_cumprod, linear_betas, q_sample
from zoo.training.checkpoints import ResumeError
from zoo.training.ddpm import DDPMConfig, train_ddpm

from helpers import Killed, kill_after

CFG = DDPMConfig(steps=6, batch_size=4, max_t=50, channels=(8, 8), ema=0.5, lr=1e-3, seed=0)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    return mnist_demo("train")[0][:32]


@pytest.fixture(scope="module")
def uninterrupted(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "dm"
    return train_ddpm(digits, CFG, out, checkpoint_every=2, progress=False), out


def states(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def killed_after_step_4(digits, out, monkeypatch):
    with monkeypatch.context() as m:
        kill_after(m, ddpm, 4)
        with pytest.raises(Killed):
            train_ddpm(digits, CFG, out, checkpoint_every=2, progress=False)


def test_killed_run_resumes_to_exactly_the_uninterrupted_weights(digits, uninterrupted, tmp_path, monkeypatch):
    whole, whole_out = uninterrupted
    out = tmp_path / "dm"
    killed_after_step_4(digits, out, monkeypatch)
    assert sorted(p.name for p in (tmp_path / "dm.checkpoints").iterdir()) == ["step-0004.pt", "step-0004.safetensors"]
    resumed = train_ddpm(digits, CFG, out, checkpoint_every=2, resume=True, progress=False)
    a, b = states(resumed), states(whole)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    saved = ddpm.demo_unet(CFG.channels).from_pretrained(out)
    for key, value in saved.state_dict().items():
        assert torch.equal(value, b[key]), key
    assert (out / "train_log.csv").read_text().splitlines()[0] == "step,loss,seconds"


def test_resume_without_the_saved_rng_state_would_differ(digits, uninterrupted, tmp_path, monkeypatch):
    """The resume test can fail: resuming without restoring the RNG (other batches and noise after
    step 4) ends with other weights."""
    whole, _ = uninterrupted
    out = tmp_path / "dm"
    killed_after_step_4(digits, out, monkeypatch)
    monkeypatch.setattr(checkpoints, "_set_rng_state", lambda state: None)
    resumed = train_ddpm(digits, CFG, out, checkpoint_every=2, resume=True, progress=False)
    assert any(not torch.equal(x, y) for x, y in zip(states(resumed).values(), states(whole).values()))


def test_other_settings_or_a_missing_resume_flag_are_refused(digits, uninterrupted, tmp_path):
    _, out = uninterrupted
    with pytest.raises(ResumeError, match="--resume"):
        train_ddpm(digits, CFG, out, progress=False)
    with pytest.raises(ResumeError, match=r"other settings \(lr: checkpoint 0.001 vs now 0.002\)"):
        train_ddpm(digits, DDPMConfig(**{**CFG.__dict__, "lr": 2e-3}), out, resume=True, progress=False)
    with pytest.raises(ValueError, match="ema must be in"):
        DDPMConfig(ema=1.0)


def test_training_noises_with_the_forward_marginal(monkeypatch):
    """The loss sees x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps at each example's own t."""
    abar = alphas_cumprod(linear_betas()).float()
    x0, noise, t = torch.rand(3, 1, 4, 4), torch.randn(3, 1, 4, 4), torch.tensor([0, 10, 200])
    seen = []

    class Echo(torch.nn.Module):
        def forward(self, x_t, t):
            seen.append(x_t)
            return type("Out", (), {"sample": torch.zeros_like(x_t)})()

    ddpm.ddpm_loss(Echo(), x0, t, noise, abar)
    for i in range(3):
        a = float(abar[t[i]])
        assert torch.allclose(seen[0][i], a ** 0.5 * x0[i] + (1 - a) ** 0.5 * noise[i], atol=1e-6)
    assert torch.equal(q_sample(x0, noise, 1.0), x0)
