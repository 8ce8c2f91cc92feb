"""Learner blocks: nn-classifier/nn-regressor, trees, anomaly-kmeans/anomaly-gmm."""
