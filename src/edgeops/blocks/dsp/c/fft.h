/* edgeops: radix-2 FFT of a real signal, iterative, in place, float only.
 * Twiddles come from a table generated in Python: cos_table[k] = cos(2*pi*k/n),
 * sin_table[k] = sin(2*pi*k/n) for k < n/2. Include once per translation unit. */
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

#endif /* EDGEOPS_FFT_H */
