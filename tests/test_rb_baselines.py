"""The paper's adversarially trained rows that RobustBench hosts: registry entries through
``robustbench://`` (deterministic classifiers: WRN-28-10s, or the WRN-70-16 / RaWideResNet-70-16 /
WRN-34-10 / WRN-28-4 / ResNet-152 + WRN-70-16 mixture that RobustBench hosts as the model behind the
paper's number, said in the entry and the row), loaded offline from a cache laid out as robustbench's
own loader lays it out, and run by ``reproduce`` for their table; every other AT row named with its
reason. The mixture's three checkpoint files: test_rb_multifile.py."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo
from zoo.common.compat import robustbench_models
from zoo.models.nets.robustbench import robustbench_architecture
from zoo.registry import default_registry
from zoo.registry.sources import SourceError, parse_source, robustbench_checkpoint, robustbench_files
from zoo.studies import reproduce as rep
from zoo.studies.paper_tables import get_table
from zoo.studies.side_by_side import PAPER_LABEL, side_by_side

from test_reproduce import fake_run, read_markdown_table

pytestmark = pytest.mark.usefixtures("one_thread")

W28, W70, MIX = "WRN-28-10", "WRN-70-16", "ResNet-152 + WRN-70-16 mixture"
BASELINES = {  # entry -> (table, the paper's row, RobustBench's model name, its architecture)
    "rb-zhang2020-wrn28-cifar10-linf": ("1", "Zhang et al. (2020)", "Zhang2020Geometry", W28),
    "rb-gowal2020-wrn28-cifar10-linf": ("1", "Gowal et al. (2020)", "Gowal2020Uncovering_28_10_extra", W28),
    "rb-bai2023-rn152-wrn70-cifar10-linf": ("1", "Bai et al. (2023)", "Bai2023Improving_edm", MIX),
    "rb-gowal2021-wrn70-cifar10-linf": ("1", "Gowal et al. (2021)", "Gowal2021Improving_70_16_ddpm_100m", W70),
    "rb-wang2023-wrn70-cifar10-linf": ("1", "Wang et al. (2023)", "Wang2023Better_WRN-70-16", W70),
    "rb-peng2023-rawrn70-cifar10-linf": ("1", "Peng et al. (2023)", "Peng2023Robust", "RaWideResNet-70-16"),
    "rb-rebuffi2021-wrn28-cifar10-linf": ("1", "Rebuffi et al. (2021)", "Rebuffi2021Fixing_28_10_cutmix_ddpm", W28),
    "rb-augustin2020-wrn34-cifar10-l2": ("2", "Augustin et al. (2020)", "Augustin2020Adversarial_34_10", "WRN-34-10"),
    "rb-gowal2020-wrn70-cifar10-l2": ("2", "Gowal et al. (2020)", "Gowal2020Uncovering_extra", W70),
    "rb-wang2023-wrn28-cifar10-l2": ("2", "Wang et al. (2023)", "Wang2023Better_WRN-28-10", W28),
    "rb-ding2019-wrn28x4-cifar10-l2": ("2", "Ding et al. (2019)", "Ding2020MMA", "WRN-28-4"),
    "rb-rebuffi2021-wrn28-cifar10-l2": ("2", "Rebuffi et al. (2021)", "Rebuffi2021Fixing_28_10_cutmix_ddpm", W28),
    "rb-hendrycks2019-wrn28-cifar100-linf": ("3", "Hendrycks et al. (2019)", "Hendrycks2019Using", W28),
    "rb-cui2023-wrn28-cifar100-linf": ("3", "Cui et al. (2023) (synthetic data)", "Cui2023Decoupled_WRN-28-10", W28),
    "rb-wang2023-wrn70-cifar100-linf": ("3", "Wang et al. (2023)", "Wang2023Better_WRN-70-16", W70),
    "rb-pang2022-wrn28-cifar100-linf": ("3", "Pang et al. (2022)", "Pang2022Robustness_WRN28_10", W28),
    "rb-cui2023-wrn34-cifar100-linf": ("3", "Cui et al. (2023) (no extra data)", "Cui2023Decoupled_WRN-34-10_autoaug",
                                       "WRN-34-10"),
}
WRN28_BASELINES = [name for name, (*_, arch) in BASELINES.items() if arch == W28]
ONE_FILE_BASELINES = [name for name, (*_, arch) in BASELINES.items() if arch != MIX]
# millions of parameters of each architecture (RobustBench's WRN-28-10s: 36.5, GAIRAT's 38.1; the
# mixture: its ResNet-152x2 (BiT-M-R152x2, 236.3 with a 1000-class head), its WRN-70-16 and the mixing net)
PARAMS = {W28: (36.4, 38.2), "WRN-34-10": (46.1, 46.3), "WRN-28-4": (5.8, 5.9), W70: (266.7, 267.0),
          "RaWideResNet-70-16": (267.1, 267.4), "ResNet-152x2": (232.2, 232.4), MIX: (566.8, 567.0)}
NAMED = {  # every row of these tables neither an rb-* entry nor a zoo purifier runs -> a word of the reason
    "2": {"Lee & Kim (2023)": "a purifier the zoo does not implement"},
    "5": {"Standard Training": "no public weights",
          "Adv. Training with Linf / L2 / StAdv / all, PAT-self (Laidlaw et al., 2021), Adv. CRAIG (Dolatabadi "
          "et al., 2022)": "RobustBench does not host"},
}


def source_of(name: str) -> str:
    return default_registry()[name].classifier.source


@pytest.mark.parametrize("name", BASELINES)
def test_each_hosted_row_is_a_robustbench_entry_in_its_tables_run(name):
    key, label, model, arch = BASELINES[name]
    table, entry = get_table(key), default_registry()[name]
    (row,) = [row for row in table.rows if row.label == label]
    assert row.entries == {entry.dataset: name} and model in row.note and row.paper
    assert arch in row.note and arch in entry.description  # the architecture is said where it is used
    other = "not the table's WRN-28-10"
    assert (other in row.note) == (other in entry.description) == (arch != W28)
    (run,) = rep.runs_of(table)  # Tables 1-3: one threat, one run each
    assert name in run.entries and run.attacks == ("autoattack-rand",)
    assert entry.purification is None and entry.diffusion is None and entry.guidance is None
    assert entry.classifier.arch == "robustbench" and dict(entry.threats) == {run.threat: run.eps}
    assert entry.classifier.source == f"robustbench://{entry.dataset}/{run.threat}/{model}"
    assert sorted(n for n in default_registry() if n.startswith("rb-")) == sorted(BASELINES)


@pytest.mark.parametrize("name", ONE_FILE_BASELINES)
def test_each_entrys_model_is_one_robustbench_checkpoint_of_the_stated_architecture(name):
    """Built on the meta device (no memory, no weights, no download): robustbench 1.1.1 has the
    model under the entry's dataset and threat, fetches it as one file (what ``robustbench://``
    fetches) and constructs it on a CPU-only machine, with the parameter count of the architecture
    the entry and its row state."""
    *_, model, arch = BASELINES[name]
    dataset, threat, found = parse_source(source_of(name)).location.split("/")
    assert found == model and model in robustbench_models(dataset, threat)
    info = robustbench_models(dataset, threat)[model]
    assert isinstance(info["gdrive_id"], str)  # one checkpoint, not an ensemble's list of files
    with torch.device("meta"):
        net = info["model"]()
    low, high = PARAMS[arch]
    assert low <= sum(p.numel() for p in net.parameters()) / 1e6 <= high


def millions(net: nn.Module) -> float:
    return sum(p.numel() for p in net.parameters()) / 1e6


def test_the_mixture_is_three_robustbench_files_and_builds_without_cuda_as_the_stated_architecture(monkeypatch):
    """``Bai2023Improving_edm``: three Drive files in robustbench 1.1.1's list (what its
    ``robustbench://`` source fetches), and built by the zoo on a machine without CUDA (made so here
    even on a GPU machine) with every tensor on the CPU, robustbench's BiT ResNet's ``.cuda()``
    constants included, and the parameter counts of a ResNet-152x2, a WRN-70-16 and the whole
    mixture. Under fake tensors (no memory, no weights): the meta device cannot build it, since
    robustbench's constructor reads a scalar back (``.item()``), which a fake tensor can; a fake
    tensor's ``.cuda()`` does not need CUDA, so a ``.cuda()`` let through would show as a cuda tensor."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    name = "rb-bai2023-rn152-wrn70-cifar10-linf"
    parsed = parse_source(source_of(name))
    dataset, threat, model = parsed.location.split("/")
    assert len(robustbench_models(dataset, threat)[model]["gdrive_id"]) == len(robustbench_files(parsed)) == 3
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with FakeTensorMode():
        net = robustbench_architecture(source_of(name))
    standard, robust = net.comp_model.models
    tensors = [t for m in net.modules() for t in vars(m).values() if isinstance(t, torch.Tensor)]
    tensors += [*net.parameters(), *net.buffers()]
    assert {t.device.type for t in tensors} == {"cpu"} and any(t is standard.mean for t in tensors)
    for part, arch in ((standard, "ResNet-152x2"), (robust, W70), (net, MIX)):
        low, high = PARAMS[arch]
        assert low <= millions(part) <= high, arch


