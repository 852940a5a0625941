"""The real client libraries, run on packaged models: MediaPipe Tasks (this venv), the TFLite
Task Library (its own venv, .venv-tasklib: its protobuf<4 pin conflicts with TensorFlow's),
and the raw LiteRT interpreter with the preprocessing the metadata prescribes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
TASKLIB_PYTHON = REPO / ".venv-tasklib" / "bin" / "python"


def mediapipe_top1(model: Path, pixels: np.ndarray) -> tuple[list[int], list[str], list[float]]:
    """MediaPipe Tasks' ImageClassifier on each image (already at the model's input size)."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(model)), max_results=1
    )
    indices, names, scores = [], [], []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image in pixels:
            frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
            top = classifier.classify(frame).classifications[0].categories[0]
            indices.append(int(top.index))
            names.append(top.category_name)
            scores.append(float(top.score))
    return indices, names, scores


TASKLIB_SCRIPT = """
import json, sys
import numpy as np
from tflite_support.task import core, processor, vision
pixels = np.load(sys.argv[2])
options = vision.ImageClassifierOptions(
    base_options=core.BaseOptions(file_name=sys.argv[1]),
    classification_options=processor.ClassificationOptions(max_results=1))
classifier = vision.ImageClassifier.create_from_options(options)
out = []
for image in pixels:
    top = classifier.classify(vision.TensorImage.create_from_array(np.ascontiguousarray(image)))
    c = top.classifications[0].categories[0]
    out.append([int(c.index), c.category_name, float(c.score)])
print(json.dumps(out))
"""


def tasklib_top1(model: Path, pixels: np.ndarray, work: Path) -> tuple[list[int], list[str]]:
    """The TFLite Task Library's ImageClassifier, in its own venv (a subprocess)."""
    images = work / f"{model.stem}_images.npy"
    np.save(images, pixels)
    run = subprocess.run(
        [str(TASKLIB_PYTHON), "-c", TASKLIB_SCRIPT, str(model), str(images)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if run.returncode != 0:
        raise RuntimeError(f"Task Library failed: {run.stderr.strip().splitlines()[-1:]}")
    rows = json.loads(run.stdout.strip().splitlines()[-1])
    return [r[0] for r in rows], [r[1] for r in rows]


def litert_top1(model: Path, pixels: np.ndarray) -> tuple[list[int], np.ndarray]:
    """The raw LiteRT interpreter, input prepared as the model's metadata prescribes: raw
    pixels for a uint8 input, (pixel - mean) / std for a float32 input."""
    from ai_edge_litert.interpreter import Interpreter

    from edgesdk.mobile.metadata import read_metadata

    data = model.read_bytes()
    meta = read_metadata(data)
    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    indices, scores = [], []
    for image in pixels:
        if inp["dtype"] == np.uint8:
            x = image[None].astype(np.uint8)
        else:
            mean = np.asarray(meta.mean, np.float32)
            std = np.asarray(meta.std, np.float32)
            x = ((image.astype(np.float32) - mean) / std)[None].astype(np.float32)
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        raw = interpreter.get_tensor(out["index"])[0]
        scale, zero = out["quantization"]
        values = (raw.astype(np.float32) - zero) * scale if scale else raw.astype(np.float32)
        indices.append(int(np.argmax(values)))
        scores.append(values)
    return indices, np.asarray(scores)
