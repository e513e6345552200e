"""Attack throughput on the card (#23 item 4): how fast one exact input gradient runs, per speed lever.

One input gradient of the summed cross-entropy through the full t*-step chain (steps = t*, guidance
double backward included), on the CIFAR-10 networks (``agdm-wrn28-cifar10`` architectures, random
weights, random images), measured as

* row-steps/s: rows x chain steps / seconds (the 631 row-steps/s of the H200 baseline: recompute,
  robust guidance, 256 rows, t* = 20, fp32);
* model TFLOP/s: the matrix products', convolutions' and attention's FLOPs of that gradient
  (``torch.utils.flop_counter`` on a ``exact``-mode gradient, so recomputation is not counted) per
  second, and its share of the card's bf16 matrix rate measured in the same run;
* the gradient's cosine similarity to the fp32 baseline of the same rows and noise (a lever that
  changes the function shows here);
* projected GPU-hours of the 512-image protocol: 512 images x 200 PGD steps x 20 EOT samples x
  the chain's steps, at that rate (gradients only: verdicts and AutoAttack not included).

Configurations (``--configs``): ``fp32`` (the baseline), ``bf16`` (attack precision), ``channels_last``,
``tf32``, ``compile_unet``, ``all`` (every one at once). Plan: first every configuration at the lever
point (``--lever-rows`` 256, ``--lever-t-star`` 20, robust, ``--grad-mode`` recompute), then ``all``
and ``fp32`` over ``--rows`` x ``--t-star`` x ``--patterns``, largest cost last; a measurement that would
start after ``--minutes`` is skipped and listed as such, and one that runs out of memory is noted.
Writes ``throughput.json`` (rows and provenance), ``throughput.csv`` and ``throughput.md`` to ``--out``
after every measurement.

    python benchmarks/throughput.py --device cuda --out "$OUT"    # the device session (~8 min)
    python benchmarks/throughput.py --smoke --out /tmp/tp         # CPU, demo network, seconds
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import zoo  # noqa: E402
from report import _fmt, _write_csv  # noqa: E402
from measure import counted_flops, matmul_rate, synchronize, time_call  # noqa: E402
from networks import CIFAR, DEMO, input_gradient  # noqa: E402
from zoo.common.provenance import provenance  # noqa: E402
from zoo.models.batching import auto_rows  # noqa: E402
from zoo.models.factory import assemble  # noqa: E402
from zoo.models.precision import PrecisionAttacker  # noqa: E402
from zoo.models.speed import speed_up  # noqa: E402
from zoo.registry.resolve import with_overrides  # noqa: E402

CONFIGS = ("fp32", "bf16", "channels_last", "tf32", "compile_unet", "all")
BASELINE_ROW_STEPS = 631.0  # H200, torch 2.11, recompute, robust, 256 rows, t* 20, fp32 (issue #23)
PROTOCOL = {"images": 512, "pgd_steps": 200, "eot": 20}


def levers_of(config: str) -> tuple[dict, str]:
    """(speed_up flags, attack precision) of a configuration."""
    every = config == "all"
    flags = {name: every or config == name for name in ("channels_last", "compile_unet", "tf32")}
    return flags, "bf16" if every or config == "bf16" else "fp32"


def chain(base, pattern: str, t_star: int, grad_mode: str):
    """``base``'s networks (shared) behind a full t*-step chain with guidance ``pattern``."""
    entry = with_overrides(base.config, t_star=t_star, steps=t_star, pattern=pattern)
    guidance = base.purifier.guidance
    return assemble(entry, base.classifier, base.purifier.eps_net,
                    None if guidance is None or pattern == "none" else guidance.net, grad_mode)


def restore_tf32() -> None:
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        matmul.fp32_precision = "ieee"
    else:
        matmul.allow_tf32 = False


def plan(args) -> list[tuple[str, int, int, str]]:
    """(config, rows, t*, pattern) in the order measured: the lever table first, then the grid."""
    first = [(c, args.lever_rows, args.lever_t_star, "robust") for c in args.configs]
    grid = [(c, r, t, p) for t in args.t_star for r in args.rows for p in args.patterns for c in ("fp32", "all")
            if (c, r, t, p) not in first and c in args.configs]
    return first + sorted(grid, key=lambda m: m[1] * m[2])


def measure(model, x, y, precision: str, args, device) -> tuple[float, torch.Tensor]:
    """Seconds of one gradient (the minimum of ``--repeats`` after a warm-up) and the gradient."""
    attacker = PrecisionAttacker(model, precision)
    grad = input_gradient(attacker, x, y, args.seed)  # warm-up: compiles, fills the allocator
    seconds = min(time_call(lambda: input_gradient(attacker, x, y, args.seed), device) for _ in range(args.repeats))
    return seconds, grad


def flops_of(base, pattern: str, t_star: int, x, y, args, cache: dict) -> float:
    """Counted FLOPs per row of one exact-mode gradient (counted once on a few rows, per chain)."""
    key = (pattern, t_star)
    if key not in cache:
        rows = min(len(y), 2)
        model = chain(base, pattern, t_star, "exact")
        cache[key] = counted_flops(lambda: input_gradient(model, x[:rows], y[:rows], args.seed)) / rows
    return cache[key]


