"""edgesdk.toml: the loader's one-line refusals, the example ``init`` writes, and the run lock
(no TensorFlow needed: every case here fails before a stage runs)."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgesdk.cli import app
from edgesdk.errors import ConfigError, ModelError
from edgesdk.pipeline.example import write_example
from edgesdk.pipeline.runner import run_pipeline
from edgesdk.pipeline.spec import load_pipeline, parse_pipeline
from edgesdk.pipeline.state import LOCK_FILE

GOOD = """
model = "m.keras"
data = "calib.npy"

[targets.mcu]
profile = "arduino-nano-33-ble"
stages = ["quantize", "export-c", "emulate"]

[targets.mcu.quantize]
samples = 50

[targets.mcu.export-c]
engine = "tflm"

[targets.mcu.gates]
flash_bytes = 300000
instructions = 5000000
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "m.keras").write_bytes(b"not read before a stage runs")
    (tmp_path / "calib.npy").write_bytes(b"")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "edgesdk.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads_with_paths_resolved(folder):
    spec = load_pipeline(write(folder, GOOD))
    assert spec.model == folder / "m.keras" and spec.data == folder / "calib.npy"
    assert spec.out == folder / "edgesdk-run"
    (mcu,) = spec.targets
    assert mcu.stage_names() == ("quantize", "export-c", "emulate")
    assert mcu.stages[0].options_dict() == {"samples": 50}
    assert dict(mcu.gates) == {"flash_bytes": 300000.0, "instructions": 5000000.0}


BROKEN = [
    # (what is changed, how, the words the one line must hold)
    (
        "unknown top key",
        GOOD.replace('data = "calib.npy"', 'dataa = "calib.npy"'),
        ["Unknown key 'dataa'", "valid keys: data, model, out, schema_version, targets"],
    ),
    (
        "unknown target key",
        GOOD.replace('profile = "', 'profle = "x"\nprofile = "'),
        ["Unknown key 'profle' in targets.mcu", "valid keys:", "profile", "stages", "gates"],
    ),
    (
        "unknown stage option",
        GOOD.replace("samples = 50", "sample = 50"),
        ["Unknown key 'sample' in targets.mcu.quantize", "samples", "max_accuracy_drop"],
    ),
    (
        "unknown gate",
        GOOD.replace("flash_bytes =", "flash =", 1),
        ["Unknown key 'flash' in targets.mcu.gates", "flash_bytes", "ram_bytes"],
    ),
    (
        "missing model",
        GOOD.replace("m.keras", "gone.keras"),
        ["Model", "gone.keras", "does not exist"],
    ),
    (
        "impossible order",
        GOOD.replace('"export-c", "emulate"', '"emulate", "export-c"'),
        ["Impossible stage order", "'emulate' comes before 'export-c'"],
    ),
    (
        "missing need",
        GOOD.replace('"quantize", "export-c", "emulate"', '"quantize", "emulate"').replace(
            '[targets.mcu.export-c]\nengine = "tflm"\n', ""
        ),
        ["Impossible stage order", "'emulate' needs 'export-c'"],
    ),
    (
        "unknown stage",
        GOOD.replace('"emulate"]', '"emulat"]'),
        ["Unknown stage 'emulat'", "valid stages: compress, quantize"],
    ),
    (
        "compress not first",
        GOOD.replace('["quantize",', '["quantize", "compress",')
        + '\n[targets.mcu.compress]\ndata = "calib.npy"\n',
        ["Impossible stage order", "'compress' must come first"],
    ),
    (
        "report not last",
        GOOD.replace('"emulate"]', '"report", "emulate"]'),
        ["Impossible stage order", "'report' must come last"],
    ),
    (
        "compress without its training data",
        GOOD.replace('["quantize",', '["compress", "quantize",'),
        ["Missing key 'data' in targets.mcu.compress"],
    ),
    (
        "compress list option of another type",
        GOOD.replace('["quantize",', '["compress", "quantize",')
        + '\n[targets.mcu.compress]\ndata = "calib.npy"\nskip_layers = "conv"\n',
        ["Invalid targets.mcu.compress.skip_layers='conv'", "list of non-empty strings"],
    ),
    (
        "deploy without a device or group",
        GOOD.replace('"emulate"]', '"emulate", "deploy"]')
        + "\n[targets.mcu.deploy]\nlock_wait = 5\n",
        [
            "Stage 'deploy' in targets.mcu takes exactly one of the keys 'device' and 'group'",
            "(found neither)",
        ],
    ),
    (
        "deploy to a device and a group",
        GOOD.replace('"emulate"]', '"emulate", "deploy"]')
        + '\n[targets.mcu.deploy]\ndevice = "pi"\ngroup = "lab"\n',
        ["takes exactly one of the keys 'device' and 'group' (found both)"],
    ),
    (
        "gate without its stage",
        GOOD.replace(', "emulate"]', "]"),
        ["Gate 'flash_bytes'", "stage 'emulate'"],
    ),
    (
        "options of an unlisted stage",
        GOOD.replace(', "export-c", "emulate"]', "]").replace(
            "[targets.mcu.gates]\nflash_bytes = 300000\ninstructions = 5000000\n", ""
        ),
        ["Options for stage 'export-c'"],
    ),
    (
        "wrong type",
        GOOD.replace("samples = 50", 'samples = "many"'),
        ["Invalid targets.mcu.quantize.samples='many'", "non-negative integer"],
    ),
    (
        "target name leaving the folder",
        GOOD.replace("targets.mcu", 'targets."../../x"'),
        ["Invalid target name '../../x'"],
    ),
    ("bad toml", GOOD + "[[", ["Invalid TOML"]),
]


