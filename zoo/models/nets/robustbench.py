"""RobustBench's model zoo as architectures: random-weight instances and checkpoints loaded by
robustbench's own ``load_model``."""
from __future__ import annotations

from torch import nn

from ...common.compat import robustbench, robustbench_models
from ...registry.sources import SourceError, fetch, parse_source


def robustbench_architecture(source: str) -> nn.Module:
    """A randomly initialised instance of a RobustBench model's architecture."""
    dataset, threat, name = parse_source(source).location.split("/")
    models = robustbench_models(dataset, threat)
    if name not in models:
        raise SourceError(f"{source}: RobustBench has no {dataset}/{threat} model named {name!r}")
    return models[name]["model"]()


def load_robustbench(source: str, sha256: str | None = None) -> nn.Module:
    """A RobustBench model with its weights, loaded by robustbench's own ``load_model``."""
    parsed = parse_source(source)
    path = fetch(source, sha256)
    dataset, threat, name = parsed.location.split("/")
    return robustbench().utils.load_model(name, model_dir=path.parents[2], dataset=dataset, threat_model=threat)
