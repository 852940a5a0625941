"""`edgesdk export-c MODEL.tflite --target NAME -o DIR`."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, print_json
from edgesdk.firmware.engines import DEFAULT_ENGINE


@handle_errors
def export_c(
    model: Annotated[str, typer.Argument(help="A .tflite file (int8 for MCU targets).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Folder for the bundle.")],
    target: Annotated[
        str, typer.Option("--target", "-t", help="Target profile name or .toml path.")
    ] = "linux-x86_64",
    name: Annotated[
        str | None, typer.Option(help="C identifier stem (default: the file name).")
    ] = None,
    test_vectors: Annotated[
        int, typer.Option(min=0, help="Embed N inputs with expected outputs.")
    ] = 0,
    verify: Annotated[
        bool, typer.Option("--verify/--no-verify", help="Check TFLite Micro against LiteRT first.")
    ] = True,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty folder; write even over budget.")
    ] = False,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            help="Samples for test vectors and the parity check / the standalone engine's "
            "verification (default: random).",
        ),
    ] = None,
    firmware: Annotated[
        bool,
        typer.Option(
            "--firmware",
            help="Also write firmware/: a self-checking project for arm-none-eabi-gcc and your "
            "TFLite Micro checkout (standalone engine: no TFLite Micro needed) (implies "
            "--test-vectors 4).",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="tflm: the model for TFLite Micro; standalone: the model as plain C, no "
            "interpreter (verified against LiteRT's reference kernels).",
        ),
    ] = DEFAULT_ENGINE.value,
    kernels: Annotated[
        str | None,
        typer.Option(
            help="Kernel set. tflm: cmsis-nn or reference (default: cmsis-nn on Cortex-M "
            "cores); standalone: dsp or portable (default: dsp on cores with the DSP "
            "extension, M4/M7/M33). Recorded for emulate and --firmware."
        ),
    ] = None,
    arena: Annotated[
        str | None,
        typer.Option(
            help="Where the declared tensor arena comes from: host (TFLite Micro on this "
            "machine, plus the profile's margin; the default) or target (the firmware on the "
            "target's emulated core, plus the same margin)."
        ),
    ] = None,
    integer_only: Annotated[
        bool,
        typer.Option(
            "--integer-only",
            help="Standalone engine: no float or double in the C (SOFTMAX as TFLite Micro's "
            "fixed-point kernel, verified against TFLite Micro); int8 I/O only.",
        ),
    ] = False,
    io: Annotated[
        str | None,
        typer.Option(
            "--io",
            help="int8: give a model that is int8 inside with float I/O (QUANTIZE/DEQUANTIZE "
            "at its edges) int8 I/O, checked against it and written into the bundle; float32: "
            "keep its float I/O (cores with an FPU).",
        ),
    ] = None,
) -> None:
    """Emit C/C++ sources for TFLite Micro firmware: model array, arena size, op resolver."""
    from edgesdk import api

    result = api.export_c(
        model,
        output,
        target=target,
        name=name,
        test_vectors=test_vectors,
        verify=verify,
        force=force,
        firmware=firmware,
        data=data,
        engine=engine,
        integer_only=integer_only,
        kernels=kernels,
        arena=arena,
        io=io,
    )
    if json_out:
        print_json(result.to_dict())
        return
    from edgesdk.cli.engine_views import show_export

    show_export(result, console)
