"""Benchmark zoo entries with AutoAttack (standard, rand) and PGD+EOT; write leaderboard tables.

    agdm-zoo benchmark --threat Linf                     # the embedded demo entries (= scripts/benchmark.py)
    agdm-zoo benchmark --threat Linf --model agdm-wrn28-cifar10 --data-dir ./data
    agdm-zoo benchmark --threat Linf --model mine.py:model --name mine --eps 0.3   # your own defense
    agdm-zoo benchmark --threat StAdv --model agdm-tiny-mnist                     # StAdv, flow bound 0.05
    agdm-zoo benchmark --threat Linf --loss dlr --attacker-grad bpda --out ablation  # ablation: weaker attack

Budgets and eps default to each entry's declaration in checkpoints.yaml (the CIFAR entries: the
published protocol; the demo: a reduced budget, labelled REDUCED in every output). Results are
journaled per example under OUT/journal/: rerun the same command with --resume after a kill.
Several processes: --shard i/n each (same arguments), then once more with --merge.
"""
from __future__ import annotations

import argparse

import zoo
from zoo.attacks.catalogue import ATTACK_ORDER, SPATIAL_THREATS, STADV, autoattack_name, with_loss
from zoo.attacks.gradients import GRADIENT_MODES, check_gradient
from zoo.attacks.losses import LOSSES
from zoo.cli.module_file import is_module_file, load_module_file
from zoo.evaluation.estimate import estimate
from zoo.evaluation.settings import PROTOCOLS
from zoo.leaderboard.metrics import HEADLINES
from zoo.leaderboard.run import benchmark
from zoo.models.purifier import GRAD_MODES
from zoo.models.speed import LEVERS
from zoo.registry.resolve import OVERRIDABLE
from zoo.registry.schema import THREATS


def shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes i/n, got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard i/n needs 0 <= i < n, got {text}")
    return i, n


def surrogate_settings(text: str) -> dict:
    """``steps=2,pattern=none`` -> ``{"steps": 2, "pattern": "none"}`` (ints and floats read as numbers)."""
    settings = {}
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise argparse.ArgumentTypeError(f"--surrogate takes KEY=VALUE[,KEY=VALUE...], got {item!r} in {text!r}")
        if key not in OVERRIDABLE:
            raise argparse.ArgumentTypeError(f"--surrogate: unknown key {key!r}; allowed: {', '.join(OVERRIDABLE)}")
        for kind in (int, float):
            try:
                value = kind(value)
                break
            except ValueError:
                continue
        settings[key] = value
    return settings


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threat", choices=list(THREATS), required=True,
                   help="Linf, L2 (eps-balls) or StAdv (Xiao et al.'s flow field, bound default 0.05 as the "
                        "paper's Table 5; runs the stadv attack only)")
    p.add_argument("--model", nargs="+", default=None,
                   help="entries (default: the MNIST demo entries), or one own defense as path/to/file.py:object "
                        "(an nn.Module from pixels in [0, 1] to logits, or a zero-argument callable returning one; "
                        "needs --name and --eps, budget: the published protocol)")
    p.add_argument("--name", default=None, help="own defense (--model file.py:object): the name its results go under")
    p.add_argument("--dataset", default="mnist", help="own defense: the test set it is evaluated on (default mnist)")
    p.add_argument("--attack", choices=["autoattack", "autoattack-label", "pgd-eot", "pgd-eot-label", "stadv", "all"],
                   default="all",
                   help="all (default): PGD+EOT with Lee & Kim's loss and, on guided entries, with the label-aware "
                        "loss (pgd-eot-label), and AutoAttack, plain and, on guided entries, label-aware "
                        "(autoattack-<version>-label); under --threat StAdv: stadv")
    p.add_argument("--loss", choices=list(LOSSES), default="ce",
                   help="what PGD+EOT (plain and label-aware) ascends: ce (cross-entropy, Lee & Kim; default), margin "
                        "(CW margin) or dlr (AutoAttack's DLR); the attacks are named pgd-eot-margin, pgd-eot-dlr, ...")
    p.add_argument("--attacker-grad", choices=GRADIENT_MODES, default="exact",
                   help="where every gradient attack takes its gradients: exact (default: the whole chain and its "
                        "guidance), bpda (identity through the purifier), blind (the classifier alone) or surrogate "
                        "(another chain, --surrogate); all but exact are weaker, ablation-only attacks, labelled so "
                        "in every output. Not --grad-mode, which is how the exact gradient is computed")
    p.add_argument("--surrogate", type=surrogate_settings, default=None, metavar="KEY=VALUE,...",
                   help="--attacker-grad surrogate: the surrogate chain's purification settings, e.g. "
                        f"steps=2,pattern=none (keys: {', '.join(OVERRIDABLE)})")
    p.add_argument("--version", choices=["standard", "rand", "both"], default="both",
                   help="AutoAttack version(s): standard (RobustBench) and/or rand (for randomised defenses)")
    p.add_argument("--n-examples", type=int, default=None)
    p.add_argument("--eps", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset-seed", type=int, default=None,
                   help="evaluate a random subset of the test set drawn with this seed (DiffPure / Lee & Kim: "
                        "--n-examples 512) instead of its first N examples (RobustBench)")
    p.add_argument("--device", default=None)
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--out", default="leaderboard")
    p.add_argument("--shard", type=shard, default=None,
                   help="evaluate only slice i of n (0-based); under torchrun: one shard per rank, merged by rank 0")
    p.add_argument("--resume", action="store_true", help="continue the journaled run with the same arguments")
    p.add_argument("--merge", action="store_true", help="write the tables from finished shard journals")
    p.add_argument("--grad-mode", choices=GRAD_MODES, default="exact",
                   help="how gradients go through the reverse chain: exact (plain autograd, fastest), "
                        "checkpoint or recompute (the same gradients in memory flat in t*; a run killed for "
                        "lack of memory can --resume with recompute)")
    p.add_argument("--levers", nargs="+", choices=LEVERS, default=[],
                   help="GPU speed levers (the same function): channels_last (NHWC weights), compile_unet "
                        "(torch.compile of the diffusion UNet)")
    p.add_argument("--headline", choices=HEADLINES, default="vote",
                   help="the metric tables and model_info lead with: vote (majority over K draws, ties wrong; "
                        "default, as Lee & Kim), worst (worst-of-K: right in every draw) or mean (per draw); "
                        "the summary holds all three with 95%% intervals")
    p.add_argument("--protocol", choices=PROTOCOLS, default="final",
                   help="final (default, Lee & Kim): judge each attack's final iterate; anytime: PGD+EOT judges "
                        "every iterate with K draws by the headline (vote or worst), stops attacking an example at "
                        "its first breaking iterate and records robust accuracy per iteration (curve_<threat>.csv/.png)")
    p.add_argument("--t-star", type=int, default=None, help="protocol override: diffuse to this t* (the paper's "
                   "PGD+EOT tables: 100) instead of each entry's")
    p.add_argument("--steps", type=int, default=None, help="protocol override: reverse steps (respaced over t*)")
    p.add_argument("--scale", type=float, default=None, help="protocol override: guidance scale s")
    p.add_argument("--pattern", choices=["none", "plain", "robust"], default=None,
                   help="protocol override: guidance pattern (none = DiffPure, plain, robust = AGDM)")
    p.add_argument("--estimate", action="store_true",
                   help="print the expected network evaluations and wall time (from a short timed probe), then exit "
                        "without running anything")
    return p.parse_args(argv)


