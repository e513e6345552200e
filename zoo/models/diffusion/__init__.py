"""Diffusion maths, with no network inside: schedules, the forward marginal and reverse steps.

``ddpm``: the discrete DDPM chain cut at t* (and respaced). ``vpsde``: the continuous VP-SDE
reversed from t* by Euler-Maruyama (Appendix A.2). ``step``: the Gaussian step both share.
``base``: :class:`ReverseProcess`, the interface both implement and the purifier types against.
Imports nothing above torch.
"""
from .base import ReverseProcess
from .ddpm import TruncatedDDPM, alphas_cumprod, linear_betas, q_sample, respaced_indices
from .step import GaussianReverseStep
from .vpsde import TruncatedVPSDE

__all__ = ["GaussianReverseStep", "ReverseProcess", "TruncatedDDPM", "TruncatedVPSDE", "alphas_cumprod",
           "linear_betas", "q_sample", "respaced_indices"]
