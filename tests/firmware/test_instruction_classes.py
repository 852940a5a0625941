"""Executed instructions by class (the icount qemu plugin's Thumb decoder) and the cycle
ESTIMATES priced from them by the cores' TRM tables: a hand-written Thumb program with known
counts, a decoder broken on purpose, the decoder against objdump on a linked firmware image,
and emulate results of both engines on emulated Cortex-M4F and Cortex-M0. Real gcc,
arm-none-eabi-gcc and qemu-system-arm."""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest import require_firmware_tools
from standalone_models import whole_model
from typer.testing import CliRunner

import edgesdk
from edgesdk.cli import app
from edgesdk.firmware.cycles import CLASSES, COUNTERS, cycles_for
from edgesdk.firmware.engines import Engine

pytestmark = pytest.mark.emulation
runner = CliRunner()
TEMPLATE = Path(edgesdk.__file__).parent / "firmware" / "templates" / "icount.c"


@pytest.fixture(scope="module", autouse=True)
def firmware_tools():
    require_firmware_tools()


@pytest.fixture(scope="module")
def toolchain():
    from edgesdk.firmware.toolchain import find_toolchain

    return find_toolchain()


# N iterations of SMLAD; SUBS; BNE between two calls of `mark`, then a few loads and stores
# of known kinds; the end: a system reset request, which -no-reboot turns into qemu's exit
PROGRAM = """
.syntax unified
.cpu cortex-m4
.thumb
.section .vectors,"a"
.word 0x20001000
.word reset
.text
.thumb_func
.global reset
reset:
  bl mark
  movs r0, #{n}
1:
  smlad r2, r3, r4, r2
  subs r0, #1
  bne 1b
  push {{r4, r5, lr}}
  pop {{r4, r5}}
  ldr r1, [sp, #-8]
  ldr r1, [sp, #-4]
  str r1, [sp, #-4]
  sdiv r1, r1, r0
  bl mark
  ldr r0, =0xE000ED0C
  ldr r1, =0x05FA0004
  str r1, [r0]
2: b 2b
.thumb_func
.global mark
mark: bx lr
"""


def _expected(n: int) -> dict[str, int]:
    """Between the marks: BX LR, MOVS, n x (SMLAD, SUBS, BNE), PUSH, POP, LDR, LDR, STR, SDIV,
    BL."""
    counts = dict.fromkeys(COUNTERS, 0)
    counts.update(
        load=2, store=1, load_multiple=1, store_multiple=1, dsp_mac=n, divide=1,
        branch=n + 2, other=n + 1, ldm_regs=2, stm_regs=3, ls_pipelined=2,
        branches_taken=n + 1, calls=1,
    )  # fmt: skip
    return counts


def _run_program(tmp_path: Path, toolchain, plugin: Path, n: int) -> tuple[int, dict[str, int]]:
    from edgesdk.firmware.emulator import class_delta, read_class_marks, read_marks, symbol_address

    (tmp_path / "t.S").write_text(PROGRAM.format(n=n))
    elf = tmp_path / "t.elf"
    subprocess.run(
        [str(toolchain.gcc), "-nostdlib", "-mcpu=cortex-m4", "-mthumb", "-Wl,-e,reset",
         "-Wl,-Ttext=0x100", "-Wl,--section-start=.vectors=0", "-o", str(elf),
         str(tmp_path / "t.S")],
        check=True, capture_output=True,
    )  # fmt: skip
    out = tmp_path / "marks.txt"
    mark = symbol_address(elf, "mark", toolchain)
    subprocess.run(
        [str(toolchain.qemu), "-M", "mps2-an386", "-cpu", "cortex-m4", "-nodefaults", "-nic",
         "none", "-display", "none", "-monitor", "none", "-no-reboot", "-kernel", str(elf),
         "-plugin", f"{plugin},out={out},mark=0x{mark:x}"],
        check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
    )  # fmt: skip
    _, marks = read_marks(out)
    classes = read_class_marks(out)
    assert len(marks) == len(classes) == 2
    return marks[1] - marks[0], class_delta(classes[1], classes[0])


@pytest.mark.parametrize("n", [1, 100])
def test_a_hand_written_smlad_loop_gives_the_expected_classes_and_cycles(tmp_path, toolchain, n):
    from edgesdk.firmware.toolchain import icount_plugin

    total, classes = _run_program(tmp_path, toolchain, icount_plugin(toolchain), n)
    assert total == 3 * n + 9  # the plain count, unchanged
    assert classes == _expected(n)
    assert sum(classes[k] for k in CLASSES) == total
    # Cortex-M4 TRM Table 3-1 by hand: loads/stores 2 (a following one 1), PUSH/POP 1 + N,
    # SMLAD/SUBS 1, SDIV 2..12, branch 1 + P when taken (P 1..3; middle 2)
    assert cycles_for(classes, "cortex-m4") == {
        "cycles": 5 * n + 23, "low": 4 * n + 17, "high": 6 * n + 31,
        "by_class": cycles_for(classes, "cortex-m4")["by_class"],
    }  # fmt: skip
    # the same counts priced by other cores' tables: a taken branch (BX, BNE, BL) costs 3 on
    # the M0 (BL 4), 2 on the M0+ (BL 3): one cycle more per taken branch
    m0, m0plus = cycles_for(classes, "cortex-m0"), cycles_for(classes, "cortex-m0plus")
    assert m0["cycles"] - m0plus["cycles"] == n + 1


