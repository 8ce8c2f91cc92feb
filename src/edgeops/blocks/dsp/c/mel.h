/* edgeops: audio front-end helpers: pre-emphasis and sparse mel filterbank energies.
 * Include once per translation unit, after <math.h>. */
#ifndef EDGEOPS_MEL_H
#define EDGEOPS_MEL_H

/* The mean of x[0..n), in float (0 for n = 0). */
static inline float edgeops_mean(const float *x, int n)
{
    int t;
    float sum = 0.0f;
    for (t = 0; t < n; t++) {
        sum += x[t];
    }
    return n > 0 ? sum / (float)n : 0.0f;
}

/* Pre-emphasis of x - level: y[0] = x[0] - level, y[t] = (x[t] - level) - a * (x[t-1] - level),
 * i.e. the pre-emphasis of x minus level at t = 0 and minus (1 - a) * level after it; the
 * caller adds those back to the spectra. The coefficient a = coefficient + residual is split
 * in two floats (residual is what rounding a to float drops). Why: with a large offset, y
 * holds (1 - a) * offset plus the signal, and storing that in float would round the signal to
 * the offset's precision; x[t] - level is exact for samples near level, and fmaf subtracts
 * the exact product and rounds once. (fmaf is C99; Cortex-M4F/M7 do it in one VFMA.) */
static inline void edgeops_preemphasis(const float *x, float *y, int n, float coefficient,
                                       float residual, float level)
{
    int t;
    if (n > 0) {
        y[0] = x[0] - level;
    }
    for (t = 1; t < n; t++) {
        float previous = x[t - 1] - level;
        y[t] = fmaf(-coefficient, previous, x[t] - level) - residual * previous;
    }
}

/* energies[f] = sum over the filter's span of weight * power; filter f covers bins
 * first[f] .. first[f] + count[f] - 1, its weights stored back to back after filter f-1's. */
static inline void edgeops_mel_energies(const float *power, const int *first, const int *count,
                                        const float *weights, int num_filters, float *energies)
{
    int f, i;
    const float *w = weights;
    for (f = 0; f < num_filters; f++) {
        float sum = 0.0f;
        for (i = 0; i < count[f]; i++) {
            sum += w[i] * power[first[f] + i];
        }
        energies[f] = sum;
        w += count[f];
    }
}

#endif /* EDGEOPS_MEL_H */
