"""Flash, RAM and latency of a model estimated from its IR alone (no compiler run): the gate's
fallback when no build measured the candidate, and the tuner's score for every trial.

- flash: the bytes of every constant as the generated C stores it (weights in their dtype; a
  tree ensemble as its node tables: int16 feature/left/right indices, float32 thresholds and
  leaf rows, int32 roots) plus the code: `BASE_CODE_BYTES` for the run function and a tree
  walk, `KERNEL_CODE_BYTES` more when the graph has multiply-accumulate kernels.
- RAM: the static memory plan's arena (every activation, the input window's features
  included), plus `STACK_BYTES`.
- latency: the documented per-profile cost model of `targets/profiles.py`, model only.

Feature extraction (DSP) is in none of the three: its buffers and cycles depend on the block.
A build (`build` step, `edgeops build`) measures flash and RAM with the real compiler."""

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgeops.compiler.ir import Graph, TreeEnsemble
from edgeops.compiler.memory import DTYPE_BYTES, plan
from edgeops.compiler.quantize import quantize
from edgeops.errors import InvalidInput
from edgeops.targets.prepare import supports_int8
from edgeops.targets.profiles import PROFILES, estimate

# Measured with arm-none-eabi-gcc (Cortex-M4) on builds of this version: a 5- and a 10-tree
# forest took 0.5-1.3 KB of flash beside their tables, an int8 dense network ~4 KB beside its
# weights; RAM beyond the arena (stack, globals) was 550-600 bytes. Other kernels (float,
# convolutions) are assumed alike: a build measures them.
BASE_CODE_BYTES = 768
KERNEL_CODE_BYTES = 3328
MAC_KINDS = frozenset({"dense", "conv1d", "conv2d", "depthwise_conv2d"})
STACK_BYTES = 600
MAX_CALIBRATION_ROWS = 500


@dataclass(frozen=True)
class Estimate:
    flash_bytes: int
    ram_bytes: int
    latency_ms: float
    macs: int
    arena_bytes: int
    constants_bytes: int
    precision: str
    profile: str
    source: str = "ir-estimate"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _tree_bytes(trees: TreeEnsemble) -> int:
    nodes = sum(len(left) for left in trees.left)
    leaves = sum(int((left == -1).sum()) for left in trees.left)
    classes = int(np.asarray(trees.value[0]).shape[-1]) if trees.value else 1
    # identical leaves share a row in the C; all distinct is the upper bound used here
    return nodes * (2 + 2 + 2 + 4) + leaves * classes * 4 + len(trees.left) * 4


def constants_bytes(graph: Graph) -> int:
    total = sum(
        int(tensor.data.size) * DTYPE_BYTES.get(tensor.dtype, 4)
        for tensor in graph.tensors.values()
        if tensor.data is not None
    )
    for op in graph.ops:
        if op.kind == "tree_ensemble":
            total += _tree_bytes(op.attrs["trees"])
    return total


def code_bytes(graph: Graph) -> int:
    kernels = any(op.kind in MAC_KINDS for op in graph.ops)
    return BASE_CODE_BYTES + (KERNEL_CODE_BYTES if kernels else 0)


def int8_graph(graph: Graph, calibration: np.ndarray | None) -> Graph | None:
    """The int8 graph the build would make (calibrated on `calibration` rows, flat features),
    or None when the graph has no int8 kernels (trees)."""
    if calibration is None or not supports_int8(graph) or len(calibration) == 0:
        return None
    rows = calibration[:: max(1, len(calibration) // MAX_CALIBRATION_ROWS)]
    shape = graph.tensor(graph.inputs[0]).shape
    return quantize(graph, rows.reshape(len(rows), *shape).astype(np.float32))


def of_graph(graph: Graph, quantized: bool, profile: str = "cortex-m4f") -> Estimate:
    """The estimate of `graph` (already int8 when `quantized`) on device `profile`."""
    if profile not in {p.name for p in PROFILES}:
        names = ", ".join(p.name for p in PROFILES)
        raise InvalidInput(f"unknown device profile {profile!r}: use one of {names}")
    cycles = {row["profile"]: row for row in estimate(graph, quantized)}[profile]
    constants = constants_bytes(graph)
    arena = plan(graph).arena_bytes
    from edgeops.compiler.cost import macs

    return Estimate(
        flash_bytes=constants + code_bytes(graph),
        ram_bytes=arena + STACK_BYTES,
        latency_ms=round(float(cycles["microseconds"]) / 1000, 4),
        macs=macs(graph),
        arena_bytes=arena,
        constants_bytes=constants,
        precision="int8" if quantized else "float",
        profile=profile,
    )


def of_model(float_graph: Graph, calibration: np.ndarray | None, profile: str) -> Estimate:
    """As the build would ship it: int8 where the graph has int8 kernels, else float."""
    quantized = int8_graph(float_graph, calibration)
    if quantized is None:
        return of_graph(float_graph, False, profile)
    return of_graph(quantized, True, profile)
