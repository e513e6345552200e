"""Speed levers compute the same function: outputs and input gradients (through the guidance double
backward) match the plain model's, and the lever really is in place."""
from __future__ import annotations

import shutil

import pytest
import torch

import zoo
from zoo.models.speed import check_levers

SHORT = {"t_star": 20, "steps": 2}  # a two-step chain: every kind of step, little time


@pytest.fixture(scope="module")
def batch():
    return torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)), torch.tensor([3, 7])


def outputs_and_gradient(model, x, y):
    """Logits and the input gradient of the cross-entropy, under one fixed purification noise."""
    xg = x.clone().requires_grad_(True)
    logits = model(xg, generator=torch.Generator().manual_seed(1))
    grad = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), xg)[0]
    return logits.detach(), grad


def assert_same_function(fast, plain, batch):
    (fast_logits, fast_grad), (logits, grad) = (outputs_and_gradient(m, *batch) for m in (fast, plain))
    assert torch.allclose(fast_logits, logits, atol=1e-4)
    assert float((fast_grad - grad).norm() / grad.norm()) < 1e-4
    assert grad.abs().sum() > 0


def test_channels_last_computes_the_same_function_with_nhwc_weights(batch):
    plain = zoo.load("agdm-tiny-mnist", device="cpu", **SHORT)
    fast = zoo.load("agdm-tiny-mnist", device="cpu", channels_last=True, **SHORT)
    weight = fast.purifier.eps_net.unet.conv_out.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous()
    assert plain.purifier.eps_net.unet.conv_out.weight.is_contiguous()
    assert_same_function(fast, plain, batch)


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_compiled_unet_computes_the_same_function_guidance_double_backward_included(batch):
    plain = zoo.load("agdm-tiny-mnist", device="cpu", **SHORT)
    fast = zoo.load("agdm-tiny-mnist", device="cpu", compile_unet=True, **SHORT)
    assert isinstance(fast.purifier.eps_net.unet, torch._dynamo.eval_frame.OptimizedModule)
    assert not isinstance(fast.purifier.guidance.net, torch._dynamo.eval_frame.OptimizedModule)
    assert_same_function(fast, plain, batch)


def test_levers_are_checked_by_name_and_need_a_unet():
    assert check_levers(["compile_unet", "channels_last", "compile_unet"]) == ("channels_last", "compile_unet")
    with pytest.raises(ValueError, match=r"unknown speed lever\(s\) \['bf16'\]"):
        check_levers(["bf16"])
    with pytest.raises(ValueError, match="standard-tiny-mnist has no diffusion UNet to compile"):
        zoo.load("standard-tiny-mnist", device="cpu", compile_unet=True)


def test_channels_last_hands_the_input_on_in_nhwc():
    """NHWC end to end: the model's input (hence the chain's states) is converted on entry, not just
    the weights. (The demo's digits have one channel, where both layouts coincide: a 3-channel model.)"""
    from zoo.models import speed

    seen = []
    model = speed.speed_up(torch.nn.Conv2d(3, 4, 3), channels_last=True)
    model.register_forward_pre_hook(lambda module, args: seen.append(args[0]))  # runs after the lever's
    model(torch.rand(2, 3, 8, 8))
    assert seen[-1].is_contiguous(memory_format=torch.channels_last) and not seen[-1].is_contiguous()
    assert model.weight.is_contiguous(memory_format=torch.channels_last)


def test_tf32_lever_turns_on_tf32_matrix_products():
    from zoo.models import speed

    matmul = torch.backends.cuda.matmul
    attribute = "fp32_precision" if hasattr(matmul, "fp32_precision") else "allow_tf32"
    before = getattr(matmul, attribute)
    try:
        assert before in ("ieee", False, "none")
        speed.speed_up(torch.nn.Linear(2, 2), tf32=True)
        assert getattr(matmul, attribute) in ("tf32", True)
    finally:
        setattr(matmul, attribute, before)


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_compiled_graphs_refuse_the_guidance_double_backward():
    """Why the guidance net is not compiled: its gradient is differentiated again, which compiled
    graphs refuse. If a torch release lifts this, the test fails: then compile the guidance too."""
    net = torch.compile(torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.SiLU(), torch.nn.Flatten()))
    x = torch.rand(1, 1, 5, 5, requires_grad=True)
    gradient = torch.autograd.grad(net(x).logsumexp(1).sum(), x, create_graph=True)[0]
    with pytest.raises(RuntimeError, match="does not currently support double backward"):
        torch.autograd.grad(gradient.square().sum(), x)
