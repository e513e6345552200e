"""The command line: ``agdm-zoo <command> [options]`` (also ``python -m zoo <command>``).

One module per command, each an argparse parser plus a call into the library and nothing else;
``scripts/<command>.py`` run the same ``main`` (``train-dm`` is ``scripts/train_dm.py``, and so on).
A command's module is imported only when it runs, so ``agdm-zoo --help`` is quick.

May import anything in the zoo (the top layer).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..common.threads import configure_threads, take_threads_flag

# command -> (module under zoo.cli, one line for the overview)
COMMANDS = {
    "benchmark": ("benchmark", "attack entries (AutoAttack, PGD+EOT) and write the leaderboard tables"),
    "download": ("download", "fetch every file of the given entries into the caches, for offline use"),
    "publish": ("publish", "write an entry as a bundle with a model card and upload it to the Hub"),
    "show": ("show", "save the paper's Fig. 4 for an entry: clean, adversarial and purified images"),
    "evaluate": ("evaluate", "clean accuracy of entries on the MNIST demo test split"),
    "train-guidance": ("train_guidance", "train a classifier or a robust guidance net with Eq. 6 (TRADES)"),
    "train-dm": ("train_dm", "train the demo's small DDPM, resumable from per-step checkpoints"),
    "lambda-sweep": ("lambda_sweep", "the guidance net's lambda against accuracy and robustness (Fig. 3c)"),
    "scale-sweep": ("scale_sweep", "the guidance scale s against accuracy and robustness, on validation digits"),
    "diagnose": ("diagnose", "what the guidance does, per reverse step and end to end, for one entry"),
    "site": ("site", "build the static leaderboard website from the results folders"),
    "submit-kit": ("submit_kit", "prepare a RobustBench submission for an entry from its newest results"),
    "reproduce": ("reproduce", "rerun one of the paper's tables and write our numbers beside the paper's"),
    "sanity": ("sanity", "gradient-masking checks: can a defense's robust accuracy be trusted?"),
    "rejudge": ("rejudge", "re-classify stored adversarial examples (--save-adversarial) with fresh draws"),
    "gradient-ablation": ("gradient_ablation", "robust accuracy under each attacker gradient (exact, bpda, ...)"),
}


def overview() -> argparse.ArgumentParser:
    """The top-level parser: it only names the commands (each command parses its own options)."""
    listing = "\n".join(f"  {name:17s} {summary}" for name, (_, summary) in COMMANDS.items())
    p = argparse.ArgumentParser(prog="agdm-zoo", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="agdm-zoo: a model zoo for diffusion-based adversarial purification.",
                                epilog=f"commands:\n{listing}\n\n'agdm-zoo <command> --help' shows a command's options. "
                                       "Every command takes --threads N (CPU threads; default 1, or "
                                       "AGDM_ZOO_THREADS).")
    p.add_argument("command", choices=list(COMMANDS), metavar="command", help="the command to run (listed below)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``argv[0]``'s command with the rest of ``argv``; its exit status is returned. First the
    CPU threads are chosen (:mod:`zoo.common.threads`: one by default; ``--threads N`` anywhere in
    ``argv``, or ``AGDM_ZOO_THREADS``, overrides it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, threads = take_threads_flag(argv)
        configure_threads(threads)
    except ValueError as err:
        print(f"agdm-zoo: error: {err}", file=sys.stderr)
        return 2
    if argv and argv[0] in COMMANDS:
        module = importlib.import_module(f"{__name__}.{COMMANDS[argv[0]][0]}")
        return module.main(argv[1:], prog=f"agdm-zoo {argv[0]}") or 0
    overview().parse_args(argv[:1])  # prints the overview (--help) or a clear error, and exits
    return 2
