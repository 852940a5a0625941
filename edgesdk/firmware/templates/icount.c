/* edgesdk icount: QEMU 7.2 TCG plugin (API v1), glib-free: declares the few API functions it uses.
 * Counts every executed guest instruction exactly (an inline add per instruction) and records
 * the running count each time the instruction at `mark` (a never-inlined marker function) runs.
 * Use: qemu-system-arm ... -plugin icount.so,out=FILE,mark=0xADDR
 * FILE gets "total N" then one "mark I N" line per hit (count before the marker's first insn).
 *
 * It also counts executed instructions by class (a small Thumb / Thumb-2 decoder classifies each
 * one from its bytes at translation time; an inline add per class, so the classes sum to the
 * total exactly) plus a few extra counters a cycle table needs: registers moved by LDM/STM/PUSH/
 * POP/LDRD/STRD/VLDM/VSTM, loads/stores directly after another in the same translation block
 * (the Cortex-M3/M4 pipeline them), and branches taken (a TB ending in a branch whose successor
 * TB does not start at its fall-through address). FILE then also gets "classes NAME..." and one
 * "cmark I C..." line per mark with the counters, in that order, at the same point. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* not read */
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int, void *);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t, void *);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, qemu_plugin_vcpu_tb_trans_cb_t);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *, qemu_plugin_vcpu_udata_cb_t,
                                          enum qemu_plugin_cb_flags, void *);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *, qemu_plugin_vcpu_udata_cb_t,
                                            enum qemu_plugin_cb_flags, void *);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, enum qemu_plugin_op,
                                                void *, uint64_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, qemu_plugin_udata_cb_t, void *);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1; /* QEMU_PLUGIN_VERSION of qemu 7.2 */

/* Instruction classes (disjoint: every executed instruction is in exactly one), then the extra
 * counters. Keep in step with edgesdk/firmware/cycles.py, which reads them by name. */
enum {
  C_LOAD,       /* LDR/LDRB/LDRH/LDRSB/LDRSH/LDREX, literal, immediate, register; PLD */
  C_STORE,      /* STR/STRB/STRH/STREX */
  C_LOAD_MULTI, /* LDM, POP, LDRD (registers in X_LDM_REGS) */
  C_STORE_MULTI,/* STM, PUSH, STRD (registers in X_STM_REGS) */
  C_MUL,        /* MUL, MLA, MLS (32-bit result) */
  C_MUL_LONG,   /* SMULL, UMULL, SMLAL, UMLAL, UMAAL (64-bit result) */
  C_DSP_MAC,    /* SMLAD(X), SMLSD, SMUAD, SMUSD, SMLAxy, SMULxy, SMLAWy, SMULWy, SMMUL/SMMLA/
                   SMMLS(R), SMLALxy, SMLALD, SMLSLD */
  C_DSP_SIMD,   /* SXTB16/UXTB16 (+A), parallel add/sub, QADD/QSUB/QDADD/QDSUB, SEL, USAD8 */
  C_DIVIDE,     /* SDIV, UDIV */
  C_BRANCH,     /* B, B<c>, B.W, BL, BX, BLX, CBZ, CBNZ, TBB, TBH, ADD/MOV to PC */
  C_FP,         /* VADD, VSUB, VMUL, VNMUL, VABS, VNEG, VCVT, VCMP, VMOV, VMRS, ... */
  C_FP_MAC,     /* VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS */
  C_FP_DIV,     /* VDIV, VSQRT */
  C_FP_LOAD,    /* VLDR */
  C_FP_STORE,   /* VSTR */
  C_OTHER,      /* data processing, moves, compares, shifts, extends, IT, hints, barriers, ... */
  N_CLASSES,
  X_LDM_REGS = N_CLASSES, /* registers (words) moved by LDM/POP/LDRD/VLDM/VPOP */
  X_STM_REGS,   /* registers (words) moved by STM/PUSH/STRD/VSTM/VPUSH */
  X_LS_PIPELINED, /* a single load/store right after another single load/store in the same TB */
  X_PC_LOADS,   /* loads that write the PC (POP {..pc}, LDM with pc, LDR pc): always a branch */
  X_TAKEN,      /* branch-class instructions whose successor is not the fall-through */
  X_CALLS,      /* BL, BLX (register): also in C_BRANCH; the Cortex-M0/M0+ take a cycle more */
  N_COUNTERS
};
static const char *const counter_names[N_COUNTERS] = {
    "load", "store", "load_multiple", "store_multiple", "mul", "mul_long", "dsp_mac",
    "dsp_simd", "divide", "branch", "fp", "fp_mac", "fp_div", "fp_load", "fp_store", "other",
    "ldm_regs", "stm_regs", "ls_pipelined", "pc_loads", "branches_taken", "calls"};

