"""The AGDM paper's tables (Lin et al., Tables 1-7) as run specifications, with the paper's own numbers.

Each :class:`PaperTable` says what the paper measured (dataset, classifier, threat, eps, attack,
t*) and which zoo entry stands for each of its purification rows (DiffPure = pattern ``none``,
classifier guidance = ``plain``, AGDM = ``robust``). ``agdm-zoo reproduce TABLE`` runs those
entries under that protocol and writes our numbers beside the paper's
(:mod:`zoo.studies.side_by_side`).

The paper's numbers are transcribed here, as printed (strings; ``-`` where the paper prints none),
and are only ever shown in a column labelled ``paper (Lin et al.)``: they are the paper's claims,
never the zoo's results, and nothing computes with them. The adversarially trained rows of Tables
1-3 whose weights RobustBench hosts run as ``rb-*`` entries (deterministic classifiers, no
purification, the table's protocol), under the architecture the paper's number was measured on
(a WRN-70-16, WRN-34-10, WRN-28-4 or ResNet-152 + WRN-70-16 mixture where that is what RobustBench
hosts, stated in the row's note); every other row (no public weights, or a purifier the zoo does not
implement: Yoon et al., Lee & Kim) is named in ``other_rows`` with the reason, not reproduced.

Where the paper's row is not exactly a zoo entry, ``note`` says how the entry differs. The
AutoAttack columns run the zoo's ``autoattack-rand`` (the paper's AutoAttack "utilizes EOT" for
the stochastic purifier, Sec. 5.1: the rand version, as DiffPure ran it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

LINF_EPS = 8 / 255
AA = "autoattack-rand"  # the paper's AutoAttack (with EOT) on a stochastic defense
PGD = "pgd-eot"  # Lee & Kim's PGD+EOT (200 steps, 20 EOT samples, step 0.007)


@dataclass(frozen=True)
class Column:
    """One number column of a paper table: the accuracy (``clean`` or ``robust``) of the run of
    ``attack`` under ``threat`` at ``eps`` on ``dataset``'s test set. ``key`` is unique in a table."""

    key: str
    title: str
    dataset: str
    threat: str
    eps: float
    attack: str
    metric: str  # clean | robust

    def __post_init__(self) -> None:
        if self.metric not in ("clean", "robust"):
            raise ValueError(f"column {self.key!r}: metric must be clean or robust, got {self.metric!r}")


