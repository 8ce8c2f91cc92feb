"""Deployment targets: a model version built as a C library, an Arduino library, a Linux shared
library with a Python runner, an Edge Impulse-compatible .eim executable, or ONNX.

`build` and `BuildReport` load on first use: services that only need `profiles` or `TARGETS`
(automation steps, the fleet) import this package without pulling in the compiler."""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeops.targets.service import BuildReport, build

__all__ = ["TARGETS", "BuildReport", "build"]
TARGETS = ("c", "arduino", "linux", "eim", "onnx")


def __getattr__(name: str) -> Any:
    if name in ("build", "BuildReport"):
        from edgeops.targets import service

        return getattr(service, name)
    raise AttributeError(f"module 'edgeops.targets' has no attribute {name!r}")
