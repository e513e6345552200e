"""Noise-prediction networks: a diffusers ``UNet2DModel`` behind a plain ``eps(x, t)`` call."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

if TYPE_CHECKING:
    from diffusers import UNet2DModel


class EpsUNet(nn.Module):
    """Wraps a diffusers ``UNet2DModel`` so the sampler sees ``eps = net(x_t, t)`` and nothing else.

    A UNet that also predicts a variance (``out_channels == 2 * in_channels``) has its noise half
    kept, so DDPM's fixed variance is used either way.
    """

    def __init__(self, unet: "UNet2DModel"):
        super().__init__()
        self.unet = unet

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "EpsUNet":
        """A randomly initialised UNet of the given diffusers config (``_``-keys are ignored).
        diffusers is imported here, on first use: it takes seconds to import, and ``import zoo``
        for the registry alone should not pay that."""
        from diffusers import UNet2DModel

        return cls(UNet2DModel.from_config(config))

    @property
    def sample_size(self) -> int:
        return int(self.unet.config.sample_size)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        eps = self.unet(x, t).sample
        return eps[:, : x.shape[1]]