#define MAX_MARKS 4096
static uint64_t insn_count, mark_addr = UINT64_MAX, marks[MAX_MARKS], n_marks;
static uint64_t counters[N_COUNTERS], cmarks[MAX_MARKS][N_COUNTERS];
static uint64_t pending_fallthrough = UINT64_MAX; /* the last TB ended in a branch: its next pc */
static char *out_path;

/* One decoded instruction: its class, the registers it moves (multiples), whether it writes
 * the PC by a load. */
struct decoded {
  int cls;
  int regs;
  bool pc_load;
  bool call;
};

static int popcount16(unsigned v) { return __builtin_popcount(v & 0xffffu); }

static struct decoded decode16(unsigned hw) {
  struct decoded d = {C_OTHER, 0, false, false};
  if ((hw >> 10) == 0x10) { /* data processing: MUL is opcode 1101 */
    if (((hw >> 6) & 0xf) == 0xd) d.cls = C_MUL;
  } else if ((hw >> 10) == 0x11) { /* special data, BX/BLX */
    if ((hw >> 8) == 0x47) d.cls = C_BRANCH, d.call = (hw & 0x80) != 0; /* BX, BLX */
    else if ((hw >> 8) != 0x45 && ((hw & 7) | ((hw >> 4) & 8)) == 15) d.cls = C_BRANCH; /* ADD/MOV pc */
  } else if ((hw >> 11) == 0x9) {
    d.cls = C_LOAD; /* LDR literal */
  } else if ((hw >> 12) == 0x5) {
    d.cls = ((hw >> 9) & 7) < 3 ? C_STORE : C_LOAD;
  } else if ((hw >> 13) == 0x3 || (hw >> 12) == 0x8 || (hw >> 12) == 0x9) {
    d.cls = (hw & 0x0800) ? C_LOAD : C_STORE;
  } else if ((hw >> 12) == 0xb) {
    if ((hw & 0xfe00) == 0xb400) {
      d.cls = C_STORE_MULTI, d.regs = popcount16(hw & 0x1ff); /* PUSH, bit 8 = lr */
    } else if ((hw & 0xfe00) == 0xbc00) {
      d.cls = C_LOAD_MULTI, d.regs = popcount16(hw & 0x1ff); /* POP, bit 8 = pc */
      d.pc_load = (hw & 0x100) != 0;
    } else if ((hw & 0xf500) == 0xb100) {
      d.cls = C_BRANCH; /* CBZ, CBNZ */
    }
  } else if ((hw >> 12) == 0xc) {
    d.cls = (hw & 0x0800) ? C_LOAD_MULTI : C_STORE_MULTI, d.regs = popcount16(hw & 0xff);
  } else if ((hw >> 12) == 0xd) {
    if (((hw >> 8) & 0xe) != 0xe) d.cls = C_BRANCH; /* B<c>; 1110 UDF, 1111 SVC */
  } else if ((hw >> 11) == 0x1c) {
    d.cls = C_BRANCH; /* B */
  }
  return d;
}

/* Floating point (coprocessors 10 and 11); other coprocessors are "other". */
static struct decoded decode_fp(unsigned hw1, unsigned hw2) {
  struct decoded d = {C_OTHER, 0, false, false};
  if (((hw2 >> 9) & 7) != 5) return d;
  unsigned top = hw1 >> 8;
  if (top == 0xec || top == 0xed) {
    if ((hw1 & 0xffe0) == 0xec40) d.cls = C_FP; /* VMOV two core registers */
    else if ((hw1 & 0xff20) == 0xed00) d.cls = (hw1 & 0x10) ? C_FP_LOAD : C_FP_STORE;
    else d.cls = (hw1 & 0x10) ? C_LOAD_MULTI : C_STORE_MULTI, d.regs = hw2 & 0xff; /* words */
  } else if (top == 0xee) {
    if (hw2 & 0x10) { d.cls = C_FP; return d; } /* VMOV core <-> S, VMRS, VMSR */
    unsigned opc1 = (hw1 >> 4) & 0xb;
    if (opc1 == 0 || opc1 == 1 || opc1 == 9 || opc1 == 0xa) d.cls = C_FP_MAC;
    else if (opc1 == 8) d.cls = C_FP_DIV;
    else if (opc1 == 0xb && (hw1 & 0xf) == 1 && ((hw2 >> 6) & 3) == 3) d.cls = C_FP_DIV; /* VSQRT */
    else d.cls = C_FP;
  }
  return d;
}

