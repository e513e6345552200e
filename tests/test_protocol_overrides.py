"""Protocol overrides on the command line (--t-star, --steps, --scale, --pattern): applied to every
entry that purifies, recorded in the journal's settings, the provenance and every table title."""
from __future__ import annotations

import json

from helpers import benchmark_cli

cli = benchmark_cli()


def test_overrides_reach_the_model_the_provenance_and_the_titles(tmp_path, capsys):
    args = ["--threat", "Linf", "--out", str(tmp_path), "--model", "agdm-tiny-mnist", "standard-tiny-mnist",
            "--attack", "pgd-eot", "--n-examples", "1"]
    assert cli.main([*args, "--t-star", "2", "--steps", "1", "--pattern", "none"]) == 0
    table = (tmp_path / "results_Linf.md").read_text()
    assert "## Linf, eps = 0.3, pattern=none, steps=1, t_star=2" in table
    provenance = json.loads((tmp_path / "provenance_Linf.json").read_text())
    assert provenance["protocol_overrides"] == {"t_star": 2, "steps": 1, "pattern": "none"}
    by_model = {s["model"]: s["overrides"] for s in provenance["settings"]}
    assert by_model == {"agdm-tiny-mnist": {"t_star": 2, "steps": 1, "pattern": "none"}, "standard-tiny-mnist": None}
    info = json.loads((tmp_path / "model_info" / "agdm-tiny-mnist_Linf.json").read_text())
    assert "t*=2, 1 reverse steps, guidance none" in info["architecture"]  # the model really ran with them
    # another t* against the same journal is another run: refused
    assert cli.main([*args, "--t-star", "3", "--steps", "1", "--pattern", "none", "--resume"]) == 2
    assert "other settings" in capsys.readouterr().err
