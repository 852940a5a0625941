/* edgesdk firmware startup for Cortex-M (v6-M, v7-M, v7E-M): vector table, FPU enable, .data
 * copy, .bss zeroing, stack painting (to measure the stack high-water mark), C/C++
 * constructors, main(), exit. Any unexpected exception prints its number and exits with 99.
 *
 * Output and exit, chosen at compile time:
 *  - EDGESDK_IO_UART (what `edgesdk emulate` builds; link with nosys.specs): stdout and stderr
 *    go to the board's UART (EDGESDK_UART_CMSDK_APB or EDGESDK_UART_NRF51 at
 *    EDGESDK_UART_BASE), the exit code is printed as a line `edgesdk-exit <code>` and the core
 *    then requests a system reset (qemu -no-reboot exits). No semihosting: the emulator runs
 *    without it, so the firmware cannot reach the host's files or shell.
 *  - otherwise (a user's board under a debugger; link with rdimon.specs): stdio and the exit
 *    code go through semihosting (librdimon).
 *
 * EDGESDK_TRAP_UNALIGNED (what `edgesdk emulate` adds when an ARMv7-M core runs ARMv6-M code,
 * e.g. an MPS2 AN385's Cortex-M3 for an RP2040's Cortex-M0+): CCR.UNALIGN_TRP is set first,
 * so an unaligned load or store faults as it always does on ARMv6-M instead of running. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, __StackLimit, __StackTop;
extern int main(void);
extern void __libc_init_array(void);

/* -nostartfiles drops crti/crtn/crtbegin: provide what newlib and C++ expect from them. */
void _init(void) {}
void _fini(void) {}
void *__dso_handle = 0;

#define STACK_PAINT 0xA5A5A5A5u

#if defined(EDGESDK_IO_UART)
#include <errno.h>
#include <stddef.h>
#include <sys/stat.h>

#if !defined(EDGESDK_UART_BASE)
#error "EDGESDK_IO_UART needs EDGESDK_UART_BASE (the UART's address)"
#endif
#define UART_REG(offset) (*(volatile uint32_t *)((uintptr_t)(EDGESDK_UART_BASE) + (offset)))

#if defined(EDGESDK_UART_CMSDK_APB) /* Arm CMSDK APB UART (MPS2/MPS3 boards) */
static void uart_init(void) {
  UART_REG(0x10) = 16u; /* BAUDDIV: the smallest valid divider */
  UART_REG(0x08) = 1u;  /* CTRL: TX enable */
}
static void uart_putc(char c) {
  while (UART_REG(0x04) & 1u) { /* STATE.TXFULL */
  }
  UART_REG(0x00) = (uint8_t)c; /* DATA */
}
#elif defined(EDGESDK_UART_NRF51) /* Nordic nRF51 UART (micro:bit) */
static void uart_init(void) {
  UART_REG(0x500) = 4u; /* ENABLE */
  UART_REG(0x008) = 1u; /* TASKS_STARTTX */
}
static void uart_putc(char c) {
  UART_REG(0x11C) = 0u;          /* EVENTS_TXDRDY */
  UART_REG(0x51C) = (uint8_t)c;  /* TXD */
  while (UART_REG(0x11C) == 0u) { /* wait for EVENTS_TXDRDY */
  }
}
#else
#error "EDGESDK_IO_UART needs the UART kind: EDGESDK_UART_CMSDK_APB or EDGESDK_UART_NRF51"
#endif

static char g_last_char = '\n';

static void uart_puts(const char *s) {
  for (; *s; ++s) {
    uart_putc(*s);
    g_last_char = *s;
  }
}

/* `edgesdk-exit <code>` on a line of its own, then SYSRESETREQ (AIRCR): qemu -no-reboot exits. */
__attribute__((noreturn)) static void edgesdk_exit(int code) {
  char line[32] = "edgesdk-exit ";
  char digits[12];
  unsigned value = code < 0 ? 0u - (unsigned)code : (unsigned)code;
  int n = 0, at = 13;
  do {
    digits[n++] = (char)('0' + value % 10u);
    value /= 10u;
  } while (value);
  if (code < 0) line[at++] = '-';
  while (n) line[at++] = digits[--n];
  line[at++] = '\n';
  line[at] = '\0';
  if (g_last_char != '\n') uart_putc('\n');
  uart_puts(line);
  __asm__ volatile("dsb" ::: "memory");
  *(volatile uint32_t *)0xE000ED0Cu = 0x05FA0004u; /* AIRCR: VECTKEY | SYSRESETREQ */
  __asm__ volatile("dsb" ::: "memory");
  for (;;) {
  }
}

static void report_fault(const char *msg) { uart_puts(msg); }

