"""Benchmark zoo entries with AutoAttack (standard, rand) and PGD+EOT; write leaderboard tables.

    agdm-zoo benchmark --threat Linf                     # the embedded demo entries (= scripts/benchmark.py)
    agdm-zoo benchmark --threat Linf --model agdm-wrn28-cifar10 --data-dir ./data
    agdm-zoo benchmark --threat Linf --model mine.py:model --name mine --eps 0.3   # your own defense
    agdm-zoo benchmark --threat StAdv --model agdm-tiny-mnist                     # StAdv, flow bound 0.05
    agdm-zoo benchmark --threat Linf --loss dlr --attacker-grad bpda --out ablation  # ablation: weaker attack

Budgets and eps default to each entry's declaration in checkpoints.yaml (the CIFAR entries: the
published protocol; the demo: a reduced budget, labelled REDUCED in every output); every part of
the attack budget can be set here (--pgd-steps, --pgd-eot, --pgd-step-fraction, --draws,
--autoattack, --n-examples, --batch-size). The options build one evaluation protocol
(zoo.running.protocol.Protocol), used as it is by the run and by --estimate. Results are
journaled per example under OUT/journal/: rerun the same command with --resume after a kill.
Several processes: --shard i/n each (same arguments), then once more with --merge.
"""
from __future__ import annotations

import argparse

import zoo
from zoo.attacks.catalogue import default_attacks, families, names as attack_names, spec
from zoo.attacks.gradients import ATTACKER_GRADIENTS
from zoo.attacks.losses import LOSSES
from zoo.cli.module_file import is_module_file, load_module_file
from zoo.running.benchmark import benchmark
from zoo.running.execution import Execution
from zoo.running.estimate import estimate
from zoo.running.protocol import JUDGES, Protocol
from zoo.models.precision import PRECISIONS
from zoo.models.purifier import GRAD_MODES
from zoo.models.speed import LEVERS
from zoo.registry.resolve import OVERRIDABLE
from zoo.registry.schema import THREATS
from zoo.scoring.verdicts import METRICS

PURIFICATION_FLAGS = {"t_star": "t_star", "reverse_steps": "steps", "scale": "scale", "pattern": "pattern"}
"""Command-line destinations of the purification overrides -> the entry's purification field."""
BUDGET_FLAGS = ("n_examples", "batch_size", "draws", "pgd_steps", "pgd_eot", "pgd_step_fraction", "autoattack")
"""Command-line destinations that change the attack budget (fields of zoo.registry.schema.Budget)."""


def shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes i/n, got {text!r}") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard i/n needs 0 <= i < n, got {text}")
    return i, n


def key_values(text: str, allowed, flag: str) -> dict:
    """``steps=2,pattern=none`` -> ``{"steps": 2, "pattern": "none"}`` (ints and floats read as numbers)."""
    settings = {}
    for item in text.split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise argparse.ArgumentTypeError(f"{flag} takes KEY=VALUE[,KEY=VALUE...], got {item!r} in {text!r}")
        if key not in allowed:
            raise argparse.ArgumentTypeError(f"{flag}: unknown key {key!r}; allowed: {', '.join(allowed)}")
        for kind in (int, float):
            try:
                value = kind(value)
                break
            except ValueError:
                continue
        settings[key] = value
    return settings


def surrogate_settings(text: str) -> dict:
    """``--surrogate``: the surrogate chain's purification settings."""
    return key_values(text, OVERRIDABLE, "--surrogate")


def autoattack_settings(text: str) -> dict:
    """``--autoattack n_iter=5,n_restarts=1``: AutoAttack's sub-attack settings (a list of
    sub-attacks as ``attacks_to_run=apgd-ce+square``)."""
    from zoo.attacks.autoattack import BUDGET_KEYS
    settings = key_values(text, tuple(BUDGET_KEYS), "--autoattack")
    if "attacks_to_run" in settings:
        settings["attacks_to_run"] = str(settings["attacks_to_run"]).split("+")
    return settings


def attack_choices() -> list[str]:
    """What ``--attack`` takes: ``all``, every family, and every attack by its own name."""
    fams = list(families())
    return ["all", *fams, *(n for n in attack_names() if n not in fams)]


