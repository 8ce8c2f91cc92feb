"""The step types a workflow may use, by name: params model, outputs, runner, caching."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from edgeops.automation import gates, shipping, steps


@dataclass(frozen=True)
class StepType:
    name: str
    params: type[BaseModel]
    outputs: tuple[str, ...]
    run: Callable[[steps.StepContext, Any], dict[str, Any]]
    cacheable: bool = False  # same type + resolved params → reuse the recorded output
    unavailable: str | None = None  # why the type cannot run yet


GATE_OUTPUTS = ("passed", "reason", "candidate", "baseline", "accuracy", "baseline_accuracy",
                "budgets", "data")  # fmt: skip
TUNE_OUTPUTS = ("recipe", "recipe_hash", "accuracy", "flash_bytes", "ram_bytes", "latency_ms",
                "changes", "front", "trials")  # fmt: skip
BUILD_OUTPUTS = ("model", "target", "precision", "archive", "artifact", "flash_bytes",
                 "ram_bytes", "measured_on", "latency_ms", "profile", "macs", "passed")  # fmt: skip
STEP_TYPES: dict[str, StepType] = {
    t.name: t
    for t in (
        StepType("import", steps.ImportParams, ("imported", "failed"), steps.run_import),
        StepType(
            "validate-data",
            steps.ValidateDataParams,
            ("samples", "labels"),
            steps.run_validate_data,
        ),
        StepType(
            "commit-data", steps.CommitParams, ("version", "created", "samples"), steps.run_commit
        ),
        StepType(
            "features",
            steps.FeaturesParams,
            ("windows", "features", "features_hash", "cache_hits", "data"),
            steps.run_features,
            cacheable=True,
        ),
        StepType(
            "train",
            steps.TrainParams,
            ("model", "accuracy", "recipe_hash", "data"),
            steps.run_train,
            cacheable=True,
        ),
        StepType("tune", steps.TuneParams, TUNE_OUTPUTS, steps.run_tune, cacheable=True),
        StepType(
            "evaluate",
            steps.EvaluateParams,
            ("model", "accuracy", "metrics", "data"),
            steps.run_evaluate,
            cacheable=True,
        ),
        StepType(
            "gate",
            gates.GateParams,
            GATE_OUTPUTS,
            gates.run_gate,
        ),
        StepType("approve", gates.ApproveParams, ("approved_by", "approved_at"), gates.run_approve),
        StepType("promote", gates.PromoteParams, ("alias", "model", "before"), gates.run_promote),
        StepType(
            "build",
            shipping.BuildParams,
            BUILD_OUTPUTS,
            shipping.run_build,
        ),
        StepType(
            "release",
            shipping.ReleaseParams,
            ("release", "device_type", "version", "model", "artifacts"),
            shipping.run_release,
        ),
        StepType("rollout", gates.RolloutParams, ("rollout",), gates.run_rollout),
        StepType("notify", gates.NotifyParams, ("sent",), gates.run_notify),
        StepType(
            "retention",
            gates.RetentionParams,
            ("expired", "deleted", "kept_pinned"),
            gates.run_retention,
        ),
    )
}
