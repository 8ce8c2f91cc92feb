"""edgeops: self-hosted edge MLOps. The SDK's entry point is `edgeops.Workspace`."""

from edgeops.workspace import Workspace

__all__ = ["Workspace"]
__version__ = "0.1.0"