@dataclass(frozen=True)
class Row:
    """One row: the paper's label, the zoo entry standing for it per dataset, and the paper's
    numbers by column key (as printed; a column missing here was not in the paper for this row)."""

    label: str
    entries: Mapping[str, str]  # dataset -> zoo entry
    paper: Mapping[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class PaperTable:
    """One table of the paper. ``t_star``: the protocol's t* for every purifying entry (``None``:
    each entry's own, which is already the paper's for that table); ``source``: where the paper
    column's numbers come from when this is not a paper table (the demo analogue)."""

    key: str
    title: str
    classifier: str
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    t_star: int | None = None
    other_rows: tuple[str, ...] = ()
    source: str = ""

    def __post_init__(self) -> None:
        keys = [c.key for c in self.columns]
        if len(set(keys)) != len(keys):
            raise ValueError(f"table {self.key}: duplicate column keys {keys}")
        for row in self.rows:
            unknown = sorted(set(row.paper) - set(keys))
            if unknown:
                raise ValueError(f"table {self.key}, row {row.label!r}: paper numbers for unknown columns {unknown}")

    @property
    def entries(self) -> tuple[str, ...]:
        """Every zoo entry a cell of this table needs, in row order."""
        found = [row.entries[c.dataset] for row in self.rows for c in self.columns if c.dataset in row.entries]
        return tuple(dict.fromkeys(found))


def _pair(prefix: str, dataset: str, threat: str, eps: float, attack: str, title: str) -> tuple[Column, Column]:
    """The standard and robust accuracy columns of one run (the paper's usual pair)."""
    return (Column(f"{prefix} clean", f"{title}: standard acc.", dataset, threat, eps, attack, "clean"),
            Column(f"{prefix} robust", f"{title}: robust acc.", dataset, threat, eps, attack, "robust"))


W28 = {"cifar10": "wrn28-cifar10", "cifar100": "wrn28-cifar100"}


def _patterns(suffix: Mapping[str, str], datasets: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """pattern -> {dataset: entry} for the zoo's three purifiers on one classifier."""
    return {p: {d: f"{p}-{suffix[d]}" for d in datasets} for p in ("diffpure", "guided", "agdm")}


_C10 = _patterns(W28, ("cifar10",))
_C10_100 = _patterns(W28, ("cifar10", "cifar100"))
_AT_NOTE = "adversarially trained classifiers (RobustBench models, not purifiers)"


def _rb(label: str, entry: str, model: str, paper: Mapping[str, str], more: str = "",
        arch: str = "WRN-28-10") -> Row:
    """An adversarially trained row run from RobustBench's weights: ``entry`` loads RobustBench's
    ``model``, an ``arch`` classifier with no purification, benchmarked under the table's protocol.
    An ``arch`` other than the table's WRN-28-10 is said in the note: it is the model behind the
    paper's number, which is why it runs rather than a WRN-28-10 of the same authors."""
    dataset = "cifar100" if "-cifar100-" in entry else "cifar10"
    which = (" (WRN-28-10)," if arch == "WRN-28-10" else
             f", a {arch}, not the table's WRN-28-10: the weights behind the paper's number;")
    return Row(label, {dataset: entry}, paper,
               f"RobustBench `{model}`{which} adversarially trained, deterministic: no purification; run "
               f"with the table's autoattack-rand (RobustBench's own numbers are AutoAttack standard){more}")


TABLE_1 = PaperTable(
    "1", "AutoAttack Linf (eps = 8/255) on CIFAR-10", "WRN-28-10",
    _pair("AA Linf", "cifar10", "Linf", LINF_EPS, AA, "AutoAttack Linf"),
    (_rb("Zhang et al. (2020)", "rb-zhang2020-wrn28-cifar10-linf", "Zhang2020Geometry",
         {"AA Linf clean": "85.36", "AA Linf robust": "59.96"},
         "; GAIRAT with extra data, identified by the paper's reference: RobustBench lists 89.36 / 59.64 for it, "
         "not the paper's 85.36 / 59.96"),
     _rb("Gowal et al. (2020)", "rb-gowal2020-wrn28-cifar10-linf", "Gowal2020Uncovering_28_10_extra",
         {"AA Linf clean": "89.48", "AA Linf robust": "62.70"}),
     _rb("Bai et al. (2023)", "rb-bai2023-rn152-wrn70-cifar10-linf", "Bai2023Improving_edm",
         {"AA Linf clean": "95.23", "AA Linf robust": "68.06"},
         "; adaptive smoothing: a standard BiT ResNet-152x2 (fed 128x128 upsampled inputs) and a robust WRN-70-16 "
         "mixed per input by an adversarially trained mixing network, three checkpoint files that robustbench's "
         "loader puts into those parts", "ResNet-152 + WRN-70-16 mixture"),
     _rb("Gowal et al. (2021)", "rb-gowal2021-wrn70-cifar10-linf", "Gowal2021Improving_70_16_ddpm_100m",
         {"AA Linf clean": "88.74", "AA Linf robust": "66.11"},
         "; its WRN-28-10, `Gowal2021Improving_28_10_ddpm_100m`, is another model", "WRN-70-16"),
     _rb("Wang et al. (2023)", "rb-wang2023-wrn70-cifar10-linf", "Wang2023Better_WRN-70-16",
         {"AA Linf clean": "93.25", "AA Linf robust": "70.69"}, "; `Wang2023Better_WRN-28-10` is another model",
         "WRN-70-16"),
     _rb("Peng et al. (2023)", "rb-peng2023-rawrn70-cifar10-linf", "Peng2023Robust",
         {"AA Linf clean": "93.27", "AA Linf robust": "71.07"}, arch="RaWideResNet-70-16"),
     _rb("Rebuffi et al. (2021)", "rb-rebuffi2021-wrn28-cifar10-linf", "Rebuffi2021Fixing_28_10_cutmix_ddpm",
         {"AA Linf clean": "87.33", "AA Linf robust": "61.72"}, "; RobustBench lists 87.33 / 60.75 for it"),
     Row("Nie et al. (2022)", {"cifar10": "diffpure-sde-wrn28-cifar10"}, {"AA Linf clean": "89.02", "AA Linf robust": "70.64"},
         "DiffPure's own setting: score-SDE DDPM++, VP-SDE t* = 0.1"),
     Row("Wang et al. (2022)", {"cifar10": "gdmp-wrn28-cifar10"}, {"AA Linf clean": "84.85", "AA Linf robust": "71.18"},
         "the zoo's GDMP (its CIFAR-10 MSE setting: 4 rounds of t* = 36) on the standard WRN-28-10"),
     Row("Anonymous (2023)", _C10["guided"], {"AA Linf clean": "90.04", "AA Linf robust": "73.05"},
         "classifier guidance by the classifier itself (the zoo's plain pattern), DDPM t* = 70"),
     Row("Ours", _C10["agdm"], {"AA Linf clean": "90.82", "AA Linf robust": "78.12"})))

TABLE_2 = PaperTable(
    "2", "AutoAttack L2 (eps = 0.5) on CIFAR-10", "WRN-28-10",
    _pair("AA L2", "cifar10", "L2", 0.5, AA, "AutoAttack L2"),
    (_rb("Augustin et al. (2020)", "rb-augustin2020-wrn34-cifar10-l2", "Augustin2020Adversarial_34_10",
         {"AA L2 clean": "92.23", "AA L2 robust": "77.93"}, "; RobustBench lists 92.23 / 76.25 for it", "WRN-34-10"),
     _rb("Gowal et al. (2020)", "rb-gowal2020-wrn70-cifar10-l2", "Gowal2020Uncovering_extra",
         {"AA L2 clean": "94.74", "AA L2 robust": "80.53"}, "; RobustBench hosts no L2 WRN-28-10 of theirs",
         "WRN-70-16"),
     _rb("Wang et al. (2023)", "rb-wang2023-wrn28-cifar10-l2", "Wang2023Better_WRN-28-10",
         {"AA L2 clean": "95.16", "AA L2 robust": "83.68"}),
     _rb("Ding et al. (2019)", "rb-ding2019-wrn28x4-cifar10-l2", "Ding2020MMA",
         {"AA L2 clean": "88.02", "AA L2 robust": "67.77"}, "; RobustBench lists 88.02 / 66.09 for it", "WRN-28-4"),
     _rb("Rebuffi et al. (2021)", "rb-rebuffi2021-wrn28-cifar10-l2", "Rebuffi2021Fixing_28_10_cutmix_ddpm",
         {"AA L2 clean": "91.79", "AA L2 robust": "78.32"}, "; RobustBench lists 91.79 / 78.80 for it"),
     Row("Anonymous (2023)", _C10["guided"], {"AA L2 clean": "92.58", "AA L2 robust": "83.13"},
         "the zoo's plain pattern, DDPM t* = 70"),
     Row("Ours", _C10["agdm"], {"AA L2 clean": "90.82", "AA L2 robust": "86.84"})),
    other_rows=("Lee & Kim (2023): a purifier the zoo does not implement",))

TABLE_3 = PaperTable(
    "3", "AutoAttack Linf (eps = 8/255) on CIFAR-100", "WRN-28-10",
    _pair("AA Linf", "cifar100", "Linf", LINF_EPS, AA, "AutoAttack Linf"),
    (_rb("Hendrycks et al. (2019)", "rb-hendrycks2019-wrn28-cifar100-linf", "Hendrycks2019Using",
         {"AA Linf clean": "59.23", "AA Linf robust": "28.42"}),
     _rb("Cui et al. (2023) (synthetic data)", "rb-cui2023-wrn28-cifar100-linf", "Cui2023Decoupled_WRN-28-10",
         {"AA Linf clean": "73.85", "AA Linf robust": "39.18"}),
     _rb("Wang et al. (2023)", "rb-wang2023-wrn70-cifar100-linf", "Wang2023Better_WRN-70-16",
         {"AA Linf clean": "75.22", "AA Linf robust": "42.67"}, "; `Wang2023Better_WRN-28-10` is another model",
         "WRN-70-16"),
     _rb("Pang et al. (2022)", "rb-pang2022-wrn28-cifar100-linf", "Pang2022Robustness_WRN28_10",
         {"AA Linf clean": "63.66", "AA Linf robust": "31.08"}),
     _rb("Cui et al. (2023) (no extra data)", "rb-cui2023-wrn34-cifar100-linf", "Cui2023Decoupled_WRN-34-10_autoaug",
         {"AA Linf clean": "65.93", "AA Linf robust": "32.52"}, "; trained with AutoAugment", "WRN-34-10"),
     Row("Ours", {"cifar100": "agdm-wrn28-cifar100"}, {"AA Linf clean": "69.73", "AA Linf robust": "46.09"})))


TABLE_4 = PaperTable(
    "4", "robust accuracy of the three guidance patterns under AutoAttack", "WRN-28-10",
    (Column("C10 Linf", "CIFAR-10, AutoAttack Linf (8/255): robust acc.", "cifar10", "Linf", LINF_EPS, AA, "robust"),
     Column("C10 L2", "CIFAR-10, AutoAttack L2 (0.5): robust acc.", "cifar10", "L2", 0.5, AA, "robust"),
     Column("C100 Linf", "CIFAR-100, AutoAttack Linf (8/255): robust acc.", "cifar100", "Linf", LINF_EPS, AA,
            "robust")),
    (Row("Nie et al. (2022) (no guidance)", _C10_100["diffpure"],
         {"C10 Linf": "71.03", "C10 L2": "78.58", "C100 Linf": "42.19"}, "the zoo's DDPM DiffPure, t* = 70"),
     Row("Anonymous (2023) (guidance)", _C10_100["guided"],
         {"C10 Linf": "73.05", "C10 L2": "83.13", "C100 Linf": "40.62"}),
     Row("Ours (robust guidance)", _C10_100["agdm"], {"C10 Linf": "78.12", "C10 L2": "86.84", "C100 Linf": "46.09"})))

_RN50 = {p: {"cifar10": f"{p}-rn50-cifar10"} for p in ("diffpure", "agdm")}
TABLE_5 = PaperTable(
    "5", "unseen threats on CIFAR-10: AutoAttack Linf (8/255), L2 (eps = 1) and StAdv (0.05), t* = 125",
    "ResNet-50",
    (Column("clean", "standard acc.", "cifar10", "Linf", LINF_EPS, AA, "clean"),
     Column("AA Linf", "AutoAttack Linf: robust acc.", "cifar10", "Linf", LINF_EPS, AA, "robust"),
     Column("AA L2", "AutoAttack L2: robust acc.", "cifar10", "L2", 1.0, AA, "robust"),
     Column("StAdv", "StAdv: robust acc.", "cifar10", "StAdv", 0.05, "stadv", "robust")),
    (Row("DiffPure (Nie et al., 2022)", _RN50["diffpure"],
         {"clean": "88.2", "AA Linf": "70.0", "AA L2": "70.9", "StAdv": "55.0"}, "the zoo's DDPM DiffPure, t* = 125"),
     Row("AGDM (Ours)", _RN50["agdm"], {"clean": "89.3", "AA Linf": "78.1", "AA L2": "79.6", "StAdv": "59.4"})),
    other_rows=("Standard Training: no public weights of a standard-trained CIFAR-10 ResNet-50 (RobustBench's "
                "`Standard` is a WRN-28-10; the purifier rows' ResNet-50 is supplied by hand)",
                "Adv. Training with Linf / L2 / StAdv / all, PAT-self (Laidlaw et al., 2021), Adv. CRAIG (Dolatabadi "
                "et al., 2022): adversarially trained ResNet-50s RobustBench does not host (no model of either paper "
                "in its CIFAR-10 Linf or L2 lists)"))

_PGD_OTHER = ("Yoon et al. (2021), Lee & Kim (2023): purifiers the zoo does not implement",)
TABLE_6 = PaperTable(
    "6", "PGD+EOT (Lee & Kim) Linf (8/255) and L2 (0.5) on CIFAR-10, t* = 100", "WRN-28-10",
    (*_pair("Linf", "cifar10", "Linf", LINF_EPS, PGD, "PGD+EOT Linf"),
     *_pair("L2", "cifar10", "L2", 0.5, PGD, "PGD+EOT L2")),
    (Row("Nie et al. (2022) (no guidance)", _C10["diffpure"],
         {"Linf clean": "90.07", "Linf robust": "46.84", "L2 clean": "91.41", "L2 robust": "79.45"},
         "the zoo's DDPM DiffPure at t* = 100"),
     Row("Wang et al. (2022) (guidance)", _C10["guided"],
         {"Linf clean": "93.50", "Linf robust": "24.06", "L2 clean": "93.50", "L2 robust": "-"},
         "the zoo's plain pattern (the classifier guides itself), t* = 100"),
     Row("Ours (robust guidance)", _C10["agdm"],
         {"Linf clean": "90.42", "Linf robust": "64.06", "L2 clean": "90.42", "L2 robust": "85.55"})),
    t_star=100,
    other_rows=(f"Pang et al. (2022), Gowal et al. (2020), Gowal et al. (2021), Sehwag et al. (2021), Rebuffi et "
                f"al. (2021), Augustin et al. (2020): {_AT_NOTE}", *_PGD_OTHER))

TABLE_7 = PaperTable(
    "7", "PGD+EOT (Lee & Kim) Linf (8/255) and L2 (0.5) on CIFAR-10, t* = 100", "WRN-70-16",
    TABLE_6.columns,
    (Row("Nie et al. (2022)", {"cifar10": "diffpure-wrn70-cifar10"},
         {"Linf clean": "90.43", "Linf robust": "51.13", "L2 clean": "92.15", "L2 robust": "82.97"},
         "the zoo's DDPM DiffPure at t* = 100"),
     Row("Ours", {"cifar10": "agdm-wrn70-cifar10"},
         {"Linf clean": "90.43", "Linf robust": "66.41", "L2 clean": "90.43", "L2 robust": "85.94"})),
    t_star=100,
    other_rows=(f"Gowal et al. (2020), Gowal et al. (2021), Rebuffi et al. (2021) (two rows): {_AT_NOTE}",
                *_PGD_OTHER))


def _demo() -> PaperTable:
    """The demo analogue of Table 6 on the shipped MNIST entries, the README's main job (Linf,
    PGD+EOT with both losses, AutoAttack standard and rand). Its paper column repeats Table 6's
    Linf numbers of the same guidance pattern (read from :data:`TABLE_6`, not typed again): a
    CIFAR-10 WRN-28-10 result, shown for the ordering of the patterns only."""
    eps = 0.3
    clean, robust = _pair("Linf", "mnist", "Linf", eps, PGD, "PGD+EOT Linf")
    columns = (clean, robust,
               Column("label", "PGD+EOT label-aware: robust acc.", "mnist", "Linf", eps, "pgd-eot-label", "robust"),
               Column("AA std", "AutoAttack standard: robust acc.", "mnist", "Linf", eps, "autoattack-standard",
                      "robust"),
               Column("AA rand", "AutoAttack rand: robust acc.", "mnist", "Linf", eps, AA, "robust"))
    same = {"diffpure": 0, "guided": 1, "agdm": 2}
    rows = tuple(Row(f"{TABLE_6.rows[i].label} -> demo", {"mnist": f"{p}-tiny-mnist"},
                     {k: TABLE_6.rows[i].paper[k] for k in ("Linf clean", "Linf robust")})
                 for p, i in same.items())
    rows += (Row("no defense (demo only)", {"mnist": "standard-tiny-mnist"}),)
    return PaperTable("demo", "demo analogue of Table 6 on MNIST digits (offline, CPU)", "small CNN", columns, rows,
                      source="Table 6 of the paper, CIFAR-10 WRN-28-10 (not MNIST): compare the ordering, not the level")


DEMO = _demo()
TABLES: dict[str, PaperTable] = {t.key: t for t in (TABLE_1, TABLE_2, TABLE_3, TABLE_4, TABLE_5, TABLE_6, TABLE_7, DEMO)}


def get_table(key: str) -> PaperTable:
    """The table called ``key`` (``1``..``7``, ``table6`` and ``Table 6`` too, or ``demo``); an
    unknown one raises a ``ValueError`` listing the known ones."""
    found = str(key).strip().lower().removeprefix("table").strip()
    if found not in TABLES:
        raise ValueError(f"unknown table {key!r}; the paper's reproducible tables: {', '.join(TABLES)}")
    return TABLES[found]
