"""IR ↔ ONNX: exported graphs run in onnxruntime to the reference's numbers, and import reads
back both our exports and PyTorch's channels-first exports of the same layers."""

import io
import warnings

import numpy as np
import onnxruntime
import pytest
import torch

from edgeops.compiler import reference
from edgeops.compiler.from_sklearn import forest_to_ir
from edgeops.compiler.ir import Graph, GraphBuilder
from edgeops.compiler.onnx_export import to_bytes
from edgeops.compiler.onnx_import import import_model
from edgeops.errors import InvalidInput


def _dense_net(rng: np.random.Generator) -> Graph:
    b = GraphBuilder((12,))
    b.op("scale", (12,), {"mean": rng.normal(size=12), "std": rng.uniform(0.5, 2, size=12)})
    first = b.op("dense", (8,), {"w": rng.normal(size=(8, 12)), "b": rng.normal(size=8)})
    b.op("relu6", (8,))
    second = b.op("dense", (8,), {"w": rng.normal(size=(8, 8)), "b": rng.normal(size=8)})
    b.tensors["sum"] = type(b.tensors[first])("sum", (8,))
    b.ops.append(type(b.ops[0])("add", [first, second], ["sum"]))
    b.current = "sum"
    b.op("dense", (3,), {"w": rng.normal(size=(3, 8)), "b": rng.normal(size=3)})
    b.op("softmax", (3,))
    return b.build("classification", ["a", "b", "c"])


def _conv1d_net(rng: np.random.Generator) -> Graph:
    b = GraphBuilder((40,))
    b.op("reshape", (20, 2), shape=(20, 2))
    b.op("conv1d", (10, 4), {"w": rng.normal(size=(4, 3, 2)), "b": rng.normal(size=4)},
         stride=2, padding="same")  # fmt: skip
    b.op("relu", (10, 4))
    b.op("conv1d", (8, 3), {"w": rng.normal(size=(3, 3, 4)), "b": rng.normal(size=3)},
         stride=1, padding="valid")  # fmt: skip
    b.op("avg_pool1d", (4, 3), size=2, stride=2)
    b.op("max_pool1d", (2, 3), size=2, stride=2)
    b.op("reshape", (6,), shape=(6,))
    b.op("dense", (2,), {"w": rng.normal(size=(2, 6)), "b": rng.normal(size=2)})
    return b.build("regression", [])


def _conv2d_net(rng: np.random.Generator) -> Graph:
    b = GraphBuilder((8, 8, 1))
    b.op("conv2d", (8, 8, 4), {"w": rng.normal(size=(4, 3, 3, 1)), "b": rng.normal(size=4)},
         stride=(1, 1), padding="same")  # fmt: skip
    b.op("relu", (8, 8, 4))
    b.op("depthwise_conv2d", (4, 4, 4), {"w": rng.normal(size=(3, 3, 4)),
         "b": rng.normal(size=4)}, stride=(2, 2), padding="same")  # fmt: skip
    b.op("max_pool2d", (2, 2, 4), size=(2, 2), stride=(2, 2))
    b.op("conv2d", (1, 1, 5), {"w": rng.normal(size=(5, 2, 2, 4)), "b": rng.normal(size=5)},
         stride=(1, 1), padding="valid")  # fmt: skip
    b.op("reshape", (5,), shape=(5,))
    b.op("softmax", (5,))
    return b.build("classification", list("vwxyz"))


def _kmeans(rng: np.random.Generator) -> Graph:
    b = GraphBuilder((6,))
    b.op("scale", (6,), {"mean": rng.normal(size=6), "std": rng.uniform(0.5, 2, size=6)})
    b.op("kmeans_anomaly", (1,), {"centers": rng.normal(size=(5, 6))})
    return b.build("anomaly", ["anomaly"])


BUILDERS = [_dense_net, _conv1d_net, _conv2d_net, _kmeans]


@pytest.mark.parametrize("make", BUILDERS, ids=lambda f: f.__name__.strip("_"))
def test_export_runs_in_onnxruntime_like_the_reference(make) -> None:
    rng = np.random.default_rng(7)
    graph = make(rng)
    x = rng.normal(size=(9, *graph.tensor("input").shape)).astype(np.float32)
    session = onnxruntime.InferenceSession(to_bytes(graph))
    (output,) = session.run(None, {"features": x})
    expected = reference.run(graph, x)
    assert output.shape == expected.shape
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", BUILDERS[:3], ids=lambda f: f.__name__.strip("_"))
def test_import_reads_exports_back(make) -> None:
    rng = np.random.default_rng(8)
    graph = make(rng)
    imported = import_model(to_bytes(graph))
    assert imported.task == graph.task and imported.labels == graph.labels
    x = rng.normal(size=(9, *graph.tensor("input").shape)).astype(np.float32)
    np.testing.assert_allclose(reference.run(imported, x), reference.run(graph, x), atol=1e-6)


def _torch_onnx(net: torch.nn.Module, example: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (example,), buffer, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False)  # fmt: skip
    return buffer.getvalue()


def test_import_reads_pytorch_channels_first_networks() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 4, 3, padding=1, groups=4), torch.nn.ReLU6(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 3 * 3, 5), torch.nn.Softmax(dim=1),
    ).eval()  # fmt: skip
    graph = import_model(_torch_onnx(net, torch.zeros(2, 2, 6, 6)), labels=list("abcde"))
    assert graph.tensor("input").shape == (6, 6, 2)  # channels-last, as devices hold images
    x = np.random.default_rng(1).normal(size=(4, 2, 6, 6)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.tensor(x)).numpy()
    np.testing.assert_allclose(reference.run(graph, x.transpose(0, 2, 3, 1)), expected,
                               atol=1e-6)  # fmt: skip

    class Scaled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(4, 3)
            self.register_buffer("mean", torch.tensor([1.0, 2, 3, 4]))
            self.register_buffer("std", torch.tensor([2.0, 1, 4, 8]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.linear((x - self.mean) / self.std))

    scaled = Scaled().eval()
    graph = import_model(_torch_onnx(scaled, torch.zeros(2, 4)))
    assert [op.kind for op in graph.ops] == ["scale", "dense", "relu"]
    assert graph.task == "regression"
    x = np.random.default_rng(2).normal(size=(5, 4)).astype(np.float32)
    with torch.no_grad():
        expected = scaled(torch.tensor(x)).numpy()
    np.testing.assert_allclose(reference.run(graph, x), expected, atol=1e-6)


def test_unsupported_and_malformed_models_are_refused() -> None:
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, size=40)
    trees = forest_to_ir(
        RandomForestClassifier(n_estimators=2, random_state=0).fit(X, y), ["a", "b"]
    )
    with pytest.raises(InvalidInput, match="tree_ensemble has no ONNX form"):
        to_bytes(trees)
    with pytest.raises(InvalidInput, match="not a valid ONNX model"):
        import_model(b"not onnx at all")
    with pytest.raises(InvalidInput, match="3 outputs but 2 labels"):
        import_model(to_bytes(_dense_net(rng)), labels=["a", "b"])
    with pytest.raises(InvalidInput, match=r"ONNX op \w+ is not supported by the importer"):

        class Last(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = torch.nn.LSTM(3, 2, batch_first=True)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.lstm(x)[0][:, -1]

        import_model(_torch_onnx(Last().eval(), torch.zeros(2, 4, 3)))
