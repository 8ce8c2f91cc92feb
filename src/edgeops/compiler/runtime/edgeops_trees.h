/* edgeops C runtime: tree ensembles (random forests) averaging leaf class probabilities. */
#ifndef EDGEOPS_TREES_H
#define EDGEOPS_TREES_H

#include "edgeops_common.h"

/* Node, feature and leaf indices; the generated model defines it as int16_t when they fit. */
#ifndef EDGEOPS_TREE_INDEX
#define EDGEOPS_TREE_INDEX int32_t
#endif
typedef EDGEOPS_TREE_INDEX eo_tree_index;

/* Trees as flat node arrays: a node is a leaf when left[node] == -1, and then right[node] is its
 * row in leaf_values (n_classes probabilities); otherwise go left when
 * x[feature[node]] <= threshold[node]. Node indices are absolute; roots[t] is tree t's root.
 * Identical leaves share one row of leaf_values. */
typedef struct {
    int n_trees;
    int n_classes;
    const int32_t *roots;
    const eo_tree_index *feature;
    const float *threshold;
    const eo_tree_index *left;
    const eo_tree_index *right;
    const float *leaf_values;
} eo_tree_ensemble;

static inline void eo_trees_f32(const float *x, const eo_tree_ensemble *m, float *proba)
{
    int t, c;
    for (c = 0; c < m->n_classes; c++) {
        proba[c] = 0.0f;
    }
    for (t = 0; t < m->n_trees; t++) {
        int32_t node = m->roots[t];
        const float *row;
        while (m->left[node] != -1) {
            node = x[m->feature[node]] <= m->threshold[node] ? m->left[node] : m->right[node];
        }
        row = m->leaf_values + (size_t)m->right[node] * (size_t)m->n_classes;
        for (c = 0; c < m->n_classes; c++) {
            proba[c] += row[c];
        }
    }
    for (c = 0; c < m->n_classes; c++) {
        proba[c] /= (float)m->n_trees;
    }
}

#endif
