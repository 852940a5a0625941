"""The mobile profiles: data, the [mobile] table, their quantization defaults."""

from __future__ import annotations

import pytest

from edgesdk.core.options import IoType, QuantMode, TargetKind
from edgesdk.core.profiles import load_profile
from edgesdk.errors import ConfigError


def test_mobile_profiles():
    arm = load_profile("android-arm64")
    assert arm.kind is TargetKind.MOBILE and arm.mobile.delegate == "xnnpack"
    # full-integer for phones: uint8 I/O (MediaPipe / Task Library refuse int8 input)
    assert (arm.quantization.mode, arm.quantization.io) == (QuantMode.INT8, IoType.UINT8)
    gpu = load_profile("android-gpu")
    assert gpu.quantization.mode is QuantMode.FLOAT16 and gpu.mobile.delegate == "gpu"
    ios = load_profile("ios-arm64")
    assert ios.quantization.io is IoType.UINT8 and ios.mobile.assets_dir == "Resources"
    coreml = load_profile("ios-coreml")
    assert coreml.mobile.model_format == "mlpackage" and coreml.mobile.coreml_precision == "float16"
    assert coreml.quantization.allowed_modes == (QuantMode.FLOAT16,)


def _profile(tmp_path, extra: str, kind: str = "mobile"):
    text = (
        f'schema_version = 1\nname = "p"\ndescription = "d"\nkind = "{kind}"\narch = "a"\n'
        f'cpu = "c"\n[memory]\nram_bytes = 1\n{extra}'
    )
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def test_mobile_table_checked(tmp_path):
    with pytest.raises(ConfigError, match='kind = "mobile" and a \\[mobile\\] table go together'):
        load_profile(_profile(tmp_path, ""))
    with pytest.raises(ConfigError, match="mobile.delegate='npu'.*xnnpack, gpu, coreml"):
        load_profile(_profile(tmp_path, '[mobile]\nplatform = "android"\ndelegate = "npu"\n'))
    with pytest.raises(ConfigError, match="Unknown key 'adb'"):
        load_profile(_profile(tmp_path, '[mobile]\nplatform = "ios"\ndelegate = "gpu"\nadb = 1\n'))
    ok = load_profile(_profile(tmp_path, '[mobile]\nplatform = "ios"\ndelegate = "gpu"\n'))
    assert ok.mobile.platform == "ios"
