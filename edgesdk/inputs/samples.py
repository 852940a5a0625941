"""Representative and evaluation data: loading (images, .npy/.npz, Python callables) and checks."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import tokenize
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.core.options import Normalization, TensorSpec
from edgesdk.errors import DatasetError
from edgesdk.inputs.images import IMAGE_SUFFIXES, image_files, load_images, normalize

log = logging.getLogger(__name__)

# what numpy raises for a damaged .npy/.npz (its header parser tokenizes and evaluates text)
_NUMPY_FILE_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    SyntaxError,
    tokenize.TokenError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,  # zipfile: an entry flagged as encrypted
)

ARRAY_SUFFIXES = (".npy", ".npz")
MIN_SAMPLES_WARNING = 50
LABEL_KEYS = ("y", "label", "labels")


@dataclass(frozen=True)
class Samples:
    """Validated model inputs: one float32 array per input name, all with the same count."""

    arrays: dict[str, np.ndarray]
    labels: np.ndarray | None
    source: str
    notes: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(next(iter(self.arrays.values())))

    def take(self, index: np.ndarray) -> Samples:
        """The samples at ``index`` (an integer array)."""
        return Samples(
            arrays={k: v[index] for k, v in self.arrays.items()},
            labels=self.labels[index] if self.labels is not None else None,
            source=self.source,
            notes=self.notes,
        )


def _is_callable_spec(spec: str) -> bool:
    if ":" not in spec or Path(spec).exists():
        return False
    module, _, func = spec.rpartition(":")
    return bool(module) and func.isidentifier()


def check_spec(spec: str) -> None:
    """Cheap checks on a data SPEC before any heavy work (no TensorFlow needed).

    Raises:
        DatasetError: the path does not exist, a folder has no images, an unknown file type.
    """
    if _is_callable_spec(spec):
        return
    path = Path(spec)
    if not path.exists():
        raise DatasetError(
            f"Data not found: {spec} (expected an image folder, a .npy/.npz file, "
            "or module:function)"
        )
    if path.is_dir():
        if not image_files(path):
            raise DatasetError(
                f"No images in data folder {spec} (expected {', '.join(IMAGE_SUFFIXES)} files)"
            )
    elif path.suffix.lower() not in ARRAY_SUFFIXES:
        raise DatasetError(
            f"Unsupported data file {spec} (expected an image folder, a .npy/.npz file, "
            "or module:function)"
        )


def _from_npz(
    path: Path, inputs: list[TensorSpec]
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as f:
            content = {k: f[k] for k in f.files}
    except _NUMPY_FILE_ERRORS as e:
        raise DatasetError(f"Cannot read {path} as .npz: {e}") from e
    labels = next((content[k] for k in LABEL_KEYS if k in content), None)
    names = [i.name for i in inputs]
    if all(n in content for n in names):
        return {n: content[n] for n in names}, labels
    if len(inputs) == 1:
        data_keys = [k for k in content if k not in LABEL_KEYS]
        if "x" in content:
            return {names[0]: content["x"]}, labels
        if len(data_keys) == 1:
            return {names[0]: content[data_keys[0]]}, labels
    missing = [n for n in names if n not in content]
    raise DatasetError(
        f"{path} has arrays {sorted(content)}; expected one per model input: {names} "
        f"(missing: {missing})"
    )


def _from_npy(path: Path, inputs: list[TensorSpec]) -> dict[str, np.ndarray]:
    if len(inputs) != 1:
        raise DatasetError(
            f"A .npy file holds one array; this model has inputs {[i.name for i in inputs]} "
            "(use a .npz with one array per input name)"
        )
    try:
        arr = np.load(path, allow_pickle=False)
    except _NUMPY_FILE_ERRORS as e:
        raise DatasetError(f"Cannot read {path} as .npy: {e}") from e
    return {inputs[0].name: arr}


def _import_callable(spec: str) -> Any:
    module_name, _, func_name = spec.rpartition(":")
    try:
        if module_name.endswith(".py"):
            file = Path(module_name)
            if not file.is_file():
                raise DatasetError(f"Data module not found: {module_name}")
            loader_spec = importlib.util.spec_from_file_location(file.stem, file)
            if loader_spec is None or loader_spec.loader is None:
                raise DatasetError(f"Cannot import data module {module_name}")
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            if "" not in sys.path:
                sys.path.insert(0, "")
            module = importlib.import_module(module_name)
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - user code may raise anything while importing
        raise DatasetError(
            f"Cannot import data module {module_name}: {type(e).__name__}: {e}"
        ) from e
    func = getattr(module, func_name, None)
    if not callable(func):
        raise DatasetError(f"{module_name} has no function {func_name!r}")
    return func


def _from_callable(spec: str, inputs: list[TensorSpec], limit: int) -> dict[str, np.ndarray]:
    func = _import_callable(spec)
    names = [i.name for i in inputs]
    columns: dict[str, list[np.ndarray]] = {n: [] for n in names}
    try:
        produced = func()
        if not isinstance(produced, Iterable):
            raise DatasetError(
                f"{spec} must return or yield samples, got {type(produced).__name__}"
            )
        for count, sample in enumerate(produced):
            if count >= limit:
                break
            if isinstance(sample, Mapping):
                missing = [n for n in names if n not in sample]
                if missing:
                    raise DatasetError(
                        f"Sample {count} from {spec} has keys {sorted(sample)}; expected {names}"
                    )
                for n in names:
                    columns[n].append(_one_sample(sample[n], inputs[names.index(n)]))
            elif len(names) == 1:
                columns[names[0]].append(_one_sample(sample, inputs[0]))
            else:
                raise DatasetError(
                    f"Sample {count} from {spec} is a {type(sample).__name__}; a multi-input model "
                    f"needs a dict keyed by input name: {names}"
                )
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - user code may raise anything while iterating
        raise DatasetError(f"{spec} failed: {type(e).__name__}: {e}") from e
    if not columns[names[0]]:
        raise DatasetError(f"{spec} yielded no samples")
    return {n: np.concatenate(v) for n, v in columns.items()}


def _one_sample(value: Any, spec: TensorSpec) -> np.ndarray:
    """A yielded sample with a batch dimension (added when it is missing)."""
    arr = np.asarray(value)
    if arr.ndim == len(spec.shape) - 1:
        arr = arr[None]
    return arr


def _check_array(
    name: str, arr: np.ndarray, spec: TensorSpec, norm: Normalization | None, notes: list[str]
) -> np.ndarray:
    if arr.dtype.kind not in "fiub":
        raise DatasetError(f"Data for input {name!r} has dtype {arr.dtype}; expected numbers")
    if arr.dtype == np.uint8 or arr.dtype.kind in "iub":
        if norm is not None:
            notes.append(
                f"input {name!r}: {arr.dtype} data cast to float32 and normalized as {norm.describe()}"
            )
        else:
            notes.append(
                f"input {name!r}: {arr.dtype} data cast to float32 without scaling "
                "(pass --scale/--offset or --mean/--std if the model expects normalized values)"
            )
    elif arr.dtype != np.float32:
        notes.append(f"input {name!r}: {arr.dtype} data cast to float32")
    arr = normalize(arr, norm) if norm is not None else arr.astype(np.float32)
    if arr.ndim == len(spec.shape) - 1:
        arr = arr[None]
        notes.append(f"input {name!r}: batch dimension added (one sample of shape {arr.shape[1:]})")
    expected = spec.shape[1:]
    if arr.ndim != len(spec.shape) or any(
        e is not None and e != g for e, g in zip(expected, arr.shape[1:], strict=True)
    ):
        got = "(N, " + ", ".join(str(d) for d in arr.shape[1:]) + ")"
        raise DatasetError(f"Data for input {name!r} has shape {got}; expected {spec.shape_text()}")
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - np.count_nonzero(finite))
        first = int(np.argwhere(~finite)[0][0])
        raise DatasetError(
            f"Data for input {name!r} has {bad} NaN/inf values (first in sample {first}); "
            "expected finite numbers"
        )
    if arr.size and float(arr.max()) == float(arr.min()):
        raise DatasetError(
            f"Data for input {name!r} is constant (every value is {float(arr.flat[0]):g}); "
            "calibration needs varied, realistic samples"
        )
    return arr


def load_samples(
    spec: str,
    inputs: list[TensorSpec],
    normalization: Normalization,
    normalize_arrays: bool = False,
    limit: int = 100_000,
) -> Samples:
    """Load and validate data for a model's inputs.

    Args:
        spec: an image folder, a ``.npy``/``.npz`` file, or ``module:function``
            (also ``path/to/file.py:function``) yielding samples.
        inputs: the model's inputs; data are matched to them by name.
        normalization: applied to images, and to arrays when ``normalize_arrays``.
        normalize_arrays: apply ``normalization`` to array data as well.
        limit: at most this many samples are read from a callable.

    Returns:
        Validated float32 samples (with labels when the data carries them).

    Raises:
        DatasetError: anything wrong with the data, with what was expected.
    """
    check_spec(spec)
    notes: list[str] = []
    labels = None
    path = Path(spec)
    if _is_callable_spec(spec):
        raw = _from_callable(spec, inputs, limit)
        array_norm = normalization if normalize_arrays else None
    elif path.is_dir():
        x, labels, image_notes = load_images(path, inputs, normalization)
        raw = {inputs[0].name: x}
        notes.extend(image_notes)
        array_norm = None
    elif path.suffix.lower() == ".npz":
        raw, labels = _from_npz(path, inputs)
        array_norm = normalization if normalize_arrays else None
    else:
        raw = _from_npy(path, inputs)
        array_norm = normalization if normalize_arrays else None
    arrays = {
        spec_.name: _check_array(spec_.name, np.asarray(raw[spec_.name]), spec_, array_norm, notes)
        for spec_ in inputs
    }
    counts = {name: len(a) for name, a in arrays.items()}
    if len(set(counts.values())) > 1:
        raise DatasetError(f"Inputs have different sample counts: {counts} (expected the same)")
    count = next(iter(counts.values()))
    if count == 0:
        raise DatasetError(f"No samples in {spec}")
    if labels is not None and len(labels) != count:
        raise DatasetError(f"{spec} has {len(labels)} labels for {count} samples")
    return Samples(arrays=arrays, labels=labels, source=spec, notes=tuple(notes))


@dataclass(frozen=True)
class Split:
    """Calibration and held-out samples; ``held_out`` is None when all went to calibration."""

    calibration: Samples
    held_out: Samples | None
    notes: tuple[str, ...]


def split_samples(samples: Samples, calibration: int, held_out: int, seed: int) -> Split:
    """Shuffle and split into calibration and held-out parts (held-out never calibrates)."""
    count = samples.count
    n_eval = min(held_out, max(count - calibration, count // 5))
    n_cal = min(calibration, count - n_eval)
    order = np.random.default_rng(seed).permutation(count)
    notes = []
    if n_cal < calibration:
        notes.append(
            f"only {n_cal} calibration samples (asked for {calibration}); "
            "more varied samples give better ranges"
        )
    if n_cal < MIN_SAMPLES_WARNING and n_cal < calibration:
        notes.append(
            f"few calibration samples ({n_cal}); at least {MIN_SAMPLES_WARNING} are advised"
        )
    cal = samples.take(order[:n_cal])
    if n_eval == 0:
        notes.append("no samples left to hold out; fidelity is measured on the calibration samples")
        return Split(calibration=cal, held_out=None, notes=tuple(notes))
    return Split(
        calibration=cal, held_out=samples.take(order[n_cal : n_cal + n_eval]), notes=tuple(notes)
    )


def check_labels(labels: np.ndarray | None, classes: int, source: str) -> np.ndarray:
    """Integer class labels in [0, classes).

    Raises:
        DatasetError: no labels, labels that are not class numbers, or outside the classes.
    """
    if labels is None:
        raise DatasetError(
            f"{source} has no labels (expected an .npz with 'x' and 'y', or an image folder "
            "with one subfolder per class)"
        )
    y = np.asarray(labels)
    if y.ndim == 2 and y.shape[1] == classes:
        y = np.argmax(y, axis=1)
    y = y.reshape(len(y), -1)[:, 0] if y.ndim > 1 and y.size == len(y) else y
    if y.ndim != 1:
        raise DatasetError(
            f"{source} has labels of shape {labels.shape} (expected one class number per "
            f"sample, or one-hot rows of {classes})"
        )
    if not np.all(np.equal(np.mod(y, 1), 0)):
        raise DatasetError(f"{source} has labels that are not whole class numbers")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= classes:
        raise DatasetError(
            f"{source} has labels from {y.min()} to {y.max()}, but the model has {classes} "
            f"outputs (expected labels 0..{classes - 1})"
        )
    return y
