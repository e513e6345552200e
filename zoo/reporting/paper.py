"""The paper the zoo implements (AGDM, Lin et al.): its metadata and citation, in one place.
Never its numbers outside a column labelled as the paper's."""
from __future__ import annotations

# the paper whose method (and baselines) the zoo implements; never its numbers
PAPER = {
    "name": "Robust Diffusion Models for Adversarial Purification",
    "link": "https://arxiv.org/abs/2403.16067",
    "authors": "Guang Lin, Zerui Tao, Jianhai Zhang, Toshihisa Tanaka, Qibin Zhao",
    "venue": "arXiv, 2024",
}


CITATION = """@article{lin2024robust,
  title   = {Robust Diffusion Models for Adversarial Purification},
  author  = {Lin, Guang and Tao, Zerui and Zhang, Jianhai and Tanaka, Toshihisa and Zhao, Qibin},
  journal = {arXiv preprint arXiv:2403.16067},
  year    = {2024}
}"""
