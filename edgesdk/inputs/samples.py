"""Representative and evaluation data: loading (images, .npy/.npz, Python callables) and checks.

Array files are opened, not read: dtype, shape and counts come from their headers, and only the
samples a caller takes are read (see :mod:`edgesdk.inputs.arrays`) and validated, so 200 samples
of a 2 GiB ``.npy`` cost 200 samples of memory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.core.options import Normalization, TensorSpec
from edgesdk.errors import DatasetError
from edgesdk.inputs.arrays import materialize, open_npy, open_npz, take_rows
from edgesdk.inputs.images import IMAGE_SUFFIXES, image_files, load_images, normalize

log = logging.getLogger(__name__)

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


def data_shape(spec: str | None) -> tuple[int, ...] | None:
    """The shape of single-input array data (``.npy``, or a ``.npz`` with ``x`` or one data
    array), batch first, from the file header; None for other data."""
    if spec is None or not spec.lower().endswith(ARRAY_SUFFIXES) or not Path(spec).is_file():
        return None
    if spec.lower().endswith(".npy"):
        return tuple(open_npy(Path(spec)).shape)
    content = open_npz(Path(spec))
    keys = ["x"] if "x" in content else [k for k in content if k not in LABEL_KEYS]
    return tuple(content[keys[0]].shape) if len(keys) == 1 else None


def _from_npz(path: Path, inputs: list[TensorSpec]) -> tuple[dict[str, Any], Any]:
    content = open_npz(path)  # nothing read yet (edgesdk.inputs.arrays)
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


def _from_npy(path: Path, inputs: list[TensorSpec]) -> dict[str, Any]:
    if len(inputs) != 1:
        raise DatasetError(
            f"A .npy file holds one array; this model has inputs {[i.name for i in inputs]} "
            "(use a .npz with one array per input name)"
        )
    return {inputs[0].name: open_npy(path)}  # nothing read yet: the header only


def _import_callable(spec: str) -> Any:
    from edgesdk.inputs.user_code import import_function

    return import_function(spec, DatasetError, "data", check_file=True)


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


def _check_layout(
    name: str, arr: Any, spec: TensorSpec, norm: Normalization | None, notes: list[str]
) -> Any:
    """Dtype and shape from the array's header alone (nothing is read); the array with a batch
    dimension."""
    dtype = np.dtype(arr.dtype)
    if dtype.kind not in "fiub":
        raise DatasetError(f"Data for input {name!r} has dtype {dtype}; expected numbers")
    if dtype == np.uint8 or dtype.kind in "iub":
        if norm is not None:
            notes.append(
                f"input {name!r}: {dtype} data cast to float32 and normalized as {norm.describe()}"
            )
        else:
            notes.append(
                f"input {name!r}: {dtype} data cast to float32 without scaling "
                "(pass `scale`/`offset` or `mean`/`std` if the model expects normalized values)"
            )
    elif dtype != np.float32:
        notes.append(f"input {name!r}: {dtype} data cast to float32")
    if arr.ndim == len(spec.shape) - 1:
        arr = materialize(arr)[None]  # one sample
        notes.append(f"input {name!r}: batch dimension added (one sample of shape {arr.shape[1:]})")
    expected = spec.shape[1:]
    if arr.ndim != len(spec.shape) or any(
        e is not None and e != g for e, g in zip(expected, arr.shape[1:], strict=True)
    ):
        got = "(N, " + ", ".join(str(d) for d in arr.shape[1:]) + ")"
        raise DatasetError(f"Data for input {name!r} has shape {got}; expected {spec.shape_text()}")
    return arr


def _check_values(
    name: str, arr: np.ndarray, norm: Normalization | None, index: np.ndarray | None
) -> np.ndarray:
    """Cast (and normalize) the samples read; refuse NaN/inf and constant data. ``index``: the
    samples' positions in the data (for the message), None when they are all of it."""
    arr = normalize(arr, norm) if norm is not None else arr.astype(np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = int(arr.size - np.count_nonzero(finite))
        first = int(np.argwhere(~finite)[0][0])
        where = first if index is None else int(index[first])
        raise DatasetError(
            f"Data for input {name!r} has {bad} NaN/inf values (first in sample {where}); "
            "expected finite numbers"
        )
    if arr.size and float(arr.max()) == float(arr.min()):
        raise DatasetError(
            f"Data for input {name!r} is constant (every value is {float(arr.flat[0]):g}); "
            "calibration needs varied, realistic samples"
        )
    return arr


@dataclass(frozen=True)
class SampleSource:
    """Data opened and checked from its headers (dtype, shape, counts), not yet read: array
    files are read at their offset (a compressed .npz streamed), so :meth:`read` reads, casts and
    validates only the samples asked for."""

    raw: dict[str, Any]  # per input name: an ndarray, FileArray or StreamedArray, batched
    labels: Any
    normalization: Normalization | None  # applied to what is read (None: a plain cast)
    source: str
    notes: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(next(iter(self.raw.values())))

    def read(self, index: Sequence[int] | np.ndarray | None = None) -> Samples:
        """The samples at ``index`` (all when None), in that order, as validated float32.

        Raises:
            DatasetError: NaN/inf or constant values among them, or the file cannot be read.
        """
        rows = None if index is None else np.asarray(index, dtype=np.int64)
        arrays = {
            name: _check_values(
                name,
                materialize(arr) if rows is None else take_rows(arr, rows),
                self.normalization,
                rows,
            )
            for name, arr in self.raw.items()
        }
        labels = None
        if self.labels is not None:
            labels = materialize(self.labels) if rows is None else take_rows(self.labels, rows)
        return Samples(arrays=arrays, labels=labels, source=self.source, notes=self.notes)


def open_samples(
    spec: str,
    inputs: list[TensorSpec],
    normalization: Normalization,
    normalize_arrays: bool = False,
    limit: int = 100_000,
) -> SampleSource:
    """Open data for a model's inputs and check what its headers tell (nothing read from
    array files yet); :meth:`SampleSource.read` reads and validates the samples a caller uses.

    Args:
        spec: an image folder, a ``.npy``/``.npz`` file, or ``module:function``
            (also ``path/to/file.py:function``) yielding samples.
        inputs: the model's inputs; data are matched to them by name.
        normalization: applied to images, and to arrays when ``normalize_arrays``.
        normalize_arrays: apply ``normalization`` to array data as well.
        limit: at most this many samples are read from a callable.

    Returns:
        The opened data (image folders and callables are read whole, as they must be).

    Raises:
        DatasetError: anything wrong with the data that shows without reading its values.
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
        spec_.name: _check_layout(spec_.name, raw[spec_.name], spec_, array_norm, notes)
        for spec_ in inputs
    }
    counts = {name: len(a) for name, a in arrays.items()}
    if len(set(counts.values())) > 1:
        raise DatasetError(f"Inputs have different sample counts: {counts} (expected the same)")
    count = next(iter(counts.values()))
    if count == 0:
        raise DatasetError(f"No samples in {spec}")
    if labels is not None and (labels.ndim == 0 or len(labels) != count):
        got = "a scalar" if labels.ndim == 0 else len(labels)
        raise DatasetError(f"{spec} has {got} labels for {count} samples")
    return SampleSource(arrays, labels, array_norm, spec, tuple(notes))


def load_samples(
    spec: str,
    inputs: list[TensorSpec],
    normalization: Normalization,
    normalize_arrays: bool = False,
    limit: int = 100_000,
) -> Samples:
    """Load and validate all the data for a model's inputs (see :func:`open_samples`; use it
    and :meth:`SampleSource.read` to read only some samples of a large file).

    Returns:
        Validated float32 samples (with labels when the data carries them).

    Raises:
        DatasetError: anything wrong with the data, with what was expected.
    """
    return open_samples(spec, inputs, normalization, normalize_arrays, limit).read()


@dataclass(frozen=True)
class Split:
    """Calibration and held-out samples; ``held_out`` is None when all went to calibration."""

    calibration: Samples
    held_out: Samples | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class SplitPlan:
    """Which samples (positions in the data) calibrate and which are held out."""

    calibration: np.ndarray
    held_out: np.ndarray
    notes: tuple[str, ...]

    @property
    def used(self) -> np.ndarray:
        """Every sample the split uses: calibration first, then held out."""
        return np.concatenate([self.calibration, self.held_out])


def plan_split(count: int, calibration: int, held_out: int, seed: int) -> SplitPlan:
    """A seeded shuffle of ``count`` samples into calibration and held-out positions (held-out
    never calibrates); nothing needs to be read to plan it."""
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
    if n_eval == 0:
        notes.append("no samples left to hold out; fidelity is measured on the calibration samples")
    return SplitPlan(order[:n_cal], order[n_cal : n_cal + n_eval], tuple(notes))


def split_samples(samples: Samples, calibration: int, held_out: int, seed: int) -> Split:
    """Shuffle and split into calibration and held-out parts (held-out never calibrates)."""
    return _split(samples, plan_split(samples.count, calibration, held_out, seed), used=False)


def read_split(source: SampleSource, calibration: int, held_out: int, seed: int) -> Split:
    """:func:`split_samples` on opened data, reading (and validating) only the samples the
    split uses; the same samples as ``split_samples(source.read(), ...)``."""
    plan = plan_split(source.count, calibration, held_out, seed)
    return _split(source.read(plan.used), plan, used=True)


def _split(samples: Samples, plan: SplitPlan, used: bool) -> Split:
    """``samples``: all of the data, or (``used``) only ``plan.used`` in that order."""
    n_cal = len(plan.calibration)
    cal_at = np.arange(n_cal) if used else plan.calibration
    held_at = np.arange(n_cal, n_cal + len(plan.held_out)) if used else plan.held_out
    cal = samples.take(cal_at)
    if not len(plan.held_out):
        return Split(calibration=cal, held_out=None, notes=plan.notes)
    return Split(calibration=cal, held_out=samples.take(held_at), notes=plan.notes)


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
