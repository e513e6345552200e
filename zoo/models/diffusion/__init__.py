"""Diffusion maths, with no network inside: schedules, the forward marginal and reverse steps.

``ddpm``: the discrete DDPM chain cut at t* (and respaced). ``vpsde``: the continuous VP-SDE
reversed from t* by Euler-Maruyama (Appendix A.2). ``step``: the Gaussian step both share.
Imports nothing above torch.
"""
from .ddpm import TruncatedDDPM, alphas_cumprod, linear_betas, q_sample, respaced_indices
from .step import GaussianReverseStep
from .vpsde import TruncatedVPSDE

__all__ = ["GaussianReverseStep", "TruncatedDDPM", "TruncatedVPSDE", "alphas_cumprod", "linear_betas", "q_sample",
           "respaced_indices"]
