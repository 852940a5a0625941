"""Array files opened, not read: .npy files and stored .npz members read row by row at their
offset, compressed .npz members streamed; :func:`take_rows` reads only the samples asked for."""

from __future__ import annotations

import struct
import tokenize
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesdk.errors import DatasetError

# what numpy raises for a damaged .npy/.npz (its header parser tokenizes and evaluates text)
NUMPY_FILE_ERRORS = (
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
_LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field


@dataclass(frozen=True)
class FileArray:
    """An array stored uncompressed at ``offset`` in a file (a .npy file, a stored .npz member).

    Rows are read with plain file reads into the result, so only the rows asked for take memory.
    (A memory map of the file would read only them too, but the kernel maps the page-cache
    pages around each row touched into the process, up to whole large folios: 200 rows of a
    400 MB file showed as ~200 MB of resident memory.)
    """

    path: Path
    offset: int
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool = False

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, index: np.ndarray) -> np.ndarray:
        """The rows at ``index`` (sorted, unique); runs of consecutive rows in one read each."""
        if self.fortran and self.ndim > 1:  # a row is spread over the file: map and gather
            return np.asarray(self._map()[index])
        row_shape = self.shape[1:]
        out = np.empty((len(index), *row_shape), self.dtype)
        row_bytes = out.itemsize * int(np.prod(row_shape, dtype=np.int64))
        if not out.size:
            return out
        starts = np.flatnonzero(np.diff(index, prepend=-2) != 1)  # where a run begins
        ends = [*starts[1:], len(index)]
        try:
            with self.path.open("rb") as f:
                for a, b in zip(starts, ends, strict=True):
                    f.seek(self.offset + int(index[a]) * row_bytes)
                    view = memoryview(out[a:b]).cast("B")
                    if f.readinto(view) != len(view):
                        raise EOFError(f"the file ends before row {int(index[b - 1])}")
        except OSError as e:
            raise DatasetError(f"Cannot read {self.path}: {e}") from e
        except EOFError as e:
            raise DatasetError(f"Cannot read {self.path}: {e} (truncated)") from e
        return out

    def read(self) -> np.ndarray:
        """The whole array."""
        if not self.shape:
            return np.asarray(self._map())
        return self.rows(np.arange(len(self)))

    def _map(self) -> np.ndarray:
        return np.memmap(
            self.path, self.dtype, "r", self.offset, self.shape, "F" if self.fortran else "C"
        )


@dataclass(frozen=True)
class StreamedArray:
    """A compressed (deflated) .npz member. A zip entry cannot be read at an offset, so rows are
    read by decompressing the member from its start up to the last row asked for, keeping only
    the rows asked for: memory grows with those rows, time with the position of the last one."""

    path: Path
    member: str
    shape: tuple[int, ...]
    dtype: np.dtype
    header: int  # bytes of the .npy header before the data

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def rows(self, index: np.ndarray) -> np.ndarray:
        """The rows at ``index`` (sorted, unique)."""
        row_shape = self.shape[1:]
        row_bytes = self.dtype.itemsize * int(np.prod(row_shape, dtype=np.int64))
        out = np.empty((len(index), *row_shape), self.dtype)
        try:
            with zipfile.ZipFile(self.path) as zf, zf.open(self.member) as f:
                for k, r in enumerate(index):
                    f.seek(self.header + int(r) * row_bytes)  # forward: decompress and drop
                    data = f.read(row_bytes)
                    if len(data) != row_bytes:
                        raise EOFError(f"member {self.member} ends before row {int(r)}")
                    out[k] = np.frombuffer(data, self.dtype).reshape(row_shape)
        except NUMPY_FILE_ERRORS as e:
            raise DatasetError(f"Cannot read {self.path} as .npz: {e}") from e
        return out

    def read(self) -> np.ndarray:
        """The whole member."""
        return self.rows(np.arange(len(self)))


def take_rows(arr: Any, index: np.ndarray) -> np.ndarray:
    """``arr[index]`` (in index order; repeats allowed), reading only those rows of an array
    on disk."""
    index = np.asarray(index, dtype=np.int64)
    unique, inverse = np.unique(index, return_inverse=True)
    if isinstance(arr, (FileArray, StreamedArray)):
        got = arr.rows(unique)
    else:
        got = np.asarray(arr[unique])
    if len(unique) == len(index) and np.array_equal(unique, index):
        return got
    return got[inverse]


def materialize(arr: Any) -> np.ndarray:
    """The whole array in memory."""
    return arr.read() if isinstance(arr, (FileArray, StreamedArray)) else np.asarray(arr)


def open_npy(path: Path) -> FileArray:
    """A .npy file, opened: its header read and checked against the file's length.

    Raises:
        DatasetError: not a .npy file, truncated, or an object array.
    """
    try:
        mapped = np.load(path, mmap_mode="r", allow_pickle=False)  # parses; reads no data
    except NUMPY_FILE_ERRORS as e:
        raise DatasetError(f"Cannot read {path} as .npy: {_reason(e)}") from e
    fortran = bool(mapped.flags.f_contiguous and not mapped.flags.c_contiguous)
    array = FileArray(path, mapped.offset, mapped.shape, mapped.dtype, fortran)
    del mapped
    return array


def open_npz(path: Path) -> dict[str, Any]:
    """The arrays of a .npz file by name (as ``np.load`` names them), none of them read yet:
    stored members read at their offset (:class:`FileArray`), compressed ones streamed
    (:class:`StreamedArray`).

    Raises:
        DatasetError: not a zip file, a member that is not a readable .npy array.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            content = {}
            for info in zf.infolist():
                key = info.filename[: -len(".npy")] if info.filename.endswith(".npy") else None
                if key is None:  # not an array: what np.load gives for it (its bytes)
                    content[info.filename] = np.asarray(zf.read(info))
                    continue
                content[key] = _open_member(path, zf, info)
            return content
    except NUMPY_FILE_ERRORS as e:
        raise DatasetError(f"Cannot read {path} as .npz: {_reason(e)}") from e


def _open_member(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):  # 3.0: utf-8 field names; rare and small
            f.seek(0)
            return np.lib.format.read_array(f, allow_pickle=False)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(f)
        header = f.tell()
        if dtype.hasobject:
            raise ValueError("Object arrays cannot be loaded when allow_pickle=False")
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        if info.compress_type != zipfile.ZIP_STORED or not nbytes:
            if (fortran and len(shape) > 1) or not shape or not nbytes:
                f.seek(0)  # rows are not contiguous (or nothing to map): read it whole
                return np.lib.format.read_array(f, allow_pickle=False)
            return StreamedArray(path, info.filename, tuple(shape), dtype, header)
    # a stored member is the .npy file's bytes at a known offset. Its CRC is not checked (that
    # would read the whole member), as a .npy file has none either.
    with path.open("rb") as raw:
        raw.seek(info.header_offset)
        local = raw.read(_LOCAL_HEADER)
        if len(local) != _LOCAL_HEADER or local[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"bad local header for member {info.filename}")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        size = raw.seek(0, 2)
    start = info.header_offset + _LOCAL_HEADER + name_len + extra_len + header
    if header + nbytes > info.file_size or start + nbytes > size:
        raise EOFError(f"member {info.filename} is shorter than its header says (truncated)")
    return FileArray(path, start, tuple(shape), dtype, bool(fortran))


def _reason(e: Exception) -> str:
    if "mmap length is greater than file size" in str(e):
        return "the file is shorter than its header says (truncated)"
    return str(e)
