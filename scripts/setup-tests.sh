#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian/Ubuntu machine:
#   - system packages: openssh-server (a real sshd on 127.0.0.1), gcc/g++ (compile generated C),
#     dataset-fashion-mnist (Fashion-MNIST, offline), and for firmware on emulated Cortex-M cores
#     the Arm GNU toolchain with newlib, qemu-system-arm, make and zstd (the TFLite Micro kit)
#   - .venv: edgesdk with its test extras, the mobile clients, torch (CPU) + litert-torch
#   - .venv-device: a Raspberry-Pi-like Python with only tflite-runtime 2.14 and numpy<2
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
command -v sftp >/dev/null 2>&1 || need+=(openssh-client)  # ansible-playbook copies files with ssh + sftp
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v g++ >/dev/null 2>&1 || need+=(g++)
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
command -v arm-none-eabi-g++ >/dev/null 2>&1 || need+=(gcc-arm-none-eabi)
[ -f /usr/lib/arm-none-eabi/newlib/libc_nano.a ] || need+=(libnewlib-arm-none-eabi)
[ -f /usr/lib/arm-none-eabi/newlib/libstdc++_nano.a ] || need+=(libstdc++-arm-none-eabi-newlib)
command -v qemu-system-arm >/dev/null 2>&1 || need+=(qemu-system-arm)
command -v make >/dev/null 2>&1 || need+=(make)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q -e ".[test]"
# mobile clients, in their own call: mediapipe pins absl-py~=2.3, tfmot 0.8.1 declares ~=1.2
# (no single resolution; pip warns and tfmot runs with absl-py 2.x)
.venv/bin/pip install -q "mediapipe==1.2.3" "coremltools==9.0"
# PyTorch models (tests marked torch): the CPU wheel of torch (192 MB; the PyPI default is the
# CUDA build, 3 GB with its nvidia wheels) and litert-torch, after the mobile clients:
# litert-converter's xdsl pin needs typing-extensions<4.13, so cattrs (coremltools) stays at
# 25.1.1. Measured: 25 s from a warm pip cache, +1.7 GB in .venv (torch, jax, transformers)
.venv/bin/pip install -q "torch==2.13.0+cpu" "litert-torch==0.10.0" "cattrs==25.1.1"

if [ ! -x .venv-device/bin/python ] || ! .venv-device/bin/python -c "import tflite_runtime" 2>/dev/null; then
  python3 -m venv .venv-device
  .venv-device/bin/pip install -q "tflite-runtime==2.14.0" "numpy<2"
fi

# The emulated Raspberry Pi (tests marked aarch64): qemu-user-static, binfmt-support, debootstrap,
# then a Debian arm64 rootfs with tflite-runtime 2.14 and ai-edge-litert 2.3, built once (4-6 min
# on 2 cores) and cached under ${XDG_CACHE_HOME:-~/.cache}/edgesdk/pi-aarch64 (then seconds).
pi_need=()
for p in qemu-user-static binfmt-support debootstrap; do
  dpkg -s "$p" >/dev/null 2>&1 || pi_need+=("$p")
done
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ${#pi_need[@]} -gt 0 ]; then
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pi_need[@]}" >/dev/null \
    || { $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pi_need[@]}" >/dev/null; }
fi
$sudo env HOME="$HOME" ${XDG_CACHE_HOME:+XDG_CACHE_HOME="$XDG_CACHE_HOME"} bash scripts/pi-emu.sh prepare
# .venv-tasklib: the TFLite Task Library (tflite-support 0.4.4) beside the project: its
# protobuf<4 pin conflicts with TensorFlow 2.21, so packaged models are loaded there in a subprocess
if [ ! -x .venv-tasklib/bin/python ] || ! .venv-tasklib/bin/python -c "import tflite_support" 2>/dev/null; then
  python3 -m venv .venv-tasklib
  .venv-tasklib/bin/pip install -q "tflite-support==0.4.4"
fi
