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
