#!/usr/bin/env python3
# ruff: noqa: UP031, B905  (runs on device Pythons older than 3.10)
"""edgesdk benchmark runner: runs ON the device with only numpy and a TFLite runtime.

Self-contained on purpose (no edgesdk, no TensorFlow needed): uploaded and run as
``python runner.py --model M.tflite [--threads N] [--runs N] [--warmup N] [--input F.npy|.npz]``.
Prints one JSON object on stdout.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

# (module, the name users give it), in the order the first-found choice tries them
RUNTIMES = (
    ("ai_edge_litert", "litert"),
    ("tflite_runtime", "tflite-runtime"),
    ("tensorflow", "tensorflow"),
)


def load_runtime(module):
    """(version, Interpreter class) of one runtime module; ImportError if it is missing."""
    if module == "tensorflow":
        import tensorflow as tf

        return tf.__version__, tf.lite.Interpreter
    package = __import__(module)
    interpreter = __import__(module + ".interpreter", fromlist=["Interpreter"])
    return getattr(package, "__version__", "?"), interpreter.Interpreter


def find_runtime(wanted="auto"):
    """The first available of ai_edge_litert, tflite_runtime, tensorflow.lite, or only the
    runtime named by ``wanted`` (litert, tflite-runtime, tensorflow)."""
    for module, label in RUNTIMES:
        if wanted not in ("auto", label):
            continue
        try:
            version, interpreter = load_runtime(module)
        except ImportError:
            continue
        return module, version, interpreter
    return None, None, None


def installed(module):
    try:
        import importlib.util

        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def emulation():
    """How this process is emulated (e.g. "qemu-aarch64 user mode"), or None.

    qemu-user hides its own /proc/self/exe, not its ancestors': in a userland run through
    binfmt_misc every process (the shell, sshd) has the qemu binary as its executable. On real
    hardware the ancestors are sshd, a shell, init.
    """
    pid = os.getppid()
    for _ in range(32):
        if pid <= 1:
            return None
        try:
            name = os.path.basename(os.readlink("/proc/%d/exe" % pid))
            with open("/proc/%d/stat" % pid) as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        if name.startswith("qemu-"):
            return "%s user mode" % name.replace("-static", "")
        if "-binfmt" in name:  # Debian's /usr/libexec/qemu-binfmt/aarch64-binfmt-P
            return "qemu-%s user mode" % name.split("-binfmt")[0]
        pid = parent
    return None


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def environment():
    """CPU model, governor, frequency, temperature and (on a Pi) throttling flags."""
    cpu = None
    text = read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        key = line.split(":")[0].strip().lower()
        if key in ("model name", "hardware", "model") and ":" in line:
            cpu = line.split(":", 1)[1].strip()
            if key == "model name":
                break
    freq = read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    temp = read("/sys/class/thermal/thermal_zone0/temp")
    throttled = None
    try:
        out = subprocess.run(
            ["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=5
        )
        if out.returncode == 0 and "=" in out.stdout:
            throttled = out.stdout.strip().split("=", 1)[1]
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "cpu": cpu or platform.processor() or platform.machine(),
        "governor": read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "freq_khz": int(freq) if freq and freq.isdigit() else None,
        "temp_c": int(temp) / 1000.0 if temp and temp.lstrip("-").isdigit() else None,
        "throttled": throttled,
    }


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    k = (len(sorted_values) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def make_inputs(np, details, path, seed):
    if path:
        data = np.load(path, allow_pickle=False)
        if hasattr(data, "files"):
            arrays = [data[k] for k in data.files]
        else:
            arrays = [data]
        if len(arrays) < len(details):
            raise SystemExit(
                "error: --input has %d arrays for %d model inputs" % (len(arrays), len(details))
            )
        out = []
        for d, a in zip(details, arrays):
            a = np.asarray(a)
            if a.ndim == len(d["shape"]) - 1:
                a = a[None]
            out.append(a[:1].astype(d["dtype"]).reshape(d["shape"]))
        return out
    rng = np.random.default_rng(seed)
    out = []
    for d in details:
        dtype = np.dtype(d["dtype"])
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            out.append(
                rng.integers(info.min, info.max, size=d["shape"], endpoint=True).astype(dtype)
            )
        else:
            out.append(rng.standard_normal(size=d["shape"]).astype(dtype))
    return out


def evaluate(np, interpreter, details, args, name, version):
    """Run every sample of --eval-inputs (one at a time) and save the raw outputs."""
    data = np.load(args.eval_inputs, allow_pickle=False)
    count = len(data["input_0"])
    out_details = interpreter.get_output_details()
    outputs = [[] for _ in out_details]
    for i in range(count):
        for j, d in enumerate(details):
            interpreter.set_tensor(d["index"], data["input_%d" % j][i : i + 1])
        interpreter.invoke()
        for k, d in enumerate(out_details):
            outputs[k].append(interpreter.get_tensor(d["index"]).copy())
    np.savez(
        args.eval_outputs, **{"output_%d" % k: np.concatenate(v) for k, v in enumerate(outputs)}
    )
    print(
        json.dumps(
            {
                "eval_samples": count,
                "runtime": name,
                "runtime_version": version,
                "arch": platform.machine(),
                "emulated": emulation(),
            }
        )
    )
    return 0


def summary(np, times):
    ms = sorted(t * 1000.0 for t in times)
    return {
        "n": len(ms),
        "min_ms": ms[0] if ms else None,
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "latencies_ms": [round(t * 1000.0, 6) for t in times],
    }


def sweep(np, spec_path, Interpreter, name, version):
    """Every cell (model x threads x XNNPACK on/off) in one process, runs interleaved: round r
    starts at cell r, so drift and throttling hit every cell alike."""
    with open(spec_path) as f:
        spec = json.load(f)
    module = sys.modules[Interpreter.__module__]
    resolver = getattr(module, "OpResolverType", None)
    cells, inputs_by_model = [], {}
    for cell in spec["cells"]:
        kwargs = {"model_path": cell["model"], "num_threads": cell["threads"]}
        if not cell["xnnpack"]:
            if resolver is None:
                print(json.dumps({"error": "%s cannot turn XNNPACK off" % name}))
                return 3
            kwargs["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        interpreter = Interpreter(**kwargs)
        interpreter.allocate_tensors()
        details = interpreter.get_input_details()
        if cell["model"] not in inputs_by_model:  # the same inputs for every cell of a model
            inputs_by_model[cell["model"]] = make_inputs(
                np, details, spec.get("input"), spec["seed"]
            )
        for d, x in zip(details, inputs_by_model[cell["model"]]):
            interpreter.set_tensor(d["index"], x)
        interpreter.invoke()
        load_ms = (time.perf_counter() - t0) * 1000.0
        for _ in range(spec["warmup"]):
            interpreter.invoke()
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        cells.append((cell, interpreter, load_ms, rss1 - rss0))
    times = [[] for _ in cells]
    clock = time.perf_counter
    count = len(cells)
    for r in range(spec["runs"]):
        for k in range(count):
            i = (r + k) % count
            invoke = cells[i][1].invoke
            start = clock()
            invoke()
            times[i].append(clock() - start)
    rows = []
    for (cell, _, load_ms, rss_delta), t in zip(cells, times):
        row = dict(cell)
        row.update(summary(np, t))
        row.update({"load_ms": load_ms, "rss_growth_kb": rss_delta})
        rows.append(row)
    print(
        json.dumps(
            {
                "runtime": name,
                "runtime_version": version,
                "arch": platform.machine(),
                "python": platform.python_version(),
                "cells": rows,
                "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "env": environment(),
                "emulated": emulation(),
            }
        )
    )
    return 0


# Over 80 lines: this script runs on the device with only numpy and a runtime, so it stays
# one self-contained main.
def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--input")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-inputs", help="evaluation mode: .npz with input_0.. (model dtypes)")
    p.add_argument("--eval-outputs", help="evaluation mode: where to write output_0.. as .npz")
    p.add_argument("--sweep", help="sweep mode: a JSON file of cells (model, threads, xnnpack)")
    p.add_argument(
        "--runtime",
        default="auto",
        choices=["auto"] + [label for _, label in RUNTIMES],
        help="the runtime to use (auto: the first found)",
    )
    args = p.parse_args(argv)
    if not args.sweep and not args.model:
        p.error("--model is required (or --sweep)")
    before = environment()
    name, version, Interpreter = find_runtime(args.runtime)
    if Interpreter is None:
        if args.runtime != "auto":
            found = [label for module, label in RUNTIMES if installed(module)]
            print(
                json.dumps(
                    {
                        "error": "%s is not installed on this device (installed: %s)"
                        % (args.runtime, ", ".join(found) or "none")
                    }
                )
            )
            return 3
        print(json.dumps({"error": "no TFLite runtime: install ai-edge-litert or tflite-runtime"}))
        return 3
    import numpy as np

    if args.sweep:
        return sweep(np, args.sweep, Interpreter, name, version)
    threads = args.threads or os.cpu_count() or 1
    t0 = time.perf_counter()
    interpreter = Interpreter(model_path=args.model, num_threads=threads)
    interpreter.allocate_tensors()
    load_s = time.perf_counter() - t0
    details = interpreter.get_input_details()
    if args.eval_inputs:
        return evaluate(np, interpreter, details, args, name, version)
    inputs = make_inputs(np, details, args.input, args.seed)
    for d, x in zip(details, inputs):
        interpreter.set_tensor(d["index"], x)
    t0 = time.perf_counter()
    interpreter.invoke()
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.warmup):
        interpreter.invoke()
    warmup_s = time.perf_counter() - t0
    times = []
    clock = time.perf_counter
    invoke = interpreter.invoke
    for _ in range(args.runs):
        start = clock()
        invoke()
        times.append(clock() - start)
    outputs = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
    finite = all(bool(np.all(np.isfinite(o.astype(np.float64)))) for o in outputs)
    after = environment()
    ms = sorted(t * 1000.0 for t in times)
    n = len(ms)
    mean = sum(ms) / n if n else None
    std = (sum((t - mean) ** 2 for t in ms) / (n - 1)) ** 0.5 if n > 1 else 0.0
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {
        "runtime": name,
        "runtime_version": version,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "arch": platform.machine(),
        "threads": threads,
        "delegates": [],
        "default_delegate": "XNNPACK"
        if name in ("ai_edge_litert", "tensorflow")
        else "XNNPACK (if built in)",
        "load_ms": load_s * 1000.0,
        "first_inference_ms": first_s * 1000.0,
        "warmup_ms": warmup_s * 1000.0,
        "warmup_runs": args.warmup,
        "n": n,
        "mean_ms": mean,
        "std_ms": std,
        "min_ms": ms[0] if ms else None,
        "p50_ms": percentile(ms, 50),
        "p90_ms": percentile(ms, 90),
        "p99_ms": percentile(ms, 99),
        "latencies_ms": [round(t * 1000.0, 6) for t in times],
        "peak_rss_kb": rss_kb,
        "outputs_finite": finite,
        "input_source": args.input or "random",
        "env_before": before,
        "env_after": after,
        "emulated": emulation(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