def test_a_broken_decoder_is_caught(tmp_path, toolchain):
    """The same program through a plugin whose decoder misreads SMLAD as a data-processing
    instruction: the class check fails (the counts differ), the plain count does not."""
    source = TEMPLATE.read_text()
    broken = source.replace("else d.cls = C_DSP_MAC;", "else d.cls = C_OTHER;")
    assert broken != source
    (tmp_path / "icount.c").write_text(broken)
    plugin = tmp_path / "libicount.so"
    subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-o", str(plugin),
         str(tmp_path / "icount.c")],
        check=True, capture_output=True,
    )  # fmt: skip
    total, classes = _run_program(tmp_path, toolchain, plugin, 10)
    assert total == 3 * 10 + 9
    assert classes != _expected(10)
    assert classes["dsp_mac"] == 0 and classes["other"] == 10 + 1 + 10


# objdump's mnemonic (condition and .w/.n stripped) -> the plugin's class
_BY_MNEMONIC = {
    "branch": "b bl bx blx cbz cbnz tbb tbh",
    "load_multiple": "pop ldm ldmia ldmdb ldmfd ldrd vpop vldmia vldmdb vldm",
    "store_multiple": "push stm stmia stmdb stmea strd vpush vstmia vstmdb vstm",
    "load": "ldr ldrb ldrh ldrsb ldrsh ldrex ldrexb ldrexh pld ldrt ldrbt ldrht",
    "store": "str strb strh strex strexb strexh strt",
    "mul": "mul muls mla mls",
    "mul_long": "smull umull smlal umlal umaal",
    "divide": "sdiv udiv",
    "fp_load": "vldr",
    "fp_store": "vstr",
    "fp_div": "vdiv vsqrt",
    "fp_mac": "vmla vmls vnmla vnmls vfma vfms vfnma vfnms",
}
_MNEMONIC = {m: cls for cls, names in _BY_MNEMONIC.items() for m in names.split()}
_DSP_MAC = re.compile(
    r"^(smla[bt][bt]|smlaw[bt]|smul[bt][bt]|smulw[bt]|smladx?|smlsdx?|smuadx?|smusdx?|smmulr?"
    r"|smmlar?|smmlsr?|smlal[bt][bt]|smlaldx?|smlsldx?)$"
)
_DSP_SIMD = re.compile(
    r"^([su]xtab16|[su]xtb16|[su]h?(add|sub)(16|8)|[su]h?(asx|sax)|u?q(add|sub)(16|8)?"
    r"|u?q(asx|sax)|qd(add|sub)|sel|usada?8)$"
)
_COND = re.compile(r"(eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al)$")


def _objdump_class(mnemonic: str, operands: str) -> str:
    for m in (mnemonic, _COND.sub("", mnemonic)):
        if m in _MNEMONIC:
            return _MNEMONIC[m]
        if _DSP_MAC.match(m):
            return "dsp_mac"
        if _DSP_SIMD.match(m):
            return "dsp_simd"
        if m in ("add", "mov") and operands.split(",")[0].strip() == "pc":
            return "branch"
    return "fp" if mnemonic.startswith("v") else "other"


# the plugin's decoder, built for the host: hex halfwords in, class and register count out;
# the qemu API it declares comes from a second file of empty stubs (never called)
HARNESS = """
#include "{template}"
int main(void) {{
  char line[64];
  unsigned a, b;
  while (fgets(line, sizeof line, stdin)) {{
    int n = sscanf(line, "%x %x", &a, &b);
    uint8_t p[4] = {{a & 0xff, a >> 8, (n == 2 ? b : 0) & 0xff, (n == 2 ? b : 0) >> 8}};
    struct decoded d = decode(p, n == 2 ? 4 : 2);
    printf("%s %d\\n", counter_names[d.cls], d.regs);
  }}
  return 0;
}}
"""
STUBS = "".join(
    f"void qemu_plugin_{name}(void) {{}}\n"
    for name in (
        "register_vcpu_tb_trans_cb", "register_vcpu_tb_exec_cb", "register_vcpu_insn_exec_cb",
        "register_vcpu_insn_exec_inline", "register_atexit_cb", "tb_n_insns", "tb_vaddr",
        "tb_get_insn", "insn_vaddr", "insn_data", "insn_size",
    )
)  # fmt: skip


