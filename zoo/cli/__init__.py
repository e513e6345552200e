"""The command line: ``agdm-zoo <command> [options]`` (also ``python -m zoo <command>``).

One module per command, each an argparse parser plus a call into the library and nothing else;
``scripts/<command>.py`` run the same command through :func:`run` (``train-dm`` is
``scripts/train_dm.py``, and so on). A command's module is imported only when it runs, so
``agdm-zoo --help`` is quick.

CPU threads are chosen here too, once for every command, before it runs (:mod:`zoo.common.threads`:
``--threads N`` anywhere on the command line, ``AGDM_ZOO_THREADS``, else the default).

Errors are handled here, once for every command: the zoo's own errors (a missing weights file, a
bad setting, an unknown entry, a refused resume, a file that exists or is missing) end the command
with one line, ``agdm-zoo <command>: error: <message>``, and exit status 2; ``--debug`` (anywhere
on the command line) or ``AGDM_ZOO_DEBUG=1`` shows the traceback instead. Anything else (a bug) is
a traceback.

May import anything in the zoo (the top layer).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

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
    "compare-runs": ("compare_runs", "two runs of the same entries compared example by example (paired)"),
    "rank-attacks": ("rank_attacks", "a finished run's attacks ranked per entry, lowest accuracy first (paired)"),
}


DEBUG_FLAG, DEBUG_ENV = "--debug", "AGDM_ZOO_DEBUG"
USER_ERRORS = (ValueError, KeyError, FileExistsError, FileNotFoundError)
"""Built-in errors the zoo raises to tell the user something: validation, unknown names, files."""
ZOO_DIR = Path(__file__).resolve().parent.parent


def overview() -> argparse.ArgumentParser:
    """The top-level parser: it only names the commands (each command parses its own options)."""
    listing = "\n".join(f"  {name:17s} {summary}" for name, (_, summary) in COMMANDS.items())
    p = argparse.ArgumentParser(prog="agdm-zoo", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="agdm-zoo: a model zoo for diffusion-based adversarial purification.",
                                epilog=f"commands:\n{listing}\n\n'agdm-zoo <command> --help' shows a command's options; "
                                       f"{DEBUG_FLAG} (or {DEBUG_ENV}=1) shows the traceback of an error; --threads N (or "
                                       "AGDM_ZOO_THREADS) sets the CPU threads.")
    p.add_argument("command", choices=list(COMMANDS), metavar="command", help="the command to run (listed below)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``argv[0]``'s command with the rest of ``argv``; its exit status is returned."""
    argv = list(sys.argv[1:] if argv is None else argv)
    rest = [a for a in argv if a != DEBUG_FLAG]
    if rest and rest[0] in COMMANDS:
        return run(rest[0], rest[1:], debug=DEBUG_FLAG in argv)
    overview().parse_args(rest[:1])  # prints the overview (--help) or a clear error, and exits
    return 2


def run(command: str, argv: list[str] | None = None, prog: str | None = None, debug: bool = False) -> int:
    """Run one command (``agdm-zoo COMMAND``, or ``scripts/COMMAND.py`` with ``prog`` its file
    name) with ``argv`` (default: this process's arguments); its exit status is returned. The
    zoo's own errors become one line on stderr and exit status 2 unless ``--debug`` is in ``argv``,
    ``debug`` is set or ``AGDM_ZOO_DEBUG=1``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug or DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    prog = prog or f"agdm-zoo {command}"
    try:
        argv, threads = take_threads_flag([a for a in argv if a != DEBUG_FLAG])
        configure_threads(threads)
    except ValueError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"{__name__}.{COMMANDS[command][0]}")
    try:
        return module.main(argv, prog=prog) or 0
    except Exception as err:
        if debug or not is_zoo_error(err):
            raise
        print(f"{prog}: error: {message(err)}", file=sys.stderr)
        return 2


def is_zoo_error(err: BaseException) -> bool:
    """Whether ``err`` is one the zoo raises to tell the user something (a traceback would only
    hide it): a :data:`USER_ERRORS` kind, a class of the zoo's own (``SourceError``, ``Locked``,
    ...), or a ``RuntimeError`` raised by the zoo's code."""
    own_class = any(cls.__module__.partition(".")[0] == __package__.partition(".")[0] for cls in type(err).__mro__)
    return isinstance(err, USER_ERRORS) or own_class or (isinstance(err, RuntimeError) and _raised_in_zoo(err))


def _raised_in_zoo(err: BaseException) -> bool:
    """Whether the innermost frame of ``err``'s traceback is the zoo's code."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and ZOO_DIR in Path(tb.tb_frame.f_code.co_filename).resolve().parents


def message(err: BaseException) -> str:
    """The error's text (a KeyError's without the quotes ``str`` adds)."""
    if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        return err.args[0]
    return str(err) or type(err).__name__
