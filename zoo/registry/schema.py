"""The registry's schema: frozen, validated dataclasses (:class:`Entry` and its parts), pure data.

Every zoo entry is declared once in ``checkpoints.yaml`` (shipped inside the package). Parsing is strict:
an unknown key, a missing field or a bad value raises :class:`RegistryError` naming the entry and
the field, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping


Pattern = Literal["none", "plain", "robust", "gdmp"]
Distance = Literal["kl", "mse", "cosine", "ssim"]
GDMP_DISTANCES = ("mse", "ssim")
LOGIT_DISTANCES = ("kl", "mse", "cosine")
LabelSource = Literal["guidance", "classifier"]
Backend = Literal["ddpm", "vpsde"]
Sampler = Literal["sde", "ode"]
BALL_THREATS = ("Linf", "L2")
"""Threats that are eps-balls around the input (eps: the radius in pixel space [0, 1])."""
THREATS = (*BALL_THREATS, "StAdv")
"""Every threat model: the balls, and StAdv (Xiao et al.'s flow field; eps: its bound, the largest
displacement of a pixel in normalised coordinates, the AGDM paper's Table 5: 0.05)."""
DATASETS = ("mnist", "cifar10", "cifar100")
OWN_DATA = "own"
"""The dataset of an own defense evaluated on examples of its own (``data=(x, y)``): no test set holds them."""


class RegistryError(ValueError):
    """A malformed entry in ``checkpoints.yaml``; the message names the entry and the field."""


class UnknownEntryError(KeyError):
    """A name that is not in the registry; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@dataclass(frozen=True)
class Component:
    """One network of an entry: which architecture to build and where its weights come from.

    Attributes:
        arch: an architecture known to :mod:`zoo.models.nets` (``diffusers-unet2d``, ``small-cnn``,
            ``robustbench``, ...).
        source: ``hf://org/repo[/path]@rev``, ``robustbench://dataset/threat/Name``,
            ``gdrive://FILE_ID/filename``, ``zoo://path`` (a file shipped in this package),
            ``user://path`` (weights with no public download, supplied under the zoo cache) or
            ``file:///abs/path``.
        sha256: checksum of the weights file, checked after download (of a RobustBench model
            stored as several files: of their bytes in order, ``cat FILES | sha256sum``).
        config: keyword arguments of the architecture (for ``diffusers-unet2d``, the UNet config,
            checked against the downloaded ``config.json``).
        note: for weights with no public download (``user://`` sources), what the file must hold
            and how to make it; added to the error when it is missing.
    """

    arch: str
    source: str
    sha256: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        if self.sha256 is not None and (len(self.sha256) != 64 or not _is_hex(self.sha256)):
            raise ValueError(f"sha256 must be 64 hex digits, got {self.sha256!r}")


@dataclass(frozen=True)
class Schedule:
    """The DDPM beta schedule the diffusion model was trained with (linear, Ho et al. 2020)."""

    num_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self) -> None:
        if self.num_timesteps < 1:
            raise ValueError("num_timesteps must be >= 1")
        if not 0 < self.beta_start < self.beta_end < 1:
            raise ValueError("need 0 < beta_start < beta_end < 1")


@dataclass(frozen=True)
class Purification:
    """How the reverse chain runs (Algorithm 1 of the paper).

    Attributes:
        t_star: forward steps the input is diffused (paper: 70; 100 for PGD+EOT; 125 for ResNet-50).
        scale: guidance scale s (paper: 1.0).
        pattern: ``none`` (DiffPure), ``plain`` (classifier guidance with log p(y|x_t) only) or
            ``robust`` (AGDM: both terms, robust guidance net) or ``gdmp`` (GDMP, Wang et al. 2022:
            towards the input diffused to each step; no network, no label).
        distance: D between guidance logits of x' and x_t: ``kl`` (KL of the softmaxes, as in the
            guidance net's TRADES training), ``mse`` or ``cosine`` of the logits; for ``gdmp``, D
            between the images x_t and x'_t: ``mse`` (GDMP's default) or ``ssim`` (1 - SSIM).
        rounds: diffuse-then-purify rounds, each from the previous round's output (GDMP's
            schedule, e.g. 4 rounds of t* = 36 on CIFAR-10); 1 for a single chain.
        label: where y comes from: the guidance net's (``guidance``) or the classifier's
            (``classifier``) prediction on the input x'.
        steps: reverse steps run (respaced evenly over t*..1); default t*, the plain DDPM chain.
        max_trained_t: the largest t the diffusion model was trained on (a demo DM trained on small
            t only); t_star may not exceed it.
        backend: ``ddpm`` (the discrete chain, Algorithm 1) or ``vpsde`` (the continuous VP-SDE of
            the same schedule, beta(t) = N * beta_t, reversed by Euler-Maruyama, Eq. 18; t* is
            then t_star / N, DiffPure's ``--t``, and ``steps`` defaults to dt = 1/N).
        sampler: with ``vpsde``, ``sde`` (Euler-Maruyama on the reverse SDE, DiffPure's) or ``ode``
            (Euler on the probability-flow ODE, guidance in the score likewise: no noise in the
            reverse chain, deterministic given x_{t*}).
    """

    t_star: int
    scale: float = 1.0
    pattern: Pattern = "robust"
    distance: Distance = "kl"
    label: LabelSource = "guidance"
    steps: int | None = None
    max_trained_t: int | None = None
    schedule: Schedule = field(default_factory=Schedule)
    backend: Backend = "ddpm"
    sampler: Sampler = "sde"
    rounds: int = 1

    def __post_init__(self) -> None:
        limit = min(self.schedule.num_timesteps, self.max_trained_t or self.schedule.num_timesteps)
        if not 1 <= self.t_star <= limit:
            raise ValueError(f"t_star must be in [1, {limit}], got {self.t_star}")
        if self.steps is not None and not 1 <= self.steps <= self.t_star:
            raise ValueError(f"steps must be in [1, t_star={self.t_star}], got {self.steps}")
        if self.scale < 0:
            raise ValueError(f"scale must be >= 0, got {self.scale}")
        if self.backend not in typing.get_args(Backend):
            raise ValueError(f"backend must be one of {list(typing.get_args(Backend))}, got {self.backend!r}")
        if self.sampler not in typing.get_args(Sampler):
            raise ValueError(f"sampler must be one of {list(typing.get_args(Sampler))}, got {self.sampler!r}")
        if self.sampler == "ode" and self.backend != "vpsde":
            raise ValueError("sampler 'ode' (the probability-flow ODE) needs backend 'vpsde'")
        self._check_guidance_settings()

    def _check_guidance_settings(self) -> None:
        """The pattern, its distance and the rounds agree."""
        if self.pattern not in typing.get_args(Pattern):
            raise ValueError(f"pattern must be one of {list(typing.get_args(Pattern))}, got {self.pattern!r}")
        allowed = GDMP_DISTANCES if self.pattern == "gdmp" else LOGIT_DISTANCES
        if self.pattern != "none" and self.distance not in allowed:
            raise ValueError(f"pattern {self.pattern!r} takes distance one of {list(allowed)}, got {self.distance!r}")
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(f"rounds must be an integer >= 1, got {self.rounds!r}")

    @property
    def num_steps(self) -> int:
        return self.steps or self.t_star


@dataclass(frozen=True)
class Budget:
    """The attack budget an entry is benchmarked with unless the command line says otherwise.

    Attributes:
        reduced: True when this is less than the published protocol; every output then says so.
        n_examples: test examples evaluated (the first N, as RobustBench).
        draws: K, independent purifications every clean and adversarial example is judged by.
        pgd_steps, pgd_eot: PGD+EOT iterations and EOT samples (Lee & Kim: 200 and 20).
        pgd_step_fraction: PGD step as a fraction of eps (default: the attack's own, 0.007 for
            Linf, which suits 200 steps at 8/255; a reduced budget needs larger steps).
        autoattack: overrides of AutoAttack's sub-attack settings (empty: AutoAttack's own).
        batch_size: examples attacked at once.
    """

    reduced: bool = False
    n_examples: int = 512
    draws: int = 10
    pgd_steps: int = 200
    pgd_eot: int = 20
    pgd_step_fraction: float | None = None
    autoattack: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int = 64

    def __post_init__(self) -> None:
        for name in ("n_examples", "draws", "pgd_steps", "pgd_eot", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Entry:
    """One zoo entry: a classifier, optionally behind a (guided) diffusion purifier.

    Attributes:
        name: the registry key, as passed to :func:`zoo.load`.
        dataset: ``mnist``, ``cifar10`` or ``cifar100`` (:data:`OWN_DATA` for an own defense
            evaluated on its own examples, which no test set holds).
        input_shape: the shape of one input ``forward`` accepts: (channels, height, width) for a
            purifying entry, any positive ints for a plain classifier (an own defense's data).
        num_classes: logits returned.
        classifier: the network that classifies the purified images.
        diffusion: the pretrained diffusion model (``None`` for a plain classifier).
        guidance: the guidance net f_phi (``None`` for pattern ``none``, or for ``plain`` where
            the classifier guides itself).
        purification: reverse-chain settings (``None`` for a plain classifier).
        threats: default eps per threat model (``Linf``, ``L2``).
        budget: the default attack budget of ``scripts/benchmark.py``.
        description: one line for listings and model cards.
    """

    name: str
    dataset: str
    input_shape: tuple[int, ...]
    num_classes: int
    classifier: Component
    threats: Mapping[str, float]
    diffusion: Component | None = None
    guidance: Component | None = None
    purification: Purification | None = None
    budget: Budget = field(default_factory=Budget)
    description: str = ""

    def __post_init__(self) -> None:
        if self.dataset not in (*DATASETS, OWN_DATA):
            raise ValueError(f"dataset must be one of {DATASETS} (or {OWN_DATA!r}: own examples), got {self.dataset!r}")
        if len(self.input_shape) < 1 or min(self.input_shape) < 1:
            raise ValueError(f"input_shape must be positive ints, got {self.input_shape}")
        if self.diffusion is not None and len(self.input_shape) != 3:
            raise ValueError(f"a purifying entry's input_shape must be 3 positive ints (C, H, W), got {self.input_shape}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        for threat, eps in self.threats.items():
            if threat not in THREATS or eps <= 0:
                raise ValueError(f"threats: need {THREATS} -> eps > 0, got {threat}: {eps}")
        if (self.diffusion is None) != (self.purification is None):
            raise ValueError("diffusion and purification must be given together")
        pattern = self.purification.pattern if self.purification else "none"
        if pattern == "robust" and self.guidance is None:
            raise ValueError("pattern 'robust' needs a guidance net")
        if pattern in ("none", "gdmp") and self.guidance is not None:
            raise ValueError(f"pattern {pattern!r} takes no guidance net")


@dataclass(frozen=True)
class BundleRef:
    """An entry published as a bundle (``scripts/publish.py``), declared by where it lives:
    ``name: {bundle: hf://org/repo@revision, dataset: cifar10}``. The bundle's own config.json
    says the rest; it is read when the entry is loaded.
    """

    name: str
    bundle: str
    dataset: str
    description: str = ""

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset must be one of {DATASETS}, got {self.dataset!r}")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text.lower())


def _build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a YAML mapping, naming ``where`` in every error."""
    if not isinstance(data, Mapping):
        raise RegistryError(f"{where}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise RegistryError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RegistryError(f"{where}: missing required field {name!r}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise RegistryError(f"{where}: {err}") from None


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check ``value`` against a type hint, turning nested mappings into dataclasses."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, where)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is Literal:
        if value not in args:
            raise RegistryError(f"{where}: must be one of {list(args)}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise RegistryError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(args[0], v, where) for v in value)
    if origin in (collections.abc.Mapping, dict):
        if not isinstance(value, Mapping):
            raise RegistryError(f"{where}: expected a mapping, got {value!r}")
        if args and args[1] is float:
            return types.MappingProxyType({k: _coerce(float, v, f"{where}.{k}") for k, v in value.items()})
        return types.MappingProxyType(dict(value))
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RegistryError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint in (int, str):
        if isinstance(value, bool) or not isinstance(value, hint):
            raise RegistryError(f"{where}: expected {hint.__name__}, got {value!r}")
        return value
    return value


def parse_registry(data: Any, where: str = "checkpoints.yaml") -> dict[str, Entry | BundleRef]:
    """Validate a parsed YAML document (name -> entry mapping) into entries."""
    if not isinstance(data, Mapping) or not data:
        raise RegistryError(f"{where}: expected a non-empty mapping of entry names")
    entries = {}
    for name, body in data.items():
        if str(name).startswith("."):  # YAML anchors live under dotted keys
            continue
        if not isinstance(body, Mapping) or "name" in body:
            raise RegistryError(f"{where}: entry {name!r}: expected a mapping without a 'name' key")
        cls = BundleRef if "bundle" in body else Entry
        entries[name] = _build(cls, {"name": name, **body}, f"entry {name!r}")
    return entries