static struct decoded decode32(unsigned hw1, unsigned hw2) {
  struct decoded d = {C_OTHER, 0, false, false};
  unsigned op1 = (hw1 >> 11) & 3, op2 = (hw1 >> 4) & 0x7f;
  if (op1 == 1) {
    if ((op2 & 0x64) == 0x00) { /* load/store multiple */
      unsigned mode = (hw1 >> 7) & 3;
      if (mode == 1 || mode == 2) {
        d.cls = (hw1 & 0x10) ? C_LOAD_MULTI : C_STORE_MULTI, d.regs = popcount16(hw2);
        d.pc_load = (hw1 & 0x10) && (hw2 & 0x8000);
      }
    } else if ((op2 & 0x64) == 0x04) { /* dual, exclusive, table branch */
      unsigned a = (hw1 >> 7) & 3, b = (hw1 >> 4) & 3;
      if ((a & 2) || (b & 2)) d.cls = (b & 1) ? C_LOAD_MULTI : C_STORE_MULTI, d.regs = 2;
      else if (a == 1 && b == 1 && ((hw2 >> 4) & 0xf) <= 1) d.cls = C_BRANCH; /* TBB, TBH */
      else d.cls = (b & 1) ? C_LOAD : C_STORE;
    } else if (op2 & 0x40) {
      d = decode_fp(hw1, hw2);
    }
  } else if (op1 == 2) {
    if (hw2 & 0x8000) { /* branches and miscellaneous control */
      if ((hw2 & 0x5000) == 0) {
        if ((((hw1 >> 6) & 0xf) & 0xe) != 0xe) d.cls = C_BRANCH; /* B<c>.W */
      } else if (hw2 & 0x1000) {
        d.cls = C_BRANCH, d.call = (hw2 & 0x4000) != 0; /* B.W, BL */
      }
    }
  } else if (op1 == 3) {
    if ((op2 & 0x71) == 0x00) {
      d.cls = C_STORE;
    } else if ((op2 & 0x60) == 0 && (op2 & 1)) {
      d.cls = C_LOAD;
      d.pc_load = ((op2 >> 1) & 3) == 2 && (hw2 >> 12) == 15; /* LDR pc */
    } else if ((op2 & 0x70) == 0x20) { /* data processing (register) */
      unsigned a = (hw1 >> 4) & 0xf, b = (hw2 >> 4) & 0xf;
      if ((a == 2 || a == 3) && (b & 8)) d.cls = C_DSP_SIMD;         /* (S|U)XT(A)B16 */
      else if ((a & 8) && b < 8) d.cls = C_DSP_SIMD;                /* parallel add/sub */
      else if ((a == 8 || a == 0xa) && (b & 0xc) == 8) d.cls = C_DSP_SIMD; /* QADD.., SEL */
    } else if ((op2 & 0x78) == 0x30) { /* multiply, multiply accumulate, absolute difference */
      unsigned a = (hw1 >> 4) & 7, b = (hw2 >> 4) & 3;
      if (a == 0) d.cls = b <= 1 ? C_MUL : C_OTHER;
      else if (a == 7) d.cls = C_DSP_SIMD; /* USAD8, USADA8 */
      else d.cls = C_DSP_MAC;
    } else if ((op2 & 0x78) == 0x38) { /* long multiply, long multiply accumulate, divide */
      unsigned a = (hw1 >> 4) & 7, b = (hw2 >> 4) & 0xf;
      if (a == 1 || a == 3) d.cls = C_DIVIDE;
      else if (a == 0 || a == 2 || a == 6) d.cls = C_MUL_LONG;
      else d.cls = b == 0 ? C_MUL_LONG : C_DSP_MAC;
    } else if (op2 & 0x40) {
      d = decode_fp(hw1, hw2);
    }
  }
  return d;
}