def attacks_of(args: argparse.Namespace) -> tuple[str, ...]:
    if args.threat in SPATIAL_THREATS:
        if args.attack not in ("all", *SPATIAL_THREATS[args.threat]):
            raise ValueError(f"--threat {args.threat} runs {', '.join(SPATIAL_THREATS[args.threat])}, "
                             f"not --attack {args.attack}")
        return SPATIAL_THREATS[args.threat]
    if args.attack == STADV:
        raise ValueError(f"--attack stadv is the StAdv threat's attack: use --threat StAdv, not {args.threat}")
    versions = ("standard", "rand") if args.version == "both" else (args.version,)
    aa = tuple(autoattack_name(v) for v in versions)
    aa_label = tuple(autoattack_name(v, label_aware=True) for v in versions)  # the label-aware ones: guided entries only
    pgd = ("pgd-eot", "pgd-eot-label")
    chosen = {"autoattack": aa, "autoattack-label": aa_label, "pgd-eot": pgd[:1], "pgd-eot-label": pgd[1:],
              "all": (*pgd, *aa, *aa_label)}[args.attack]
    return tuple(a for a in ATTACK_ORDER if a in chosen)


def overrides_of(args: argparse.Namespace) -> dict:
    """The protocol overrides given on the command line (purification settings of every entry that purifies)."""
    given = {"t_star": args.t_star, "steps": args.steps, "scale": args.scale, "pattern": args.pattern}
    return {key: value for key, value in given.items() if value is not None}


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    names = args.model or zoo.list_models(dataset="mnist")
    own = {}
    if any(is_module_file(n) for n in names):
        if len(names) != 1:
            raise ValueError("--model file.py:object takes one own defense, without other entries")
        if args.name is None or args.eps is None:
            raise ValueError("--model file.py:object needs --name and --eps (an own defense declares neither)")
        if args.estimate:
            raise ValueError("--estimate is for zoo entries, not an own defense")
        names, own = load_module_file(names[0]), {"name": args.name, "dataset": args.dataset}
    elif args.name is not None:
        raise ValueError("--name is for an own defense (--model path/to/file.py:object)")
    gradient = {"attacker_grad": args.attacker_grad, "surrogate": args.surrogate}
    check_gradient(args.attacker_grad, args.surrogate)
    if args.estimate:
        print(estimate(names, args.threat, with_loss(attacks_of(args), args.loss), device=args.device,
                       eps=args.eps, n_examples=args.n_examples, batch_size=args.batch_size, seed=args.seed,
                       subset_seed=args.subset_seed, grad_mode=args.grad_mode, levers=tuple(args.levers),
                       protocol=args.protocol, headline=args.headline, overrides=overrides_of(args), **gradient))
        return 0
    written = benchmark(names, args.threat, attacks_of(args), out=args.out, eps=args.eps,
                        n_examples=args.n_examples, batch_size=args.batch_size, seed=args.seed,
                        subset_seed=args.subset_seed, device=args.device, data_dir=args.data_dir,
                        shard=args.shard, resume=args.resume, merge_only=args.merge, grad_mode=args.grad_mode,
                        levers=tuple(args.levers), headline=args.headline, protocol=args.protocol,
                        overrides=overrides_of(args), loss=args.loss, **gradient, **own)
    for path in written.values():
        print(f"wrote {path}")
    return 0

