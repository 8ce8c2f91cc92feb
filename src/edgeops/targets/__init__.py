"""Deployment targets: a model version built as a C library, an Arduino library, a Linux shared
library with a Python runner, an Edge Impulse-compatible .eim executable, or ONNX."""

from edgeops.targets.build import TARGETS, BuildReport, build

__all__ = ["TARGETS", "BuildReport", "build"]
