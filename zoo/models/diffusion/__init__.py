"""Diffusion maths, with no network inside: schedules, the forward marginal and reverse steps.

``ddpm``: the discrete DDPM chain cut at t* (and respaced). Imports nothing above torch.
"""
from .ddpm import TruncatedDDPM, linear_betas, respaced_indices

__all__ = ["TruncatedDDPM", "linear_betas", "respaced_indices"]