@pytest.mark.parametrize("case, text, words", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_file_is_one_line(folder, case, text, words):
    path = write(folder, text)
    with pytest.raises(ConfigError) as e:
        load_pipeline(path)
    for w in words:
        assert w in str(e.value), (case, str(e.value))
    r = CliRunner().invoke(app, ["run", str(path)])
    assert r.exit_code == 1, r.output
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error:"), r.stderr
    assert words[0] in r.stderr.replace("\n", " ")
    assert not (folder / "edgesdk-run").exists()  # nothing half-written


def test_the_good_file_passes_the_same_checks(folder):
    """The cases above break one thing each in a file that loads (every check can fail)."""
    assert parse_pipeline(GOOD, folder / "edgesdk.toml").targets[0].name == "mcu"


def test_a_missing_file_and_an_unknown_target_or_stage_are_one_line(folder):
    r = CliRunner().invoke(app, ["run", str(folder / "nope.toml")])
    assert r.exit_code == 1 and "Cannot read pipeline file" in r.stderr
    path = write(folder, GOOD)
    r = CliRunner().invoke(app, ["run", str(path), "--target", "pi"])
    assert (
        r.exit_code == 1 and "Unknown target 'pi'" in r.stderr and "valid targets: mcu" in r.stderr
    )
    r = CliRunner().invoke(app, ["run", str(path), "--stage", "deploy"])
    assert r.exit_code == 1 and "has no stage 'deploy'" in r.stderr
    assert not (folder / "edgesdk-run").exists()


VALUES = [
    ("samples = 50", 'mode = "int4"', "targets.mcu.quantize: Invalid mode='int4'"),
    ("samples = 50", "max_accuracy_drop = 0.01", "targets.mcu.quantize: An accuracy budget needs"),
    ('engine = "tflm"', 'engine = "tvm"', "targets.mcu.export-c: Invalid engine='tvm'"),
    (
        'engine = "tflm"',
        'engine = "standalone"\nkernels = "cmsis-nn"',
        "targets.mcu.export-c: Invalid kernels='cmsis-nn' (must be one of: portable, dsp) "
        "for engine='standalone'",
    ),
]


@pytest.mark.parametrize("old, new, message", VALUES)
def test_option_values_are_checked_before_anything_runs(folder, old, new, message):
    path = write(folder, GOOD.replace(old, new))
    load_pipeline(path)  # the keys and types are right: the values are the stage's to judge
    r = CliRunner().invoke(app, ["run", str(path)])
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith(f"error: {message}") and r.stderr.strip().count("\n") == 0
    assert not (folder / "edgesdk-run").exists()


COMPRESS = '["compress", "quantize",'
NEW_STAGES = [
    (
        '["quantize",', COMPRESS, '[targets.mcu.compress]\ndata = "calib.npy"\nmax_accuracy_drop = 0.01',
        "targets.mcu.compress: An accuracy budget (`max_accuracy_drop`) chooses per-layer pruning",
    ),
    (
        '["quantize",', COMPRESS, '[targets.mcu.compress]\ndata = "calib.npy"\nschedule = "cubic"',
        "targets.mcu.compress: Invalid schedule='cubic'",
    ),
    (
        '["quantize",', COMPRESS,
        '[targets.mcu.compress]\ndata = "calib.npy"\nprune = 0.5\nmax_accuracy_drop = 0.1\n'
        "int8 = false",
        "targets.mcu.compress: An accuracy budget (`max_accuracy_drop`) is verified on the int8",
    ),
    (
        '"emulate"]', '"emulate", "export-coreml"]', "",
        "targets.mcu.export-coreml: Invalid profile arduino-nano-33-ble for stage export-coreml",
    ),
]  # fmt: skip


@pytest.mark.parametrize("old, new, table, message", NEW_STAGES)
def test_the_option_values_of_compress_and_export_coreml_are_checked_first(
    folder, old, new, table, message
):
    path = write(folder, GOOD.replace(old, new) + "\n" + table + "\n")
    load_pipeline(path)
    r = CliRunner().invoke(app, ["run", str(path)])
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith(f"error: {message}"), r.stderr
    assert r.stderr.strip().count("\n") == 0 and not (folder / "edgesdk-run").exists()


def test_an_unknown_device_is_one_line_before_anything_runs(folder, monkeypatch, tmp_path):
    monkeypatch.setenv("EDGESDK_HOME", str(tmp_path / "config"))
    text = (
        GOOD.replace('"emulate"]', '"emulate", "deploy"]')
        + '\n[targets.mcu.deploy]\ndevice = "pi"\n'
    )
    r = CliRunner().invoke(app, ["run", str(write(folder, text))])
    assert r.exit_code == 1 and r.stderr.startswith("error: targets.mcu.deploy: "), r.stderr
    assert "'pi'" in r.stderr and not (folder / "edgesdk-run").exists()
    r = CliRunner().invoke(app, ["run", str(write(folder, text.replace("device =", "group =")))])
    assert r.exit_code == 1 and r.stderr.startswith("error: targets.mcu.deploy: "), r.stderr
    assert "No devices in group 'pi'" in r.stderr and not (folder / "edgesdk-run").exists()
    text += "canary = 1\n"  # a group's option, given with one device
    r = CliRunner().invoke(app, ["run", str(write(folder, text))])
    assert r.stderr == "error: targets.mcu.deploy: `canary` needs `group`\n", r.stderr
    from edgesdk.devices.inventory import Device, Inventory

    Inventory().add_many(
        [
            Device(f"d{i}", "127.0.0.1", 22, "root", None, "python3", "/tmp/x", groups=("pi",))
            for i in range(2)
        ]
    )  # fmt: skip  (never contacted: the checks fail first)
    group = text.replace('device = "pi"', 'group = "pi"')
    for option, message in (
        ("canary = 3", "Invalid canary=3 (must be 0-2 for group 'pi')"),
        ("parallel = 0", "Invalid parallel=0"),
        ("lock_wait = 5", "`lock_wait` needs `device`"),
    ):
        r = CliRunner().invoke(
            app, ["run", str(write(folder, group.replace("canary = 1", option)))]
        )
        assert r.exit_code == 1 and r.stderr.startswith(f"error: targets.mcu.deploy: {message}"), (
            r.stderr
        )
        assert not (folder / "edgesdk-run").exists()


def hold_lock(out: Path) -> int:
    """Take the run lock as a run in another process holds it (flock is per open file)."""
    out.mkdir(exist_ok=True)
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_second_run_in_the_same_folder_waits_then_is_refused_in_one_line(folder):
    path = write(folder, GOOD)
    out = folder / "edgesdk-run"
    fd = hold_lock(out)
    try:
        start = time.monotonic()
        r = CliRunner().invoke(app, ["run", str(path), "--lock-wait", "0.5"])
        assert time.monotonic() - start >= 0.5  # it waited before giving up
        assert r.exit_code == 1, r.output
        assert "Another run is using" in r.stderr and "waited 0.5 s" in r.stderr
        assert r.stderr.strip().count("\n") == 0
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # no stage started
        with pytest.raises(ConfigError, match="Invalid lock_wait=-1"):
            run_pipeline(path, lock_wait=-1)
    finally:
        os.close(fd)


def test_a_second_run_goes_on_once_the_first_releases_the_folder(folder):
    path = write(folder, GOOD)  # its model is not a model: the run fails in quantize
    fd = hold_lock(folder / "edgesdk-run")
    releaser = threading.Timer(0.5, os.close, (fd,))
    releaser.start()
    start = time.monotonic()
    try:
        with pytest.raises(ModelError, match="m.keras"):  # past the lock, into the stage
            run_pipeline(path, lock_wait=30)
    finally:
        releaser.join()
    assert 0.5 <= time.monotonic() - start
    assert (folder / "edgesdk-run" / "mcu" / "state.json").exists()


def test_init_writes_a_commented_example_that_run_loads(folder):
    r = CliRunner().invoke(
        app, ["init", str(folder / "m.keras"), "--target", "arduino-nano-33-ble", "--data",
              str(folder / "calib.npy"), "-o", str(folder / "edgesdk.toml")],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    text = (folder / "edgesdk.toml").read_text()
    assert text.count("\n#") > 5  # commented
    spec = load_pipeline(folder / "edgesdk.toml")
    assert spec.targets[0].stage_names() == ("quantize", "export-c", "emulate")
    assert dict(spec.targets[0].gates) == {"flash_bytes": 786432.0, "ram_bytes": 196608.0}
    # the commented compress table, uncommented, with compress first and report last: loads
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# [targets.") and
                 ".compress]" in line)  # fmt: skip
    for i in range(start, start + 5):
        lines[i] = lines[i].removeprefix("# ")
    (folder / "train.npz").write_bytes(b"")
    edited = "\n".join(lines).replace(
        'stages = ["quantize", "export-c", "emulate"]',
        'stages = ["compress", "quantize", "export-c", "emulate", "report"]',
    )
    (folder / "edgesdk.toml").write_text(edited)
    spec = load_pipeline(folder / "edgesdk.toml")
    assert spec.targets[0].stages[0].options_dict()["prune"] == 0.5
    (folder / "edgesdk.toml").write_text(text)
    r = CliRunner().invoke(
        app, ["init", str(folder / "m.keras"), "-o", str(folder / "edgesdk.toml")]
    )
    assert r.exit_code == 1 and "exists" in r.stderr and "--force" in r.stderr


def test_init_for_a_phone_target_quantizes_only_and_refuses_an_unknown_profile(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"x")
    path = write_example(tmp_path / "m.keras", "android-arm64", tmp_path / "p.toml", None, False)
    assert load_pipeline(path).targets[0].stage_names() == ("quantize",)
    assert "# labels = " in path.read_text()  # a phone: the package table, commented
    text = path.read_text().replace('stages = ["quantize"]', 'stages = ["quantize", "package"]')
    text = text.replace("# [targets.android-arm64.package]", "[targets.android-arm64.package]")
    (tmp_path / "labels.txt").write_text("a\n")
    (tmp_path / "p.toml").write_text(text.replace("# labels = ", "labels = "))
    assert load_pipeline(tmp_path / "p.toml").targets[0].stage_names() == ("quantize", "package")
    with pytest.raises(ConfigError):
        write_example(tmp_path / "m.keras", "no-such-board", tmp_path / "q.toml", None, False)
    assert not (tmp_path / "q.toml").exists()