/* newlib's system calls (nosys.specs): stdout/stderr to the UART, everything else refused. */
int _write(int fd, const char *buf, int len) {
  if (fd != 1 && fd != 2) {
    errno = EBADF;
    return -1;
  }
  for (int i = 0; i < len; ++i) uart_putc(buf[i]);
  if (len > 0) g_last_char = buf[len - 1];
  return len;
}
int _read(int fd, char *buf, int len) {
  (void)fd;
  (void)buf;
  (void)len;
  return 0;
}
int _close(int fd) {
  (void)fd;
  errno = EBADF;
  return -1;
}
int _lseek(int fd, int offset, int whence) {
  (void)fd;
  (void)offset;
  (void)whence;
  errno = ESPIPE;
  return -1;
}
int _fstat(int fd, struct stat *st) {
  (void)fd;
  st->st_mode = S_IFCHR;
  return 0;
}
int _isatty(int fd) { return fd >= 0 && fd <= 2; } /* line-buffered stdout, as with rdimon */
int _getpid(void) { return 1; }
int _kill(int pid, int sig) {
  (void)pid;
  (void)sig;
  errno = EINVAL;
  return -1;
}
void _exit(int code) { edgesdk_exit(code); }

/* The heap grows from `end` (linker script) up to the stack pointer, as librdimon's does: the
 * test driver compares the break with __HeapLimit to report an overflow. */
void *_sbrk(ptrdiff_t increment) {
  extern char end;
  static char *heap_break = &end;
  char *sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  if (heap_break + increment > sp) {
    errno = ENOMEM;
    return (void *)-1;
  }
  char *previous = heap_break;
  heap_break += increment;
  return previous;
}

static void io_init(void) { uart_init(); }

#else /* semihosting through librdimon */
extern void initialise_monitor_handles(void);

static int sh_call(int op, void *arg) {
  register int r0 __asm__("r0") = op;
  register void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/* SYS_EXIT_EXTENDED {ADP_Stopped_ApplicationExit, code}: the debugger or emulator gets `code`. */
__attribute__((noreturn)) static void edgesdk_exit(int code) {
  uint32_t block[2] = {0x20026u, (uint32_t)code};
  sh_call(0x20, block);
  for (;;) {
  }
}

static void report_fault(const char *msg) { sh_call(0x04, (void *)msg); /* SYS_WRITE0 */ }

static void io_init(void) { initialise_monitor_handles(); }
#endif

/* Bytes of the stack ever used: the painted words that were overwritten. */
uint32_t edgesdk_stack_used(void) {
  uint32_t *p = &__StackLimit;
  while (p < &__StackTop && *p == STACK_PAINT) p++;
  return (uint32_t)((char *)&__StackTop - (char *)p);
}

void Default_Handler(void) {
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  char msg[] = "*** unexpected exception 000\n";
  msg[25] = (char)('0' + (ipsr / 100) % 10);
  msg[26] = (char)('0' + (ipsr / 10) % 10);
  msg[27] = (char)('0' + ipsr % 10);
  report_fault(msg);
  edgesdk_exit(99);
}

void Reset_Handler(void) {
#if defined(EDGESDK_TRAP_UNALIGNED)
  *(volatile uint32_t *)0xE000ED14u |= (1u << 3); /* CCR.UNALIGN_TRP (RES1 on ARMv6-M) */
  __asm__ volatile("dsb\n isb" ::: "memory");
#endif
#if defined(__ARM_FP)
  *(volatile uint32_t *)0xE000ED88u |= (0xFu << 20); /* CPACR: CP10/CP11 full access */
  __asm__ volatile("dsb\n isb");
#endif
  uint32_t *src = &_sidata, *dst = &_sdata;
  while (dst < &_edata) *dst++ = *src++;
  for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
  uint32_t *sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (dst = &__StackLimit; dst < sp - 16;) *dst++ = STACK_PAINT;
  io_init();
  __libc_init_array();
  exit(main()); /* flushes stdio, then _exit passes the code on */
}

#define HANDLER(x) void x(void) __attribute__((weak, alias("Default_Handler")))
HANDLER(NMI_Handler);
HANDLER(HardFault_Handler);
HANDLER(MemManage_Handler);
HANDLER(BusFault_Handler);
HANDLER(UsageFault_Handler);
HANDLER(SVC_Handler);
HANDLER(DebugMon_Handler);
HANDLER(PendSV_Handler);
HANDLER(SysTick_Handler);

__attribute__((section(".isr_vector"), used)) void (*const g_vectors[16])(void) = {
    (void (*)(void))&__StackTop, Reset_Handler, NMI_Handler, HardFault_Handler,
    MemManage_Handler, BusFault_Handler, UsageFault_Handler, 0, 0, 0, 0, SVC_Handler,
    DebugMon_Handler, 0, PendSV_Handler, SysTick_Handler,
};
