"""Estimated cycles per inference on device profiles: a documented cost model, not a measurement.

The generated kernels are plain C99 loops (no SIMD intrinsics), so a profile is a handful of
per-operation costs for scalar code at `-O2`/`-Os`:

| profile | clock | int8 MAC | float MAC | element op | tree node |
| --- | --- | --- | --- | --- | --- |
| cortex-m4f | 80 MHz | 4 | 5 | 3 | 8 |
| cortex-m7 | 216 MHz | 2 | 2.5 | 1.5 | 5 |
| esp32-s3 | 240 MHz | 3 | 4 | 2 | 7 |
| x86 | 3000 MHz | 0.25 | 0.25 | 0.5 | 3 |

- int8 MAC: two byte loads, sign extension and a multiply-accumulate (M4: `LDRSB` x2 + `MLA`,
  1-2 cycles each); float MAC: two loads and a fused multiply-add on the single-precision FPU
  (`VLDR` x2 + `VFMA`, the M7 dual-issues); x86-64 auto-vectorises both loops.
- element op: per output element of activations, pooling (per window element read), softmax
  (x8: exp), standardisation, (de)quantization and the requantization after each int8 MAC row.
- tree node: a load, a compare and a branch per level of each tree (the maximum depth is used).
- Feature extraction (DSP) is not modelled: its cost depends on each block's algorithm (FFT,
  filters); measure it on the device (`EDGEOPS_NOW_US`, `dsp_us`) or under QEMU.
"""

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeops.compiler.cost import macs
from edgeops.compiler.ir import Graph, TreeEnsemble


@dataclass(frozen=True)
class Profile:
    name: str
    clock_mhz: float
    int8_mac: float
    float_mac: float
    element: float
    tree_node: float


PROFILES = (
    Profile("cortex-m4f", 80, 4, 5, 3, 8),
    Profile("cortex-m7", 216, 2, 2.5, 1.5, 5),
    Profile("esp32-s3", 240, 3, 4, 2, 7),
    Profile("x86", 3000, 0.25, 0.25, 0.5, 3),
)
ELEMENTWISE = frozenset({
    "relu", "relu6", "add", "scale", "quantize", "dequantize", "reshape", "dense", "conv1d",
    "conv2d", "depthwise_conv2d",
})  # fmt: skip


@dataclass
class Work:
    """What one inference does, counted from the graph."""

    macs: int
    elements: int
    tree_nodes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _depth(left: np.ndarray, right: np.ndarray) -> int:
    depth = np.zeros(len(left), dtype=np.int64)
    for node in range(len(left)):  # sklearn numbers children after their parent
        if left[node] >= 0:
            depth[left[node]] = depth[right[node]] = depth[node] + 1
    return int(depth.max()) + 1 if len(depth) else 0


def work(graph: Graph) -> Work:
    elements = nodes = 0
    for op in graph.ops:
        out = _count(graph.tensor(op.outputs[0]).shape)
        if op.kind in ELEMENTWISE:
            elements += out if op.kind != "reshape" else 0
        elif op.kind == "softmax":
            elements += 8 * out
        elif op.kind.endswith("_pool1d") or op.kind.endswith("_pool2d"):
            size = op.attrs.get("size", 1)
            window = _count(tuple(size)) if isinstance(size, list | tuple) else int(size)
            elements += out * window
        elif op.kind == "tree_ensemble":
            trees: TreeEnsemble = op.attrs["trees"]
            nodes += sum(
                _depth(left, right) for left, right in zip(trees.left, trees.right, strict=True)
            )
            elements += out * len(trees.left)  # averaging the leaves
    return Work(macs(graph), elements, nodes)


def estimate(graph: Graph, quantized: bool) -> list[dict[str, Any]]:
    """Per profile: estimated cycles and microseconds for one inference of `graph`."""
    counted = work(graph)
    rows = []
    for profile in PROFILES:
        per_mac = profile.int8_mac if quantized else profile.float_mac
        cycles = (
            counted.macs * per_mac
            + counted.elements * profile.element
            + counted.tree_nodes * profile.tree_node
        )
        rows.append({
            "profile": profile.name,
            "clock_mhz": profile.clock_mhz,
            "cycles": round(cycles),
            "microseconds": round(cycles / profile.clock_mhz, 1),
        })  # fmt: skip
    return rows
