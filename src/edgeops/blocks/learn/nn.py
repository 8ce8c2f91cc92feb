"""Neural network learners in PyTorch: layers described in the recipe, exported to the IR.

Features arrive as flat vectors; the network standardises them (mean/std of the training
split), reshapes them to `input_shape` (channels-last: (frames, coefficients) or (h, w, c)) when
it has convolutions, and runs the layers. Convolutions run channels-first inside PyTorch; the
network returns to channels-last before flattening, so the exported IR needs no weight
permutation. Batch norm is folded into the layer before it at export; dropout disappears.
"""

import io
import math
import tempfile
import warnings
from abc import abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field, model_validator
from torch import nn

from edgeops.blocks.base import BlockParams
from edgeops.blocks.learn.base import FitContext, Learner, require_features, standardiser
from edgeops.blocks.registry import register
from edgeops.compiler.ir import Graph, GraphBuilder, Task, conv_output_length
from edgeops.errors import InvalidInput

# Networks this small train fastest on one thread: splitting each tiny matrix product across
# threads costs more than it saves (measured 3-13x slower with 2 threads on 2 cores).
TRAINING_THREADS = 1

KINDS = ("dense", "conv1d", "conv2d", "dsconv2d", "max_pool", "avg_pool", "flatten", "dropout")


class Layer(BlockParams):
    """One layer entry, e.g. `{dense: 20}`, `{conv1d: 8, kernel: 3}`, `{max_pool: 2}`,
    `{dropout: 0.25}`. `batch_norm` and `activation` apply to dense and convolution entries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dense: int | None = Field(None, ge=1, le=4096)
    conv1d: int | None = Field(None, ge=1, le=512)
    conv2d: int | None = Field(None, ge=1, le=512)
    dsconv2d: int | None = Field(None, ge=1, le=512)
    max_pool: int | None = Field(None, ge=2, le=16)
    avg_pool: int | None = Field(None, ge=2, le=16)
    flatten: bool | None = None
    dropout: float | None = Field(None, ge=0.0, lt=1.0)
    kernel: int = Field(3, ge=1, le=15)
    stride: int = Field(1, ge=1, le=8)
    padding: Literal["same", "valid"] = "same"
    batch_norm: bool = False
    activation: Literal["relu", "relu6", "none"] = "relu"

    @model_validator(mode="after")
    def _one_kind(self) -> "Layer":
        kinds = [kind for kind in KINDS if getattr(self, kind) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a layer has exactly one of {', '.join(KINDS)}; got {kinds or 'none'}"
            )
        if self.padding == "same" and self.stride != 1:
            raise ValueError("padding 'same' needs stride 1; use padding 'valid' to stride")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in KINDS if getattr(self, kind) is not None)


class Augmentation(BlockParams):
    """Applied to training batches only. `noise`: Gaussian noise, as a fraction of each
    (standardised) feature's spread; `time_shift`: roll by up to N frames; `time_mask` /
    `freq_mask`: zero a random span of up to N frames / coefficients (spectrogram-like input)."""

    noise: float = Field(0.0, ge=0.0, le=2.0)
    time_shift: int = Field(0, ge=0, le=1000)
    time_mask: int = Field(0, ge=0, le=1000)
    freq_mask: int = Field(0, ge=0, le=1000)


class NNParams(BlockParams):
    layers: list[Layer] = Field(
        default_factory=lambda: [Layer(dense=20), Layer(dense=10)], max_length=32
    )
    epochs: int = Field(30, ge=1, le=10_000)
    learning_rate: float = Field(0.001, gt=0.0, le=1.0)
    batch_size: int = Field(32, ge=1, le=65_536)
    early_stopping: int | None = Field(
        None, ge=1, le=1000, description="stop after this many epochs without validation gain"
    )
    class_weights: bool = Field(False, description="weigh classes by inverse frequency")
    augmentation: Augmentation = Field(default_factory=Augmentation)
    input_shape: list[int] | None = Field(None, min_length=1, max_length=3)


POOLS: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    "max_pool": (nn.MaxPool1d, nn.MaxPool2d),
    "avg_pool": (nn.AvgPool1d, nn.AvgPool2d),
}


class _ChannelsFirst(nn.Module):
    """Channels-last (n, ..., c) → channels-first (n, c, ...) for PyTorch's convolutions."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(-1, 1)


