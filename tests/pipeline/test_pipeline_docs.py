"""What the README and the CI example show is what `run` reads and does."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from edgesdk.pipeline.spec import parse_pipeline

ROOT = Path(__file__).resolve().parents[2]


def readme_pipeline() -> str:
    section = (ROOT / "README.md").read_text().split("## Pipelines and CI gates", 1)[1]
    return re.search(r"```toml\n(.*?)```", section, re.S).group(1)


def test_the_readme_pipeline_loads(tmp_path):
    text = readme_pipeline()
    (tmp_path / "digits.keras").write_bytes(b"x")
    (tmp_path / "calibration.npy").write_bytes(b"x")
    spec = parse_pipeline(text, tmp_path / "edgesdk.toml")
    assert spec.targets[0].stage_names() == ("quantize", "export-c", "evaluate", "emulate")
    assert len(spec.targets[0].gates) == 7


def test_the_ci_example_runs_the_gate_on_emulated_cores_only():
    workflow = yaml.safe_load((ROOT / "examples" / "ci" / "github-actions.yml").read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    commands = "\n".join(s.get("run", "") for s in steps)
    assert "edgesdk run edgesdk.toml --json" in commands
    assert "qemu-system-arm" in commands and "ssh" not in commands
    gate = next(s for s in steps if "edgesdk run" in s.get("run", ""))
    assert "if" not in gate and "|| true" not in gate["run"]  # its exit code fails the job


def test_the_gitlab_example_runs_the_gate_and_the_readme_names_both_snippets():
    jobs = yaml.safe_load((ROOT / "examples" / "ci" / "gitlab-ci.yml").read_text())
    job = jobs["model-gate"]
    assert job["script"] == ["edgesdk run edgesdk.toml --json > run-result.json"]
    setup = "\n".join(job["before_script"])
    assert "qemu-system-arm" in setup and "ssh" not in setup  # emulated cores only
    assert "edgesdk-run" in job["cache"]["paths"] and job["artifacts"]["when"] == "always"
    assert not any("edgesdk run" in line for line in job["after_script"])  # the gate is `script`
    section = (ROOT / "README.md").read_text().split("## Pipelines and CI gates", 1)[1]
    section = section.split("\n## ", 1)[0]
    assert "examples/ci/github-actions.yml" in section and "examples/ci/gitlab-ci.yml" in section
