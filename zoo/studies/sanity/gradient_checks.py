"""The sanity checks of the gradient itself, on a few inputs with the purification noise fixed
(one seeded generator per call, so the defense is a deterministic function of its input):

- ``finite-differences``: in every grad mode of the purifier (``exact``, ``checkpoint``,
  ``recompute``; a module without a zoo purifier: its own backward), the directional derivative
  of a random projection of the logits from autograd matches central finite differences along random directions, and the
  modes' gradients match each other. A backward that is wrong (a custom autograd function with a
  scaled or missing gradient, a detached path) is caught here, where attack checks only see that
  an attack does poorly.
- ``recompute-replay``: the steps ``recompute`` rebuilds in its backward pass are the steps its
  forward ran, exactly (:func:`replay_mismatch`, through the purifier's step observer).

The projection, unlike a cross-entropy that is ~0 on a confidently right example, has
derivatives far above rounding. Finite differences run in float64 on a copy of the defense
(float32 with a looser tolerance when the module cannot run in float64), at inputs pulled
``MARGIN`` inside [0, 1] (both sides of every difference valid images) and jittered by up to
``MARGIN`` (a digit's flat background would tie max-pooling windows,
where the loss has a kink that finite differences see and a gradient does not).
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from ...running.draws import seeded_forward
from ...models.observer import StepRecord
from ...models.purifier import GRAD_MODES, Purifier
from .bench import Bench, record

MARGIN = 0.01
STEPS = {torch.float64: 1e-6, torch.float32: 1e-3}
"""The finite-difference step h per dtype (central differences: error O(h^2) + rounding / h)."""
TOLERANCE = {torch.float64: 1e-3, torch.float32: 5e-2}
"""The largest relative error |fd - autograd| / max(|fd|, |autograd|) that passes, per dtype."""
FLOOR = 1e-10
"""Below this both derivatives count as zero (a zero gradient agrees with flat finite differences)."""
REPLAY_TOLERANCE = 1e-6
"""The largest absolute difference between a replayed step and the forward's that passes."""


def _copy_in(model: nn.Module, dtype: torch.dtype, probe: Tensor, seed: int) -> nn.Module | None:
    """A copy of ``model`` in ``dtype`` that runs on ``probe``, or ``None`` when it cannot."""
    # plain attributes (registry entries, settings, functions) are shared, not copied: some cannot
    # be (a read-only mapping), and none holds a tensor that the conversion would need to change
    shared = {id(v): v for m in model.modules() for k, v in vars(m).items()
              if not k.startswith("_") and not isinstance(v, (nn.Module, Tensor))}
    try:
        twin = copy.deepcopy(model, shared).to(dtype)
        with torch.no_grad():
            seeded_forward(twin, probe.to(dtype), seed)
        return twin
    except Exception:  # noqa: BLE001 - any failure means: not in this dtype
        return None


def grad_modes(model: nn.Module) -> tuple[str, ...]:
    """The grad modes a finite-difference check covers: the purifier's, or the module's own (``own``)."""
    return GRAD_MODES if getattr(model, "purifier", None) is not None else ("own",)