@pytest.mark.parametrize("key", ["1", "2", "3", "5"])
def test_every_at_row_of_the_paper_runs_or_is_named_with_its_reason(key):
    table = get_table(key)
    run = {row.label for row in table.rows if any(e.startswith("rb-") for e in row.entries.values())}
    assert run == {label for t, label, *_ in BASELINES.values() if t == key}  # every hosted row runs
    named = {other.split(": ")[0]: other.split(": ", 1)[1] for other in table.other_rows}
    assert set(named) == set(NAMED.get(key, {})) and not run & set(named)
    for label, reason in NAMED.get(key, {}).items():
        assert reason in named[label], label
    listing = rep.describe(table)
    for label in run | set(named):
        assert (f"row {label!r}: rb-" in listing) == (label in run)
        assert (f"named, not run: {label}: " in listing) == (label in named)


def count_wrn_28_10_layers(net: nn.Module, x: torch.Tensor) -> tuple[int, list[int]]:
    """3x3 convolutions a forward pass runs (WRN-28-10: 1 + 12 blocks x 2 = 25) and the in_features
    of its linear heads (640 = 64 x 10)."""
    fired = []
    hooks = [m.register_forward_hook(lambda *_: fired.append(1)) for m in net.modules()
             if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    with torch.no_grad():
        net(x)
    for hook in hooks:
        hook.remove()
    return len(fired), [m.in_features for m in net.modules() if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("name", WRN28_BASELINES)  # a WRN-70-16 checkpoint would be 1 GB
def test_entry_loads_offline_from_robustbenchs_cache_layout(name, offline):
    """A checkpoint of the right architecture with random weights, saved where robustbench's
    ``load_model`` saves its download: the entry loads it through the registry, unchanged."""
    entry, source = default_registry()[name], source_of(name)
    path = robustbench_checkpoint(parse_source(source))
    dataset, threat, model = parse_source(source).location.split("/")
    assert path == offline / "zoo-cache" / "robustbench" / dataset / threat / f"{model}.pt"  # model_dir/dataset/threat
    torch.manual_seed(1)
    cached = robustbench_architecture(source).eval()
    path.parent.mkdir(parents=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in cached.state_dict().items()}}, path)
    torch.manual_seed(2)  # a fresh random init would differ from the cached weights
    with pytest.warns(UserWarning, match="no sha256 pinned"):
        loaded = zoo.load(name, device="cpu")
    path.unlink()  # 150 MB: not kept among pytest's temporary folders
    assert loaded.purifier is None and type(loaded.classifier) is type(cached)
    state, expected = loaded.classifier.state_dict(), cached.state_dict()
    assert state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in expected)
    x = torch.rand(2, *entry.input_shape)
    logits = loaded(x)
    assert logits.shape == (2, entry.num_classes)
    with torch.no_grad():
        torch.testing.assert_close(logits, cached(x))
    assert count_wrn_28_10_layers(loaded.classifier, x) == (25, [640])