class _ChannelsLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(1, -1)


class Network(nn.Module):
    """The whole model from raw feature vectors: standardise, reshape, layers (logits out)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, body: nn.Sequential, mean: np.ndarray, std: np.ndarray,
                 shape: tuple[int, ...]) -> None:  # fmt: skip
        super().__init__()
        self.body = body
        self.register_buffer("mean", torch.from_numpy(mean))
        self.register_buffer("std", torch.from_numpy(std))
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.mean) / self.std
        return self.body(x.reshape((x.shape[0], *self.shape)))  # type: ignore[no-any-return]


def _layers(
    params: NNParams, shape: tuple[int, ...], outputs: int
) -> Iterator[tuple[nn.Module, tuple[int, ...]]]:
    """The PyTorch modules for the recipe's layers with the channels-last shape after each
    (conversions between layouts report the shape unchanged)."""
    channels_first = False
    for index, layer in enumerate(params.layers):
        where = f"learner.params.layers[{index}] ({layer.kind})"
        kind = layer.kind
        if kind in ("dense", "flatten") and len(shape) > 1:
            if channels_first:
                yield _ChannelsLast(), shape
                channels_first = False
            shape = (math.prod(shape),)
            yield nn.Flatten(), shape
        if kind == "flatten":
            continue
        if kind == "dropout":
            yield nn.Dropout(layer.dropout or 0.0), shape
            continue
        spatial = len(shape) - 1
        if kind in ("conv1d", "conv2d", "dsconv2d", "max_pool", "avg_pool"):
            wanted = {"conv1d": 1, "conv2d": 2, "dsconv2d": 2}.get(kind, spatial)
            if spatial != wanted or spatial not in (1, 2):
                layout = "(length, channels)" if wanted == 1 else "(height, width, channels)"
                raise InvalidInput(f"{where}: needs {layout} input but gets shape {shape}; "
                                   "set learner.params.input_shape")  # fmt: skip
            if not channels_first:
                yield _ChannelsFirst(), shape
                channels_first = True
        if kind in ("max_pool", "avg_pool"):
            size = layer.max_pool or layer.avg_pool or 2
            if any(s < size for s in shape[:-1]):
                raise InvalidInput(f"{where}: pool size {size} is larger than the input {shape}")
            shape = (*(s // size for s in shape[:-1]), shape[-1])
            yield POOLS[kind][spatial - 1](size), shape
            continue
        out, module = _weighted(layer, shape, where)
        shape = out
        yield module, shape
        if layer.batch_norm:
            norm = nn.BatchNorm1d if kind in ("dense", "conv1d") else nn.BatchNorm2d
            yield norm(shape[-1]), shape
        if layer.activation != "none":
            yield (nn.ReLU() if layer.activation == "relu" else nn.ReLU6()), shape
    if len(shape) > 1:
        if channels_first:
            yield _ChannelsLast(), shape
        shape = (math.prod(shape),)
        yield nn.Flatten(), shape
    yield nn.Linear(shape[0], outputs), (outputs,)


def _weighted(
    layer: Layer, shape: tuple[int, ...], where: str
) -> tuple[tuple[int, ...], nn.Module]:
    if layer.dense is not None:
        return (layer.dense,), nn.Linear(shape[0], layer.dense)
    spatial = shape[:-1]
    if any(s < layer.kernel for s in spatial) and layer.padding == "valid":
        raise InvalidInput(f"{where}: kernel {layer.kernel} is larger than the input {shape}")
    out = tuple(conv_output_length(s, layer.kernel, layer.stride, layer.padding) for s in spatial)
    channels = shape[-1]
    if layer.conv1d is not None:
        conv = nn.Conv1d(channels, layer.conv1d, layer.kernel, layer.stride, padding=layer.padding)
        return (*out, layer.conv1d), conv
    if layer.conv2d is not None:
        conv2 = nn.Conv2d(channels, layer.conv2d, layer.kernel, layer.stride, padding=layer.padding)
        return (*out, layer.conv2d), conv2
    filters = layer.dsconv2d or 1
    separable = nn.Sequential(
        nn.Conv2d(channels, channels, layer.kernel, layer.stride, padding=layer.padding,
                  groups=channels),
        nn.Conv2d(channels, filters, 1),
    )  # fmt: skip
    return (*out, filters), separable


def _fold(
    weight: np.ndarray, bias: np.ndarray, norm: nn.Module | None
) -> tuple[np.ndarray, np.ndarray]:
    """Fold an eval-mode batch norm after a layer into the layer's weights (output axis 0)."""
    if not isinstance(norm, nn.BatchNorm1d | nn.BatchNorm2d):
        return weight, bias
    assert norm.running_var is not None and norm.running_mean is not None
    factor = (norm.weight / torch.sqrt(norm.running_var + norm.eps)).detach().double().numpy()
    shift = norm.bias.detach().double().numpy() - norm.running_mean.double().numpy() * factor
    scaled = weight * factor.reshape((-1,) + (1,) * (weight.ndim - 1))
    return scaled, bias * factor + shift


