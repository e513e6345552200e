"""Does a bf16 attacker gradient weaken the attack? (#23 item 1's strength check.)

Two parts, both written to ``--out`` (``precision_check.json`` and ``.md``, provenance included):

``cosine``    per network and grad mode, the input gradient of the summed cross-entropy through the
              whole chain (guidance double backward included) at fp32 and at bf16 under the same
              seeded purification noise: mean per-example cosine similarity, share of equal signs (the
              Linf step's direction) and relative L2 difference. Networks: the trained demo (real test
              digits) and, with ``--cifar``, the CIFAR-10 networks with random weights on random images.
``strength``  the demo attacked by PGD+EOT twice, once with fp32 and once with bf16 gradients, the same
              seeds (so the same attack randomness and the same verdict draws): robust accuracy of
              each and the paired difference's 95% interval (Newcombe) with McNemar's p. The test
              examples are cut into one shard per batch, run alternately fp32, bf16, so a run stopped
              by ``--minutes`` still compares both on the same finished examples.

    python benchmarks/precision_check.py --n 200 --minutes 20 --out benchmarks/results/precision-cpu
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import zoo
from zoo.common.provenance import provenance
from zoo.models.precision import PrecisionAttacker
from zoo.registry.schema import Budget
from zoo.scoring.intervals import wilson
from zoo.scoring.paired import paired_test
from zoo.scoring.verdicts import robust_correct

DEMO, CIFAR = "agdm-tiny-mnist", "agdm-wrn28-cifar10"


def input_gradient(model, x, y, precision: str, seed: int):
    xg = x.clone().requires_grad_(True)
    logits = PrecisionAttacker(model, precision)(xg, torch.Generator(device=x.device).manual_seed(seed))
    return torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), xg)[0]


def agreement(bf16, fp32) -> dict:
    """How closely the bf16 gradient follows the fp32 one, per example then averaged."""
    a, b = bf16.flatten(1).double(), fp32.flatten(1).double()
    return {"cosine_mean": float(F.cosine_similarity(a, b).mean()), "cosine_min": float(F.cosine_similarity(a, b).min()),
            "sign_agreement": float((a.sign() == b.sign()).double().mean()),
            "relative_l2": float((a - b).norm() / b.norm())}


def cosine_part(args, device) -> list[dict]:
    from zoo.data import mnist_demo

    cases = [(DEMO, {"pretrained": True}, *(t[: args.cosine_batch] for t in mnist_demo("test")))]
    if args.cifar:
        g = torch.Generator().manual_seed(args.seed)
        cases.append((CIFAR, {"pretrained": False, "t_star": args.cifar_t_star, "steps": args.cifar_steps},
                      torch.rand(args.cifar_batch, 3, 32, 32, generator=g), torch.randint(0, 10, (args.cifar_batch,), generator=g)))
    rows = []
    for name, kw, x, y in cases:
        for mode in args.grad_modes:
            model = zoo.load(name, device=device, grad_mode=mode, **kw)
            x, y = x.to(device), y.to(device)
            grads = {p: input_gradient(model, x, y, p, args.seed) for p in ("fp32", "bf16")}
            rows.append({"network": name, "grad_mode": mode, "rows": len(y), **agreement(grads["bf16"], grads["fp32"]),
                         "chain": {k: v for k, v in kw.items() if k != "pretrained"} or "the entry's"})
            print(rows[-1], flush=True)
    return rows


def strength_part(args, device) -> dict:
    budget = Budget(n_examples=args.n, draws=args.draws, pgd_steps=args.steps, pgd_eot=args.eot,
                    pgd_step_fraction=args.step_fraction, batch_size=args.batch, reduced=True)
    shards = -(-args.n // args.batch)
    deadline = time.time() + 60 * args.minutes
    finished = 0
    for i in range(shards):
        if time.time() > deadline:
            break
        for precision in ("fp32", "bf16"):
            zoo.run_benchmark([DEMO], "Linf", ("pgd-eot",), out=args.out / precision, data_dir=args.data_dir,
                              device=device, budget=dataclasses.asdict(budget), seed=args.seed, shard=(i, shards),
                              progress=False, attack_precision=precision, resume=True)
        finished += 1
        print(f"shard {i + 1}/{shards} done", flush=True)
    return compare(args.out, shards) | {"budget": dataclasses.asdict(budget), "shards_finished": finished, "shards": shards}


def outcomes(folder: Path) -> dict[int, bool]:
    """Robust (by the vote) per example index, from the finished shard journals in ``folder``."""
    found = {}
    for path in sorted((folder / "journal").glob("*.jsonl")):
        for line in path.read_text().splitlines()[1:]:
            r = json.loads(line)
            found[r["index"]] = bool(robust_correct(np.array([r["clean_preds"]]), np.array([r["adv_preds"]]),
                                                    np.array([r["label"]]), "vote")[0])
    return found


def compare(out: Path, shards: int) -> dict:
    fp32, bf16 = outcomes(out / "fp32"), outcomes(out / "bf16")
    common = sorted(set(fp32) & set(bf16))
    a, b = [bf16[i] for i in common], [fp32[i] for i in common]
    n = len(common)
    result = {"n": n, "metric": "vote", "difference": "bf16 - fp32 robust accuracy"}
    for name, values in (("bf16", a), ("fp32", b)):
        k = int(sum(values))
        result[f"robust_{name}"] = {"robust": k, "accuracy": k / max(n, 1), "wilson95": wilson(k / max(n, 1), n)}
    return result | paired_test(a, b, "vote")


def write(out: Path, result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "precision_check.json").write_text(json.dumps(result, indent=1, default=str))
    lines = ["# bf16 vs fp32 attacker gradients", "", f"commit {result['provenance']['commit']}, "
             f"{result['provenance']['device']}", "", "| network | grad mode | rows | cosine (mean/min) | equal signs | rel. L2 |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['network']} | {r['grad_mode']} | {r['rows']} | {r['cosine_mean']:.5f} / {r['cosine_min']:.5f} | "
              f"{r['sign_agreement']:.4f} | {r['relative_l2']:.4f} |" for r in result.get("cosine", [])]
    s = result.get("strength")
    if s and s["n"]:
        lines += ["", f"PGD+EOT on {DEMO}, n = {s['n']} (shards {s['shards_finished']}/{s['shards']}), budget {s['budget']}:",
                  f"robust accuracy (vote) fp32 {100 * s['robust_fp32']['accuracy']:.1f}% "
                  f"[{100 * s['robust_fp32']['wilson95'][0]:.1f}, {100 * s['robust_fp32']['wilson95'][1]:.1f}], "
                  f"bf16 {100 * s['robust_bf16']['accuracy']:.1f}% "
                  f"[{100 * s['robust_bf16']['wilson95'][0]:.1f}, {100 * s['robust_bf16']['wilson95'][1]:.1f}]; "
                  f"bf16 - fp32 95% interval [{100 * s['difference_lo']:.1f}, {100 * s['difference_hi']:.1f}] points, "
                  f"discordant {s['a_only']} (bf16 only robust) / {s['b_only']} (fp32 only), McNemar p = {s['p_value']:.3g}"]
    (out / "precision_check.md").write_text("\n".join(lines) + "\n")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--parts", nargs="+", choices=("cosine", "strength"), default=["cosine", "strength"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/precision"))
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grad-modes", nargs="+", default=["exact", "recompute"])
    p.add_argument("--cosine-batch", type=int, default=16, help="demo digits in the cosine part")
    p.add_argument("--cifar", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--cifar-batch", type=int, default=2)
    p.add_argument("--cifar-t-star", type=int, default=100)
    p.add_argument("--cifar-steps", type=int, default=5)
    p.add_argument("--n", type=int, default=200, help="demo test digits attacked (strength part)")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--steps", type=int, default=5, help="PGD steps (default: the demo entry's reduced budget)")
    p.add_argument("--eot", type=int, default=2)
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--step-fraction", type=float, default=0.5)
    p.add_argument("--minutes", type=float, default=20.0, help="start no new shard after this long")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    started = time.time()
    result = {"provenance": provenance(device, settings={k: str(v) for k, v in vars(args).items()})}
    if "cosine" in args.parts:
        result["cosine"] = cosine_part(args, device)
        write(args.out, result)
    if "strength" in args.parts:
        result["strength"] = strength_part(args, device)
    result["provenance"]["wall_seconds"] = round(time.time() - started, 1)
    write(args.out, result)
    print((args.out / "precision_check.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
