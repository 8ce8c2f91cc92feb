"""The float reference interpreter computes what PyTorch computes for the same layers."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from edgeops.compiler import reference
from edgeops.compiler.ir import GraphBuilder, conv_output_length
from edgeops.errors import InvalidInput


def assert_matches_torch(ours: np.ndarray, theirs: torch.Tensor) -> None:
    np.testing.assert_allclose(ours, theirs.detach().double().numpy(), rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(
    length=st.integers(4, 20),
    channels=st.integers(1, 4),
    filters=st.integers(1, 5),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same"]),
)
def test_conv1d_matches_torch(length, channels, filters, kernel, stride, padding) -> None:
    assume(kernel <= length and (padding == "valid" or stride == 1))  # torch: "same" stride 1
    rng = np.random.default_rng(length * 31 + kernel)
    conv = torch.nn.Conv1d(channels, filters, kernel, stride, padding=padding).double()
    x = rng.normal(size=(3, length, channels))
    builder = GraphBuilder((length, channels))
    out = conv_output_length(length, kernel, stride, padding)
    builder.op(
        "conv1d", (out, filters),
        {"w": conv.weight.detach().numpy().transpose(0, 2, 1), "b": conv.bias.detach().numpy()},
        stride=stride, padding=padding,
    )  # fmt: skip
    graph = builder.build("regression", [])
    theirs = conv(torch.from_numpy(x).permute(0, 2, 1)).permute(0, 2, 1)
    assert_matches_torch(reference.run(graph, x), theirs)


@settings(max_examples=20, deadline=None)
@given(size=st.integers(5, 12), channels=st.integers(1, 3), kernel=st.integers(1, 3),
       stride=st.integers(1, 2))  # fmt: skip
def test_conv2d_depthwise_and_pool_match_torch(size, channels, kernel, stride) -> None:
    assume((size - kernel) // stride + 1 - kernel + 1 >= 2)  # room for depthwise and 2x2 pool
    rng = np.random.default_rng(size)
    conv = torch.nn.Conv2d(channels, 4, kernel, stride).double()
    depthwise = torch.nn.Conv2d(4, 4, kernel, 1, groups=4).double()
    pool = torch.nn.AvgPool2d(2)
    x = rng.normal(size=(2, size, size, channels))
    builder = GraphBuilder((size, size, channels))
    h = conv_output_length(size, kernel, stride, "valid")
    builder.op(
        "conv2d",
        (h, h, 4),
        {"w": conv.weight.detach().numpy().transpose(0, 2, 3, 1), "b": conv.bias.detach().numpy()},
        stride=(stride, stride),
    )
    builder.op("relu6", (h, h, 4))
    d = h - kernel + 1
    builder.op("depthwise_conv2d", (d, d, 4),
               {"w": depthwise.weight.detach().numpy()[:, 0].transpose(1, 2, 0),
                "b": depthwise.bias.detach().numpy()})  # fmt: skip
    builder.op("avg_pool2d", (d // 2, d // 2, 4), size=(2, 2), stride=(2, 2))
    graph = builder.build("regression", [])
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    theirs = pool(depthwise(torch.clamp(conv(t), 0, 6))).permute(0, 2, 3, 1)
    assert_matches_torch(reference.run(graph, x), theirs)


def test_dense_softmax_rows_sum_to_one() -> None:
    builder = GraphBuilder((3,))
    builder.op("dense", (2,), {"w": np.ones((2, 3)), "b": np.array([0.0, 1.0])})
    builder.op("softmax", (2,))
    out = reference.run(builder.build("classification", ["a", "b"]), np.ones((4, 3)))
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    assert (out[:, 1] > out[:, 0]).all()


def test_wrong_input_shape_is_refused() -> None:
    builder = GraphBuilder((3,))
    builder.op("relu", (3,))
    with pytest.raises(InvalidInput, match=r"takes \(3,\)"):
        reference.run(builder.build("regression", []), np.ones((1, 4)))


def test_graph_check_refuses_an_unknown_op() -> None:
    builder = GraphBuilder((3,))
    builder.op("sigmoid", (3,))
    with pytest.raises(InvalidInput, match="sigmoid"):
        builder.build("regression", [])


def test_graphs_round_trip_through_bytes() -> None:
    from sklearn.ensemble import RandomForestClassifier

    from edgeops.blocks.learn.trees import ensemble_of
    from edgeops.compiler.serialize import from_bytes, to_bytes

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4))
    forest = RandomForestClassifier(3, max_depth=3, random_state=0).fit(x, x[:, 0] > 0)
    builder = GraphBuilder((4,))
    builder.op("scale", (4,), {"mean": np.zeros(4), "std": np.full(4, 2.0)})
    builder.op("reshape", (2, 2), shape=(2, 2))
    builder.op("max_pool1d", (1, 2), size=2, stride=2)
    builder.op("reshape", (2,), shape=(2,))
    builder.op("dense", (4,), {"w": rng.normal(size=(4, 2)), "b": np.zeros(4)})
    builder.op("tree_ensemble", (2,), trees=ensemble_of(forest), n_classes=2)
    graph = builder.build("classification", ["no", "yes"])
    again = from_bytes(to_bytes(graph))
    assert again.labels == ["no", "yes"] and [o.kind for o in again.ops] == [
        o.kind for o in graph.ops
    ]
    np.testing.assert_array_equal(reference.run(again, x), reference.run(graph, x))
    with pytest.raises(InvalidInput, match="not an edgeops model graph"):
        from_bytes(b"garbage")