def _decoder(tmp_path: Path) -> Path:
    (tmp_path / "harness.c").write_text(HARNESS.format(template=TEMPLATE))
    (tmp_path / "stubs.c").write_text(STUBS)
    exe = tmp_path / "decode"
    proc = subprocess.run(
        ["gcc", "-O1", "-w", "-o", str(exe), str(tmp_path / "harness.c"),
         str(tmp_path / "stubs.c")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return exe


_LINE = re.compile(r"^\s+[0-9a-f]+:\s+([0-9a-f]{4})(?: ([0-9a-f]{4}))?\s+\t(\S+)\s*(.*)$")


def _decoder_vs_objdump(elf: Path, toolchain, decoder: Path) -> tuple[int, Counter]:
    """Every instruction of ``elf``: the decoder's class against objdump's mnemonic; for
    PUSH/POP/LDM/STM also the register count."""
    text = subprocess.run(
        [str(toolchain.objdump), "-d", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    rows = [m.groups() for line in text.splitlines() if (m := _LINE.match(line))]
    rows = [r for r in rows if not r[2].startswith(".")]  # literal pools
    stdin = "".join(f"{a} {b}\n" if b else f"{a}\n" for a, b, _, _ in rows)
    out = subprocess.run([str(decoder)], input=stdin, capture_output=True, text=True).stdout
    wrong: Counter = Counter()
    for (_, _, mnemonic, operands), got in zip(rows, out.splitlines(), strict=True):
        cls, regs = got.split()
        want = _objdump_class(mnemonic.split(".")[0], operands)
        if mnemonic.startswith(("push", "pop", "ldm", "stm")) and "{" in operands:
            listed = operands[operands.index("{") + 1 : operands.index("}")].split(",")
            if int(regs) != len(listed):  # objdump lists core registers one by one
                wrong[(mnemonic, "registers")] += 1
        if cls != want:
            wrong[(mnemonic, want, cls)] += 1
    return len(rows), wrong


def _bundle(tmp_path: Path, target, engine: str | None, name: str) -> Path:
    path = tmp_path / "digits_cnn.tflite"
    path.write_bytes(whole_model("digits_cnn"))
    out = tmp_path / name
    kwargs = {"engine": engine} if engine else {}
    edgesdk.export_c(path, out, target=target, test_vectors=2, **kwargs)
    return out


@pytest.mark.parametrize("target", ["arduino-nano-33-ble", "m0"])
def test_both_engines_report_classes_that_sum_to_the_count_and_a_cycle_estimate(
    tmp_path, toolchain, target, cortex_m0
):
    profile = cortex_m0 if target == "m0" else target
    engines = (Engine.STANDALONE.value, None) if target != "m0" else (Engine.STANDALONE.value,)
    decoder = _decoder(tmp_path)
    for engine in engines:
        folder = tmp_path / f"project-{engine}"
        result = edgesdk.emulate(
            _bundle(tmp_path, profile, engine, f"bundle-{engine}"), target=profile,
            work_dir=folder,
        )  # fmt: skip
        assert result.bit_exact and len(result.instruction_classes) == 2
        for count, classes in zip(result.instructions, result.instruction_classes, strict=True):
            assert sum(classes[k] for k in CLASSES) == count  # exact, every vector
            assert 0 < classes["branches_taken"] <= classes["branch"] + classes["pc_loads"]
        first = result.instruction_classes[0]
        est = result.cycles_estimate
        table = "cortex-m4" if target != "m0" else "cortex-m0"
        assert est["table"] == table and "Technical Reference Manual" in est["source"]
        worst = max(c["cycles"] for c in est["per_inference"])
        assert est["per_inference"][0]["low"] <= est["per_inference"][0]["cycles"]
        assert est["per_inference"][0]["cycles"] <= est["per_inference"][0]["high"]
        assert max(result.instructions) < worst < 3 * max(result.instructions)
        assert result.estimated_latency_ms_trm == worst / (result.clock_mhz * 1e3)
        data = result.to_dict()
        assert data["instruction_classes"][0] == first and data["cycles_estimate"] == est
        if target == "m0":
            assert first["dsp_mac"] == first["dsp_simd"] == first["divide"] == 0
            assert cycles_for(first, "cortex-m0") != cycles_for(first, "cortex-m0plus")
        elif engine == Engine.STANDALONE.value:
            assert first["dsp_mac"] > 0  # the DSP kernels
        # the decoder agrees with objdump on every instruction of the linked image
        elf = next(p for p in folder.rglob("firmware.elf") if "probe" not in p.parts)
        n, wrong = _decoder_vs_objdump(elf, toolchain, decoder)
        assert n > 2000 and not wrong, wrong.most_common(10)


def test_cli_prints_and_saves_the_classes_and_the_estimate(tmp_path):
    bundle = _bundle(tmp_path, "arduino-nano-33-ble", Engine.STANDALONE.value, "bundle")
    saved = tmp_path / "emulate.json"
    r = runner.invoke(app, ["emulate", str(bundle), "--save", str(saved)])
    assert r.exit_code == 0, r.output
    assert "instruction classes" in r.output and "cycles (ESTIMATE)" in r.output
    assert "Technical Reference Manual" in re.sub(r"[\s│]+", " ", r.output)  # table wraps
    report = runner.invoke(app, ["report", str(tmp_path), "--output", str(tmp_path / "rep")])
    assert report.exit_code == 0, report.output
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "est. cycles (TRM table)" in text and ", cortex-m4 |" in text