def finite_differences(bench: Bench) -> dict:
    b = bench.budget
    generator = torch.Generator().manual_seed(b.seed)
    x = bench.x[:b.fd_inputs].detach()
    jitter = (2 * torch.rand(x.shape, generator=generator, dtype=x.dtype) - 1).to(x.device) * MARGIN
    points = x.clamp(2 * MARGIN, 1 - 2 * MARGIN) + jitter  # no two pixels tied (max-pool kinks), all inside
    dtype, twin = torch.float64, _copy_in(bench.model, torch.float64, points, b.seed)
    if twin is None:
        dtype, twin = torch.float32, _copy_in(bench.model, torch.float32, points, b.seed)
    if twin is None:
        raise ValueError("the finite-difference check could not copy the defense (copy.deepcopy failed)")
    h, tolerance = STEPS[dtype], TOLERANCE[dtype]
    points = points.to(dtype)
    directions = [(2 * torch.rand(points.shape, generator=generator, dtype=dtype) - 1).to(points.device)
                  for _ in range(b.fd_directions)]

    with torch.no_grad():
        classes = seeded_forward(twin, points, b.seed).shape[1]
    weights = torch.randn(classes, generator=generator, dtype=dtype).to(points.device)

    def losses(z: Tensor) -> Tensor:
        return seeded_forward(twin, z, b.seed) @ weights

    rows, gradients = [], {}
    for mode in grad_modes(twin):
        if mode != "own":
            twin.purifier.grad_mode = mode
        z = points.clone().requires_grad_(True)
        grad = torch.autograd.grad(losses(z).sum(), z)[0]
        gradients[mode] = grad
        errors, pairs = [], []
        with torch.no_grad():
            for v in directions:
                fd = (losses(points + h * v) - losses(points - h * v)) / (2 * h)
                ad = (grad * v).flatten(1).sum(1)
                scale = torch.maximum(fd.abs(), ad.abs()).clamp_min(FLOOR)
                errors += ((fd - ad).abs() / scale).tolist()
                pairs += [[float(a), float(f)] for a, f in zip(ad, fd)]
        rows.append({"mode": mode, "max_relative_error": float(f"{max(errors):.3g}"),
                     "gradient_norm": float(f"{float(grad.norm()):.4g}"), "autograd_vs_finite_difference": pairs})
    first = next(iter(gradients.values()))
    between = {mode: float(f"{float((g - first).norm() / first.norm().clamp_min(FLOOR)):.3g}")
               for mode, g in gradients.items()}
    bad = [r["mode"] for r in rows if r["max_relative_error"] > tolerance]
    apart = [m for m, e in between.items() if e > tolerance]
    flagged = bool(bad or apart)
    zero = all(r["gradient_norm"] <= FLOOR for r in rows)
    if bad:
        why = (f"autograd disagrees with finite differences in grad mode(s) {', '.join(bad)} (largest relative "
               f"error {max(r['max_relative_error'] for r in rows):.3g} > {tolerance:g}): the backward is wrong")
    elif apart:
        why = f"grad mode(s) {', '.join(apart)} give another gradient than {next(iter(gradients))}"
    else:
        why = (f"autograd matches finite differences in every mode ({', '.join(gradients)}; largest relative error "
               f"{max(r['max_relative_error'] for r in rows):.3g} <= {tolerance:g})")
        if zero:
            why += "; the gradient is zero at every input, which the attack checks judge"
    return record("finite-differences", flagged, why, dtype=str(dtype).removeprefix("torch."), step=h,
                  tolerance=tolerance, inputs=len(points), directions=len(directions), modes=rows,
                  relative_difference_to_first_mode=between)


def replay_mismatch(purifier: Purifier, x: Tensor, generator: torch.Generator) -> list[float]:
    """Does ``recompute`` rebuild the steps its forward ran? Per reverse step, the largest absolute
    difference between the step's output in a real recompute-mode forward on pixels ``x`` (graph
    free, as the recompute node runs it), seen by an observer, and the same step rebuilt with a
    graph from its recorded input and noise (:meth:`Purifier.rebuild_step`: the guidance gradient
    with ``create_graph=True``, as the backward replays it). All zeros: the replay is the forward,
    so the gradient is taken at the chain the defense ran. The purifier is left as it was."""
    records: list[StepRecord] = []
    mode = purifier.grad_mode
    purifier.grad_mode = "recompute"
    try:
        with purifier.observe(records.append), torch.enable_grad():
            purifier(x.detach().clone().requires_grad_(True), generator)
    finally:
        purifier.grad_mode = mode
    return [float((purifier.rebuild_step(r) - r.x_prev).abs().max()) for r in records]


def recompute_replay(bench: Bench) -> dict:
    b = bench.budget
    points = bench.x[:b.fd_inputs].detach()
    generator = torch.Generator(device=bench.device).manual_seed(b.seed)
    mismatch = replay_mismatch(bench.model.purifier, points, generator)
    worst = max(mismatch)
    flagged = worst > REPLAY_TOLERANCE
    if flagged:
        why = (f"the replayed reverse steps differ from the forward's by up to {worst:.3g}: recompute's gradient is "
               "taken at another chain than the one the defense ran")
    else:
        how = "bit for bit" if worst == 0 else f"to {worst:.3g}"
        why = f"all {len(mismatch)} replayed reverse steps reproduce the forward's {how}"
    return record("recompute-replay", flagged, why, steps=len(mismatch), max_abs_difference=worst,
                  per_step=mismatch, tolerance=REPLAY_TOLERANCE, inputs=len(points))