def _add_attack_options(p: argparse.ArgumentParser) -> None:
    legend = "; ".join(f"{family}: {', '.join(members)}" for family, members in families().items())
    p.add_argument("--attack", nargs="+", choices=attack_choices(), default=["all"], metavar="ATTACK",
                   help="all (default: the threat's default set: PGD+EOT with Lee & Kim's loss and AutoAttack, each "
                        "plain and, on guided entries, label-aware; under --threat StAdv: stadv), one or more "
                        f"families (their members picked by --loss and --version) or attack names. Families: {legend}")
    p.add_argument("--loss", choices=list(LOSSES), default="ce",
                   help="what PGD+EOT (plain and label-aware) ascends: ce (cross-entropy, Lee & Kim; default), margin "
                        "(CW margin) or dlr (AutoAttack's DLR); the attacks are named pgd-eot-margin, pgd-eot-dlr, ...")
    p.add_argument("--version", choices=["standard", "rand", "both"], default="both",
                   help="AutoAttack version(s): standard (RobustBench) and/or rand (for randomised defenses)")
    p.add_argument("--attacker-grad", choices=ATTACKER_GRADIENTS, default="exact",
                   help="which gradient the attacker follows: exact (default: the whole chain and its guidance), "
                        "bpda (identity through the purifier), blind (the classifier alone) or surrogate (another "
                        "chain, --surrogate); all but exact are weaker, ablation-only attacks, labelled so in every "
                        "output. (How the exact gradient is computed is --grad-mode.)")
    p.add_argument("--surrogate", type=surrogate_settings, default=None, metavar="KEY=VALUE,...",
                   help="--attacker-grad surrogate: the surrogate chain's purification settings, e.g. "
                        f"steps=2,pattern=none (keys: {', '.join(OVERRIDABLE)})")


def _add_budget_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("attack budget (default: each entry's declaration in checkpoints.yaml)")
    g.add_argument("--n-examples", type=int, default=None, help="test examples evaluated")
    g.add_argument("--batch-size", type=int, default=None, help="examples attacked at once")
    g.add_argument("--draws", type=int, default=None, help="K: purifications every clean and adversarial example "
                   "is judged by")
    g.add_argument("--pgd-steps", type=int, default=None, help="PGD+EOT (and StAdv) iterations (Lee & Kim: 200)")
    g.add_argument("--pgd-eot", type=int, default=None, help="EOT samples per PGD+EOT gradient (Lee & Kim: 20)")
    g.add_argument("--pgd-step-fraction", type=float, default=None,
                   help="PGD+EOT step as a fraction of eps (default: the attack's own, 0.007 absolute for Linf)")
    g.add_argument("--autoattack", type=autoattack_settings, default=None, metavar="KEY=VALUE,...",
                   help="AutoAttack's sub-attack settings, e.g. n_iter=100,n_restarts=1,eot_iter=20,n_queries=5000 "
                        "(default: AutoAttack's own, or the entry's)")


def _add_protocol_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--eps", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subset-seed", type=int, default=None,
                   help="evaluate a random subset of the test set drawn with this seed (DiffPure / Lee & Kim: "
                        "--n-examples 512) instead of its first N examples (RobustBench)")
    p.add_argument("--headline", choices=METRICS, default="vote",
                   help="the metric tables and model_info lead with: vote (majority over K draws, ties wrong; "
                        "default, as Lee & Kim), worst (worst-of-K: right in every draw) or mean (per draw); "
                        "the summary holds all three with 95%% intervals")
    p.add_argument("--protocol", dest="judge", choices=JUDGES, default="final",
                   help="final (default, Lee & Kim): judge each attack's final iterate; anytime: PGD+EOT judges "
                        "every iterate with K draws by the headline (vote or worst), stops attacking an example at "
                        "its first breaking iterate and records robust accuracy per iteration (curve_<threat>.csv/.png)")
    p.add_argument("--fixed-noise", action="store_true",
                   help="the attack and the verdict share the purification noise, as some papers evaluate: a "
                        "weaker, reference-only protocol, labelled so in every output (default: fresh noise)")
    g = p.add_argument_group("purification overrides (every entry that purifies; plain classifiers unchanged)")
    g.add_argument("--t-star", type=int, default=None, help="diffuse to this t* (the paper's PGD+EOT tables: 100)")
    g.add_argument("--reverse-steps", "--steps", dest="reverse_steps", type=int, default=None,
                   help="reverse-chain steps (respaced over t*); not the attack's --pgd-steps")
    g.add_argument("--scale", type=float, default=None, help="guidance scale s")
    g.add_argument("--pattern", choices=["none", "plain", "robust", "gdmp"], default=None,
                   help="guidance pattern (none = DiffPure, plain, robust = AGDM, gdmp = GDMP)")


