"""DDPM++ ("ddpmpp deep continuous", Song et al. 2021): the score-SDE CIFAR-10 network DiffPure purifies with.

Written here from the published architecture (BigGAN-style residual blocks, sinusoidal time
embedding, self-attention at 16x16, skips and residual sums divided by sqrt(2)), laid out so its
``state_dict`` has exactly the keys, shapes and order of the released checkpoint: one
``all_modules`` list walked by index, the residual blocks' ``GroupNorm_0 / Conv_0 / Dense_0 /
GroupNorm_1 / Conv_1 / Conv_2`` and the attention blocks' ``NIN_k.W`` ([in, out]) and ``NIN_k.b``,
and a float64 ``sigmas`` buffer that the forward pass never needs (it is kept for strict loading).

:func:`load_score_sde_checkpoint` restores what DiffPure runs: the EMA shadow parameters, an
unnamed list in parameter order. The call is ``eps = net(x, labels)`` on [-1, 1] images, with
``labels = t * 999`` for continuous time t (the score is ``-eps / std(t)``).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry.sources import SourceError

_SQRT2 = math.sqrt(2.0)


def _group_norm(channels: int) -> nn.GroupNorm:
    """Every norm of the network: min(C // 4, 32) groups, eps 1e-6."""
    return nn.GroupNorm(min(channels // 4, 32), channels, eps=1e-6)


def time_embedding(labels: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (float) time labels: sines then cosines of ``dim // 2`` frequencies
    exp(-k ln(max_period) / (dim // 2 - 1))."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=labels.device)
                      / (half - 1))
    angles = labels.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class NIN(nn.Module):
    """A 1x1 linear map over the channel axis of NCHW, stored as ``W`` [in, out] and ``b`` [out]."""

    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        self.W = nn.Parameter(torch.empty(channels_in, channels_out))
        self.b = nn.Parameter(torch.zeros(channels_out))
        nn.init.uniform_(self.W, -1.0 / math.sqrt(channels_in), 1.0 / math.sqrt(channels_in))

    def forward(self, x: Tensor) -> Tensor:
        # a 1x1 convolution: the same sum over channels, kept in the input's memory layout (NHWC too)
        return F.conv2d(x, self.W.t()[:, :, None, None], self.b)


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions, residual sum divided by sqrt(2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.GroupNorm_0 = _group_norm(channels)
        self.NIN_0, self.NIN_1, self.NIN_2, self.NIN_3 = (NIN(channels, channels) for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        y = self.GroupNorm_0(x)
        q, k, v = (m(y).reshape(b, c, h * w).transpose(1, 2) for m in (self.NIN_0, self.NIN_1, self.NIN_2))
        # softmax(q k^T / sqrt(c)) v over the h*w positions, by torch's fused kernels (flash or
        # memory-efficient attention on a GPU) instead of materialising the weights
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, c, h, w)
        return (x + self.NIN_3(out)) / _SQRT2


class ResBlock(nn.Module):
    """BigGAN-style residual block with a time bias; ``resample`` ``up`` (nearest x2) or ``down``
    (2x2 mean) applied to both paths after the first norm; a 1x1 shortcut (``Conv_2``) where the
    channels change or the block resamples."""

    def __init__(self, channels_in: int, channels_out: int, temb_dim: int, dropout: float,
                 resample: str | None = None):
        super().__init__()
        self.resample = resample
        self.GroupNorm_0 = _group_norm(channels_in)
        self.Conv_0 = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.Dense_0 = nn.Linear(temb_dim, channels_out)
        self.GroupNorm_1 = _group_norm(channels_out)
        self.Dropout_0 = nn.Dropout(dropout)
        self.Conv_1 = nn.Conv2d(channels_out, channels_out, 3, padding=1)
        if channels_in != channels_out or resample is not None:
            self.Conv_2 = nn.Conv2d(channels_in, channels_out, 1)
        else:
            self.Conv_2 = None

    def _resample(self, x: Tensor) -> Tensor:
        if self.resample == "up":
            return F.interpolate(x, scale_factor=2.0, mode="nearest")
        if self.resample == "down":
            return F.avg_pool2d(x, 2)
        return x

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self._resample(F.silu(self.GroupNorm_0(x)))
        x = self._resample(x)
        h = self.Conv_0(h) + self.Dense_0(F.silu(temb))[:, :, None, None]
        h = self.Conv_1(self.Dropout_0(F.silu(self.GroupNorm_1(h))))
        if self.Conv_2 is not None:
            x = self.Conv_2(x)
        return (x + h) / _SQRT2


class DDPMpp(nn.Module):
    """The DDPM++ noise predictor of the score-SDE config (``nf``, ``ch_mult``, ``num_res_blocks``,
    ``attn_resolutions``, ``dropout``, ``image_size``, ``num_channels``; the released CIFAR-10
    model: 128, (1, 2, 2, 2), 8, (16,), 0.1, 32, 3). Other config keys of the score-SDE config are
    accepted only at the values this implementation covers (see :data:`FIXED`)."""

    def __init__(self, nf: int = 128, ch_mult: Sequence[int] = (1, 2, 2, 2), num_res_blocks: int = 8,
                 attn_resolutions: Sequence[int] = (16,), dropout: float = 0.1, image_size: int = 32,
                 num_channels: int = 3, sigma_min: float = 0.01, sigma_max: float = 50.0,
                 num_scales: int = 1000, **fixed: Any):
        super().__init__()
        for key, value in fixed.items():
            if key not in FIXED:
                raise ValueError(f"DDPM++: unknown config key {key!r}")
            if FIXED[key] is not None and _plain(value) != FIXED[key]:
                raise ValueError(f"DDPM++: {key}={value!r} is not supported (only {FIXED[key]!r})")
        self.sample_size = image_size
        self.register_buffer("sigmas", torch.exp(torch.linspace(
            math.log(sigma_max), math.log(sigma_min), num_scales, dtype=torch.float64)))
        temb_dim = 4 * nf
        modules: list[nn.Module] = [nn.Linear(nf, temb_dim), nn.Linear(temb_dim, temb_dim),
                                    nn.Conv2d(num_channels, nf, 3, padding=1)]
        self._plan: list[str] = []  # what each module after the input conv does, in order
        skips, channels, resolution = [nf], nf, image_size

        def add(module: nn.Module, role: str) -> None:
            modules.append(module)
            self._plan.append(role)

        for level, mult in enumerate(ch_mult):
            for _ in range(num_res_blocks):
                add(ResBlock(channels, nf * mult, temb_dim, dropout), "res")
                channels = nf * mult
                if resolution in attn_resolutions:
                    add(AttnBlock(channels), "attn")
                self._plan.append("push")
                skips.append(channels)
            if level != len(ch_mult) - 1:
                add(ResBlock(channels, channels, temb_dim, dropout, "down"), "res")
                self._plan.append("push")
                skips.append(channels)
                resolution //= 2
        add(ResBlock(channels, channels, temb_dim, dropout), "res")
        add(AttnBlock(channels), "attn")
        add(ResBlock(channels, channels, temb_dim, dropout), "res")
        for level, mult in reversed(list(enumerate(ch_mult))):
            for _ in range(num_res_blocks + 1):
                self._plan.append("pop")
                add(ResBlock(channels + skips.pop(), nf * mult, temb_dim, dropout), "res")
                channels = nf * mult
            if resolution in attn_resolutions:
                add(AttnBlock(channels), "attn")
            if level != 0:
                add(ResBlock(channels, channels, temb_dim, dropout, "up"), "res")
                resolution *= 2
        modules += [_group_norm(channels), nn.Conv2d(channels, num_channels, 3, padding=1)]
        self.nf = nf
        self.all_modules = nn.ModuleList(modules)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        """eps(x, labels): x [B, C, H, W] in [-1, 1], labels [B] float (t * 999)."""
        m = self.all_modules
        labels = labels.expand(x.shape[0]) if labels.dim() == 0 else labels
        temb = m[1](F.silu(m[0](time_embedding(labels, self.nf))))
        skips = [m[2](x)]
        h, index = skips[-1], 3
        for role in self._plan:
            if role == "push":
                skips.append(h)
            elif role == "pop":
                h = torch.cat([h, skips.pop()], dim=1)
            else:
                h = m[index](h, temb) if role == "res" else m[index](h)
                index += 1
        return m[index + 1](F.silu(m[index](h)))


# score-SDE config keys this implementation covers at one value only (None: any value, unused)
FIXED: dict[str, Any] = {
    "name": "ncsnpp", "resblock_type": "biggan", "attention_type": "ddpm", "progressive": "none",
    "progressive_input": "none", "progressive_combine": None, "combine_method": None,
    "embedding_type": "positional", "fourier_scale": None, "skip_rescale": True, "init_scale": None,
    "conditional": True, "centered": True, "scale_by_sigma": False, "nonlinearity": "swish",
    "normalization": None, "fir": False, "fir_kernel": None, "resamp_with_conv": None,
    "conv_size": 3, "ema_rate": None,
}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def load_score_sde_checkpoint(net: DDPMpp, path: Path, weights: str = "ema") -> DDPMpp:
    """Load a score-SDE training checkpoint (``{model, ema, optimizer, step}``) into ``net`` strictly.

    ``weights="ema"`` (what DiffPure runs) pairs ``ema.shadow_params``, an unnamed list in
    parameter order, with ``net``'s parameters by position, checking the count and every shape;
    ``"raw"`` loads ``model`` (keys with the training-time ``module.`` prefix stripped). A plain
    state dict (no ``ema`` key) is loaded strictly as it is.
    """
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an unreadable pickle or a non-torch file
        raise SourceError(f"{path}: not a loadable torch checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict):
        raise SourceError(f"{path} holds a {type(ckpt).__name__}, not a score-SDE checkpoint")
    if "ema" not in ckpt and "model" not in ckpt:
        return _load_strict(net, ckpt, path)
    raw = {k.removeprefix("module."): v for k, v in ckpt.get("model", {}).items()}
    if weights == "raw":
        return _load_strict(net, raw, path)
    shadow = ckpt.get("ema", {}).get("shadow_params") if isinstance(ckpt.get("ema"), dict) else None
    if not isinstance(shadow, (list, tuple)):
        raise SourceError(f"{path}: no ema.shadow_params list in the checkpoint (keys: {sorted(ckpt)})")
    return _load_strict(net, ema_state_dict(net, shadow, raw.get("sigmas"), path), path)


def ema_state_dict(net: nn.Module, shadow: Sequence[Tensor], sigmas: Tensor | None = None,
                   where: Any = "checkpoint") -> dict[str, Tensor]:
    """A state dict for ``net`` from EMA shadow parameters in parameter order (the buffers from
    ``sigmas``, or ``net``'s own); the count and each shape must match."""
    names = [name for name, p in net.named_parameters() if p.requires_grad]
    if len(shadow) != len(names):
        raise SourceError(f"{where}: {len(shadow)} EMA shadow parameters, the network has {len(names)}")
    own = net.state_dict()
    state = dict(own)
    for name, tensor in zip(names, shadow):
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise SourceError(f"{where}: EMA parameter for {name} has shape {tuple(tensor.shape)}, "
                              f"expected {tuple(own[name].shape)}")
        state[name] = tensor
    if sigmas is not None:
        state["sigmas"] = sigmas
    return state


def _load_strict(net: DDPMpp, state: dict[str, Tensor], path: Path) -> DDPMpp:
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise SourceError(f"weights {path} do not fit DDPM++: {err}") from None
    return net