static struct decoded decode(const uint8_t *p, size_t size) {
  unsigned hw1 = p[0] | (p[1] << 8);
  if (size >= 4) return decode32(hw1, p[2] | (p[3] << 8));
  return decode16(hw1);
}

static void on_mark(unsigned int vcpu, void *u) {
  if (n_marks < MAX_MARKS) {
    marks[n_marks] = insn_count;
    memcpy(cmarks[n_marks], counters, sizeof counters);
  }
  n_marks++;
}

/* At the start of every TB: was the previous TB's closing branch taken? */
static void on_tb_exec(unsigned int vcpu, void *u) {
  uint64_t start = (uint64_t)(uintptr_t)u;
  if (pending_fallthrough != UINT64_MAX && start != pending_fallthrough) counters[X_TAKEN]++;
  pending_fallthrough = UINT64_MAX;
}

/* At the closing branch of a TB: its fall-through address. */
static void on_branch(unsigned int vcpu, void *u) { pending_fallthrough = (uint64_t)(uintptr_t)u; }

static void add(struct qemu_plugin_insn *insn, int counter, uint64_t n) {
  qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &counters[counter], n);
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  size_t n = qemu_plugin_tb_n_insns(tb);
  qemu_plugin_register_vcpu_tb_exec_cb(tb, on_tb_exec, QEMU_PLUGIN_CB_NO_REGS,
                                       (void *)(uintptr_t)qemu_plugin_tb_vaddr(tb));
  int prev = -1;
  for (size_t i = 0; i < n; i++) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
    size_t size = qemu_plugin_insn_size(insn);
    /* the callback is registered before the add: a mark excludes the marked instruction */
    if (vaddr == mark_addr)
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &insn_count, 1);
    struct decoded d = decode(qemu_plugin_insn_data(insn), size);
    add(insn, d.cls, 1);
    if (d.cls == C_LOAD_MULTI) add(insn, X_LDM_REGS, d.regs);
    if (d.cls == C_STORE_MULTI) add(insn, X_STM_REGS, d.regs);
    bool single = d.cls == C_LOAD || d.cls == C_STORE;
    if (single && (prev == C_LOAD || prev == C_STORE) && !d.pc_load) add(insn, X_LS_PIPELINED, 1);
    if (d.pc_load) add(insn, X_PC_LOADS, 1);
    if (d.call) add(insn, X_CALLS, 1);
    if (d.cls == C_BRANCH && i + 1 == n)
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_branch, QEMU_PLUGIN_CB_NO_REGS,
                                             (void *)(uintptr_t)(vaddr + size));
    prev = d.cls;
  }
}

static void plugin_exit(qemu_plugin_id_t id, void *p) {
  FILE *f = out_path ? fopen(out_path, "w") : NULL;
  if (!f) f = stderr;
  fprintf(f, "total %llu\n", (unsigned long long)insn_count);
  if (n_marks > MAX_MARKS) fprintf(f, "overflow %llu\n", (unsigned long long)n_marks);
  for (uint64_t i = 0; i < n_marks && i < MAX_MARKS; i++)
    fprintf(f, "mark %llu %llu\n", (unsigned long long)i, (unsigned long long)marks[i]);
  fprintf(f, "classes");
  for (int c = 0; c < N_COUNTERS; c++) fprintf(f, " %s", counter_names[c]);
  fprintf(f, "\nctotal");
  for (int c = 0; c < N_COUNTERS; c++) fprintf(f, " %llu", (unsigned long long)counters[c]);
  fprintf(f, "\n");
  for (uint64_t i = 0; i < n_marks && i < MAX_MARKS; i++) {
    fprintf(f, "cmark %llu", (unsigned long long)i);
    for (int c = 0; c < N_COUNTERS; c++) fprintf(f, " %llu", (unsigned long long)cmarks[i][c]);
    fprintf(f, "\n");
  }
  if (f != stderr) fclose(f);
}

EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (!strncmp(argv[i], "out=", 4)) out_path = strdup(argv[i] + 4);
    else if (!strncmp(argv[i], "mark=", 5)) mark_addr = strtoull(argv[i] + 5, NULL, 0) & ~1ull;
    else { fprintf(stderr, "icount: unknown argument %s\n", argv[i]); return -1; }
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
  qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
  return 0;
}
