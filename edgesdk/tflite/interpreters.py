"""The one place interpreters are made: LiteRT with its default kernels (XNNPACK), with the
reference kernels (``BUILTIN_REF``) or without delegates, and TFLite Micro (in ``micro.py``)."""

from __future__ import annotations

from enum import Enum
from typing import Any


class Kernels(str, Enum):
    """Which LiteRT kernels run a model."""

    DEFAULT = "default"  # LiteRT's optimized kernels with the XNNPACK delegate
    REFERENCE = "reference"  # BUILTIN_REF: the reference kernels, what the C engines match
    BUILTIN = "builtin"  # the optimized kernels without the default delegates (no XNNPACK)


def litert(
    model: bytes,
    kernels: Kernels = Kernels.DEFAULT,
    threads: int | None = None,
    keep_all_tensors: bool = False,
    allocate: bool = True,
) -> Any:
    """A LiteRT interpreter for ``model`` (tensors allocated unless ``allocate`` is False).

    Raises:
        ValueError, RuntimeError: LiteRT cannot load the model (callers turn these into their
            stage's error, naming the model).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs: dict[str, Any] = {"model_content": model}
    if threads is not None:
        kwargs["num_threads"] = threads
    if kernels is Kernels.REFERENCE:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_REF
    elif kernels is Kernels.BUILTIN:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if keep_all_tensors:
        kwargs["experimental_preserve_all_tensors"] = True
    interpreter = Interpreter(**kwargs)
    if allocate:
        interpreter.allocate_tensors()
    return interpreter
