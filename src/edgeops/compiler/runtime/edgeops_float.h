/* edgeops C runtime: float kernels. Layouts are those of the IR (channels-last; dense weights
 * (n_out, n_in); conv weights (out_c, kernel_h, kernel_w, in_c); depthwise (kernel_h, kernel_w, c)). */
#ifndef EDGEOPS_FLOAT_H
#define EDGEOPS_FLOAT_H

#include "edgeops_common.h"

static inline void eo_dense_f32(const float *x, int n_in, const float *w, const float *bias,
                                int n_out, float *y)
{
    int o, i;
    for (o = 0; o < n_out; o++) {
        const float *row = w + o * n_in;
        float acc = bias[o];
        for (i = 0; i < n_in; i++) {
            acc += x[i] * row[i];
        }
        y[o] = acc;
    }
}

static inline void eo_conv2d_f32(const float *x, const eo_conv_geometry *g, const float *w,
                                 const float *bias, float *y)
{
    int oy, ox, oc, ky, kx, c;
    for (oy = 0; oy < g->out_h; oy++) {
        for (ox = 0; ox < g->out_w; ox++) {
            for (oc = 0; oc < g->out_c; oc++) {
                float acc = bias[oc];
                for (ky = 0; ky < g->kernel_h; ky++) {
                    int iy = oy * g->stride_h - g->pad_top + ky;
                    if (iy < 0 || iy >= g->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < g->kernel_w; kx++) {
                        int ix = ox * g->stride_w - g->pad_left + kx;
                        const float *px, *pw;
                        if (ix < 0 || ix >= g->in_w) {
                            continue;
                        }
                        px = x + (iy * g->in_w + ix) * g->in_c;
                        pw = w + ((oc * g->kernel_h + ky) * g->kernel_w + kx) * g->in_c;
                        for (c = 0; c < g->in_c; c++) {
                            acc += px[c] * pw[c];
                        }
                    }
                }
                y[(oy * g->out_w + ox) * g->out_c + oc] = acc;
            }
        }
    }
}

/* conv1d: (length, channels) is a height-1 image; weights (out_c, k, in_c) = (out_c, 1, k, in_c). */
static inline void eo_conv1d_f32(const float *x, const eo_conv_geometry *g, const float *w,
                                 const float *bias, float *y)
{
    eo_conv2d_f32(x, g, w, bias, y);
}

static inline void eo_depthwise_conv2d_f32(const float *x, const eo_conv_geometry *g,
                                           const float *w, const float *bias, float *y)
{
    int oy, ox, c, ky, kx;
    for (oy = 0; oy < g->out_h; oy++) {
        for (ox = 0; ox < g->out_w; ox++) {
            for (c = 0; c < g->in_c; c++) {
                float acc = bias[c];
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
                        acc += x[(iy * g->in_w + ix) * g->in_c + c] *
                               w[(ky * g->kernel_w + kx) * g->in_c + c];
                    }
                }
                y[(oy * g->out_w + ox) * g->in_c + c] = acc;
            }
        }
    }
}

static inline void eo_pool_f32(const float *x, const eo_pool_geometry *g, int average, float *y)
{
    int oy, ox, c, ky, kx;
    for (oy = 0; oy < g->out_h; oy++) {
        for (ox = 0; ox < g->out_w; ox++) {
            for (c = 0; c < g->channels; c++) {
                float best = -INFINITY, sum = 0.0f;
                for (ky = 0; ky < g->size_h; ky++) {
                    for (kx = 0; kx < g->size_w; kx++) {
                        int iy = oy * g->stride_h + ky, ix = ox * g->stride_w + kx;
                        float v = x[(iy * g->in_w + ix) * g->channels + c];
                        sum += v;
                        if (v > best) {
                            best = v;
                        }
                    }
                }
                y[(oy * g->out_w + ox) * g->channels + c] =
                    average ? sum / (float)(g->size_h * g->size_w) : best;
            }
        }
    }
}

static inline void eo_max_pool_f32(const float *x, const eo_pool_geometry *g, float *y)
{
    eo_pool_f32(x, g, 0, y);
}

static inline void eo_avg_pool_f32(const float *x, const eo_pool_geometry *g, float *y)
{
    eo_pool_f32(x, g, 1, y);
}

static inline void eo_relu_f32(const float *x, int n, float *y)
{
    int i;
    for (i = 0; i < n; i++) {
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
}

static inline void eo_relu6_f32(const float *x, int n, float *y)
{
    int i;
    for (i = 0; i < n; i++) {
        y[i] = x[i] > 0.0f ? (x[i] < 6.0f ? x[i] : 6.0f) : 0.0f;
    }
}

static inline void eo_softmax_f32(const float *x, int n, float *y)
{
    int i;
    float top = x[0], sum = 0.0f;
    for (i = 1; i < n; i++) {
        if (x[i] > top) {
            top = x[i];
        }
    }
    for (i = 0; i < n; i++) {
        y[i] = expf(x[i] - top);
        sum += y[i];
    }
    for (i = 0; i < n; i++) {
        y[i] /= sum;
    }
}

static inline void eo_add_f32(const float *a, const float *b, int n, float *y)
{
    int i;
    for (i = 0; i < n; i++) {
        y[i] = a[i] + b[i];
    }
}

/* Feature standardisation: (x - mean) / std, element by element. */
static inline void eo_scale_f32(const float *x, const float *mean, const float *std, int n,
                                float *y)
{
    int i;
    for (i = 0; i < n; i++) {
        y[i] = (x[i] - mean[i]) / std[i];
    }
}

#endif
