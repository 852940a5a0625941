"""Packaged models run through the real client libraries: MediaPipe Tasks (in this process),
the TFLite Task Library (in another Python, e.g. a venv of its own: tflite-support 0.4.4 pins
protobuf<4, which TensorFlow 2.21 does not allow), and the raw LiteRT interpreter fed as the
metadata prescribes (raw pixels for uint8 input, (pixel - mean) / std for float32)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from edgesdk.errors import PackagingError


def mediapipe_top1(
    model: str | Path, pixels: np.ndarray
) -> tuple[list[int], list[str], list[float]]:
    """MediaPipe Tasks' ImageClassifier on each image (uint8 RGB, already at the model's input
    size: MediaPipe resizes other sizes itself, which changes the pixels).

    Returns:
        Top-1 class index, label name and score per image.
    """
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


def tasklib_top1(
    model: str | Path, pixels: np.ndarray, python: str | Path
) -> tuple[list[int], list[str], list[float]]:
    """The TFLite Task Library's ImageClassifier, run by ``python`` (a Python with
    tflite-support) in a subprocess.

    Raises:
        PackagingError: the Task Library refused the model or failed.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgesdk-tasklib-") as tmp:
        images = Path(tmp) / "images.npy"
        np.save(images, pixels)
        run = subprocess.run(
            [str(python), "-c", TASKLIB_SCRIPT, str(model), str(images)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    if run.returncode != 0:
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise PackagingError(f"The Task Library failed on {model}: {last}", what="model")
    rows = json.loads(run.stdout.strip().splitlines()[-1])
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def litert_top1(
    model: str | Path,
    pixels: np.ndarray,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
) -> tuple[list[int], np.ndarray]:
    """The raw LiteRT interpreter: raw pixels for a uint8 input, (pixel - mean) / std for a
    float32 input, with ``mean``/``std`` when given (the training's, to check the metadata
    against) or else the metadata's.

    Returns:
        Top-1 index per image and the (dequantized) scores.
    """
    from edgesdk.mobile.metadata import read_metadata
    from edgesdk.tflite import interpreters

    data = Path(model).read_bytes()
    meta = read_metadata(data, str(model))
    if meta is None:
        raise PackagingError(f"{model} has no metadata (package it first)", what="model")
    interpreter = interpreters.litert(data)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    indices, scores = [], []
    for image in pixels:
        if inp["dtype"] == np.uint8:
            x = image[None].astype(np.uint8)
        else:
            m = np.asarray(meta.mean if mean is None else mean, np.float32)
            s = np.asarray(meta.std if std is None else std, np.float32)
            x = ((image.astype(np.float32) - m) / s)[None].astype(np.float32)
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        raw = interpreter.get_tensor(out["index"])[0]
        scale, zero = out["quantization"]
        values = (raw.astype(np.float32) - zero) * scale if scale else raw.astype(np.float32)
        indices.append(int(np.argmax(values)))
        scores.append(values)
    return indices, np.asarray(scores)
