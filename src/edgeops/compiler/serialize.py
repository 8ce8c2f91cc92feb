"""IR graphs as bytes (an .npz: the graph's structure as JSON plus every array), for the model
registry. No pickle: loading a stored model cannot run code."""

import io
import json
from typing import Any

import numpy as np

from edgeops.compiler.ir import Graph, Op, Quant, Tensor, TreeEnsemble
from edgeops.errors import InvalidInput

FORMAT = 1


class _Writer:
    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, value: np.ndarray) -> dict[str, str]:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.asarray(value)
        return {"$array": key}

    def value(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return self.array(value)
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, TreeEnsemble):
            names = ("feature", "threshold", "left", "right", "value")
            return {"$trees": {n: [self.array(a) for a in getattr(value, n)] for n in names}}
        if isinstance(value, Quant):
            scale, zero = self.array(value.scale), self.array(value.zero_point)
            return {"$quant": {"scale": scale, "zero_point": zero, "axis": value.axis}}
        if isinstance(value, dict):
            return {str(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def _read(value: Any, arrays: Any) -> Any:
    if isinstance(value, dict):
        if "$array" in value:
            return arrays[value["$array"]]
        if "$trees" in value:
            return TreeEnsemble(**{k: [_read(a, arrays) for a in v]
                                   for k, v in value["$trees"].items()})  # fmt: skip
        if "$quant" in value:
            parts = value["$quant"]
            return Quant(_read(parts["scale"], arrays), _read(parts["zero_point"], arrays),
                         parts["axis"])  # fmt: skip
        return {k: _read(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_read(v, arrays) for v in value]
    return value


def to_bytes(graph: Graph) -> bytes:
    writer = _Writer()
    document = {
        "format": FORMAT,
        "inputs": graph.inputs,
        "outputs": graph.outputs,
        "task": graph.task,
        "labels": graph.labels,
        "tensors": [
            {"name": t.name, "shape": list(t.shape), "dtype": t.dtype,
             "data": writer.value(t.data), "quant": writer.value(t.quant)}
            for t in graph.tensors.values()
        ],
        "ops": [{"kind": o.kind, "inputs": o.inputs, "outputs": o.outputs,
                 "attrs": writer.value(o.attrs)} for o in graph.ops],
    }  # fmt: skip
    buffer = io.BytesIO()
    np.savez(buffer, graph=np.array(json.dumps(document)), **writer.arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def from_bytes(data: bytes) -> Graph:
    try:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        document = json.loads(str(arrays["graph"]))
    except (ValueError, KeyError, OSError) as exc:
        raise InvalidInput(f"not an edgeops model graph: {exc}") from None
    if document.get("format") != FORMAT:
        raise InvalidInput(f"model graph format {document.get('format')} is not supported")
    tensors = {
        t["name"]: Tensor(t["name"], tuple(t["shape"]), t["dtype"], _read(t["data"], arrays),
                          _read(t["quant"], arrays))
        for t in document["tensors"]
    }  # fmt: skip
    ops = [Op(o["kind"], o["inputs"], o["outputs"], _read(o["attrs"], arrays))
           for o in document["ops"]]  # fmt: skip
    graph = Graph(document["inputs"], document["outputs"], tensors, ops, document["task"],
                  document["labels"])  # fmt: skip
    graph.check()
    return graph
