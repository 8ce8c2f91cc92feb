/* edgeops: a cascade of second-order sections (transposed direct form II), zero initial
 * state, the same recurrence as scipy.signal.sosfilt. Include once per translation unit. */
#ifndef EDGEOPS_BIQUAD_H
#define EDGEOPS_BIQUAD_H

/* Filters x[0], x[stride], ... x[(length-1)*stride] in place through `sections` sections;
 * sos holds 6 coefficients per section: b0 b1 b2 a0 a1 a2 (a0 == 1). The state is kept in
 * double: high-order low-cutoff filters lose too much in float state. */
static inline void edgeops_sosfilt(const double *sos, int sections, float *x, int length,
                                   int stride)
{
    int s, t;
    for (s = 0; s < sections; s++) {
        const double *c = sos + 6 * s;
        double z0 = 0.0, z1 = 0.0;
        for (t = 0; t < length; t++) {
            double in = (double)x[t * stride];
            double out = c[0] * in + z0;
            z0 = c[1] * in - c[4] * out + z1;
            z1 = c[2] * in - c[5] * out;
            x[t * stride] = (float)out;
        }
    }
}

#endif /* EDGEOPS_BIQUAD_H */
