/* edgeops C runtime: anomaly scores in float (k-means distance, Gaussian mixture NLL). */
#ifndef EDGEOPS_ANOMALY_H
#define EDGEOPS_ANOMALY_H

#include "edgeops_common.h"

/* The smallest Euclidean distance from x to the k centers (k, n_in). */
static inline void eo_kmeans_anomaly_f32(const float *x, int n_in, const float *centers, int k,
                                         float *y)
{
    int j, i;
    float best = INFINITY;
    for (j = 0; j < k; j++) {
        float sum = 0.0f;
        for (i = 0; i < n_in; i++) {
            float d = x[i] - centers[j * n_in + i];
            sum += d * d;
        }
        if (sum < best) {
            best = sum;
        }
    }
    y[0] = sqrtf(best);
}

/* Negative log-likelihood under a full-covariance mixture in scikit-learn's parametrisation:
 * precision Cholesky factors chol (k, n_in, n_in), means (k, n_in), and per component
 * log_norm = log weight + log det(chol) - n_in/2 log(2 pi). */
static inline void eo_gmm_anomaly_f32(const float *x, int n_in, const float *means,
                                      const float *chol, const float *log_norm, int k, float *y)
{
    int j, f, g;
    float top = -INFINITY, sum = 0.0f;
    for (j = 0; j < k; j++) {
        float squares = 0.0f, joint;
        for (g = 0; g < n_in; g++) {
            float v = 0.0f;
            for (f = 0; f < n_in; f++) {
                v += (x[f] - means[j * n_in + f]) * chol[(j * n_in + f) * n_in + g];
            }
            squares += v * v;
        }
        joint = log_norm[j] - 0.5f * squares;
        if (joint > top) {
            sum = sum * expf(top - joint) + 1.0f;
            top = joint;
        } else {
            sum += expf(joint - top);
        }
    }
    y[0] = -(top + logf(sum));
}

#endif
