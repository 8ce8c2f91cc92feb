/* Runs the model under test on fixed rows: REPEAT inferences per row, then prints each row's
 * top class and, on the microcontroller, the peak stack. The same file builds the host
 * program (callgrind) and the Cortex-M4 one (QEMU); glue.c adapts each implementation to
 * model_init / model_predict, and the baseline glue runs no model (for size differences). */
#include <stdint.h>
#include <stdio.h>

#include "rows.h" /* ROW_COUNT, ROW_LEN, rows */

void model_init(void);
int model_predict(const float *row);

#ifdef __arm__
void platform_write(const char *text);
uint32_t platform_stack_used(void);
#else
static void platform_write(const char *text)
{
    fputs(text, stdout);
}
#endif

static void write_number(const char *prefix, unsigned long value)
{
    char text[32], digits[16];
    int length = 0, used = 0;
    while (*prefix && used < 12) {
        text[used++] = *prefix++;
    }
    do {
        digits[length++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (length) {
        text[used++] = digits[--length];
    }
    text[used++] = '\n';
    text[used] = 0;
    platform_write(text);
}

/* Marks the end of the measured work in QEMU's execution trace (see compiler_c.py). */
__attribute__((noinline)) void harness_done(void)
{
    __asm__ volatile("" ::: "memory");
}

int main(void)
{
    int row, repeat, top = 0;
    model_init();
    for (row = 0; row < ROW_COUNT; row++) {
        for (repeat = 0; repeat < REPEAT; repeat++) {
            top = model_predict(rows[row]);
        }
        write_number("top ", (unsigned long)top);
    }
    harness_done();
#ifdef __arm__
    write_number("stack ", (unsigned long)platform_stack_used());
#endif
    return 0;
}
