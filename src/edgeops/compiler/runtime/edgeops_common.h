/* edgeops C runtime: shapes shared by the float and int8 kernels. C99, no allocation. */
#ifndef EDGEOPS_COMMON_H
#define EDGEOPS_COMMON_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* A convolution over a channels-last (height, width, channels) input; a 1-D signal is a
 * height-1 image. Padding before the input is pad_top/pad_left; reads outside the input count
 * as zero (the zero point in int8). */
typedef struct {
    int in_h, in_w, in_c;
    int out_h, out_w, out_c;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_top, pad_left;
} eo_conv_geometry;

/* A pooling window over a channels-last input (no padding). */
typedef struct {
    int in_h, in_w, channels;
    int out_h, out_w;
    int size_h, size_w;
    int stride_h, stride_w;
} eo_pool_geometry;

#endif
