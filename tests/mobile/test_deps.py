"""A missing optional client library is one line that says what to install."""

import pytest

from edgesdk.errors import PackagingError
from edgesdk.mobile.deps import require


def test_missing_library_names_the_pip_command():
    with pytest.raises(PackagingError) as e:
        require("coremltools_not_installed_here.proto", "Core ML export")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("Core ML export needs coremltools_not_installed_here")
    assert "pip install 'coremltools_not_installed_here'" in msg


def test_installed_library_is_returned():
    mod = require("mediapipe.tasks.metadata.metadata_schema_py_generated", "metadata")
    assert hasattr(mod, "ModelMetadataT")
