"""Manifests beside every artifact, and `edgesdk report` from saved results only."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from html.parser import HTMLParser
from importlib import metadata

import numpy as np
import pytest
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app

runner = CliRunner()
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def results(tmp_path_factory, trained_cnn, digits_npz, digits):
    """A folder with what quantize, export-c, evaluate --save and benchmark --save leave."""
    folder = tmp_path_factory.mktemp("results")
    _, x_test, _, y_test = digits
    np.savez(folder / "test.npz", x=x_test, y=y_test)
    tflite = folder / "cnn_int8.tflite"
    edgesdk.quantize(
        trained_cnn, digits_npz, tflite, target="esp32-s3",
        max_accuracy_drop=0.05, eval_data=folder / "test.npz",
    )  # fmt: skip
    edgesdk.export_c(tflite, folder / "bundle", target="esp32-s3")
    steps = [
        ["evaluate", str(trained_cnn), str(tflite), "--data", str(folder / "test.npz"),
         "--save", str(folder / "evaluate.json")],
        ["benchmark", str(tflite), "--runs", "30", "--warmup", "2",
         "--save", str(folder / "benchmark.json")],
    ]  # fmt: skip
    for argv in steps:
        r = runner.invoke(app, argv)
        assert r.exit_code == 0, r.output
    return folder


def test_quantize_manifest_hashes_inputs_outputs_and_calibration(results, trained_cnn, digits_npz):
    tflite = results / "cnn_int8.tflite"
    manifest = json.loads((results / "cnn_int8.tflite.manifest.json").read_text())
    assert manifest["command"] == "quantize" and manifest["schema_version"] == 1
    assert manifest["artifact"]["sha256"] == _sha(tflite)
    assert manifest["artifact"]["bytes"] == tflite.stat().st_size
    assert manifest["inputs"]["model"]["sha256"] == _sha(trained_cnn)
    assert manifest["inputs"]["data"]["sha256"] == _sha(digits_npz)
    cal = manifest["calibration"]
    assert re.fullmatch(r"[0-9a-f]{64}", cal["sha256"]) and cal["samples"] == 200
    assert manifest["target"]["name"] == "esp32-s3"
    assert manifest["options"]["max_accuracy_drop"] == 0.05
    for package in ("edgesdk", "tensorflow", "ai-edge-litert", "tflite-micro"):
        assert manifest["versions"][package] == metadata.version(package)
    assert manifest["result"]["size"]["raw_bytes"] == tflite.stat().st_size


def test_calibration_hash_follows_the_samples(tmp_path, trained_cnn, digits_npz):
    def calibration_hash(seed: int, name: str) -> str:
        out = tmp_path / name
        edgesdk.quantize(trained_cnn, digits_npz, out, options=edgesdk.QuantizeOptions(seed=seed))
        return json.loads(out.with_name(name + ".manifest.json").read_text())["calibration"][
            "sha256"
        ]

    first = calibration_hash(0, "a.tflite")
    assert calibration_hash(0, "b.tflite") == first  # same samples, same hash
    assert calibration_hash(1, "c.tflite") != first  # another shuffle, other samples


def test_export_bundle_has_a_manifest(results):
    bundle = results / "bundle"
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["command"] == "export-c"
    assert manifest["inputs"]["model"]["sha256"] == _sha(results / "cnn_int8.tflite")
    assert manifest["target"]["name"] == "esp32-s3"
    assert manifest["result"]["arena_declared"] > 0
    assert "manifest.json" in json.loads((bundle / "export.json").read_text())["files"]


class _Checker(HTMLParser):
    """Checks that tags are balanced and collects image sources and links."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if "href" in attrs:
            self.links.append(attrs["href"])
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")


def _check_markdown_tables(text: str) -> int:
    lines = text.splitlines()
    tables = 0
    for i, line in enumerate(lines):
        if re.fullmatch(r"\|(---\|)+", line):
            header = lines[i - 1]
            cols = len(re.split(r"(?<!\\)\|", header)) - 2
            assert cols == line.count("---"), header
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert len(re.split(r"(?<!\\)\|", lines[j])) - 2 == cols, lines[j]
                j += 1
            tables += 1
    return tables


def test_report_from_saved_results_only(results, tmp_path):
    saved = tmp_path / "saved"
    for path in results.rglob("*.json"):  # the results, without any model or data file
        target = saved / path.relative_to(results)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    assert not list(saved.rglob("*.tflite")) and not list(saved.rglob("*.npz"))
    r = runner.invoke(app, ["report", str(saved), "--json"])
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout)
    assert len(made["plots"]) >= 3  # accuracy vs size, latency, per-layer error
    md = (saved / "report" / "report.md").read_text()
    assert md.startswith("# edgesdk report")
    for title in ("## Quantization", "## Accuracy budget search", "## Evaluation", "## Latency",
                  "## C export", "## Manifests", "## Accuracy vs size"):  # fmt: skip
        assert title in md, title
    assert _check_markdown_tables(md) >= 5
    for ref in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md):
        assert (saved / "report" / ref).read_bytes().startswith(PNG_MAGIC)

    page = (saved / "report" / "report.html").read_text()
    checker = _Checker()
    checker.feed(page)
    assert not checker.errors and not checker.stack
    assert page.startswith("<!DOCTYPE html>")
    assert len(checker.images) == len(made["plots"]) and not checker.links
    for src in checker.images:  # self-contained: every plot is embedded
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_MAGIC)


def test_report_on_a_folder_without_results_is_one_line(tmp_path):
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    r = runner.invoke(app, ["report", str(tmp_path)])
    assert r.exit_code == 1
    assert r.output.startswith("error: No edgesdk results in") and r.output.count("\n") == 1
    assert not (tmp_path / "report").exists()
