/* edgesdk icount: QEMU 7.2 TCG plugin (API v1), glib-free: declares the few API functions it uses.
 * Counts every executed guest instruction exactly (an inline add per instruction) and records
 * the running count each time the instruction at `mark` (a never-inlined marker function) runs.
 * Use: qemu-system-arm ... -plugin icount.so,out=FILE,mark=0xADDR
 * FILE gets "total N" then one "mark I N" line per hit (count before the marker's first insn). */
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
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *, qemu_plugin_vcpu_udata_cb_t,
                                            enum qemu_plugin_cb_flags, void *);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, enum qemu_plugin_op,
                                                void *, uint64_t);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, qemu_plugin_udata_cb_t, void *);

#define EXPORT __attribute__((visibility("default")))
EXPORT int qemu_plugin_version = 1; /* QEMU_PLUGIN_VERSION of qemu 7.2 */

#define MAX_MARKS 4096
static uint64_t insn_count, mark_addr = UINT64_MAX, marks[MAX_MARKS], n_marks;
static char *out_path;

static void on_mark(unsigned int vcpu, void *u) {
  if (n_marks < MAX_MARKS) marks[n_marks] = insn_count;
  n_marks++;
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  size_t n = qemu_plugin_tb_n_insns(tb);
  for (size_t i = 0; i < n; i++) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    /* the callback is registered before the add: a mark excludes the marked instruction */
    if (qemu_plugin_insn_vaddr(insn) == mark_addr)
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &insn_count, 1);
  }
}

static void plugin_exit(qemu_plugin_id_t id, void *p) {
  FILE *f = out_path ? fopen(out_path, "w") : NULL;
  if (!f) f = stderr;
  fprintf(f, "total %llu\n", (unsigned long long)insn_count);
  if (n_marks > MAX_MARKS) fprintf(f, "overflow %llu\n", (unsigned long long)n_marks);
  for (uint64_t i = 0; i < n_marks && i < MAX_MARKS; i++)
    fprintf(f, "mark %llu %llu\n", (unsigned long long)i, (unsigned long long)marks[i]);
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
