/* edgeops: radix-2 FFT of a real signal, iterative, in place, float only.
 * Twiddles come from a table generated in Python (in double, rounded once to float):
 * cos_table[k] = cos(2*pi*k/n), sin_table[k] = sin(2*pi*k/n) for k < n/2.
 * Include once per translation unit. */
#ifndef EDGEOPS_FFT_H
#define EDGEOPS_FFT_H

/* re[0..n) holds the real signal; im[0..n) is scratch. On return re[k], im[k] for
 * k = 0..n/2 are the DFT bins X[k] = sum_t x[t] exp(-2*pi*i*k*t/n) (numpy.fft.rfft).
 * n must be a power of two. */
static inline void edgeops_rfft(float *re, float *im, int n,
                                const float *cos_table, const float *sin_table)
{
    int i, j, bit, size, half, step, start, k;
    for (i = 0; i < n; i++) {
        im[i] = 0.0f;
    }
    /* bit-reversal permutation */
    for (i = 1, j = 0; i < n; i++) {
        for (bit = n >> 1; j & bit; bit >>= 1) {
            j ^= bit;
        }
        j |= bit;
        if (i < j) {
            float t = re[i];
            re[i] = re[j];
            re[j] = t;
        }
    }
    /* butterflies */
    for (size = 2; size <= n; size <<= 1) {
        half = size >> 1;
        step = n / size;
        for (start = 0; start < n; start += size) {
            for (k = 0; k < half; k++) {
                float wr = cos_table[k * step];
                float wi = -sin_table[k * step];
                int a = start + k;
                int b = a + half;
                float tr = re[b] * wr - im[b] * wi;
                float ti = re[b] * wi + im[b] * wr;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
    }
}

/* Subtracts the mean of x[0..length) from those samples and returns it. The float FFT's
 * rounding error in every bin is proportional to the norm of its input, so a large offset
 * (gravity on an accelerometer, a microphone's DC bias) would swamp the quiet bins; the
 * offset is put back exactly afterwards by edgeops_restore_offset. */
static inline float edgeops_remove_offset(float *x, int length)
{
    int t;
    float sum = 0.0f, offset;
    if (length <= 0) {
        return 0.0f;
    }
    for (t = 0; t < length; t++) {
        sum += x[t];
    }
    offset = sum / (float)length;
    for (t = 0; t < length; t++) {
        x[t] -= offset;
    }
    return offset;
}

/* Adds offset * B[k] to bins k = 0..bins-1, where B = box_re + i*box_im is the DFT of
 * `length` ones zero-padded to the FFT size (a table generated in double): by linearity this
 * turns the FFT of (x - offset) back into the FFT of x. */
static inline void edgeops_restore_offset(float *re, float *im, int bins, float offset,
                                          const float *box_re, const float *box_im)
{
    int k;
    for (k = 0; k < bins; k++) {
        re[k] += offset * box_re[k];
        im[k] += offset * box_im[k];
    }
}

#endif /* EDGEOPS_FFT_H */