def _add_execution_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution (changes no number)")
    g.add_argument("--device", default=None)
    g.add_argument("--data-dir", default="./data")
    g.add_argument("--out", default="leaderboard")
    g.add_argument("--shard", type=shard, default=None,
                   help="evaluate only slice i of n (0-based); under torchrun: one shard per rank, merged by rank 0")
    g.add_argument("--resume", action="store_true", help="continue the journaled run with the same protocol")
    g.add_argument("--merge", action="store_true", help="write the tables from finished shard journals")
    g.add_argument("--grad-mode", choices=GRAD_MODES, default="exact",
                   help="how the exact gradient is computed through the reverse chain: exact (plain autograd, "
                        "fastest), checkpoint or recompute (the same gradients in memory flat in t*; a run killed "
                        "for lack of memory can --resume with recompute)")
    g.add_argument("--levers", nargs="+", choices=LEVERS, default=[],
                   help="GPU speed levers (the same function): channels_last (NHWC weights and input), tf32 (TF32 "
                        "matrix products), compile_unet "
                        "(torch.compile of the diffusion UNet)")
    g.add_argument("--save-adversarial", action="store_true",
                   help="keep every attack's adversarial examples: OUT/adversarial/<model>_<threat>_<attack>"
                        ".safetensors (test-set order) and .json (eps, threat, provenance, checksum), for "
                        "'agdm-zoo rejudge' and RobustBench's external evaluations")
    g.add_argument("--attack-precision", choices=PRECISIONS, default="fp32",
                   help="precision of the attacker's gradients only (bf16: autocast through the whole chain and its "
                        "replays; every verdict, clean and adversarial, stays fp32); recorded in every record")
    g.add_argument("--eot-batch", type=int, default=None,
                   help="EOT samples per forward call (default: all that fit in the free GPU memory for the grad "
                        "mode, measured by one probe gradient; all at once on the CPU); recorded in every record")
    g.add_argument("--estimate", action="store_true",
                   help="print the expected network evaluations and wall time (from a short timed probe), then exit "
                        "without running anything")


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threat", choices=list(THREATS), required=True,
                   help="Linf, L2 (eps-balls) or StAdv (Xiao et al.'s flow field, bound default 0.05 as the "
                        "paper's Table 5; runs the stadv attack only)")
    p.add_argument("--model", nargs="+", default=None,
                   help="entries (default: the MNIST demo entries), or one own defense as path/to/file.py:object "
                        "(an nn.Module from pixels in [0, 1] to logits, or a zero-argument callable returning one; "
                        "needs --name and --eps, budget: the published protocol unless set here)")
    p.add_argument("--name", default=None, help="own defense (--model file.py:object): the name its results go under")
    p.add_argument("--dataset", default="mnist", help="own defense: the test set it is evaluated on (default mnist)")
    _add_attack_options(p)
    _add_budget_options(p)
    _add_protocol_options(p)
    _add_execution_options(p)
    return p.parse_args(argv)


def attacks_of(args: argparse.Namespace) -> tuple[str, ...]:
    """The attacks ``--attack`` names, each family's members picked by ``--loss`` and ``--version``."""
    versions = ("standard", "rand") if args.version == "both" else (args.version,)
    allowed = {"loss": {args.loss}, "version": set(versions)}

    def picked(name: str) -> bool:
        return all(value in allowed.get(key, {value}) for key, value in spec(name).options.items())

    chosen: set[str] = set()
    for item in args.attack:
        if item == "all":
            chosen |= {n for n in default_attacks(args.threat) if picked(n)}
        elif item in families():
            chosen |= {n for n in families()[item] if picked(n)}
        else:
            chosen.add(item)
    return tuple(n for n in attack_names() if n in chosen)


def overrides_of(args: argparse.Namespace) -> dict:
    """The purification overrides given on the command line."""
    return {field: getattr(args, dest) for dest, field in PURIFICATION_FLAGS.items() if getattr(args, dest) is not None}


def protocol_of(args: argparse.Namespace) -> Protocol:
    """The one evaluation protocol the options describe (the run and --estimate use it as it is)."""
    budget = {key: getattr(args, key) for key in BUDGET_FLAGS if getattr(args, key) is not None}
    return Protocol(args.threat, attacks_of(args), eps=args.eps, budget=budget, headline=args.headline,
                    judge=args.judge, attacker_grad=args.attacker_grad, surrogate=args.surrogate,
                    overrides=overrides_of(args), seed=args.seed, subset_seed=args.subset_seed,
                    fixed_noise=args.fixed_noise)


def execution_of(args: argparse.Namespace) -> Execution:
    return Execution(shard=args.shard, resume=args.resume, merge_only=args.merge, grad_mode=args.grad_mode,
                     levers=tuple(args.levers), save_adversarial=args.save_adversarial,
                     attack_precision=args.attack_precision, eot_batch=args.eot_batch)


def own_defense_of(args: argparse.Namespace, names: list[str]) -> tuple[object, dict]:
    """``--model file.py:object``: the module and its description (name, dataset); else the names."""
    if any(is_module_file(n) for n in names):
        if len(names) != 1:
            raise ValueError("--model file.py:object takes one own defense, without other entries")
        if args.name is None or args.eps is None:
            raise ValueError("--model file.py:object needs --name and --eps (an own defense declares neither)")
        if args.estimate:
            raise ValueError("--estimate is for zoo entries, not an own defense")
        return load_module_file(names[0]), {"name": args.name, "dataset": args.dataset}
    if args.name is not None:
        raise ValueError("--name is for an own defense (--model path/to/file.py:object)")
    return names, {}


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    models, own = own_defense_of(args, args.model or zoo.list_models(dataset="mnist"))
    protocol, execution = protocol_of(args), execution_of(args)
    if args.estimate:
        print(estimate(models, protocol, device=args.device, grad_mode=execution.grad_mode,
                       levers=execution.levers))
        return 0
    written = benchmark(models, protocol, out=args.out, data_dir=args.data_dir, device=args.device,
                        execution=execution, **own)
    for path in written.values():
        print(f"wrote {path}")
    return 0
