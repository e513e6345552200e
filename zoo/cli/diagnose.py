"""What the guidance does to one entry's purification (zoo.studies.diagnostics): per reverse step
the norms of the UNet's mean update, of each guidance shift (s Sigma grad log p, s Sigma grad D) and
of the noise; end to end, the purified output's difference from the same chain at s = 0 with the
same noise, and how many predictions that changes. Writes NAME[.random].json and .png under --out.

    agdm-zoo diagnose agdm-tiny-mnist                        # the demo, shipped weights
    agdm-zoo diagnose agdm-wrn28-cifar10 --random-weights --n 2
    agdm-zoo diagnose agdm-tiny-mnist --scale 100            # any purification override

Inputs: the demo's validation digits for MNIST entries; CIFAR entries use their validation slice of
the training set when it is on disk, else uniform random images (said so in the output). With
--random-weights the networks are untrained (architecture only): the output says so, and it shows
the step sizes the schedule and scale allow, not a trained model's behaviour.

``scripts/diagnose.py`` runs the same ``main``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import zoo
from zoo.common.provenance import provenance
from zoo.studies.diagnostics import diagnostic_inputs, guidance_diagnostic, plot_diagnostic


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="a registry entry or a bundle (hf://org/repo@rev or a local folder)")
    p.add_argument("--n", type=int, default=16, help="images diagnosed")
    p.add_argument("--seed", type=int, default=0, help="seeds the chain's noise (both chains draw the same)")
    p.add_argument("--random-weights", action="store_true", help="untrained networks (no download)")
    p.add_argument("--scale", type=float, default=None)
    p.add_argument("--t-star", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="reverse steps (respaced chain)")
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("leaderboard") / "diagnostics")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    torch.set_num_threads(args.threads)
    start = time.time()
    overrides = {k: v for k, v in (("scale", args.scale), ("t_star", args.t_star), ("steps", args.steps))
                 if v is not None}
    if args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    model = zoo.load(args.name, device="cpu", pretrained=not args.random_weights, **overrides)
    x, what = diagnostic_inputs(model.config.dataset, args.n, args.data_dir, model.config.input_shape)
    result = guidance_diagnostic(model, x, seed=args.seed)
    p = model.config.purification
    weights = ("RANDOM weights (architecture only; not the trained entry's behaviour)" if args.random_weights
               else "the entry's weights")
    result = {"model": model.config.name, "weights": weights, "inputs": what, "t_star": p.t_star,
              "reverse_steps": p.num_steps, **result,
              "provenance": provenance(torch.device("cpu"), seed=args.seed, overrides=overrides,
                                       wall_seconds=round(time.time() - start, 1))}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / (model.config.name.replace("/", "_") + (".random" if args.random_weights else ""))
    stem.with_suffix(stem.suffix + ".json").write_text(json.dumps(result, indent=2) + "\n")
    plot_diagnostic(result, stem.with_suffix(stem.suffix + ".png"),
                    f"{model.config.name}, {weights}, pattern {result['pattern']}, s={result['scale']}, "
                    f"t*={p.t_star}, {p.num_steps} steps; {len(x)} {what}")
    first = next((r for r in result["steps"] if r["sigma"] > 0), None)
    e = result["end_to_end"]
    if first is not None:
        print(f"first step: |mean update| {first['mean_update']:.3g}, |s Sigma grad log p| {first['logp_shift']:.3g}, "
              f"|s Sigma grad D| {first['distance_shift']:.3g}, |noise| {first['noise']:.3g}")
    print(f"end to end vs s=0: mean |diff| {e['mean_abs_diff']:.3g}, max {e['max_abs_diff']:.3g}, "
          f"predictions changed {e['predictions_changed']}/{e['n']}; wrote {stem}.json")
    return 0