def _weights(module: nn.Conv1d | nn.Conv2d | nn.Linear) -> tuple[np.ndarray, np.ndarray]:
    weight = module.weight.detach().double().numpy()
    bias = module.bias.detach().double().numpy() if module.bias is not None else None
    return weight, bias if bias is not None else np.zeros(weight.shape[0])


def _export(builder: GraphBuilder, modules: list[nn.Module], shapes: list[tuple[int, ...]]) -> None:
    """Add the body's ops: one IR op per PyTorch layer, batch norms folded into their layer."""
    for index, (module, shape) in enumerate(zip(modules, shapes, strict=True)):
        after = modules[index + 1] if index + 1 < len(modules) else None
        if isinstance(module, nn.Sequential):  # depthwise-separable: depthwise, then pointwise
            depthwise, pointwise = module[0], module[1]
            assert isinstance(depthwise, nn.Conv2d) and isinstance(pointwise, nn.Conv2d)
            weight, bias = _weights(depthwise)
            mid = (*shape[:-1], weight.shape[0])
            builder.op("depthwise_conv2d", mid, {"w": weight[:, 0].transpose(1, 2, 0), "b": bias},
                       stride=tuple(depthwise.stride), padding=depthwise.padding)  # fmt: skip
            weight, bias = _fold(*_weights(pointwise), after)
            builder.op("conv2d", shape, {"w": weight.transpose(0, 2, 3, 1), "b": bias},
                       stride=(1, 1), padding="valid")  # fmt: skip
        elif isinstance(module, nn.Linear):
            weight, bias = _fold(*_weights(module), after)
            builder.op("dense", shape, {"w": weight, "b": bias})
        elif isinstance(module, nn.Conv1d):
            weight, bias = _fold(*_weights(module), after)
            builder.op("conv1d", shape, {"w": weight.transpose(0, 2, 1), "b": bias},
                       stride=module.stride[0], padding=module.padding)  # fmt: skip
        elif isinstance(module, nn.Conv2d):
            weight, bias = _fold(*_weights(module), after)
            builder.op("conv2d", shape, {"w": weight.transpose(0, 2, 3, 1), "b": bias},
                       stride=tuple(module.stride), padding=module.padding)  # fmt: skip
        elif isinstance(module, nn.MaxPool1d | nn.AvgPool1d):
            kind = "max_pool1d" if isinstance(module, nn.MaxPool1d) else "avg_pool1d"
            size = int(np.ravel(module.kernel_size)[0])
            builder.op(kind, shape, size=size, stride=size)
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            kind = "max_pool2d" if isinstance(module, nn.MaxPool2d) else "avg_pool2d"
            size = int(np.ravel(module.kernel_size)[0])
            builder.op(kind, shape, size=(size, size), stride=(size, size))
        elif isinstance(module, nn.Flatten):
            builder.op("reshape", shape, shape=shape)
        elif isinstance(module, nn.ReLU6):
            builder.op("relu6", shape)
        elif isinstance(module, nn.ReLU):
            builder.op("relu", shape)
        # dropout, batch norm (folded) and the layout changes compute nothing on a device