def run_one(bases, m, inputs, args, device, flops, baseline_grads, peak) -> dict:
    config, rows, t_star, pattern = m
    flags, precision = levers_of(config)
    x, y = inputs(rows)
    model = chain(bases[config], pattern, t_star, args.grad_mode)
    if flags["channels_last"]:
        model = speed_up(model, channels_last=True)
    if flags["tf32"]:
        speed_up(model, tf32=True)
    try:
        seconds, grad = measure(model, x, y, precision, args, device)
    finally:
        restore_tf32()
    row_steps = rows * t_star / seconds
    flop = flops_of(bases["fp32"], pattern, t_star, x, y, args, flops) * rows
    key = (rows, t_star, pattern)
    if config == "fp32":
        baseline_grads[key] = grad
    reference = baseline_grads.get(key)
    cosine = (None if reference is None else
              float(F.cosine_similarity(grad.flatten(1).double(), reference.flatten(1).double()).mean()))
    steps_total = PROTOCOL["images"] * PROTOCOL["pgd_steps"] * PROTOCOL["eot"] * t_star
    return {"config": config, "precision": precision, "rows": rows, "t_star": t_star, "pattern": pattern,
            "grad_mode": args.grad_mode, "seconds": seconds, "row_steps_per_s": row_steps,
            "x_h200_baseline": row_steps / BASELINE_ROW_STEPS, "model_tflops": flop / seconds / 1e12,
            "share_of_bf16_matmul": flop / seconds / peak, "cosine_to_fp32": cosine,
            "protocol_gpu_hours": steps_total / row_steps / 3600}


def build_bases(args, device) -> dict:
    """The networks per configuration, the same seeded weights for all; a configuration whose
    levers change modules in place (NHWC weights, a compiled UNet) gets a copy of its own."""
    name = DEMO if args.smoke else CIFAR
    built, bases = {}, {}
    for config in args.configs:
        flags, _ = levers_of(config)
        key = (flags["channels_last"], flags["compile_unet"])
        if key not in built:
            torch.manual_seed(args.seed)
            model = zoo.load(name, device="cpu", pretrained=args.smoke).to(device)
            built[key] = speed_up(model, channels_last=key[0], compile_unet=key[1])
        bases[config] = built[key]
    return bases


COLUMNS = ("config", "rows", "t_star", "pattern", "seconds", "row_steps_per_s", "x_h200_baseline", "model_tflops",
           "share_of_bf16_matmul", "cosine_to_fp32", "protocol_gpu_hours")


def write(out: Path, rows: list[dict], record: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.json").write_text(json.dumps({"provenance": record, "rows": rows}, indent=1, default=str))
    measured = [r for r in rows if "seconds" in r]
    if measured:
        _write_csv(out / "throughput.csv", measured)
    lines = [f"# Attack throughput, {record['device']}, commit {record['commit']}", "",
             f"bf16 matrix rate measured: {record['bf16_matmul_tflops']:.1f} TFLOP/s; grad mode {record['grad_mode']}; "
             f"H200 baseline {BASELINE_ROW_STEPS:g} row-steps/s (recompute, robust, 256 rows, t* 20, fp32); "
             f"GPU-hours: {PROTOCOL}, gradients only", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r[c], 4) for c in COLUMNS) + " |" for r in measured]
    lines += [f"- {r['config']} {r['rows']} rows t* {r['t_star']} {r['pattern']}: {r['note']}"
              for r in rows if "note" in r]
    (out / "throughput.md").write_text("\n".join(lines) + "\n")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--smoke", action="store_true", help="CPU check: demo network, 2 rows, t* 2, fp32/bf16/channels_last")
    p.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    p.add_argument("--grad-mode", default="recompute", choices=("exact", "checkpoint", "recompute"))
    p.add_argument("--lever-rows", type=int, default=256)
    p.add_argument("--lever-t-star", type=int, default=20)
    p.add_argument("--rows", type=int, nargs="+", default=[256, 512])
    p.add_argument("--t-star", type=int, nargs="+", default=[20, 100])
    p.add_argument("--patterns", nargs="+", default=["robust", "plain", "none"])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--minutes", type=float, default=7.0, help="start no measurement after this long")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.configs = ["fp32"] + [c for c in args.configs if c != "fp32"]  # the baseline every ratio needs
    if args.smoke:
        args.device, args.configs, args.lever_rows, args.lever_t_star = "cpu", ["fp32", "bf16", "channels_last"], 2, 2
        args.rows, args.t_star, args.patterns = [2], [2, 3], ["robust", "none"]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    started = time.time()
    peak = matmul_rate(device, size=256 if args.smoke else 8192, repeats=2 if args.smoke else 20)
    record = provenance(device, settings={k: str(v) for k, v in vars(args).items()}, grad_mode=args.grad_mode,
                        bf16_matmul_tflops=peak / 1e12, protocol=PROTOCOL)
    bases = build_bases(args, device)
    shape = (1, 28, 28) if args.smoke else (3, 32, 32)
    generator = torch.Generator().manual_seed(args.seed)
    pool = torch.rand(max(args.rows + [args.lever_rows]), *shape, generator=generator)
    labels = torch.randint(0, 10, (len(pool),), generator=generator)

    def inputs(rows):
        return pool[:rows].to(device), labels[:rows].to(device)

    x4, y4 = inputs(4)  # rows that fit for the lever point's chain: what --eot-batch's sizing picks from
    record["fitting_rows_lever_point"] = auto_rows(chain(bases["fp32"], "robust", args.lever_t_star, args.grad_mode), x4, y4)
    rows, flops, baseline_grads = [], {}, {}
    for m in plan(args):
        meta = dict(zip(("config", "rows", "t_star", "pattern"), m))
        if time.time() - started > 60 * args.minutes:
            rows.append({**meta, "note": f"skipped: past --minutes {args.minutes:g}"})
            continue
        try:
            rows.append(run_one(bases, m, inputs, args, device, flops, baseline_grads, peak))
        except torch.OutOfMemoryError as err:
            rows.append({**meta, "note": f"out of memory: {str(err).splitlines()[0][:120]}"})
        synchronize(device)
        print(rows[-1], flush=True)
        record["wall_seconds"] = round(time.time() - started, 1)
        write(args.out, rows, record)
    write(args.out, rows, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
