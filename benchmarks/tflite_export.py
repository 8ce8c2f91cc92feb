"""Make the peer's int8 `.tflite` from our weights: run with a Python that has tensorflow-cpu
(a throwaway venv, see compiler_peers.py), never imported by edgeops.

    python tflite_export.py SPEC.json WEIGHTS.npz OUT.tflite

SPEC: {"input_shape": [...], "layers": [{"kind": ..., ...}]} with Keras layouts already applied
(kernels as Keras stores them); WEIGHTS holds the kernels and biases it names and
`calibration` (the representative rows, already standardised). The model takes float32 and
returns float32 (QUANTIZE first, DEQUANTIZE last), like ours; everything between is int8.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf


def build(spec: dict, weights: np.lib.npyio.NpzFile) -> tf.keras.Model:
    layers = tf.keras.layers
    inputs = tf.keras.Input(shape=tuple(spec["input_shape"]), batch_size=1)
    x = inputs
    for layer in spec["layers"]:
        kind = layer["kind"]
        activation = layer.get("activation")
        if kind == "dense":
            keras_layer = layers.Dense(layer["units"], activation=activation)
        elif kind == "conv1d":
            keras_layer = layers.Conv1D(
                layer["filters"],
                layer["kernel"],
                layer["stride"],
                padding=layer["padding"],
                activation=activation,
            )
        elif kind == "conv2d":
            keras_layer = layers.Conv2D(
                layer["filters"],
                layer["kernel"],
                layer["stride"],
                padding=layer["padding"],
                activation=activation,
            )
        elif kind == "depthwise_conv2d":
            keras_layer = layers.DepthwiseConv2D(
                layer["kernel"], layer["stride"], padding=layer["padding"], activation=activation
            )
        elif kind == "max_pool1d":
            keras_layer = layers.MaxPooling1D(layer["size"], layer["stride"])
        elif kind == "avg_pool1d":
            keras_layer = layers.AveragePooling1D(layer["size"], layer["stride"])
        elif kind == "max_pool2d":
            keras_layer = layers.MaxPooling2D(layer["size"], layer["stride"])
        elif kind == "avg_pool2d":
            keras_layer = layers.AveragePooling2D(layer["size"], layer["stride"])
        elif kind == "reshape":
            keras_layer = layers.Reshape(tuple(layer["shape"]))
        elif kind == "relu":
            keras_layer = layers.ReLU()
        elif kind == "softmax":
            keras_layer = layers.Softmax()
        else:
            raise SystemExit(f"no Keras layer for IR op {kind}")
        x = keras_layer(x)
        if "weight" in layer:
            keras_layer.set_weights([weights[layer["weight"]], weights[layer["bias"]]])
    return tf.keras.Model(inputs, x)


def main() -> None:
    spec_path, weights_path, out_path = sys.argv[1:4]
    with open(spec_path, encoding="utf-8") as file:
        spec = json.load(file)
    weights = np.load(weights_path)
    model = build(spec, weights)
    calibration = weights["calibration"].astype(np.float32)

    def representative():
        for row in calibration:
            yield [row[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with open(out_path, "wb") as file:
        file.write(converter.convert())
    # Keras' own float outputs on the test rows, to check the copied weights.
    if "check" in weights.files:
        np.save(out_path + ".keras.npy", model.predict(weights["check"], verbose=0))


if __name__ == "__main__":
    main()
