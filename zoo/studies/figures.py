"""The paper's Fig. 4 for an entry: clean test images, their PGD+EOT adversarial examples and both
purified, each titled with the defended model's prediction (one seeded draw), saved as a PNG with
a JSON record of the command, commit, seed, attack settings and predictions beside it."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from ..attacks.catalogue import build_attack
from ..common.devices import device_of
from ..common.provenance import provenance
from ..data import load_test_set
from ..running.protocol import settings_for
from ..models.factory import create_model
from ..registry.resolve import get_entry


def panels(name: str, threat: str, eps: float | None, n: int, seed: int, data_dir: str, device) -> dict:
    """Clean, adversarial and purified images with the model's predictions, and the settings.
    A plain classifier (nothing purified to show) is a ``ValueError``."""
    entry = get_entry(name)
    if entry.purification is None:
        raise ValueError(f"{name} is a plain classifier: there is nothing purified to show")
    settings = settings_for(entry, threat, ("pgd-eot",), eps=eps, n_examples=n, seed=seed)
    model = create_model(entry, device=device)
    x, y, _ = load_test_set(entry.dataset, n, data_dir)
    device = device_of(model)
    x, y = x.to(device), y.to(device)
    torch.manual_seed(seed)
    x_adv = build_attack("pgd-eot", model, norm=threat, eps=settings.eps, seed=seed, budget=settings)(x, y)
    gen = lambda: torch.Generator(device=device).manual_seed(seed)  # noqa: E731 - one seeded draw each
    with torch.no_grad():
        rows = {"clean": x, "adversarial": x_adv, "purified adversarial": model.purify(x_adv, gen()),
                "purified clean": model.purify(x, gen())}
        preds = {"clean": model(x, gen()), "adversarial": model(x_adv, gen())}
    preds = {k: v.argmax(1).cpu() for k, v in preds.items()}
    return {"rows": {k: v.cpu() for k, v in rows.items()}, "labels": y.cpu(), "preds": preds, "settings": settings,
            "device": device}


def draw(result: dict, title: str, out: Path) -> None:
    """The grid of :func:`panels`' rows as a PNG: green titles where the prediction is right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, labels = result["rows"], result["labels"]
    n = len(labels)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.5 * len(rows)), squeeze=False)
    for r, (row_name, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r][c]
            image = images[c].permute(1, 2, 0).squeeze(-1).numpy()
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            source = "clean" if "clean" in row_name else "adversarial"
            pred = int(result["preds"][source][c])
            if row_name in result["preds"]:
                ax.set_title(f"pred {pred}", fontsize=8, color="green" if pred == int(labels[c]) else "red")
            if c == 0:
                ax.set_ylabel(row_name, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def save_figure(result: dict, name: str, threat: str, seed: int, out: Path) -> Path:
    """Draw :func:`panels`' ``result`` into ``out`` (PNG) titled with its settings, and write the
    provenance, labels and predictions beside it (``out`` with ``.json``). Returns ``out``."""
    s = result["settings"]
    title = (f"{name}: {threat} eps={s.eps:g}, PGD+EOT {s.pgd_steps} steps x {s.pgd_eot} EOT"
             f"{' (REDUCED budget)' if s.reduced else ''}; labels {result['labels'].tolist()}")
    draw(result, title, out)
    record = provenance(result["device"], seed=seed,
                        settings=dataclasses.asdict(s), labels=result["labels"].tolist(),
                        predictions={k: v.tolist() for k, v in result["preds"].items()})
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return out
