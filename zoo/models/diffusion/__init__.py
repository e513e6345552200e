"""Diffusion maths, with no network inside: schedules, the forward marginal and reverse steps.

``ddpm``: the discrete DDPM chain cut at t* (and respaced). Imports nothing above torch.
"""
from .ddpm import TruncatedDDPM, alphas_cumprod, linear_betas, q_sample, respaced_indices

__all__ = ["TruncatedDDPM", "alphas_cumprod", "linear_betas", "q_sample", "respaced_indices"]