class _Network(Learner):
    """What nn-classifier and nn-regressor share."""

    Params = NNParams
    task: ClassVar[Task]

    def __init__(self, params: BlockParams | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.net: Network | None = None
        self.shapes: list[tuple[int, ...]] = []
        self.labels: list[str] = []

    @property
    def _params(self) -> NNParams:
        assert isinstance(self.params, NNParams)
        return self.params

    def _build(self, features: int, shape: tuple[int, ...], outputs: int,
               mean: np.ndarray, std: np.ndarray) -> Network:  # fmt: skip
        if math.prod(shape) != features:
            raise InvalidInput(
                f"learner.params.input_shape {list(shape)} holds {math.prod(shape)} values "
                f"but windows have {features} features"
            )
        modules, shapes = zip(*_layers(self._params, shape, outputs), strict=True)
        self.shapes = list(shapes)
        return Network(nn.Sequential(*modules), mean, std, shape)

    @abstractmethod
    def _targets(self, y: np.ndarray) -> torch.Tensor:
        """Targets as the loss takes them: class indices or a (n, 1) column of values."""

    @abstractmethod
    def _loss(self, y: np.ndarray) -> nn.Module: ...

    def fit(self, X: np.ndarray, y: np.ndarray, context: FitContext) -> None:
        before = torch.get_num_threads()
        torch.set_num_threads(TRAINING_THREADS)
        try:
            self._fit(X, y, context)
        finally:
            torch.set_num_threads(before)

    def _fit(self, X: np.ndarray, y: np.ndarray, context: FitContext) -> None:
        X = require_features(X)
        if len(X) == 0:
            raise InvalidInput("no training windows: the dataset version has no training samples")
        params = self._params
        shape = tuple(params.input_shape or context.input_shape or (X.shape[1],))
        self.labels = list(context.labels)
        outputs = len(self.labels) if self.task == "classification" else 1
        torch.manual_seed(context.seed)
        rng = np.random.default_rng(context.seed)
        mean, std = standardiser(X)
        net = self._build(X.shape[1], shape, outputs, mean, std)
        optimiser = torch.optim.Adam(net.parameters(), lr=params.learning_rate)
        loss_fn = self._loss(y)
        inputs, targets = torch.from_numpy(X), self._targets(y)
        best: tuple[float, dict[str, torch.Tensor]] | None = None
        stale = 0
        for epoch in range(params.epochs):
            net.train()
            order = torch.from_numpy(rng.permutation(len(X)))
            total = correct = 0.0
            for start in range(0, len(X), params.batch_size):
                batch = order[start : start + params.batch_size]
                if len(batch) < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                          for m in net.modules()):  # fmt: skip
                    continue  # batch norm cannot train on a single window
                xb = _augment(inputs[batch], net, params.augmentation, rng)
                out = net(xb)
                loss = loss_fn(out, targets[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += float(loss.detach()) * len(batch)
                if self.task == "classification":
                    correct += float((out.argmax(1) == targets[batch]).sum())
            metrics = {"loss": total / len(X)}
            if self.task == "classification":
                metrics["accuracy"] = correct / len(X)
            self.net = net
            if context.validation is not None and len(context.validation[0]):
                metrics.update(self._validate(*context.validation))
                score = metrics["val_loss"]
                if best is None or score < best[0]:
                    best = (score, {k: v.clone() for k, v in net.state_dict().items()})
                    stale = 0
                else:
                    stale += 1
            if context.on_epoch is not None:
                context.on_epoch(epoch + 1, params.epochs, metrics)
            if params.early_stopping is not None and stale >= params.early_stopping:
                break
        if best is not None and params.early_stopping is not None:
            net.load_state_dict(best[1])
        net.eval()
        self.net = net

    def _validate(self, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
        assert self.net is not None
        self.net.eval()
        with torch.no_grad():
            out = self.net(torch.from_numpy(require_features(X)))
            targets = self._targets(y)
            metrics = {"val_loss": float(self._loss(y)(out, targets))}
            if self.task == "classification":
                metrics["val_accuracy"] = float((out.argmax(1) == targets).float().mean())
        return metrics

    def _model(self) -> Network:
        if self.net is None:
            raise InvalidInput(f"the {self.name} learner is not trained yet")
        return self.net

    def predict(self, X: np.ndarray) -> np.ndarray:
        net = self._model()
        net.eval()
        with torch.no_grad():
            out = net(torch.from_numpy(require_features(X, int(net.mean.shape[0]))))
            if self.task == "classification":
                out = torch.softmax(out, dim=1)
        return np.asarray(out.double().numpy())

    def to_ir(self) -> Graph:
        net = self._model()
        features = int(net.mean.shape[0])
        builder = GraphBuilder((features,))
        builder.op("scale", (features,), {"mean": net.mean.numpy(), "std": net.std.numpy()})
        if net.shape != (features,):
            builder.op("reshape", net.shape, shape=net.shape)
        _export(builder, list(net.body), self.shapes)
        if self.task == "classification":
            builder.op("softmax", builder.shape)
        return builder.build(self.task, self.labels)

    def export_onnx(self) -> bytes:
        """The network as ONNX (raw features in; probabilities or values out), batch dynamic."""
        net = self._model()
        wrapped = nn.Sequential(net, nn.Softmax(dim=1)) if self.task == "classification" else net
        example = torch.zeros((2, int(net.mean.shape[0])))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            with warnings.catch_warnings():  # the legacy exporter: fast, quiet, one file
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.onnx.export(
                    wrapped,
                    (example,),
                    path,
                    input_names=["features"],
                    output_names=["output"],
                    dynamic_axes={"features": {0: "batch"}, "output": {0: "batch"}},
                    dynamo=False,
                )
            return path.read_bytes()

    def save(self) -> bytes:
        net = self._model()
        buffer = io.BytesIO()
        torch.save({"state": net.state_dict(), "shape": list(net.shape), "labels": self.labels,
                    "outputs": self.shapes[-1][0]}, buffer)  # fmt: skip
        return buffer.getvalue()

    @classmethod
    def load(cls, params: dict[str, Any], data: bytes) -> "Learner":
        """Weights only: `torch.load(weights_only=True)` refuses anything that would run code."""
        saved = torch.load(io.BytesIO(data), weights_only=True)
        learner = cls(params)
        state = saved["state"]
        mean, std = state["mean"].numpy(), state["std"].numpy()
        net = learner._build(len(mean), tuple(saved["shape"]), saved["outputs"], mean, std)
        net.load_state_dict(state)
        net.eval()
        learner.net, learner.labels = net, list(saved["labels"])
        return learner


def _augment(batch: torch.Tensor, net: Network, spec: Augmentation,
             rng: np.random.Generator) -> torch.Tensor:  # fmt: skip
    """A training batch with the recipe's augmentation: noise in units of each feature's
    spread; shifts and masks along the first (time) and last (frequency) axes of the shape."""
    if spec.noise:
        noise = torch.from_numpy(rng.standard_normal(batch.shape).astype(np.float32))
        batch = batch + noise * spec.noise * net.std
    if not (spec.time_shift or spec.time_mask or spec.freq_mask):
        return batch
    shaped = batch.reshape((batch.shape[0], *net.shape)).clone()
    mean = net.mean.reshape(net.shape)
    frames, bins = net.shape[0], net.shape[-1]
    if spec.time_shift:
        shaped = torch.roll(shaped, int(rng.integers(-spec.time_shift, spec.time_shift + 1)), 1)
    if spec.time_mask:
        width = int(rng.integers(0, min(spec.time_mask, frames) + 1))
        start = int(rng.integers(0, frames - width + 1))
        shaped[:, start : start + width] = mean[start : start + width]
    if spec.freq_mask and len(net.shape) > 1:
        width = int(rng.integers(0, min(spec.freq_mask, bins) + 1))
        start = int(rng.integers(0, bins - width + 1))
        shaped[..., start : start + width] = mean[..., start : start + width]
    return shaped.reshape(batch.shape)


@register
class NNClassifier(_Network):
    """A neural network classifier: softmax over the project's labels."""

    name = "nn-classifier"
    version = 1
    task = "classification"

    def _targets(self, y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y, dtype=np.int64))

    def _loss(self, y: np.ndarray) -> nn.Module:
        if not self._params.class_weights:
            return nn.CrossEntropyLoss()
        counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=len(self.labels))
        weights = len(y) / (len(self.labels) * np.maximum(counts, 1))
        return nn.CrossEntropyLoss(weight=torch.from_numpy(weights.astype(np.float32)))


@register
class NNRegressor(_Network):
    """A neural network regressor: one value per window (labels are numbers)."""

    name = "nn-regressor"
    version = 1
    task = "regression"

    def _targets(self, y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y, dtype=np.float32).reshape(-1, 1))

    def _loss(self, y: np.ndarray) -> nn.Module:
        return nn.MSELoss()
