"""The demo's small convolutional classifier for 28x28 MNIST digits (classifier and guidance net)."""
from __future__ import annotations

from torch import Tensor, nn


class SmallCNN(nn.Module):
    """Two conv-conv-pool stages and a two-layer head; takes pixels in [0, 1], returns logits.

    Args:
        in_channels: image channels (1 for MNIST).
        num_classes: number of logits.
        width: channels of the first stage (the second has twice as many).
        image_size: input height and width (a multiple of 4).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 32,
                 image_size: int = 28):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(2 * w * (image_size // 4) ** 2, 128), nn.ReLU(), nn.Linear(128, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
