"""The portable kernels' requantization in 32-bit operations (ARMv6-M has no 64-bit multiply;
kernels/common.c es_srdhm32 / es_requant_single32) against the int64 forms it replaces, on the
host with ASan/UBSan: every pair of limit values and millions of random ones, every shift the
quantizer emits; a nudge off by one is caught. The Thumb-1 assembly form (es_srdhm_v6m) the same
way, compiled for Cortex-M0 and run by qemu's user-mode ARM emulator."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
QEMU_USER = shutil.which("qemu-arm-static") or shutil.which("qemu-arm")

HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include "common.c"

static uint32_t s = 2463534242u;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s; }

static long long bad = 0, checked = 0;
static void one(int32_t a, int32_t m, int32_t shift) {
  checked += 2;
  if (es_srdhm32(a, m) != es_srdhm64(a, m)) {
    if (bad < 5) printf("srdhm a=%ld m=%ld\n", (long)a, (long)m);
    ++bad;
  }
  if (es_requant_single32(a, m, shift) != es_requant_single64(a, m, shift)) {
    if (bad < 5) printf("single a=%ld m=%ld shift=%ld\n", (long)a, (long)m, (long)shift);
    ++bad;
  }
}

int main(void) {
  static const int32_t lim[] = {INT32_MIN, INT32_MIN + 1, -65537, -65536, -65535, -32769,
                                -32768, -2, -1, 0, 1, 2, 32767, 32768, 65535, 65536, 65537,
                                1 << 30, INT32_MAX - 1, INT32_MAX};
  static const int32_t mlim[] = {0, 1, 65535, 65536, 1 << 30, (1 << 30) + 1, 0x7FFF0000,
                                 0x7FFFFFFE, INT32_MAX};
  const int n = (int)(sizeof(lim) / sizeof(lim[0])), nm = (int)(sizeof(mlim) / sizeof(mlim[0]));
  int i, j, sh;
  long r;
  for (sh = -31; sh <= 30; ++sh)
    for (i = 0; i < n; ++i)
      for (j = 0; j < nm; ++j) one(lim[i], mlim[j], sh);
  for (r = 0; r < 3000000; ++r) {
    const int32_t a = (int32_t)(rnd() >> (rnd() & 31));  /* every magnitude */
    const int32_t m = (int32_t)((1u << 30) | (rnd() >> 2)); /* a quantized multiplier */
    const int32_t sh2 = (int32_t)(rnd() % 62u) - 31;
    one(rnd() & 1 ? a : (int32_t)(0u - (uint32_t)a), m, sh2);
  }
  printf("checked %lld mismatches %lld\n", checked, bad);
  return bad != 0;
}
"""


def _run(tmp: Path, common: str) -> subprocess.CompletedProcess:
    (tmp / "common.c").write_text(common)
    (tmp / "h.c").write_text(HARNESS)
    exe = tmp / "h"
    subprocess.run(
        ["gcc", "-O1", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         "-Wall", "-Werror", "-o", str(exe), str(tmp / "h.c")],
        check=True,
    )  # fmt: skip
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)


def _common() -> str:
    return (resources.files("edgesdk.firmware.standalone") / "kernels" / "common.c").read_text()


def test_32_bit_requantization_equals_the_int64_forms(tmp_path):
    r = _run(tmp_path, _common())
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("mismatches 0")
    assert int(r.stdout.split("checked ")[1].split()[0]) > 6_000_000


def test_the_comparison_catches_a_nudge_off_by_one(tmp_path):
    common = _common()
    broken = common.replace("(1u << 30) - neg", "(1u << 30)")
    assert broken != common
    r = _run(tmp_path, broken)
    assert r.returncode == 1 and "mismatches 0" not in r.stdout


V6M_HARNESS = r"""
#include <stdint.h>
#include "common.c"
static uint32_t s = 2463534242u;
static uint32_t rnd(void) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s; }
static void sys_exit(int code) { /* Linux EABI exit(2): the user-mode emulator's exit status */
  register int r0 __asm__("r0") = code;
  register int r7 __asm__("r7") = 1;
  __asm__ volatile("svc 0" : : "r"(r0), "r"(r7));
  for (;;) {}
}
volatile int32_t sink; /* the multiplier through memory: not a constant the compiler sees */
static uint32_t check(int32_t a, int32_t m) {
  sink = m;
  m = sink;
  return es_srdhm_v6m(a, m) != es_srdhm64(a, m);
}
void _start(void) {
  static const int32_t lim[] = {INT32_MIN, INT32_MIN + 1, -65537, -65536, -65535, -32769,
                                -32768, -2, -1, 0, 1, 2, 32767, 32768, 65535, 65536, 65537,
                                1 << 30, INT32_MAX - 1, INT32_MAX};
  static const int32_t mlim[] = {0, 1, 65535, 65536, 1 << 30, (1 << 30) + 1, 0x7FFF0000,
                                 0x7FFFFFFE, INT32_MAX};
  uint32_t bad = 0, i, j;
  long r;
  for (i = 0; i < 20; ++i)
    for (j = 0; j < 9; ++j) bad += check(lim[i], mlim[j]);
  for (r = 0; r < 2000000; ++r) {
    int32_t a = (int32_t)(rnd() >> (rnd() & 31));
    if (rnd() & 1) a = (int32_t)(0u - (uint32_t)a);
    bad += check(a, (int32_t)((1u << 30) | (rnd() >> 2)));
  }
  sys_exit(bad > 100 ? 100 : (int)bad);
}
"""


def _run_v6m(tmp: Path, common: str) -> int:
    (tmp / "common.c").write_text(common)
    (tmp / "v6m.c").write_text(V6M_HARNESS)
    elf = tmp / "v6m.elf"
    subprocess.run(
        ["arm-none-eabi-gcc", "-mcpu=cortex-m0", "-mthumb", "-Os", "-nostdlib", "-static",
         "-o", str(elf), str(tmp / "v6m.c"), "-lgcc"],
        check=True,
    )  # fmt: skip
    return subprocess.run([QEMU_USER, str(elf)], timeout=300).returncode


@pytest.mark.skipif(
    QEMU_USER is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs arm-none-eabi-gcc and qemu's user-mode ARM emulator",
)
def test_the_thumb1_assembly_equals_the_int64_form_on_an_armv6m_build(tmp_path):
    common = _common()
    assert _run_v6m(tmp_path, common) == 0  # exit status: the mismatch count
    broken = common.replace('"adds %[al], %[al], %[s]\\n\\t"', '"adds %[al], %[al], #0\\n\\t"')
    assert broken != common  # the nudge without its -1 for negative products
    assert _run_v6m(tmp_path, broken) > 0
