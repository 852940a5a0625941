"""The firmware engines are a table: a third engine added to it is reached by ``export-c
--engine``, ``emulate`` (through the bundle's export.json), the API and ``report`` with no other
edit; an unknown engine is one ConfigError line; the engine name is decided in one module."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from standalone_models import whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.core.results import JsonResult
from edgesdk.errors import ConfigError, ExportError, FirmwareError
from edgesdk.firmware import engines

runner = CliRunner()
TARGET = "arduino-nano-33-ble"
PACKAGE = Path(edgesdk.__file__).parent


@dataclass(frozen=True)
class FakeResult(JsonResult):
    kind: str
    where: str
    target: str

    def to_dict(self) -> dict[str, Any]:
        return {"engine": "fake", "kind": self.kind, "where": self.where, "target": self.target}

    def first_mismatch(self) -> None:
        return None

    @property
    def fits(self) -> bool:
        return True


class FakeEngine:
    """A third engine: writes a bundle with an export.json that names it, and 'emulates' it."""

    OPTIONS: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def export(self, request: engines.ExportRequest) -> FakeResult:
        self.calls.append(("export", request))
        out = Path(request.out_dir)
        out.mkdir(parents=True)
        (out / "export.json").write_text(
            json.dumps(
                {
                    "engine": "fake",
                    "name": "fake",
                    "target": request.profile.name,
                    "files": ["export.json"],
                }
            )  # fmt: skip
        )
        return FakeResult("export", str(out), request.profile.name)

    def emulate(self, request: engines.EmulateRequest) -> FakeResult:
        self.calls.append(("emulate", request))
        return FakeResult("emulate", str(request.bundle_dir), "from the bundle")


@pytest.fixture
def fake(monkeypatch) -> FakeEngine:
    engine = FakeEngine()
    monkeypatch.setitem(engines.ENGINES, "fake", engine)
    return engine


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("engines") / "digits_cnn.tflite"
    path.write_bytes(whole_model("digits_cnn"))
    return path


def test_a_third_engine_is_reached_from_the_cli_with_no_other_edit(fake, model, tmp_path):
    out = tmp_path / "bundle"
    r = runner.invoke(app, ["export-c", str(model), "-o", str(out), "-t", TARGET,
                            "--engine", "fake"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert [c[0] for c in fake.calls] == ["export"]
    request = fake.calls[0][1]
    assert request.profile.name == TARGET and Path(request.out_dir) == out
    assert "engine fake" in r.output  # the CLI's plain view for an engine without its own
    r = runner.invoke(app, ["emulate", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert [c[0] for c in fake.calls] == ["export", "emulate"]
    assert fake.calls[1][1].bundle_dir == out
    assert json.loads(r.output)["kind"] == "emulate"


def test_a_third_engine_is_reached_from_the_api(fake, model, tmp_path):
    result = edgesdk.export_c(model, tmp_path / "b", TARGET, engine="fake")
    assert result.to_dict()["kind"] == "export"
    assert edgesdk.emulate(tmp_path / "b").to_dict()["kind"] == "emulate"
    assert edgesdk.emulate_model(model, TARGET, engine="fake").to_dict()["kind"] == "emulate"


def test_an_option_the_engine_lacks_is_refused_by_the_table(fake, model, tmp_path):
    with pytest.raises(ExportError, match=r"integer_only needs engine='standalone'"):
        edgesdk.export_c(model, tmp_path / "b", TARGET, engine="fake", integer_only=True)
    assert fake.calls == [] and not (tmp_path / "b").exists()


def test_an_unknown_engine_is_one_config_error_line_and_writes_nothing(model, tmp_path):
    with pytest.raises(ConfigError, match=r"^Invalid engine='nope' \(must be one of: tflm, "):
        edgesdk.export_c(model, tmp_path / "b", TARGET, engine="nope")
    r = runner.invoke(app, ["export-c", str(model), "-o", str(tmp_path / "c"), "-t", TARGET,
                            "--engine", "nope"])  # fmt: skip
    assert r.exit_code != 0
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "Invalid engine='nope'" in lines[0], r.output
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_a_bundle_naming_an_engine_not_in_the_table_is_refused(tmp_path):
    (tmp_path / "export.json").write_text(json.dumps({"engine": "fake"}))
    with pytest.raises(FirmwareError, match=r"Invalid engine='fake' in .*must be one of"):
        edgesdk.emulate(tmp_path)


def _engine_literals(path: Path, root: Path = PACKAGE) -> list[str]:
    """Where a module spells an engine's name as a string, or compares an engine to a string."""
    names = {e.value for e in engines.Engine}
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = any("engine" in ast.unparse(s).lower() for s in sides)
            literal = any(isinstance(s, ast.Constant) and isinstance(s.value, str) for s in sides)
            if named and literal:
                found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node)}")
        elif isinstance(node, ast.Constant) and node.value == engines.Engine.STANDALONE.value:
            found.append(f"{path.relative_to(root)}:{node.lineno} {node.value!r}")
        elif isinstance(node, ast.keyword) and node.arg == "engine":
            if isinstance(node.value, ast.Constant) and node.value.value in names:
                found.append(f"{path.relative_to(root)}:{node.lineno} engine={node.value!r}")
    return found


def test_the_engine_name_is_decided_in_one_module():
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "firmware" / "engines.py"
        for hit in _engine_literals(path)
    ]
    assert found == []


def test_the_literal_check_can_fail(tmp_path):
    """A branch on an engine string, as the code had before the table, is caught."""
    bad = tmp_path / "branch.py"
    bad.write_text('def f(engine):\n    return engine == "standalone"\n')
    assert len(_engine_literals(bad, tmp_path)) == 2  # the comparison and the literal
