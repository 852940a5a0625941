"""`edgesdk benchmark`: on this machine, on a device, or on every device of a group."""

from __future__ import annotations

from typing import Annotated

import typer

from edgesdk.cli.common import console, handle_errors, print_json, prompt_passphrase, safe
from edgesdk.cli.live import run_fleet
from edgesdk.firmware.engines import DEFAULT_ENGINE


# Over 80 lines: one typer parameter per CLI option; the body picks one of four paths.
@handle_errors
def benchmark(
    model: Annotated[str, typer.Argument(help="The .tflite file.")],
    device: Annotated[
        str | None, typer.Option("--device", "-D", help="Device name (default: this machine).")
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", "-g", help="Benchmark every device of a group.")
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, help="With --group: devices at once.")] = 4,
    outlier_factor: Annotated[
        float,
        typer.Option(help="With --group: slower than the group median by this factor = outlier."),
    ] = 1.5,
    threads: Annotated[int, typer.Option(min=0, help="Threads (0: one per core).")] = 0,
    runtime: Annotated[
        str,
        typer.Option(
            help="TFLite runtime: auto (first found of litert, tflite-runtime, tensorflow), "
            "litert, tflite-runtime or tensorflow."
        ),
    ] = "auto",
    runs: Annotated[int, typer.Option(min=1, help="Timed runs.")] = 100,
    warmup: Annotated[int, typer.Option(min=0, help="Warm-up runs.")] = 10,
    input_file: Annotated[
        str | None, typer.Option("--input", help="Real inputs (.npy/.npz) instead of random.")
    ] = None,
    emulate: Annotated[
        bool,
        typer.Option(
            "--emulate",
            help="Run on the --target's core under qemu (TFLite Micro firmware): instructions "
            "per inference, flash and RAM; the latency shown is an estimate.",
        ),
    ] = False,
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="With --emulate: the target profile.")
    ] = None,
    board: Annotated[
        str | None,
        typer.Option(help="With --emulate: a qemu board instead of the target's (see emulate)."),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help="With --emulate: the firmware engine, tflm (TFLite Micro) or standalone (the "
            "model as plain C)."
        ),
    ] = DEFAULT_ENGINE.value,
    kernels: Annotated[
        str | None,
        typer.Option(
            help="With --emulate: the kernel set; tflm: cmsis-nn or reference (default: cmsis-nn "
            "on Cortex-M cores); standalone: dsp or portable (default: dsp where the core has "
            "the DSP extension)."
        ),
    ] = None,
    sweep: Annotated[
        list[str] | None,
        typer.Option(
            "--sweep",
            help="Run every combination: threads=1,2,4 / xnnpack=on,off / model=b.tflite,... "
            "(repeatable; runs interleaved).",
        ),
    ] = None,
    save: Annotated[str | None, typer.Option(help="Also write the result as JSON here.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Measure load time, first inference and latency statistics with the on-device runner."""
    from edgesdk import api
    from edgesdk.cli.render_runs import render_benchmark
    from edgesdk.devices.benchmark import BenchmarkOptions

    if sweep:
        if group is not None or emulate:
            raise typer.BadParameter("--sweep works on this machine or one --device")
        from edgesdk.cli.render_runs import render_sweep

        with console.status(f"Sweeping {safe(model)} ..."):
            result = api.benchmark_sweep(
                model,
                sweep,
                device,
                runs,
                warmup,
                passphrase_prompt=prompt_passphrase,
                runtime=runtime,
            )
        if save:
            result.save(save)
        if json_out:
            print_json(result.to_dict())
        else:
            render_sweep(result, console)
        return
    emulate_only = [flag for flag, given in (("--board", board is not None),
                    ("--engine", engine != DEFAULT_ENGINE.value), ("--kernels", kernels is not None))
                    if given]  # fmt: skip
    if emulate_only and not emulate:
        verb = "works" if len(emulate_only) == 1 else "work"
        raise typer.BadParameter(f"{' and '.join(emulate_only)} {verb} with --emulate")
    if emulate:
        if target is None or device is not None or group is not None:
            raise typer.BadParameter("--emulate needs --target and no --device/--group")
        from edgesdk.cli.emulate_cmd import finish

        with console.status(f"Emulating {safe(model)} on {safe(target)} ..."):
            result = api.emulate_model(model, target, engine=engine, board=board, kernels=kernels)
        finish(result, save, json_out)
        return

    options = BenchmarkOptions(
        threads=threads, runs=runs, warmup=warmup, input_file=input_file, runtime=runtime
    )
    if group is not None:
        if device is not None:
            raise typer.BadParameter("give --device or --group, not both")
        from edgesdk.devices.fleet import FleetOptions

        run_fleet(
            lambda show: api.benchmark_group(
                model,
                group,
                FleetOptions(parallel=parallel),
                options,
                outlier_factor,
                show,
                prompt_passphrase,
            ),
            group,
            json_out,
            save,
        )
        return
    result = api.benchmark(model, device, options, passphrase_prompt=prompt_passphrase)
    if save:
        result.save(save)
    if json_out:
        print_json(result.to_dict())
    else:
        render_benchmark(result, console)
