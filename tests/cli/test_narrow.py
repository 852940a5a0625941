"""Every command's output at 80 and 60 columns (a pipe, a CI log): no figure or name is cut.

Each result comes from a real run; it is rendered by the CLI's own renderer at 200 columns
(the reference: every figure as the table rounds it) and at 80 and 60. Every token holding a
digit in the reference must appear whole in the narrow text, nothing may end in an ellipsis,
and the reference must really show the result's own numbers.
"""

from __future__ import annotations

import io
import re
import sys

import numpy as np
import pytest
from rich.console import Console

import edgesdk
from edgesdk.cli import render_runs, rendering

_BORDER = "│┃┆┊║─━┌┐└┘├┤┬┴┼┏┓┗┛┣┫┳┻╋╇╈┡┩┢┪┠┨┯┷┿╀╁╂╃╄╅╆╉╊╌╍"


def _render(func, obj, width: int) -> str:
    buffer = io.StringIO()
    func(obj, Console(file=buffer, width=width, color_system=None, force_terminal=False))
    return buffer.getvalue()


def _tokens(text: str) -> set[str]:
    words = (t.rstrip(":") for t in re.split(rf"[\s{_BORDER}]+", text))  # "p50:" is "p50"
    return {t for t in words if any(c.isdigit() for c in t)}


def check(func, obj, must_show: list[str]) -> None:
    wide = _render(func, obj, 200)
    for figure in must_show:
        assert figure in wide, f"{figure!r} missing even at 200 columns"
    reference = _tokens(wide)
    for width in (80, 60):
        text = _render(func, obj, width)
        assert "…" not in text, f"cut at {width} columns:\n{text}"
        lost = reference - _tokens(text)
        assert not lost, f"at {width} columns these figures are not whole: {sorted(lost)}\n{text}"
        assert max(len(line) for line in text.splitlines()) <= width or "…" not in text


@pytest.fixture(scope="module")
def int8(tmp_path_factory, trained_cnn, digits_npz):
    out = tmp_path_factory.mktemp("narrow") / "digits_int8.tflite"
    result = edgesdk.quantize(trained_cnn, digits_npz, out, target="arduino-nano-33-ble")
    return out, result


def test_quantize_and_inspect(int8):
    path, result = int8
    fid = result.fidelity[0]
    check(rendering.render_quantization, result, [f"{100 * fid.top1_agreement:.1f}%"])
    info = edgesdk.inspect(path)
    check(lambda i, c: rendering.render_model_info(i, c, str(path)), info, ["CONV_2D"])


def test_export_c(int8, tmp_path):
    exported = edgesdk.export_c(int8[0], tmp_path / "b", target="arduino-nano-33-ble")
    check(rendering.render_export, exported, [f"declared {exported.arena_declared} B"])


def test_evaluate_with_tflm(int8, trained_cnn, digits, tmp_path):
    _, x_test, _, y_test = digits
    np.savez(tmp_path / "test.npz", x=x_test, y=y_test)
    result = edgesdk.evaluate(trained_cnn, [int8[0]], str(tmp_path / "test.npz"), tflm=True)
    runs = {r.runtime: r for r in result.runs}
    check(render_runs.render_evaluation, result, [f"{100 * runs['TFLite Micro'].top1:.2f}%"])


def test_benchmark_locally(int8):
    from edgesdk.devices.benchmark import BenchmarkOptions

    result = edgesdk.benchmark(int8[0], options=BenchmarkOptions(runs=20, warmup=2))
    check(render_runs.render_benchmark, result, [])


def test_compress(trained_cnn, digits_npz, tmp_path):
    result = edgesdk.compress(
        trained_cnn, digits_npz, tmp_path / "p.keras", prune=0.5, epochs=1, int8=False
    )
    check(render_runs.render_compression, result, [f"{result.parameters:,}"])


def test_budget_search(trained_cnn, digits_npz, digits, tmp_path):
    _, x_test, _, y_test = digits
    np.savez(tmp_path / "test.npz", x=x_test, y=y_test)
    result = edgesdk.quantize(
        trained_cnn, digits_npz, tmp_path / "b.tflite", target="raspberry-pi-4",
        max_accuracy_drop=0.05, eval_data=tmp_path / "test.npz",
    )  # fmt: skip
    search = result.extra["search"]
    check(rendering.render_search, search, [f"{100 * search['float_accuracy']:.2f}%"])


def test_device_list_and_fleet_status(ssh_home):
    from edgesdk.devices.inventory import Device

    long_dir = "/srv/edge/models/production-fleet-2026/keyword-spotting-v12"
    for n in (2, 3):
        edgesdk.device_add(
            Device(
                f"pi-{n:02d}",
                f"127.0.0.{n}",
                1,
                "root",
                None,
                sys.executable,
                long_dir,
                None,
                ("lab",),
            )  # fmt: skip
        )  # port 1: nothing listens there, so the status run reports both as unreachable
    check(render_runs.render_devices, edgesdk.list_devices(), ["127.0.0.2", "127.0.0.3"])
    from edgesdk.devices.fleet import FleetOptions

    status = edgesdk.fleet_status("lab", FleetOptions(retries=0, connect_timeout=2))
    check(render_runs.render_fleet, status, ["127.0.0.2:1"])
