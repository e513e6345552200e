"""How much the guidance does: per reverse step, the size of each term of the guided step, and end
to end, how far the purified output moves from the same chain without guidance.

A guided reverse step is

    x_{t-1} = mu(x_t) + s Sigma grad log p(y | x_t) - s Sigma grad D(f(x'), f(x_t)) + sqrt(Sigma) z

and :func:`guidance_diagnostic` reports, for every step, the L2 norms over the image (averaged
over the batch) of the UNet's mean update mu(x_t) - x_t, of each guidance shift, of their sum and
of the noise sqrt(Sigma) z, along the guided chain itself. End to end it compares the purified
images with the same chain at s = 0 (the purifier without guidance, which draws exactly the same
noise: the guidance draws none) and counts the predictions that change. With pattern ``none`` or
s = 0 the two chains are the same computation and the difference is exactly zero.

Norms are in the model's space ([-1, 1] images); end-to-end differences are in pixels ([0, 1]).
"""
from __future__ import annotations

import copy

import torch
from torch import Tensor

from ..models.defended import DefendedClassifier
from ..models.observer import StepRecord
from ..models.purifier import Purifier

TERMS = ("mean_update", "logp_shift", "distance_shift", "guidance_shift", "noise")


def _norms(v: Tensor) -> float:
    return float(v.flatten(1).norm(dim=1).mean())


def _row(record: StepRecord) -> dict:
    """One step's term norms, from what the purifier's observer saw."""
    row = {"step": record.step, "model_timestep": int(record.model_time), "sigma": record.variance,
           "mean_update": _norms(record.mean - record.x_t)}
    terms = record.term_shifts()
    zero = torch.zeros_like(record.x_t)
    logp, distance = terms.get("label", zero), terms.get("robust", terms.get("input", zero))
    noisy = record.noise is not None and record.variance != 0.0
    row.update(logp_shift=_norms(logp), distance_shift=_norms(distance), guidance_shift=_norms(logp + distance),
               noise=_norms(record.variance ** 0.5 * record.noise) if noisy else 0.0)
    row["guidance_over_noise"] = row["guidance_shift"] / row["noise"] if row["noise"] else None
    row["guidance_over_mean_update"] = row["guidance_shift"] / row["mean_update"] if row["mean_update"] else None
    return row


@torch.no_grad()
def guided_chain(model: DefendedClassifier, x: Tensor, seed: int = 0) -> tuple[Tensor, list[dict]]:
    """The purified pixels of ``x`` by the model's own chain (noise from a generator seeded with
    ``seed``, as ``model.purify(x, generator=...)`` draws it) and every step's term norms, read
    through the purifier's step observer."""
    purifier = model.purifier
    if purifier is None:
        raise ValueError(f"{model.config.name} has no purifier: there is no chain to diagnose")
    steps = []
    with purifier.observe(lambda record: steps.append(_row(record))):
        purified = model.purify(x, torch.Generator(device=x.device).manual_seed(seed))
    return purified, steps


@torch.no_grad()
def unguided_chain(model: DefendedClassifier, x: Tensor, seed: int = 0) -> Tensor:
    """The purified pixels of the same chain at s = 0, with the same noise: the purifier's twin
    (sharing its networks) without guidance, or, for a guidance that draws noise of its own
    (GDMP's diffused reference), with that guidance at scale 0, so that every draw lines up."""
    p = model.purifier
    guidance = None
    if p.guidance is not None and p.guidance.draws_noise:
        guidance = copy.copy(p.guidance)  # its own attribute dict: the scale changes on the copy only
        guidance.scale = 0.0
    twin = Purifier(p.eps_net, p.diffusion, guidance, None, p.grad_mode, p.rounds)
    return twin(x, torch.Generator(device=x.device).manual_seed(seed))


@torch.no_grad()
def guidance_diagnostic(model: DefendedClassifier, x: Tensor, seed: int = 0) -> dict:
    """Per-step term norms and the end-to-end effect of the guidance on ``x`` (module docstring).

    Returns ``{"steps": [...], "end_to_end": {...}}``; ``end_to_end`` holds the scale, the mean,
    max and per-image L2 difference of the purified pixels from the s = 0 chain, and how many of the
    classifier's predictions differ between the two."""
    guided, steps = guided_chain(model, x, seed)
    plain = unguided_chain(model, x, seed)
    diff = guided - plain
    preds_guided = model.classifier(guided).argmax(1)
    preds_plain = model.classifier(plain).argmax(1)
    guidance = model.purifier.guidance
    return {"pattern": model.config.purification.pattern, "scale": None if guidance is None else guidance.scale,
            "n": len(x), "seed": seed, "steps": steps,
            "end_to_end": {"mean_abs_diff": float(diff.abs().mean()), "max_abs_diff": float(diff.abs().max()),
                           "l2_diff_mean": _norms(diff), "predictions_changed": int((preds_guided != preds_plain).sum()),
                           "n": len(x)}}


def plot_diagnostic(result: dict, path, title: str) -> None:
    """Left: each term's norm per step (log scale); right: guidance / noise and guidance / UNet update."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r for r in result["steps"] if r["sigma"] > 0]
    k = [r["step"] for r in steps]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for term, style in zip(TERMS, ("o-", "s-", "^-", "k--", "x:")):
        values = [max(r[term], 1e-12) for r in steps]
        left.plot(k, values, style, label=term.replace("_", " "), markersize=4)
    left.set_yscale("log")
    left.set_xlabel("reverse step (0 = first, at t*)")
    left.set_ylabel("L2 norm over the image (model space), batch mean")
    left.legend(fontsize=8)
    for key, style in (("guidance_over_noise", "o-"), ("guidance_over_mean_update", "s-")):
        right.plot(k, [max(r[key] or 0.0, 1e-12) for r in steps], style, label=key.replace("_", " "), markersize=4)
    right.set_yscale("log")
    right.set_xlabel("reverse step")
    right.set_ylabel("ratio")
    right.legend(fontsize=8)
    e = result["end_to_end"]
    fig.suptitle(f"{title}\nend to end vs s=0, same noise: mean |diff| {e['mean_abs_diff']:.2e}, max "
                 f"{e['max_abs_diff']:.2e}, predictions changed {e['predictions_changed']}/{e['n']}", fontsize=9)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def diagnostic_inputs(dataset: str, n: int, data_dir: str, shape) -> tuple[Tensor, str]:
    """Up to ``n`` validation images of ``dataset`` and what they are: the demo's validation digits
    for MNIST; for CIFAR the validation slice of the training set when it is on disk, else uniform
    random images (so a diagnostic of random weights runs offline), said so in the second value."""
    from ..data import DataUnavailable, load_train_set, mnist_demo

    if dataset == "mnist":
        return mnist_demo("val")[0][:n], "demo validation digits"
    try:
        _, (x, _) = load_train_set(dataset, data_dir)
        return x[:n], f"{dataset} validation slice of the training set"
    except (DataUnavailable, FileNotFoundError, RuntimeError):
        x = torch.rand((n, *shape), generator=torch.Generator().manual_seed(0))
        return x, f"uniform random images ({dataset} data not on disk)"
