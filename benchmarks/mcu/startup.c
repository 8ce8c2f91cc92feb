/* Bare-metal start-up for the Cortex-M4 of QEMU's mps2-an386 (see link.ld): vector table,
 * .data copy, .bss clear, FPU on, stack painted (to measure its peak), main, semihosting exit.
 * Output goes through Arm semihosting (QEMU: -semihosting-config enable=on,target=native). */
#include <stdint.h>

#define SYS_WRITE0 0x04
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define STACK_PAINT 0xA5A5A5A5u
#define CPACR (*(volatile uint32_t *)0xE000ED88u)

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _stack_bottom, _stack_top;
int main(void);
void Reset_Handler(void);
void Fault_Handler(void);

__attribute__((section(".isr_vector"), used)) static const void *const vectors[16] = {
    &_stack_top, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, Fault_Handler,
};

static int semihost(int operation, const void *argument)
{
    register int r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void platform_write(const char *text)
{
    semihost(SYS_WRITE0, text);
}

/* Bytes of stack ever used: the painted words below the deepest write are still intact. */
uint32_t platform_stack_used(void)
{
    const uint32_t *word = &_stack_bottom;
    while (word < &_stack_top && *word == STACK_PAINT) {
        word++;
    }
    return (uint32_t)((const char *)&_stack_top - (const char *)word);
}

void platform_exit(int status)
{
    (void)status;
    semihost(SYS_EXIT, (const void *)ADP_STOPPED_APPLICATION_EXIT);
    for (;;) {
    }
}

void Fault_Handler(void)
{
    platform_write("fault\n");
    platform_exit(1);
}

void Reset_Handler(void)
{
    uint32_t *source = &_sidata, *destination = &_sdata;
    volatile uint32_t *word;
    uint32_t *stack_pointer;
    while (destination < &_edata) {
        *destination++ = *source++;
    }
    for (destination = &_sbss; destination < &_ebss; destination++) {
        *destination = 0;
    }
    CPACR |= 0xFu << 20; /* CP10 and CP11 (the FPU): full access */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    /* Paint the free stack, everything below the stack pointer. */
    __asm__ volatile("mov %0, sp" : "=r"(stack_pointer));
    for (word = &_stack_bottom; word < (volatile uint32_t *)stack_pointer; word++) {
        *word = STACK_PAINT;
    }
    platform_exit(main());
}
