"""The run record: why a stage runs again, and a state file that cannot be trusted."""

from __future__ import annotations

from edgesdk.pipeline.state import STATE_FILE, load_state, save_state, why_stale

FINGERPRINT = {
    "inputs": {"tflite": "aa", "data": None},
    "options": {"engine": "tflm", "test_vectors": 4},
    "profile": {"name": "arduino-nano-33-ble"},
    "versions": {"tensorflow": "2.21.0", "arm-none-eabi-gcc": "13.2.1"},
}
OUTPUTS = {"bundle": "bb"}
RECORD = {"fingerprint": FINGERPRINT, "outputs": OUTPUTS}


def changed(part: str, key: str, value: object) -> dict:
    return {**FINGERPRINT, part: {**FINGERPRINT[part], key: value}}


def test_an_unchanged_record_holds_and_each_change_is_named():
    assert why_stale(RECORD, FINGERPRINT, OUTPUTS) == ""
    assert why_stale(None, FINGERPRINT, OUTPUTS) == "no finished run recorded"
    assert why_stale(RECORD, changed("inputs", "data", "cc"), OUTPUTS) == "inputs changed: data"
    assert (
        why_stale(RECORD, changed("options", "engine", "standalone"), OUTPUTS)
        == "options changed: engine"
    )
    assert why_stale(RECORD, changed("profile", "name", "rp2040"), OUTPUTS) == (
        "profile changed: name"
    )
    assert why_stale(RECORD, changed("versions", "arm-none-eabi-gcc", "14.1"), OUTPUTS) == (
        "versions changed: arm-none-eabi-gcc"
    )
    assert why_stale(RECORD, FINGERPRINT, {"bundle": None}) == "output missing: bundle"
    assert why_stale(RECORD, FINGERPRINT, {"bundle": "edited"}) == "outputs changed since the run"


def test_the_state_round_trips_and_a_damaged_one_is_no_state(tmp_path):
    save_state(tmp_path, {"quantize": RECORD})
    assert load_state(tmp_path) == {"quantize": RECORD}
    assert [p.name for p in tmp_path.iterdir()] == [STATE_FILE]  # no temporary file left
    (tmp_path / STATE_FILE).write_text('{"schema_version": 1, "stages": {"quan')
    assert load_state(tmp_path) == {}  # everything runs again
    (tmp_path / STATE_FILE).write_text('{"schema_version": 99, "stages": {}}')
    assert load_state(tmp_path) == {}
