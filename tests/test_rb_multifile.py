"""A RobustBench model stored as several checkpoint files (``Bai2023Improving_edm``: its ResNet-152,
its WRN-70-16, its mixing network and batch norm): each file where robustbench's own ``load_model``
reads and saves it (``model_dir/dataset/threat/Name.pt_m{i}.pt``), fetched, checksummed, sized and
looked for one by one, loaded offline into robustbench's parts, a missing one named; and the
``.cuda()`` calls of robustbench's constructors made harmless on a machine without CUDA.

The real mixture (567M parameters) is too big to load here: a miniature with robustbench's layout
of the mixture (``comp_model.models[0]``, ``[1]``, ``comp_model.policy_net``, ``comp_model.bn``)
stands in for its constructor, so robustbench's own loader fills it as it would fill the real one."""
from __future__ import annotations

import hashlib
import re

import pytest
import torch
from torch import nn

import zoo
from zoo.common.compat import robustbench, robustbench_models
from zoo.models.nets.robustbench import cuda_calls_optional
from zoo.registry import default_registry, sources
from zoo.registry.sources import SourceError, parse_source, robustbench_files
from zoo.studies import reproduce as rep
from zoo.studies.paper_tables import get_table

pytestmark = pytest.mark.usefixtures("one_thread")

NAME = "rb-bai2023-rn152-wrn70-cifar10-linf"
SOURCE = "robustbench://cifar10/Linf/Bai2023Improving_edm"
PIXELS = 3 * 32 * 32


class TinyMixture(nn.Module):
    """robustbench's ``Bai2023Improving_edm`` in miniature: the same attribute layout (what its
    loader fills, file by file) and the same kind of output, log of the mixing network's per-input
    blend of the standard and robust networks' probabilities, through the batch norm's running stats."""

    def __init__(self):
        super().__init__()
        self.comp_model = nn.Module()
        self.comp_model.models = nn.ModuleList([nn.Linear(PIXELS, 10), nn.Linear(PIXELS, 10)])
        self.comp_model.policy_net = nn.Linear(PIXELS, 1)
        self.comp_model.bn = nn.BatchNorm1d(1, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat, parts = x.flatten(1), self.comp_model
        alpha = torch.sigmoid(parts.bn(parts.policy_net(flat)))
        standard, robust = (m(flat).softmax(1) for m in parts.models)
        return torch.log((1 - alpha) * standard + alpha * robust)


@pytest.fixture
def tiny_bai(monkeypatch):
    """robustbench's record of the mixture, its constructor swapped for :class:`TinyMixture`."""
    monkeypatch.setitem(robustbench_models("cifar10", "Linf")["Bai2023Improving_edm"], "model", TinyMixture)


def parts_state(seed: int) -> tuple[dict, dict, dict, dict]:
    """Random weights of the four parts (standard, robust, mixing network, batch norm with running stats)."""
    torch.manual_seed(seed)
    net = TinyMixture()
    net.comp_model.bn.running_mean.normal_()
    net.comp_model.bn.running_var.uniform_(0.5, 2.0)
    parts = net.comp_model
    return tuple({k: v.clone() for k, v in m.state_dict().items()}
                 for m in (*parts.models, parts.policy_net, parts.bn))


def write_checkpoints(files, standard, robust, policy, bn) -> None:
    """The three files as the mixture's are stored: file 0 saved from DataParallel (``module.``
    keys under ``state_dict``), file 1 a plain state dict, file 2 the mixing network and batch norm."""
    contents = ({"state_dict": {f"module.{k}": v for k, v in standard.items()}}, robust,
                {"model": policy, "bn": bn})
    for path, content in zip(files, contents):
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(content, path)


def by_hand(standard, robust, policy, bn) -> TinyMixture:
    net = TinyMixture()
    parts = net.comp_model
    for module, state in zip((*parts.models, parts.policy_net, parts.bn), (standard, robust, policy, bn)):
        module.load_state_dict(state)
    return net.eval()


def test_the_files_are_where_robustbenchs_loader_puts_them_and_load_offline_into_its_parts(offline, tiny_bai):
    files = list(robustbench_files(parse_source(SOURCE)))
    folder = offline / "zoo-cache" / "robustbench" / "cifar10" / "Linf"  # model_dir/dataset/threat
    assert files == [folder / f"Bai2023Improving_edm.pt_m{i}.pt" for i in range(3)]  # robustbench: f"{path}_m{i}.pt"
    state = parts_state(1)
    write_checkpoints(files, *state)
    torch.manual_seed(2)  # a fresh random init would differ from the files
    with pytest.warns(UserWarning, match="no sha256 pinned; its 3 files"):
        loaded = zoo.load(NAME, device="cpu")
    expected = by_hand(*state)
    assert loaded.purifier is None and type(loaded.classifier) is TinyMixture
    got, want = loaded.classifier.state_dict(), expected.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), expected(x))
    assert sources.cached(SOURCE) == files[0]


