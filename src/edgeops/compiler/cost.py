"""What a graph costs at run time: multiply-accumulates per inference."""

import numpy as np

from edgeops.compiler.ir import Graph


def _count(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def macs(graph: Graph) -> int:
    """Multiply-accumulates per inference of the dense, convolution and anomaly ops (pooling,
    activations and tree walks are comparisons and adds, not counted)."""
    total = 0
    for op in graph.ops:
        out = graph.tensor(op.outputs[0]).shape
        if op.kind == "dense":
            total += _count(graph.tensor(op.inputs[1]).shape)
        elif op.kind in ("conv1d", "conv2d"):
            weight = graph.tensor(op.inputs[1]).shape
            total += _count(out[:-1]) * _count(weight)
        elif op.kind == "depthwise_conv2d":
            total += _count(out) * _count(graph.tensor(op.inputs[1]).shape[:2])
        elif op.kind == "kmeans_anomaly":
            total += _count(graph.tensor(op.inputs[1]).shape)
        elif op.kind == "gmm_anomaly":
            total += _count(graph.tensor(op.inputs[2]).shape)
    return total
