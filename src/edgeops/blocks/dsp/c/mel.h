/* edgeops: audio front-end helpers: pre-emphasis and sparse mel filterbank energies.
 * Include once per translation unit, after <math.h>. */
#ifndef EDGEOPS_MEL_H
#define EDGEOPS_MEL_H

/* y[0] = x[0], y[t] = x[t] - a * x[t-1] (over the whole window, before framing), with the
 * coefficient a = coefficient + residual split in two floats (residual is what rounding a to
 * float drops). With a DC offset, x[t] and a * x[t-1] nearly cancel: fmaf subtracts the
 * exact product and rounds once, so y keeps float precision relative to itself, not to x.
 * (fmaf is C99; Cortex-M4F/M7 do it in one VFMA instruction.) */
static inline void edgeops_preemphasis(const float *x, float *y, int n, float coefficient,
                                       float residual)
{
    int t;
    if (n > 0) {
        y[0] = x[0];
    }
    for (t = 1; t < n; t++) {
        y[t] = fmaf(-coefficient, x[t - 1], x[t]) - residual * x[t - 1];
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