@pytest.mark.parametrize("absent", [[0], [1], [2], [0, 2]])
def test_a_missing_file_is_named_with_the_entry_and_where_robustbench_would_save_it(offline, tiny_bai, absent):
    files = list(robustbench_files(parse_source(SOURCE)))
    write_checkpoints(files, *parts_state(1))
    for i in absent:
        files[i].unlink()
    assert sources.cached(SOURCE) is None
    with pytest.raises(SourceError) as info:
        zoo.load(NAME, device="cpu")
    text = str(info.value)
    named = ", ".join(str(files[i]) for i in absent)
    assert text.startswith(f"{SOURCE}: RobustBench checkpoint file{'s' if len(absent) > 1 else ''} {named} "
                           f"(of its 3 files) {'are' if len(absent) > 1 else 'is'} missing")
    assert all((str(f) in text) == (i in absent) for i, f in enumerate(files))
    assert f"scripts/download.py {NAME}`" in text and f"entry {NAME!r}" in text
    assert "load_model('Bai2023Improving_edm', model_dir=DIR" in text and "Bai2023Improving_edm.pt_m2.pt" in text
    (line,) = [line for line in rep.missing(get_table("1")) if line.startswith(SOURCE)]
    assert all(str(f) in line for f in files)


def test_online_only_the_absent_files_download_each_from_its_drive_id_and_one_checksum_pins_all(
        monkeypatch, tmp_path):
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("AGDM_ZOO_CACHE", str(tmp_path / "zoo-cache"))
    downloads = []

    def download(file_id, path):
        downloads.append((file_id, path))
        with open(path, "wb") as fh:
            fh.write(f"weights of {file_id}".encode() * (1 + len(downloads)))

    monkeypatch.setattr(robustbench().utils, "download_gdrive_new", download)
    files = list(robustbench_files(parse_source(SOURCE)))
    ids = robustbench_models("cifar10", "Linf")["Bai2023Improving_edm"]["gdrive_id"]
    files[1].parent.mkdir(parents=True)
    files[1].write_bytes(b"already here")
    with pytest.warns(UserWarning, match="no sha256 pinned"):
        (role, _, path, size), = sources.fetch_components(default_registry()[NAME])
    assert downloads == [(ids[0], str(files[0])), (ids[2], str(files[2]))] and role == "classifier"
    data = b"".join(f.read_bytes() for f in files)
    assert path == files[0] and size == len(data) / 2**20
    digest = hashlib.sha256(data).hexdigest()  # = cat FILE0 FILE1 FILE2 | sha256sum
    assert sources.fetch(SOURCE, digest) == files[0] and len(downloads) == 2  # cached now
    files[1].write_bytes(b"changed")
    with pytest.raises(SourceError, match="checksum mismatch for " + re.escape(", ".join(map(str, files)))):
        sources.fetch(SOURCE, digest)


@pytest.mark.parametrize("bad", ["cifar10/Linf/NoSuchModel", "cifar11/Linf/Standard", "cifar10/L3/Standard"])
def test_a_model_robustbench_does_not_have_is_refused_by_name(offline, bad):
    dataset, threat, name = bad.split("/")
    for look in (sources.fetch, sources.cached):
        with pytest.raises(SourceError, match=f"robustbench://{bad}: RobustBench has no {dataset}/{threat} "
                                              f"model named '{name}'"):
            look(f"robustbench://{bad}")


def test_without_cuda_cuda_calls_leave_tensors_on_the_cpu_while_building(monkeypatch):
    """robustbench's BiT ResNet (a small one here) calls ``.cuda()`` in ``__init__``: inside the
    context it builds on a CPU-only machine and computes from the CPU."""
    from robustbench.model_zoo.architectures.bit_rn import ResNetV2

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    original = torch.Tensor.cuda
    with cuda_calls_optional():
        x = torch.ones(2)
        assert x.cuda() is x
        net = ResNetV2([1, 1, 1, 1], 1, head_size=10).eval()
    assert torch.Tensor.cuda is original  # restored
    assert net.mean.device.type == "cpu"
    with torch.no_grad():
        logits, _ = net(torch.rand(2, 3, 64, 64))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_with_cuda_cuda_calls_move_tensors_as_ever_and_meta_tensors_stay(monkeypatch):
    moved = []

    def fake_cuda(tensor, *args, **kwargs):  # stands for the GPU: records what would move
        moved.append(tensor)
        return tensor

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.Tensor, "cuda", fake_cuda)
    x, meta = torch.ones(2), torch.ones(2, device="meta")
    with pytest.raises(RuntimeError, match="inside"):
        with cuda_calls_optional():
            x.cuda(0)
            assert meta.cuda() is meta
            raise RuntimeError("inside")
    assert len(moved) == 1 and moved[0] is x and torch.Tensor.cuda is fake_cuda  # restored after an error too
