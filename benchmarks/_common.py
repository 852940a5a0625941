"""Helpers shared by the benchmark scripts: timing of whole commands, medians, a ratio line."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one run of ``cmd`` (must succeed)."""
    start = time.perf_counter()
    r = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    elapsed = time.perf_counter() - start
    if r.returncode != 0:
        raise SystemExit(
            f"benchmark command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}"
        )
    return elapsed


def alternate(a: list[str], b: list[str], repeats: int) -> tuple[list[float], list[float]]:
    """Run ``a`` and ``b`` alternately ``repeats`` times each (so drift hits both alike)."""
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(timed(a))
        tb.append(timed(b))
    return ta, tb


def report(
    name: str, label_a: str, ta: list[float], label_b: str, tb: list[float], goal: str
) -> float:
    ma, mb = statistics.median(ta), statistics.median(tb)
    ratio = ma / mb
    print(f"{name}")
    print(f"  {label_a:<34} median {ma:7.3f} s  runs {', '.join(f'{t:.3f}' for t in ta)}")
    print(f"  {label_b:<34} median {mb:7.3f} s  runs {', '.join(f'{t:.3f}' for t in tb)}")
    print(f"  ratio {label_a} / {label_b} = {ratio:.2f}x   (goal {goal})")
    return ratio


def add_device(
    env: dict[str, str], name: str, server: Any, key: Path, workdir: Path, *extra: str
) -> None:
    """`edgesdk device add` for a loopback sshd from tests/sshd.py, with this Python on the device."""
    subprocess.run(
        [
            str(BIN / "edgesdk"),
            "device",
            "add",
            name,
            "--host",
            server.host,
            "--port",
            str(server.port),
            "--user",
            "root",
            "--key",
            str(key),
            "--python",
            sys.executable,
            "--workdir",
            str(workdir),
            *extra,
        ],
        env=env,
        check=True,
        capture_output=True,
    )


def fashion_cnn(x_train: Any, y_train: Any) -> Any:
    """The Fashion-MNIST CNN the compression benchmarks start from, trained 8 epochs."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(128, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="classes"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=8, batch_size=128, verbose=0)
    return model
