"""How a run is carried out, as opposed to what it measures (:mod:`zoo.running.protocol`):
:class:`Execution`, built once at the edge and passed down whole."""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..models.precision import check_precision
from ..models.purifier import check_grad_mode
from ..models.speed import check_levers


@dataclass(frozen=True)
class Execution:
    """How a run is carried out; none of it changes a number.

    Attributes:
        shard: evaluate only slice ``(i, n)``; ``None``: all (or one shard per torchrun rank).
        resume: continue the journaled run (the same protocol; anything else is refused).
        merge_only: write the tables from finished shard journals, attack nothing.
        progress: progress bars on stderr.
        grad_mode: how the exact gradient is computed through the chain (``exact``, ``checkpoint``,
            ``recompute``: the same gradients, the latter two in memory flat in t*).
        levers: GPU speed levers (``channels_last``, ``compile_unet``, ``tf32``; the same function up to
            TF32 rounding).
        save_adversarial: keep every attack's adversarial examples and write them per entry and
            attack in test-set order (:mod:`zoo.running.adversarial`). An execution option: it
            changes no number, so a journal resumes with or without it.
        attack_precision: the attacker gradients' precision (``fp32``, the default, or ``bf16``:
            :mod:`zoo.models.precision`); every verdict, clean and adversarial, stays fp32.
        eot_batch: EOT samples per forward call; ``None``: all at once where they fit in the free
            CUDA memory, else as many as fit (:mod:`zoo.running.sizing`; all at once on the CPU).
    """

    shard: tuple[int, int] | None = None
    resume: bool = False
    merge_only: bool = False
    progress: bool = True
    grad_mode: str = "exact"
    levers: tuple[str, ...] = field(default_factory=tuple)
    save_adversarial: bool = False
    attack_precision: str = "fp32"
    eot_batch: int | None = None

    def __post_init__(self) -> None:
        check_grad_mode(self.grad_mode)
        check_precision(self.attack_precision)
        object.__setattr__(self, "levers", check_levers(tuple(self.levers)))


EXECUTION_FIELDS = tuple(f.name for f in fields(Execution))
"""The keywords ``run_benchmark`` takes for an :class:`Execution` field by field."""
