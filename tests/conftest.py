"""Shared fixtures: tiny Keras models built in code, real offline datasets (scikit-learn digits)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/sshd.py


@pytest.fixture(scope="session")
def digits():
    """scikit-learn digits: x_train, x_test, y_train, y_test (float32 in [0, 1], NHWC)."""
    from edgesdk.demos.digits import load_digits_split

    return load_digits_split()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def digits_npz(workdir, digits) -> Path:
    x_train, _, y_train, _ = digits
    path = workdir / "digits_train.npz"
    np.savez(path, x=x_train, y=y_train)
    return path


@pytest.fixture(scope="session")
def trained_cnn(workdir, digits) -> Path:
    """The digits CNN (Conv2D, DepthwiseConv2D, BatchNorm, residual Add, GAP, Dense), trained briefly."""
    from edgesdk.demos.digits import train_digits_cnn

    x_train, _, y_train, _ = digits
    model = train_digits_cnn(x_train, y_train, epochs=8)
    path = workdir / "digits_cnn.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def multi_input_model(workdir) -> tuple[Path, Path]:
    """A two-input Keras 3 model and an .npz holding one array per input name."""
    import keras

    keras.utils.set_random_seed(1)
    image = keras.Input((8, 8, 1), name="image")
    meta = keras.Input((3,), name="meta")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    m = keras.layers.Dense(8, activation="relu")(meta)
    x = keras.layers.Concatenate()([x, m])
    out = keras.layers.Dense(4)(x)
    model = keras.Model([image, meta], out)
    path = workdir / "two_inputs.keras"
    model.save(path)
    rng = np.random.default_rng(0)
    data = workdir / "two_inputs.npz"
    # meta has a very different range from image: swapping the inputs would ruin fidelity
    np.savez(
        data,
        meta=(rng.normal(size=(240, 3)) * 20).astype(np.float32),
        image=rng.random((240, 8, 8, 1), dtype=np.float32),
    )
    return path, data


@pytest.fixture(scope="session")
def saved_model_dir(workdir, trained_cnn) -> Path:
    import keras

    model = keras.saving.load_model(trained_cnn)
    path = workdir / "digits_saved_model"
    model.export(str(path), verbose=False)
    return path


@pytest.fixture(scope="session")
def legacy_h5(workdir) -> Path:
    """A model saved as .h5 by tf_keras (Keras 2), as older projects have them."""
    path = workdir / "legacy.h5"
    code = f"""
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tf_keras as k
k.utils.set_random_seed(0)
m = k.Sequential([k.Input((8, 8, 1)), k.layers.Conv2D(8, 3, activation="relu"),
                  k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
m.save({str(path)!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return path


REPO = Path(__file__).resolve().parent.parent
DEVICE_VENV_PYTHON = REPO / ".venv-device" / "bin" / "python"


def edit_history(workdir: Path, **fields: list) -> None:
    """Set fields of a device's history entries as a device could hold them: the values go to
    the oldest entries first.

    The one place in the tests that knows the on-device format: {"deployments": [{"sha256",
    "name", "size", "file", "deployed_at"}, ...]}; other keys are kept as they are.
    """
    import json

    path = workdir / "deployments.json"
    data = json.loads(path.read_text())
    for key, values in fields.items():
        for entry, value in zip(data["deployments"], values, strict=False):
            entry[key] = value
    path.write_text(json.dumps(data))


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory):
    """A real OpenSSH server on 127.0.0.1 with a fresh ed25519 host key and client key."""
    from sshd import keygen, start_sshd

    folder = tmp_path_factory.mktemp("sshd")
    client_key = keygen(folder / "client_key")
    server = start_sshd(folder / "server", client_key)
    yield server
    server.stop()


def host_fingerprint(server) -> str:
    import base64
    import hashlib

    blob = base64.b64decode(server.host_public_key)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.fixture
def ssh_home(tmp_path, monkeypatch):
    """A private HOME (~/.ssh) and EDGESDK_HOME for one test."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("EDGESDK_HOME", str(tmp_path / "edgesdk-config"))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


@pytest.fixture
def trusted_device(ssh_home, sshd_server, tmp_path):
    """Device 'pi' (this venv's Python, LiteRT) with a hostile workdir, host key already trusted."""
    workdir = str(tmp_path / "dev dir 'q' \"dq\" $(touch PWNED) `touch PWNED2`")
    return add_trusted_device(sshd_server, workdir)


def add_trusted_device(sshd_server, workdir: str):
    """Device 'pi' on ``sshd_server`` (this venv's Python) working in ``workdir``, its host key
    trusted in $EDGESDK_HOME."""
    from edgesdk.devices.inventory import Device, Inventory, config_home

    device = Inventory().add(
        Device(
            "pi",
            "127.0.0.1",
            sshd_server.port,
            "root",
            str(sshd_server.client_key),
            sys.executable,
            workdir,
        )
    )
    config_home().mkdir(parents=True, exist_ok=True)
    (config_home() / "known_hosts").write_text(sshd_server.known_hosts_line())
    return device


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """Three float .tflite files: a, b (tiny, different) and big (~5.8 MB)."""
    import keras
    import tensorflow as tf

    folder = tmp_path_factory.mktemp("tflite")
    paths = {}
    for name, width, layers in (("a", 16, 1), ("b", 32, 1), ("big", 700, 3)):
        keras.utils.set_random_seed(len(name) + width)
        inputs = keras.Input((width,))
        x = inputs
        for _ in range(layers):
            x = keras.layers.Dense(width, activation="relu")(x)
        model = keras.Model(inputs, keras.layers.Dense(4)(x))
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return paths


@pytest.fixture(scope="session")
def keras2_depthwise_h5(workdir, digits_npz) -> Path:
    """A Keras 2 file Keras 3 refuses: tf_keras Conv2D → DepthwiseConv2D (saved with
    ``groups: 1``) → pooling → Dense, trained briefly on digits, with an old optimizer config
    (``lr``, ``decay``) in its training config, as TF 2.3-2.15 projects left them."""
    path = workdir / "keras2_depthwise.h5"
    code = f"""
import json, os
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import h5py, numpy as np, tf_keras as k
k.utils.set_random_seed(0)
d = np.load({str(digits_npz)!r})
m = k.Sequential([k.Input((8, 8, 1)), k.layers.Conv2D(16, 3, padding="same", activation="relu"),
                  k.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
                  k.layers.MaxPooling2D(), k.layers.Flatten(), k.layers.Dense(10, activation="softmax")])
m.compile(optimizer=k.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
m.fit(d["x"], d["y"], epochs=6, batch_size=32, verbose=0)
m.save({str(path)!r})
with h5py.File({str(path)!r}, "r+") as f:
    config = json.loads(f.attrs["training_config"])
    config["optimizer_config"]["config"] = {{"name": "Adam", "lr": 0.001, "decay": 0.0}}
    f.attrs["training_config"] = json.dumps(config)
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return path


@pytest.fixture(scope="session")
def split_npz(tmp_path_factory, digits):
    """Labelled digits as train.npz and val.npz (the held-out split)."""
    x_train, x_test, y_train, y_test = digits
    folder = tmp_path_factory.mktemp("compress_data")
    np.savez(folder / "train.npz", x=x_train, y=y_train)
    np.savez(folder / "val.npz", x=x_test, y=y_test)
    return folder / "train.npz", folder / "val.npz"


# the emulated-firmware tests: the Arm toolchain and a Cortex-M0 profile
@pytest.fixture(scope="session")
def toolchain():
    from edgesdk.errors import FirmwareError
    from edgesdk.firmware.toolchain import find_toolchain

    try:
        return find_toolchain()
    except FirmwareError as e:
        pytest.skip(f"firmware emulation unavailable: {e}")


@pytest.fixture(scope="session")
def cortex_m0(tmp_path_factory) -> Path:
    """A Cortex-M0 profile (the built-in rp2040 is an M0+), M0 compiler flags, run by qemu's
    Cortex-M0 (the micro:bit: an ARMv6-M core, which refuses ARMv7-M instructions itself)."""
    from edgesdk.core.profiles import _builtin_dir

    text = (_builtin_dir() / "rp2040.toml").read_text()
    text = text.replace('name = "rp2040"', 'name = "test-cortex-m0"')
    text = text.replace('core = "cortex-m0plus"', 'core = "cortex-m0"')
    text = text.replace('qemu_machine = "mps2-an385"', 'qemu_machine = "microbit"')
    text = text.replace('qemu_cpu = "cortex-m3"', 'qemu_cpu = "cortex-m0"')
    assert 'qemu_machine = "microbit"' in text
    path = tmp_path_factory.mktemp("profiles") / "test-cortex-m0.toml"
    path.write_text(text)
    return path


def require_firmware_tools() -> None:
    """Skip (one line naming what is missing) without the toolchain, qemu or TFLite Micro."""
    from edgesdk.errors import FirmwareError
    from edgesdk.firmware.tflm.emulation import REPO_ROOT
    from edgesdk.firmware.tflm.library import locate_source
    from edgesdk.firmware.toolchain import find_toolchain

    try:
        find_toolchain()
        locate_source(REPO_ROOT)
    except FirmwareError as e:
        pytest.skip(f"firmware emulation unavailable: {e}")
