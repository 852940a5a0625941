/* edgesdk firmware startup for Cortex-M (v6-M, v7-M, v7E-M) under qemu with semihosting:
 * vector table, FPU enable, .data copy, .bss zeroing, stack painting (to measure the stack
 * high-water mark), C/C++ constructors, main(), exit code through semihosting.
 * Any unexpected exception prints its number and exits with code 99. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, __StackLimit, __StackTop;
extern int main(void);
extern void initialise_monitor_handles(void); /* librdimon: semihosting stdio */
extern void __libc_init_array(void);

/* -nostartfiles drops crti/crtn/crtbegin: provide what newlib and C++ expect from them. */
void _init(void) {}
void _fini(void) {}
void *__dso_handle = 0;

#define STACK_PAINT 0xA5A5A5A5u

static int sh_call(int op, void *arg) {
  register int r0 __asm__("r0") = op;
  register void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/* SYS_EXIT_EXTENDED {ADP_Stopped_ApplicationExit, code}: qemu exits with `code`. */
static void sh_exit(int code) {
  uint32_t block[2] = {0x20026u, (uint32_t)code};
  sh_call(0x20, block);
  for (;;) {
  }
}

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
  sh_call(0x04, msg); /* SYS_WRITE0 */
  sh_exit(99);
}

void Reset_Handler(void) {
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
  initialise_monitor_handles();
  __libc_init_array();
  exit(main()); /* flushes stdio; rdimon's _exit passes the code to qemu */
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
