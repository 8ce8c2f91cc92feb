/* edgeops C runtime: int8 kernels with the TFLite int8 spec's fixed-point arithmetic.
 * Accumulators are int32 (the code generator checks they cannot overflow); every rounding is
 * the one of compiler/fixedpoint.py, so results are bit-exact with the Python int8 reference.
 * Right shifts of negative numbers are arithmetic (as with every compiler edgeops supports). */
#ifndef EDGEOPS_INT8_H
#define EDGEOPS_INT8_H

#include "edgeops_common.h"

/* Requantization of an op's int32 accumulators to int8 outputs, per output channel. */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t activation_min;
    int32_t activation_max;
} eo_requant;

typedef struct {
    int32_t zero_point[2];
    int32_t multiplier[2];
    int32_t shift[2];
    int32_t left_shift;
    int32_t output_multiplier;
    int32_t output_shift;
    int32_t output_zero_point;
    int32_t activation_min;
    int32_t activation_max;
} eo_add_params;

/* The high 32 bits of 2*a*b, rounded to nearest (ties away from zero), saturating. */
static inline int32_t eo_high_mul(int32_t a, int32_t b)
{
    int64_t product;
    int64_t nudge;
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    product = (int64_t)a * (int64_t)b;
    nudge = product >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((product + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent for exponent in [0, 31], rounded to nearest (ties away from zero). */
static inline int32_t eo_divide_pot(int32_t x, int32_t exponent)
{
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t eo_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier,
                                                          int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    int64_t shifted = (int64_t)x * ((int64_t)1 << left);
    if (shifted > INT32_MAX) {
        shifted = INT32_MAX;
    }
    if (shifted < INT32_MIN) {
        shifted = INT32_MIN;
    }
    return eo_divide_pot(eo_high_mul((int32_t)shifted, multiplier), right);
}

static inline int8_t eo_clamp_s8(int64_t value, int32_t low, int32_t high)
{
    if (value < low) {
        return (int8_t)low;
    }
    if (value > high) {
        return (int8_t)high;
    }
    return (int8_t)value;
}

static inline int8_t eo_requantize(int32_t acc, const eo_requant *rq, int channel)
{
    int64_t out = (int64_t)eo_multiply_by_quantized_multiplier(acc, rq->multiplier[channel],
                                                                rq->shift[channel]);
    return eo_clamp_s8(out + rq->output_zero_point, rq->activation_min, rq->activation_max);
}

/* float -> int8: roundf(x / scale) + zero_point, clamped (NaN -> -128). Rounds like roundf
 * (half away from zero) without a libm call: t - trunc(t) is exact for |t| < 2^23. */
static inline int8_t eo_quantize_one(float x, float scale, int32_t zero_point)
{
    float t = x / scale;
    int32_t r;
    if (!(t >= -1024.0f)) {
        t = -1024.0f;
    }
    if (t > 1024.0f) {
        t = 1024.0f;
    }
    r = (int32_t)t;
    if (t - (float)r >= 0.5f) {
        r++;
    } else if (t - (float)r <= -0.5f) {
        r--;
    }
    return eo_clamp_s8((int64_t)r + zero_point, -128, 127);
}

static inline void eo_quantize_s8(const float *x, int n, float scale, int32_t zero_point,
                                  int8_t *y)
{
    int i;
    for (i = 0; i < n; i++) {
        y[i] = eo_quantize_one(x[i], scale, zero_point);
    }
}

/* Standardise ((x - mean) / std, in float) and quantize, without storing the float result. */
static inline void eo_standardize_quantize_s8(const float *x, const float *mean,
                                              const float *std, int n, float scale,
                                              int32_t zero_point, int8_t *y)
{
    int i;
    for (i = 0; i < n; i++) {
        y[i] = eo_quantize_one((x[i] - mean[i]) / std[i], scale, zero_point);
    }
}

static inline void eo_dequantize_s8(const int8_t *x, int n, float scale, int32_t zero_point,
                                    float *y)
{
    int i;
    for (i = 0; i < n; i++) {
        y[i] = (float)((int32_t)x[i] - zero_point) * scale;
    }
}

/* Dense layer. `folded_bias` is bias - input_zero_point * sum(row): the zero point is folded
 * in at generation time (an exact integer identity), so the inner loop is a plain int8 dot
 * product. */
static inline void eo_dense_s8(const int8_t *x, int n_in, const int8_t *w,
                               const int32_t *folded_bias, int n_out, const eo_requant *rq,
                               int8_t *y)
{
    int o, i;
    for (o = 0; o < n_out; o++) {
        const int8_t *row = w + o * n_in;
        int32_t acc = 0;
        for (i = 0; i < n_in; i++) {
            acc += (int32_t)x[i] * (int32_t)row[i];
        }
        y[o] = eo_requantize(acc + folded_bias[o], rq, o);
    }
}

static inline void eo_conv2d_s8(const int8_t *x, const eo_conv_geometry *g, const int8_t *w,
                                const int32_t *bias, const eo_requant *rq, int8_t *y)
{
    int oy, ox, oc, ky, kx, c;
    for (oy = 0; oy < g->out_h; oy++) {
        for (ox = 0; ox < g->out_w; ox++) {
            for (oc = 0; oc < g->out_c; oc++) {
                int32_t acc = bias[oc];
                for (ky = 0; ky < g->kernel_h; ky++) {
                    int iy = oy * g->stride_h - g->pad_top + ky;
                    if (iy < 0 || iy >= g->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < g->kernel_w; kx++) {
                        int ix = ox * g->stride_w - g->pad_left + kx;
                        const int8_t *px, *pw;
                        if (ix < 0 || ix >= g->in_w) {
                            continue;
                        }
                        px = x + (iy * g->in_w + ix) * g->in_c;
                        pw = w + ((oc * g->kernel_h + ky) * g->kernel_w + kx) * g->in_c;
                        for (c = 0; c < g->in_c; c++) {
                            acc += ((int32_t)px[c] - rq->input_zero_point) * (int32_t)pw[c];
                        }
                    }
                }
                y[(oy * g->out_w + ox) * g->out_c + oc] = eo_requantize(acc, rq, oc);
            }
        }
    }
}

static inline void eo_conv1d_s8(const int8_t *x, const eo_conv_geometry *g, const int8_t *w,
                                const int32_t *bias, const eo_requant *rq, int8_t *y)
{
    eo_conv2d_s8(x, g, w, bias, rq, y);
}

static inline void eo_depthwise_conv2d_s8(const int8_t *x, const eo_conv_geometry *g,
                                          const int8_t *w, const int32_t *bias,
                                          const eo_requant *rq, int8_t *y)
{
    int oy, ox, c, ky, kx;
    for (oy = 0; oy < g->out_h; oy++) {
        for (ox = 0; ox < g->out_w; ox++) {
            for (c = 0; c < g->in_c; c++) {
                int32_t acc = bias[c];
                for (ky = 0; ky < g->kernel_h; ky++) {
                    int iy = oy * g->stride_h - g->pad_top + ky;
                    if (iy < 0 || iy >= g->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < g->kernel_w; kx++) {
                        int ix = ox * g->stride_w - g->pad_left + kx;
                        if (ix < 0 || ix >= g->in_w) {
                            continue;
                        }
                        acc += ((int32_t)x[(iy * g->in_w + ix) * g->in_c + c] -
                                rq->input_zero_point) *
                               (int32_t)w[(ky * g->kernel_w + kx) * g->in_c + c];
                    }
                }
                y[(oy * g->out_w + ox) * g->in_c + c] = eo_requantize(acc, rq, c);
            }
        }
    }
}

static inline void eo_max_pool_s8(const int8_t *x, const eo_pool_geometry *g, int8_t *y)
{
    int oy, ox, c, ky, kx;
    for (oy = 0; oy < g->out_h; oy++) {
        for (ox = 0; ox < g->out_w; ox++) {
            for (c = 0; c < g->channels; c++) {
                int8_t best = INT8_MIN;
                for (ky = 0; ky < g->size_h; ky++) {
                    for (kx = 0; kx < g->size_w; kx++) {
                        int iy = oy * g->stride_h + ky, ix = ox * g->stride_w + kx;
                        int8_t v = x[(iy * g->in_w + ix) * g->channels + c];
                        if (v > best) {
                            best = v;
                        }
                    }
                }
                y[(oy * g->out_w + ox) * g->channels + c] = best;
            }
        }
    }
}

/* Average with the input's quant params: the rounded mean of the raw integers. */
static inline void eo_avg_pool_s8(const int8_t *x, const eo_pool_geometry *g, int8_t *y)
{
    int oy, ox, c, ky, kx;
    int32_t count = g->size_h * g->size_w;
    for (oy = 0; oy < g->out_h; oy++) {
        for (ox = 0; ox < g->out_w; ox++) {
            for (c = 0; c < g->channels; c++) {
                int32_t sum = 0;
                for (ky = 0; ky < g->size_h; ky++) {
                    for (kx = 0; kx < g->size_w; kx++) {
                        int iy = oy * g->stride_h + ky, ix = ox * g->stride_w + kx;
                        sum += x[(iy * g->in_w + ix) * g->channels + c];
                    }
                }
                sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                y[(oy * g->out_w + ox) * g->channels + c] = eo_clamp_s8(sum, -128, 127);
            }
        }
    }
}

/* relu / relu6 on int8: a clamp to the real 0 (and 6) of the tensor's quant params. */
static inline void eo_clamp_s8_array(const int8_t *x, int n, int32_t low, int32_t high,
                                     int8_t *y)
{
    int i;
    for (i = 0; i < n; i++) {
        y[i] = eo_clamp_s8(x[i], low, high);
    }
}

static inline void eo_relu_s8(const int8_t *x, int n, int32_t zero_point, int8_t *y)
{
    eo_clamp_s8_array(x, n, zero_point, 127, y);
}

static inline void eo_relu6_s8(const int8_t *x, int n, int32_t zero_point, int32_t six,
                               int8_t *y)
{
    eo_clamp_s8_array(x, n, zero_point, six, y);
}

/* Softmax to scale 1/256, zero point -128: table[d] = exp(-d * input_scale) in Q16 for
 * d = max - x; out = round(256 * table[d] / sum) - 128. */
static inline void eo_softmax_s8(const int8_t *x, int n, const int32_t *table, int8_t *y)
{
    int i;
    int32_t top = x[0], sum = 0;
    for (i = 1; i < n; i++) {
        if (x[i] > top) {
            top = x[i];
        }
    }
    for (i = 0; i < n; i++) {
        sum += table[top - x[i]];
    }
    for (i = 0; i < n; i++) {
        int64_t scaled = ((int64_t)table[top - x[i]] * 256 + sum / 2) / sum;
        y[i] = eo_clamp_s8(scaled - 128, -128, 127);
    }
}

static inline void eo_add_s8(const int8_t *a, const int8_t *b, int n, const eo_add_params *p,
                             int8_t *y)
{
    int i;
    for (i = 0; i < n; i++) {
        int32_t sa = eo_multiply_by_quantized_multiplier(
            ((int32_t)a[i] - p->zero_point[0]) * ((int32_t)1 << p->left_shift), p->multiplier[0],
            p->shift[0]);
        int32_t sb = eo_multiply_by_quantized_multiplier(
            ((int32_t)b[i] - p->zero_point[1]) * ((int32_t)1 << p->left_shift), p->multiplier[1],
            p->shift[1]);
        int64_t out = (int64_t)eo_multiply_by_quantized_multiplier(sa + sb, p->output_multiplier,
                                                                   p->output_shift);
        y[i] = eo_clamp_s8(out + p->output_zero_point, p->activation_min, p->activation_max);
    }
}

/* Standardisation on int8: per element, (x - zero_point + offset[i]) requantized. */
static inline void eo_scale_s8(const int8_t *x, int n, const int32_t *offset,
                               const eo_requant *rq, int8_t *y)
{
    int i;
    for (i = 0; i < n; i++) {
        y[i] = eo_requantize((int32_t)x[i] - rq->input_zero_point + offset[i], rq, i);
    }
}

#endif
