"""Which way the guidance pushes, on every backend: with the same noise, each reverse step guided
at s > 0 moves x_t, against the same step at s = 0, up log p(y | x) (both patterns) and down
D(f(x'), f(x)) (robust's second term). The other tests only check that guidance moves the output;
a sign error in one backend's drift would pass them."""
from __future__ import annotations

import pytest
import torch

from zoo.models.guidance import kl_distance
from zoo.models.purifier import to_pixels

from helpers import sharpen_guidance, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

BACKENDS = [{"backend": "ddpm"}, {"backend": "vpsde", "sampler": "sde"}, {"backend": "vpsde", "sampler": "ode"}]


def chain_steps(purifier, x, seed):
    """The reverse steps of one purification of ``x``: (x_t, chain position, guidance context, the
    generator state the step drew its noise from)."""
    steps, original = [], purifier._step

    def recording(x_t, i, context, need_graph, generator, *rest):
        steps.append((x_t.detach().clone(), i, context, generator.get_state()))
        return original(x_t, i, context, need_graph, generator, *rest)

    purifier._step = recording
    try:
        with torch.no_grad():
            purifier(x, torch.Generator().manual_seed(seed))
    finally:
        del purifier._step
    return steps


def guidance_share(purifier, x_t, i, context, state, scale, pattern):
    """The step from x_t guided at ``scale`` with ``pattern``'s terms minus the same step (same
    noise) at s = 0."""
    guidance, moved = purifier.guidance, []
    kept = guidance.scale, guidance.pattern
    guidance.pattern = pattern
    for s in (scale, 0.0):
        guidance.scale = s
        generator = torch.Generator()
        generator.set_state(state)
        with torch.no_grad():
            moved.append(purifier._step(x_t, i, context, False, generator))
    guidance.scale, guidance.pattern = kept
    return moved[0] - moved[1]


def slope(fn, x_t, direction):
    """d/dtau fn(x_t + tau * direction) at tau = 0, per example."""
    x = x_t.clone().requires_grad_(True)
    grad = torch.autograd.grad(fn(x).sum(), x)[0]
    return (grad * direction).flatten(1).sum(1)


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: "-".join(b.values()))
def test_every_guided_step_raises_log_p_and_lowers_the_distance(backend):
    """Along one robust purification: at each step's x_t, the share of the step due to the label
    term alone (``plain``) and due to the distance term alone (``robust`` minus ``plain``)."""
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.8 + 0.1
    model = sharpen_guidance(tiny_model("robust", seed=4, t_star=20, steps=4, scale=2.0, **backend))
    purifier, net = model.purifier, model.purifier.guidance.net
    steps = chain_steps(purifier, x, seed=3)
    assert len(steps) == 4
    context = steps[0][2]  # y and f(x'), the same on every step
    log_p = lambda x_t: torch.log_softmax(net(to_pixels(x_t)), 1).gather(1, context.labels[:, None])[:, 0]  # noqa: E731
    distance = lambda x_t: kl_distance(context.ref_logits, net(to_pixels(x_t)))  # noqa: E731
    guided = 0
    for step in steps:
        x_t, i = step[:2]
        plain = guidance_share(purifier, *step, scale=2.0, pattern="plain")
        robust = guidance_share(purifier, *step, scale=2.0, pattern="robust")
        if purifier.diffusion.step_variance(i) == 0.0:  # DDPM's last step: no guidance
            assert plain.abs().max() == 0 and robust.abs().max() == 0
            continue
        guided += 1
        assert plain.abs().max() > 1e-6 and (robust - plain).abs().max() > 1e-6
        assert bool((slope(log_p, x_t, plain) > 0).all())  # the label term pulls towards y
        assert bool((slope(distance, x_t, robust - plain) < 0).all())  # the distance term towards f(x')
        assert bool((slope(lambda z: log_p(z) - distance(z), x_t, robust) > 0).all())
    assert guided >= 3
