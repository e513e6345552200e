"""Benchmark harness: zoo's gradient modes against reference implementations (never run by pytest).

    python benchmarks/run.py                           # CPU: the demo network, t* 10 50 100
    python benchmarks/run.py --quick                   # a smoke run (t* 5 10, one repeat)
    python benchmarks/run.py --device cuda --levers    # GPU: demo + CIFAR-10 UNet, lever table
    python benchmarks/run.py --cifar --cifar-t-star 10 # CPU with the (slow) CIFAR-10 part

In one process, on the same networks and inputs, for every t* it measures

* purification forward (images/s, no gradient): zoo's chain, reference (a), reference (b);
* one input gradient of the summed cross-entropy through the whole t*-step chain, guidance double
  backward included (seconds/image and peak memory, see ``measure.py``) for zoo's ``exact``,
  ``checkpoint`` and ``recompute`` modes and for the two references of ``references.py``: (a)
  plain autograd through the whole chain and (b) DiffPure's adjoint reverse SDE (torchsde);
* one PGD+EOT iteration (zoo's ``PGDEOT``, EOT samples batched into one forward).

Networks: the demo (``agdm-tiny-mnist``, shipped weights, real test digits) and, with ``--cifar``
(default on CUDA), the CIFAR-10 DDPM UNet with the WRN guidance and classifier architectures at
random weights (``agdm-wrn28-cifar10``, ``pretrained=False``) on random images. Every chain is the
full one (steps = t*). Times are the minimum over ``--repeats`` interleaved repeats (the least
disturbed one on a shared machine; medians are in the CSV). The gradients of ``checkpoint``,
``recompute`` and reference (a) are checked against ``exact``'s (same seeded noise): the report gives
their relative L2 difference.

CUDA speed levers (flags; they change every method alike): ``--channels-last`` (NHWC weights),
``--compile`` (``torch.compile`` of the eps UNet only: the guidance net needs a double backward,
which compiled graphs do not support), ``--bf16`` (bf16 autocast; results change slightly, the
gradient agreement columns say how much). ``--levers`` adds a table that measures each lever on
its own (and ``torch.inference_mode`` for unguided evaluation) against the plain run.

Writes ``<out>/bench_<tag>.md``, ``.csv``, ``.json`` (provenance) and ``.png`` (time and memory
against t*); ``<tag>`` defaults to the device type.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zoo  # noqa: E402
from zoo.attacks import PGDEOT  # noqa: E402
from zoo.common.provenance import provenance  # noqa: E402
from zoo.models.speed import speed_up  # noqa: E402

from measure import (CallCounter, autocast_if, peak_memory, repeat_stats, synchronize, tensor_peak_cpu,  # noqa: E402
                     time_call)
from networks import (CIFAR, DEMO, METHODS, OURS, Network, input_gradient, load_networks, methods_for,  # noqa: E402
                      relative_difference, variant)
import report  # noqa: E402


def warm_up(net: Network, names: tuple[str, ...], args, device) -> None:
    """One untimed gradient per method on a 2-step chain, so no timed call pays first-call costs
    (allocator growth, kernel selection, lazy initialisation)."""
    for model in methods_for(net.model, min(2, *net.t_stars), names).values():
        with autocast_if(args.bf16, device):
            input_gradient(model, net.x, net.y, args.seed)
        synchronize(device)


def bench_forward(net: Network, methods: dict[str, nn.Module], t_star: int, args, device) -> list[dict]:
    """Purification + classification throughput without gradients (all of zoo's modes run the
    same code then, so ``exact`` stands for them)."""
    rows = []
    chosen = {"ours (any mode)": methods.get("exact"), "ref-autograd": methods.get("ref-autograd"),
              "ref-sde-adjoint": methods.get("ref-sde-adjoint")}
    for name, model in chosen.items():
        if model is None:
            continue
        seconds = []
        for _ in range(args.repeats):
            with torch.no_grad(), autocast_if(args.bf16, device):
                seconds.append(time_call(lambda: model(net.x), device))
        stats = repeat_stats(seconds)
        rows.append({"network": net.name, "t_star": t_star, "method": name, "measure": "forward",
                     "batch": len(net.x), "images_per_s": len(net.x) / stats["min"],
                     "seconds_min": stats["min"], "seconds_median": stats["median"]})
    return rows


def out_of_memory(err: BaseException) -> bool:
    return isinstance(err, (torch.cuda.OutOfMemoryError, MemoryError)) or "out of memory" in str(err)


def attempt(fn, device: torch.device):
    """``fn()``, or ``None`` when it runs out of memory (plain autograd at large t* can, which is
    the point of the memory-flat modes); the memory is released for the next measurement."""
    try:
        return fn()
    except (RuntimeError, MemoryError) as err:
        if not out_of_memory(err):
            raise
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return None


def bench_gradients(net: Network, methods: dict[str, nn.Module], t_star: int, args, device) -> list[dict]:
    """Time (interleaved repeats), peak memory, UNet calls and agreement of one input gradient,
    and the time of one PGD+EOT iteration, for every method. A measurement that runs out of
    memory is reported as such (empty cells, ``oom`` names it)."""
    counter = CallCounter(net.model.purifier.eps_net)
    times = {m: [] for m in methods}
    pgd_times = {m: [] for m in methods}
    grads, calls, oom = {}, {}, set()
    eps = net.model.config.threats["Linf"]
    eot = args.cifar_eot if net.name == CIFAR else args.eot

    def gradient(model):
        with autocast_if(args.bf16, device):
            return input_gradient(model, net.x, net.y, args.seed)

    def pgd_iteration(model):
        attack = PGDEOT(model, norm="Linf", eps=eps, steps=1, eot=eot, step_size=eps / 4)
        torch.manual_seed(args.seed)
        with autocast_if(args.bf16, device):
            return attack(net.x, net.y)

    try:
        for _ in range(args.repeats):
            for name, model in methods.items():
                seconds = attempt(lambda: time_call(lambda: grads.__setitem__(name, gradient(model)), device), device)
                calls[name] = counter.take()
                if seconds is None:
                    oom.add((name, "gradient"))
                else:
                    times[name].append(seconds)
                if eot:
                    seconds = attempt(lambda: time_call(lambda: pgd_iteration(model), device), device)
                    counter.take()
                    if seconds is None:
                        oom.add((name, "pgd"))
                    else:
                        pgd_times[name].append(seconds)
        rows = []
        for name, model in methods.items():
            measured = attempt(lambda: peak_memory(lambda: gradient(model), device), device)
            counter.take()
            peak, how = measured if measured is not None else (None, None)
            failed = sorted(what for who, what in oom if who == name) + ([] if measured else ["memory"])
            rows.append(gradient_row(net, t_star, name, times[name], pgd_times[name], peak, how, eot, calls[name],
                                     grads, failed))
            if device.type == "cpu" and name == "recompute" and args.tensor_memory:
                rows[-1]["tensor_peak_mib"] = tensor_peak_cpu(lambda: gradient(model)) / 2**20
                counter.take()
            r = rows[-1]
            print(f"  {net.name} t*={t_star} {name:16s} grad {_s(r['seconds_min'])}s  peak {_s(r['peak_mib'])} MiB  "
                  f"pgd {_s(r['pgd_iter_s'])}s  unet calls {calls[name]}  {r['oom']}", flush=True)
        return rows
    finally:
        counter.close()


def _s(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def gradient_row(net: Network, t_star: int, name: str, times: list[float], pgd_times: list[float], peak, how,
                 eot: int, calls: int, grads: dict, oom: list[str]) -> dict:
    """One CSV/markdown row of :func:`bench_gradients`."""
    t = repeat_stats(times) if times else None
    p = repeat_stats(pgd_times) if pgd_times else None
    same_maths = name != "ref-sde-adjoint" and "exact" in grads and name in grads
    return {
        "network": net.name, "t_star": t_star, "method": name, "measure": "gradient", "batch": len(net.x),
        "seconds_min": t and t["min"], "seconds_median": t and t["median"],
        "seconds_per_image": t and t["min"] / len(net.x),
        "peak_mib": None if peak is None else peak / 2**20, "memory_measure": how,
        "pgd_iter_s": p and p["min"], "pgd_eot": eot, "unet_calls": calls,
        "grad_rel_diff_vs_exact": relative_difference(grads[name], grads["exact"]) if same_maths else None,
        "oom": " ".join(oom),
    }


LEVERS = ("channels_last", "compile", "bf16", "inference_mode")


def bench_levers(net: Network, args, device) -> list[dict]:
    """Each requested speed lever on its own against the plain run, at ``--lever-t-star``: the
    gradient time and its agreement with the plain gradient for every ``--lever-modes`` grad mode
    (channels_last, compile, bf16), and the forward time under ``inference_mode`` vs ``no_grad``
    for unguided purification (guided purification needs autograd inside the chain, which inference
    mode forbids). bf16 is CUDA-only (skipped elsewhere)."""
    t_star = args.lever_t_star or min(net.t_stars)
    rows = []
    if "inference_mode" in args.levers:
        none_model = zoo.load(net.name, device=device, pretrained=(net.name == DEMO), pattern="none",
                              t_star=t_star, steps=t_star)
        for label, ctx in (("no_grad", torch.no_grad), ("inference_mode", torch.inference_mode)):
            seconds = []
            for _ in range(args.repeats):
                with ctx():
                    seconds.append(time_call(lambda: none_model(net.x), device))
            rows.append({"network": net.name, "t_star": t_star, "lever": f"forward, pattern none, {label}",
                         "seconds_min": min(seconds), "rel_diff": None})
    levers = [lv for lv in args.levers if lv != "inference_mode" and (lv != "bf16" or device.type == "cuda")]
    for mode in args.lever_modes if levers else ():
        reference = input_gradient(variant(net.model, t_star, mode), net.x, net.y, args.seed)
        for lever in ("none", *levers):
            rows.append(lever_row(net, t_star, mode, lever, reference, args, device))
            print(f"  lever {net.name} {mode} {lever}: {rows[-1]['seconds_min']:.3f}s "
                  f"rel diff {rows[-1]['rel_diff']:.2e}", flush=True)
    return rows


def lever_row(net: Network, t_star: int, mode: str, lever: str, reference: Tensor, args, device) -> dict:
    """Gradient time with one lever (``none``: plain), on a fresh copy of the network's weights."""
    model = zoo.load(net.name, device=device, pretrained=(net.name == DEMO), grad_mode=mode,
                     t_star=t_star, steps=t_star)
    model.load_state_dict(net.model.state_dict())  # the same weights as the plain run
    speed_up(model, channels_last=lever == "channels_last", compile_unet=lever == "compile")
    x = net.x.contiguous(memory_format=torch.channels_last) if lever == "channels_last" else net.x
    with autocast_if(lever == "bf16", device):
        input_gradient(model, x, net.y, args.seed)  # warm-up (and compilation)
        seconds = [time_call(lambda: input_gradient(model, x, net.y, args.seed), device)
                   for _ in range(args.repeats)]
        grad = input_gradient(model, x, net.y, args.seed)
    return {"network": net.name, "t_star": t_star, "lever": f"gradient, {mode}, {lever}",
            "seconds_min": min(seconds), "rel_diff": relative_difference(grad, reference)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--quick", action="store_true", help="smoke run: t* 5 10, one repeat, no CIFAR part")
    p.add_argument("--t-star", type=int, nargs="+", default=None, help="demo t* values (default 10 50 100)")
    p.add_argument("--batch", type=int, default=2, help="demo images per gradient (default 2)")
    p.add_argument("--cifar", action=argparse.BooleanOptionalAction, default=None,
                   help="include the CIFAR-10 UNet part (default: on for CUDA, off for CPU)")
    p.add_argument("--cifar-t-star", type=int, nargs="+", default=None,
                   help="CIFAR t* values (default: --t-star on CUDA, 10 on CPU)")
    p.add_argument("--cifar-batch", type=int, default=None, help="CIFAR batch (default 2 on CUDA, 1 on CPU)")
    p.add_argument("--no-demo", action="store_true", help="skip the demo network")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--eot", type=int, default=None,
                   help="EOT samples of the PGD+EOT iteration (default 20 on CUDA, 4 on CPU; 0 skips it)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3; 1 with --quick)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tensor-memory", action=argparse.BooleanOptionalAction, default=True,
                   help="CPU: also measure recompute's peak tensor bytes with torch's memory profiler (exact, "
                        "but slow: minutes at t* = 100)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default 1 on CPU: on a shared 2-core machine two OpenMP threads "
                        "run up to 40x slower whenever another process holds a core)")
    p.add_argument("--channels-last", action="store_true", help="CUDA lever: NHWC weights and inputs")
    p.add_argument("--compile", action="store_true", help="CUDA lever: torch.compile the eps UNet")
    p.add_argument("--bf16", action="store_true", help="CUDA lever: bf16 autocast")
    p.add_argument("--levers", nargs="*", choices=LEVERS, default=None,
                   help="also measure these levers one at a time against the plain run (no value: all)")
    p.add_argument("--lever-t-star", type=int, default=None, help="t* of the lever table (default: the smallest)")
    p.add_argument("--lever-modes", nargs="+", choices=OURS, default=["exact", "recompute"],
                   help="grad modes the lever table measures (default: exact recompute)")
    p.add_argument("--cifar-eot", type=int, default=None, help="EOT samples for the CIFAR part (default: --eot)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--tag", default=None, help="report file stem suffix (default: the device type)")
    args = p.parse_args(argv)
    cuda = (args.device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    args.device = args.device or ("cuda" if cuda else "cpu")
    if args.quick:
        args.t_star = args.t_star or [5, 10]
        args.repeats = args.repeats or 1
        args.cifar = bool(args.cifar)
        args.eot = 2 if args.eot is None else args.eot
    args.t_star = args.t_star or [10, 50, 100]
    args.repeats = args.repeats or 3
    args.cifar = cuda if args.cifar is None else args.cifar
    args.cifar_t_star = args.cifar_t_star or (args.t_star if cuda else [10])
    args.cifar_batch = args.cifar_batch or (2 if cuda else 1)
    args.eot = (20 if cuda else 4) if args.eot is None else args.eot
    args.cifar_eot = args.eot if args.cifar_eot is None else args.cifar_eot
    args.levers = list(LEVERS) if args.levers == [] else (args.levers or [])
    args.tag = args.tag or ("cuda" if cuda else "cpu") + ("-quick" if args.quick else "")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if args.threads or device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    started = time.time()
    torch.manual_seed(args.seed)
    names = tuple(m for m in METHODS if m in args.methods)
    if "exact" not in names:
        names = ("exact", *names)  # the gradient every other one is checked against
    rows, lever_rows, networks = [], [], load_networks(args, device)

    def save() -> list[Path]:
        """Write the report so far: a run cut short still leaves every finished measurement."""
        record = provenance(device, harness_settings=dict(vars(args)), networks={n.name: n.note for n in networks},
                            torch_threads=torch.get_num_threads(), wall_seconds=round(time.time() - started, 1))
        return report.write(Path(args.out), args.tag, rows, lever_rows, record)

    for net in networks:
        warm_up(net, names, args, device)
        for t_star in net.t_stars:
            methods = methods_for(net.model, t_star, names)
            rows += bench_forward(net, methods, t_star, args, device)
            rows += bench_gradients(net, methods, t_star, args, device)
            save()
    for net in networks if args.levers else ():
        lever_rows += bench_levers(net, args, device)
        save()
    for path in save():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
