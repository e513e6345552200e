"""Save a PNG grid of clean, adversarial and purified images of a zoo entry (the paper's Fig. 4).

    python scripts/show.py agdm-tiny-mnist
    python scripts/show.py agdm-tiny-mnist --threat L2 --n 6 --out leaderboard/figures/agdm-l2.png

Rows: clean test images, their PGD+EOT adversarial examples (the entry's budget and eps), the
adversarial examples after purification, and the clean images after purification; each image is
titled with the defended model's prediction (one seeded draw). A JSON file beside the PNG records
the command, commit, seed and attack settings.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import zoo  # noqa: E402
from zoo.attacks.catalogue import build_attack
from zoo.evaluation.settings import settings_for  # noqa: E402
from zoo.data import load_test_set  # noqa: E402
from zoo.common.devices import device_of  # noqa: E402
from zoo.common.provenance import provenance  # noqa: E402
from zoo.registry import get_entry  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="zoo entry (with a purifier)")
    p.add_argument("--threat", choices=["Linf", "L2"], default="Linf")
    p.add_argument("--eps", type=float, default=None, help="default: the entry's")
    p.add_argument("--n", type=int, default=8, help="test images shown")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--device", default=None)
    p.add_argument("--out", type=Path, default=None, help="PNG (default: leaderboard/figures/NAME_THREAT.png)")
    return p.parse_args(argv)


def panels(name: str, threat: str, eps: float | None, n: int, seed: int, data_dir: str, device) -> dict:
    """Clean, adversarial and purified images with the model's predictions, and the settings."""
    entry = get_entry(name)
    if entry.purification is None:
        raise SystemExit(f"show.py: error: {name} is a plain classifier: there is nothing purified to show")
    settings = settings_for(entry, threat, ("pgd-eot",), eps=eps, n_examples=n, seed=seed)
    model = zoo.load(name, device=device)
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


def main(argv=None) -> int:
    args = parse_args(argv)
    out = args.out or Path("leaderboard/figures") / f"{args.name}_{args.threat}.png"
    result = panels(args.name, args.threat, args.eps, args.n, args.seed, args.data_dir, args.device)
    s = result["settings"]
    title = (f"{args.name}: {args.threat} eps={s.eps:g}, PGD+EOT {s.pgd_steps} steps x {s.pgd_eot} EOT"
             f"{' (REDUCED budget)' if s.reduced else ''}; labels {result['labels'].tolist()}")
    draw(result, title, out)
    record = provenance(result["device"], seed=args.seed,
                        settings=dataclasses.asdict(s), labels=result["labels"].tolist(),
                        predictions={k: v.tolist() for k, v in result["preds"].items()})
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
