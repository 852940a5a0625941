"""Image folders as model inputs: resized, normalized, labelled by their sub-folder names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgesdk.core.options import Normalization, TensorSpec
from edgesdk.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def normalize(x: np.ndarray, norm: Normalization) -> np.ndarray:
    x = x.astype(np.float32)
    if norm.mean is not None and norm.std is not None:
        return ((x - np.asarray(norm.mean, np.float32)) / np.asarray(norm.std, np.float32)).astype(
            np.float32
        )
    return (x * np.float32(norm.scale) + np.float32(norm.offset)).astype(np.float32)


def load_images(
    folder: Path, inputs: list[TensorSpec], norm: Normalization
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    from PIL import Image, UnidentifiedImageError

    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise DatasetError(
            f"An image folder feeds a single-input model; this model has inputs {names} "
            "(use a .npz with one array per input name)"
        )
    spec = inputs[0]
    shape = spec.shape
    if len(shape) == 4:
        height, width, channels = shape[1], shape[2], shape[3]
    elif len(shape) == 3:
        height, width, channels = shape[1], shape[2], None
    else:
        raise DatasetError(
            f"Images need an image-shaped input (N, H, W, C) or (N, H, W); input "
            f"{spec.name!r} has shape {spec.shape_text()}"
        )
    if height is None or width is None:
        raise DatasetError(
            f"Input {spec.name!r} has a free image size {spec.shape_text()}; "
            "give the data as a .npy/.npz instead"
        )
    if channels not in (None, 1, 3):
        raise DatasetError(f"Images can fill 1 or 3 channels; input {spec.name!r} has {channels}")
    files = image_files(folder)
    if not files:
        raise DatasetError(
            f"No images in data folder {folder} (expected {', '.join(IMAGE_SUFFIXES)} files)"
        )
    mode = "RGB" if channels == 3 else "L"
    images = []
    class_names = sorted({p.parent.name for p in files if p.parent != folder})
    labels = []
    for path in files:
        try:
            with Image.open(path) as img:
                img = img.convert(mode).resize((width, height), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.float32)
        except (
            UnidentifiedImageError,
            OSError,
            ValueError,
            SyntaxError,
        ) as e:  # PIL on damaged files
            raise DatasetError(f"Cannot read image {path}: {e}") from e
        if channels == 1:
            arr = arr[..., None]
        images.append(arr)
        if class_names:
            labels.append(class_names.index(path.parent.name) if path.parent != folder else -1)
    x = normalize(np.stack(images), norm)
    notes = [
        f"{len(files)} images from {folder}, resized to {height}x{width} {mode}, "
        f"normalized as {norm.describe()}"
    ]
    y = np.asarray(labels, np.int64) if class_names and min(labels) >= 0 else None
    return x, y, notes
