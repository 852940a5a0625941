"""PyTorch models built and trained in code on scikit-learn digits (imported by the torch tests;
also importable as ``module:function`` model specs)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn


def digits_nchw() -> tuple[np.ndarray, np.ndarray]:
    """All 1797 digits as float32 (N, 1, 8, 8) in [0, 1], and their labels."""
    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)


class DigitsCnn(nn.Module):
    """Conv - ReLU - MaxPool - Conv - ReLU - Linear: the MaxPool digits CNN."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        x = torch.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int = 15) -> nn.Module:
    """A few seeded epochs of Adam (enough for ~95% on digits)."""
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    order = np.random.default_rng(0)
    model.train()
    for _ in range(epochs):
        for idx in np.array_split(order.permutation(len(x)), max(1, len(x) // 64)):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return model.eval()


_TRAINED: dict[str, nn.Module] = {}


def trained_digits_cnn() -> nn.Module:
    """The digits CNN trained on the first 1400 digits (the rest are held out)."""
    if "cnn" not in _TRAINED:
        torch.manual_seed(0)
        x, y = digits_nchw()
        _TRAINED["cnn"] = train(DigitsCnn(), x[:1400], y[:1400])
    return _TRAINED["cnn"]


def not_a_module() -> str:
    """A model function that returns something else."""
    return "not a module"


def photo_patches(count: int = 400, size: int = 16) -> np.ndarray:
    """``count`` RGB patches (N, 3, size, size) in [0, 1] from scikit-learn's sample photos."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(0)
    photos = load_sample_images().images
    patches = []
    for i in range(count):
        photo = photos[i % len(photos)]
        r = rng.integers(0, photo.shape[0] - size)
        c = rng.integers(0, photo.shape[1] - size)
        patches.append(photo[r : r + size, c : c + size])
    return (np.stack(patches).astype(np.float32) / 255.0).transpose(0, 3, 1, 2).copy()


class RgbNet(nn.Module):
    """Conv + BatchNorm, a depthwise-separable block, a residual ADD, global average pool."""

    def __init__(self, mean: bool = False) -> None:
        super().__init__()
        self.mean = mean  # torch.relu and torch.mean: PT2E leaves the ADD and MEAN in float
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.separable = nn.Sequential(
            nn.Conv2d(16, 16, 3, padding=1, groups=16),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 16, 1),
            nn.BatchNorm2d(16),
        )
        self.relu = nn.ReLU()  # a module: PT2E fuses add + nn.ReLU, not add + torch.relu
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        if self.mean:
            x = torch.relu(x + self.separable(x))
            return self.head(torch.mean(x, dim=(2, 3)))
        x = self.relu(x + self.separable(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def rgb_net(mean: bool = False) -> nn.Module:
    """The RGB net with BatchNorm statistics gathered on the photo patches (no training)."""
    torch.manual_seed(0)
    model = RgbNet(mean).train()
    x = torch.from_numpy(photo_patches())
    with torch.no_grad():
        for part in x.split(50):
            model(part)
    return model.eval()


def rgb_net_with_mean() -> nn.Module:
    """:func:`rgb_net` with ``torch.relu`` after the ADD and ``torch.mean`` pooling (float
    islands after PT2E)."""
    return rgb_net(mean=True)
