"""What a benchmark run will cost, before running it: network evaluations and wall time.

``scripts/benchmark.py --estimate`` prints, per entry and attack, how many times the defended
model is called per example (forward-only calls and gradient calls, the benchmark's K
re-classifications of the clean and adversarial input included), what that means in network
evaluations (eps UNet, guidance net and classifier, forward and backward), and the wall time those
calls take on this machine, from a short timed probe of one forward and one gradient on a batch of
the run's size, up to :data:`PROBE_MAX_BATCH` (per-image cost falls with the batch: on the demo
network at batch 10 it is about a third of a single image's, so a one-image probe overestimated a
run threefold).

Counting rules (per example). Model calls per attack come from the attack catalogue
(:func:`zoo.attacks.catalogue.attack_calls`, AutoAttack's defense checks
:func:`~zoo.attacks.autoattack_catalogue.check_calls`), the K re-classifications from
:func:`zoo.running.draws.redraw_calls`. Network evaluations per model call follow the purifier
built for the entry (:func:`zoo.models.factory.diffusion_for`): with S reverse steps, of which
S' add noise and guidance (the chain's ``noisy_steps``: all but the last, of zero variance), and
guidance on or off (G = 1 or 0):

* forward only: S UNet forwards, G*(1 + S') guidance-net forwards (f(x') and each noisy step),
  G*S' guidance backwards (the guidance gradient), one classifier forward (two when the classifier
  also gives the label y).
* gradient: the same, with each step's UNet forward and guidance gradient run as many times as
  the grad mode runs them (:data:`zoo.models.purifier.RUNS_PER_STEP`), then S UNet backwards,
  G*S' double backwards through the guidance gradients (+G for f(x') under robust guidance) and a
  classifier backward.
* attacker gradients (``--attacker-grad``, :func:`attacker_evals`): forward-only calls are the
  real defense's; a gradient call is the chain's above for ``exact``, the surrogate chain's for
  ``surrogate``, a forward-only purification plus a classifier forward and backward for ``bpda``
  and a classifier forward and backward alone for ``blind`` (no backward through the chain).
* label-aware attacks (:func:`label_term_evals`): the label network's forward and backward once
  per PGD+EOT step, and alongside every AutoAttack gradient call (a Jacobian: one forward and a
  backward per class); it is the guidance net, or the classifier where it gives the label.
* StAdv: as PGD+EOT, steps x EOT gradient calls (the bilinear warp costs no network evaluation).
* the anytime protocol (:mod:`zoo.running.costs`): PGD+EOT's gradient calls as an ASSUMED break
  curve predicts them (how many examples break and how early is not known before the run; the
  estimate says so), its K-draw confirmations in place of the final verdict; the run's provenance
  records what was really spent.
* AutoAttack's calls include its repeated-draw decisions (:mod:`zoo.attacks.least_robust`): every
  gradient-free forward is made R times (R = 5), see the catalogue's docstrings.

The probe times a forward and a gradient at two short chain lengths and extrapolates linearly to
the entry's S, so it finishes in seconds even for the CIFAR-10 entries; it builds the architecture
with random weights (timing does not depend on them), so nothing is downloaded.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch

from ..attacks.autoattack_catalogue import check_calls
from ..attacks.calls import ModelCalls
from ..attacks.catalogue import autoattack_version, spec
from ..attacks.gradients import attacker_model
from ..models.factory import diffusion_for
from ..models.purifier import RUNS_PER_STEP
from ..models.speed import lever_flags
from ..registry.resolve import with_overrides
from ..registry.schema import Entry
from .costs import ASSUMED, BreakCurve, anytime_calls, final_calls

PROBE_MAX_BATCH = 8
"""The probe's batch is the run's, up to this: enough to amortise per-call overheads, small enough
that the probe stays seconds long and fits in memory (a CIFAR-10 gradient at the run's batch of 64
would not, on a CPU)."""


@dataclass
class NetworkEvals:
    """Network evaluations (per image) of some model calls."""

    unet_forward: int = 0
    unet_backward: int = 0
    guidance_forward: int = 0
    guidance_backward: int = 0
    guidance_double_backward: int = 0
    classifier_forward: int = 0
    classifier_backward: int = 0

    def __add__(self, other: "NetworkEvals") -> "NetworkEvals":
        return NetworkEvals(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def scaled(self, k: int) -> "NetworkEvals":
        return NetworkEvals(*(k * a for a in dataclasses.astuple(self)))


def chain_shape(entry: Entry) -> tuple[int, int, int, bool, bool]:
    """(S reverse steps, S' noisy steps, G guidance on/off, robust term on/off, label net separate)
    of an entry's purifier."""
    p = entry.purification
    if p is None:
        return 0, 0, 0, False, False
    chain = diffusion_for(entry)
    guided = p.pattern in ("plain", "robust")  # GDMP's guidance runs no network
    return (p.rounds * chain.num_steps, p.rounds * chain.noisy_steps, int(guided), p.pattern == "robust",
            guided and p.label == "classifier")


def forward_evals(entry: Entry) -> NetworkEvals:
    """One forward-only model call."""
    steps, noisy, g, _, label_net = chain_shape(entry)
    return NetworkEvals(unet_forward=steps, guidance_forward=g * (1 + noisy), guidance_backward=g * noisy,
                        classifier_forward=1 + int(label_net))


def gradient_evals(entry: Entry, grad_mode: str = "exact") -> NetworkEvals:
    """One gradient call (forward with a graph, then one backward) in ``grad_mode``."""
    steps, noisy, g, robust, label_net = chain_shape(entry)
    unet_runs, guidance_runs = RUNS_PER_STEP[grad_mode]
    return NetworkEvals(unet_forward=unet_runs * steps, unet_backward=steps,
                        guidance_forward=g * (1 + guidance_runs * noisy), guidance_backward=g * guidance_runs * noisy,
                        guidance_double_backward=g * (noisy + int(robust)),
                        classifier_forward=1 + int(label_net), classifier_backward=1)


def attacker_evals(entry: Entry, grad_mode: str = "exact", attacker_grad: str = "exact",
                   surrogate: dict | None = None) -> tuple[NetworkEvals, NetworkEvals]:
    """(the forward part, the whole) of one gradient call of the attacker gradient
    (:mod:`zoo.attacks.gradients`): ``exact``, the entry's chain; ``surrogate``, the surrogate
    chain's; ``bpda``, a forward-only purification and the classifier's forward and backward (no
    backward through the chain); ``blind``, the classifier's forward and backward alone."""
    if attacker_grad == "surrogate":
        entry = with_overrides(entry, **(surrogate or {}))
    if attacker_grad == "blind":
        return NetworkEvals(classifier_forward=1), NetworkEvals(classifier_forward=1, classifier_backward=1)
    if attacker_grad == "bpda":
        return forward_evals(entry), forward_evals(entry) + NetworkEvals(classifier_backward=1)
    return forward_evals(entry), gradient_evals(entry, grad_mode)


def jacobian_evals(entry: Entry, grad_mode: str, num_classes: int, attacker_grad: str = "exact",
                   surrogate: dict | None = None) -> NetworkEvals:
    """FAB's Jacobian: one gradient call's forward and ``num_classes`` backward passes (a backward
    pass: what a gradient call adds to its forward, recomputations included)."""
    fwd, grad = attacker_evals(entry, grad_mode, attacker_grad, surrogate)
    backward = NetworkEvals(*(g - f for g, f in zip(dataclasses.astuple(grad), dataclasses.astuple(fwd))))
    return fwd + backward.scaled(num_classes)


def network_evals(calls: ModelCalls, entry: Entry, grad_mode: str = "exact", attacker_grad: str = "exact",
                  surrogate: dict | None = None) -> NetworkEvals:
    """Network evaluations per image of ``calls``: forward-only calls on the real defense, gradient
    calls (and Jacobians) on the attacker gradient."""
    gradient = attacker_evals(entry, grad_mode, attacker_grad, surrogate)[1]
    return (forward_evals(entry).scaled(calls.forward) + gradient.scaled(calls.gradient)
            + jacobian_evals(entry, grad_mode, entry.num_classes, attacker_grad, surrogate).scaled(calls.jacobian))


@dataclass
class Probe:
    """Seconds per image of one forward-only call and one gradient call of the full chain."""

    forward: float
    gradient: float
    note: str

    def seconds(self, calls: ModelCalls, num_classes: int) -> float:
        backward = max(self.gradient - self.forward, 0.0)
        return (calls.forward * self.forward + calls.gradient * self.gradient
                + calls.jacobian * (self.gradient + (num_classes - 1) * backward))


def _timed(fn) -> float:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _probe_once(entry: Entry, device: torch.device, grad_mode: str, levers: tuple[str, ...] = (),
                batch: int = 1, repeats: int = 2, attacker: tuple[str, dict | None] = ("exact", None)
                ) -> tuple[float, float]:
    """Seconds per image of one forward and one gradient of ``entry`` (random weights) on a batch
    of ``batch`` random images, the least of ``repeats`` tries (a shared machine's hiccups only ever
    add time). The gradient is the ``attacker`` gradient's: (mode, surrogate settings)."""
    from ..models.factory import create_model

    model = create_model(entry, device=device, pretrained=False, grad_mode=grad_mode, **lever_flags(levers))
    x = torch.rand(batch, *entry.input_shape, device=device)
    differentiated = model if attacker[0] == "exact" else attacker_model(model, attacker[0], **(attacker[1] or {}))

    def gradient():
        xg = x.clone().requires_grad_(True)
        torch.autograd.grad(differentiated(xg).sum(), xg)

    with torch.no_grad():
        model(x)  # warm-up: first-call costs are not per-image costs
        forward = min(_timed(lambda: model(x)) for _ in range(repeats))
    return forward / batch, min(_timed(gradient) for _ in range(repeats)) / batch


def probe(entry: Entry, device: torch.device, grad_mode: str = "exact", levers: tuple[str, ...] = (),
          batch: int = 1, attacker: tuple[str, dict | None] = ("exact", None)) -> Probe:
    """Per-image seconds of a forward and a gradient call of ``entry``'s full chain on batches of
    ``batch`` images, measured at two short chain lengths (2 and 3 steps) and extrapolated linearly
    to its length; the gradient is the ``attacker`` gradient's (mode, surrogate settings)."""
    steps = chain_shape(entry)[0]
    ablation = {} if attacker[0] == "exact" else {"attacker": attacker}
    if steps <= 3:
        forward, gradient = _probe_once(entry, device, grad_mode, levers, batch, **ablation)
        return Probe(forward, gradient, f"batch {batch}, measured at the full chain ({steps} steps)")
    short = [with_overrides(entry, steps=s) for s in (2, 3)]
    (f2, g2), (f3, g3) = (_probe_once(e, device, grad_mode, levers, batch, **ablation) for e in short)
    forward = f2 + (steps - 2) * max(f3 - f2, 0.0)
    gradient = g2 + (steps - 2) * max(g3 - g2, 0.0)
    return Probe(forward, gradient, f"batch {batch}, extrapolated from 2- and 3-step chains to {steps} steps")


@dataclass
class Estimate:
    """The cost of one (entry, attack) of a benchmark run."""

    model: str
    attack: str
    n_examples: int
    calls: ModelCalls  # per example, re-classification draws included
    evals: NetworkEvals  # per example
    seconds: float  # all examples
    upper_bound: bool
    assumed: bool = False  # anytime: predicted from an assumed break curve


def label_term_evals(entry: Entry, attack: str, calls: ModelCalls, pgd_steps: int) -> NetworkEvals:
    """What a label-aware ``attack`` adds per example beside ``calls`` (its model calls): the
    label network's gradient once per PGD+EOT step, or with every AutoAttack gradient call (one
    forward and one backward; a Jacobian: one forward and a backward per class). Nothing for the
    other attacks. Counted, not timed: the probe times the chain alone (a label network is a
    classifier, on the demo about 1% of a chain gradient's time)."""
    declared = spec(attack)
    if not declared.label_aware:
        return NetworkEvals()
    if declared.label_term == "step":
        forward = backward = pgd_steps
    else:
        forward, backward = calls.gradient + calls.jacobian, calls.gradient + calls.jacobian * entry.num_classes
    if chain_shape(entry)[4]:  # the classifier gives the label
        return NetworkEvals(classifier_forward=forward, classifier_backward=backward)
    return NetworkEvals(guidance_forward=forward, guidance_backward=backward)


def estimate_entry(entry: Entry, settings, probe_result: Probe, grad_mode: str = "exact",
                   curve: BreakCurve = ASSUMED) -> list[Estimate]:
    """Estimates for every attack of ``settings`` (a :class:`zoo.running.settings.Settings`) on
    ``entry``; under the anytime protocol an attack with iterates is predicted from ``curve``, an
    assumed break curve (:func:`~zoo.running.costs.anytime_calls`)."""
    out = []
    for attack in settings.attacks:
        judged = settings.protocol == "anytime" and spec(attack).anytime
        calls = anytime_calls(attack, settings, curve) if judged else final_calls(attack, settings)
        seconds = settings.n_examples * probe_result.seconds(calls, entry.num_classes)
        version = autoattack_version(attack)
        if version is not None:
            batches = -(-settings.n_examples // settings.batch_size)
            first = min(settings.batch_size, settings.n_examples)
            seconds += batches * check_calls(version) * first * probe_result.forward
        evals = (network_evals(calls, entry, grad_mode, settings.attacker_grad, settings.surrogate)
                 + label_term_evals(entry, attack, calls, settings.pgd_steps))
        out.append(Estimate(entry.name, attack, settings.n_examples, calls, evals, seconds,
                            version is not None, judged))
    return out


def human(seconds: float) -> str:
    """Seconds as the largest sensible unit: '42 s', '3.5 min', '2.1 h', '4.0 days'."""
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def format_estimates(estimates: list[Estimate], probes: dict[str, Probe], device: torch.device) -> str:
    """The table ``--estimate`` prints."""
    lines = [f"Cost estimate on {device} (nothing has been run; probe: the run's batch size, random weights)"]
    for name, p in probes.items():
        lines.append(f"  {name}: {p.forward:.3g} s per forward, {p.gradient:.3g} s per gradient, per image ({p.note})")
    header = (f"{'model':24s} {'attack':25s} {'n':>5s} {'fwd calls':>10s} {'grad calls':>10s} {'UNet fwd':>10s} "
              f"{'UNet bwd':>10s} {'guide fwd':>10s} {'guide bwd':>10s} {'guide 2xbwd':>11s} {'time':>10s}")
    lines += ["", "per example:" + " " * 40 + "(calls and network evaluations per example; time for all)", header]
    total = 0.0
    for e in estimates:
        calls = e.calls.gradient + e.calls.jacobian
        mark = " (assumed curve)" if e.assumed else " (upper bound)" if e.upper_bound else ""
        lines.append(f"{e.model:24s} {e.attack:25s} {e.n_examples:5d} {e.calls.forward:10d} {calls:10d} "
                     f"{e.evals.unet_forward:10d} {e.evals.unet_backward:10d} {e.evals.guidance_forward:10d} "
                     f"{e.evals.guidance_backward:10d} {e.evals.guidance_double_backward:11d} "
                     f"{human(e.seconds):>10s}{mark}")
        total += e.seconds
    lines += ["", f"expected wall time: about {human(total)} (upper bounds: AutoAttack skips examples it has "
                  "broken)"]
    if any(e.assumed for e in estimates):
        lines.append(f"anytime rows: {ASSUMED.describe()}; the run records the calls it really spent")
    return "\n".join(lines)


def estimate(names: list[str], protocol, attacks=None, *, device=None, grad_mode: str = "exact",
             levers: tuple[str, ...] = (), **fields) -> str:
    """Probe each entry and return the printed estimate for a benchmark of ``names`` under
    ``protocol`` (a :class:`~zoo.running.protocol.Protocol`): its overrides change every purifying
    entry's chain as in the run itself, and entries without a purifier are attacked with the exact
    gradient, as the benchmark does (one planning rule, :func:`zoo.running.benchmark.planned`).
    ``protocol`` may also be a threat with the protocol's fields as keywords, as for the run."""
    from ..common.devices import default_device
    from ..registry.resolve import get_entry
    from .benchmark import planned
    from .protocol import protocol_of

    protocol = protocol_of(protocol, attacks, **fields)
    device = torch.device(device) if device is not None else default_device()
    entries, settings = planned({name: get_entry(name) for name in names}, protocol, own=False)
    estimates, probes = [], {}
    for (name, entry), s in zip(entries.items(), settings):
        gradient = (s.attacker_grad, s.surrogate)
        ablation = {} if gradient[0] == "exact" else {"attacker": gradient}
        probes[name] = probe(entry, device, grad_mode, levers, min(s.batch_size, s.n_examples, PROBE_MAX_BATCH),
                             **ablation)
        estimates += estimate_entry(entry, s, probes[name], grad_mode)
    return format_estimates(estimates, probes, device)