@pytest.mark.parametrize("name", BASELINES)
def test_absent_checkpoint_names_the_entry_the_source_and_how_to_supply_it(name, offline):
    source = source_of(name)
    files = list(robustbench_files(parse_source(source)))
    with pytest.raises(SourceError) as info:
        zoo.load(name, device="cpu")
    text = str(info.value)
    model = source.rsplit("/", 1)[1]
    if len(files) == 1:
        assert files == [robustbench_checkpoint(parse_source(source))]
        assert text.startswith(f"{source}: RobustBench checkpoint {files[0]} is missing")
    else:  # every file of the model named (test_rb_multifile: the layout)
        assert text.startswith(f"{source}: RobustBench checkpoint files {', '.join(map(str, files))} (of its "
                               f"{len(files)} files) are missing")
    assert f"scripts/download.py {name}`" in text and f"entry {name!r}" in text
    assert f"robustbench.utils.load_model({model!r}, model_dir=DIR" in text


def test_the_side_by_side_puts_an_at_rows_measurement_beside_the_papers_number():
    t2 = get_table("2")
    ours = {("rb-wang2023-wrn28-cifar10-l2", "autoattack-rand"): (91.0, 80.0)}
    table = read_markdown_table(side_by_side(t2, {"L2": fake_run(t2, "L2", ours)}))
    (i,) = [i for i, entry in enumerate(table["zoo entry"]) if entry == "`rb-wang2023-wrn28-cifar10-l2`"]
    assert table["paper's row"][i] == "Wang et al. (2023)"
    assert table["AutoAttack L2: robust acc.: ours"][i] == "80.00 [79.00, 81.00]"
    assert table[f"AutoAttack L2: robust acc.: {PAPER_LABEL}"][i] == "83.68"
    assert table[f"AutoAttack L2: standard acc.: {PAPER_LABEL}"][i] == "95.16"
