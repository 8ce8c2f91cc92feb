"""Steps that decide and ship: gate (candidate vs production), approve (a person), promote
(move an alias), notify, and the fleet's release and rollout."""

from datetime import timedelta
from typing import Any

from pydantic import Field
from sqlalchemy import select

from edgeops.automation.steps import StepContext, StepStopped, WaitForApproval, _evaluate, _Params
from edgeops.data import projects
from edgeops.errors import NotFound
from edgeops.governance.roles import validate_role
from edgeops.monitoring.service import parse_duration
from edgeops.store.tables import Job
from edgeops.training import registry

BUDGETS = (
    ("max_ram_bytes", "ram_bytes"),
    ("max_flash_bytes", "flash_bytes"),
    ("max_latency_ms", "latency_ms"),
)


class GateParams(_Params):
    candidate: str
    baseline: str = "production"
    data: str | None = None
    min_accuracy: float | None = Field(None, ge=0, le=1)
    max_accuracy_drop: float = Field(0.0, ge=0, le=1)
    min_recall: float | None = Field(None, ge=0, le=1)
    max_ram_bytes: int | None = Field(None, ge=1)
    max_flash_bytes: int | None = Field(None, ge=1)
    max_latency_ms: float | None = Field(None, gt=0)
    profile: str = Field("cortex-m4f", description="the device profile of max_latency_ms")
    fairness_by: str | None = Field(None, max_length=128, description="metadata key of groups")
    max_disparity: float = Field(0.1, ge=0, le=1, description="largest gap between groups")
    stop: bool = True


def _measurements(
    ctx: StepContext, candidate: dict[str, Any], profile: str
) -> dict[str, tuple[Any, str]]:
    """RAM, flash and latency of the candidate, each from the best source there is: measured
    on a device (the model's `device` metrics), else a build step of this run for the same
    model (flash and RAM from the compiler, latency from the cycle model), else estimated
    from the model's IR (see estimates.py)."""
    device = candidate["metrics"].get("device", {})
    found: dict[str, tuple[Any, str]] = {
        name: (device[name], "measured on a device") for _, name in BUDGETS if name in device
    }
    if len(found) == len(BUDGETS):
        return found
    with ctx.ws.session() as session:
        built = session.scalars(
            select(Job)
            .where(Job.run_id == ctx.run_id, Job.kind == "build", Job.status == "done")
            .order_by(Job.id.desc())
        ).all()
    for job in built:
        if job.output.get("model") != candidate["model"]:
            continue
        where = f"build {job.step}, {job.output.get('measured_on')}"
        for name in ("flash_bytes", "ram_bytes"):
            if job.output.get(name) is not None:
                found.setdefault(name, (job.output[name], where))
        if job.output.get("latency_ms") is not None and job.output.get("profile") == profile:
            found.setdefault("latency_ms", (job.output["latency_ms"], f"{where}, {profile} "
                                            "cycle estimate"))  # fmt: skip
    if len(found) < len(BUDGETS):
        from edgeops.automation import estimates
        from edgeops.targets.prepare import calibration, load, supports_int8

        prepared = load(ctx.ws, candidate["model"], quantized=False, project=ctx.project)
        rows = calibration(ctx.ws, prepared) if supports_int8(prepared.float_graph) else None
        guess = estimates.of_model(
            prepared.float_graph, rows.reshape(len(rows), -1) if rows is not None else rows,
            profile,
        )  # fmt: skip
        where = f"IR estimate, {guess.precision}, {profile}; model only, no DSP"
        for _, name in BUDGETS:
            found.setdefault(name, (getattr(guess, name), where))
    return found


def run_gate(ctx: StepContext, params: GateParams) -> dict[str, Any]:
    """Test the candidate and the baseline on the same testing split (the candidate's data
    unless `data` names another version) and check the candidate against the rules."""
    candidate = _evaluate(ctx, params.candidate, params.data)
    data = candidate["dataset_version"]
    try:
        baseline: dict[str, Any] | None = _evaluate(ctx, params.baseline, data)
    except NotFound:
        baseline = None
        ctx.log(f"no {params.baseline} model yet: only the absolute rules apply")
    tested = candidate["metrics"].get("testing", {})
    accuracy = tested.get("accuracy")
    reasons = []
    if params.min_accuracy is not None and (accuracy or 0) < params.min_accuracy:
        reasons.append(f"accuracy {accuracy} is below the minimum {params.min_accuracy}")
    base_accuracy = baseline["metrics"].get("testing", {}).get("accuracy") if baseline else None
    if (
        base_accuracy is not None
        and accuracy is not None
        and accuracy < base_accuracy - params.max_accuracy_drop
    ):
        reasons.append(
            f"accuracy {accuracy} is below {params.baseline} "
            f"{baseline['model'] if baseline else ''} ({base_accuracy}) "
            f"by more than {params.max_accuracy_drop}"
        )
    if params.min_recall is not None:
        for label, scores in sorted(tested.get("per_class", {}).items()):
            if scores["support"] and scores["recall"] < params.min_recall:
                reasons.append(
                    f"recall of {label!r} is {scores['recall']}, below {params.min_recall}"
                )
    budgets: dict[str, Any] = {}
    if any(getattr(params, rule) is not None for rule, _ in BUDGETS):
        measured = _measurements(ctx, candidate, params.profile)
        for rule, name in BUDGETS:
            limit = getattr(params, rule)
            if limit is None:
                continue
            value, source = measured[name]
            ctx.log(f"{name} {value} ({source}), budget {limit}")
            budgets[name] = {"value": value, "source": source, "limit": limit}
            if value is not None and value > limit:
                reasons.append(f"{name} {value} ({source}) exceeds the budget {limit}")
            elif value is None:
                ctx.log(f"{rule}: the candidate has no {name} measurement (not checked)")
    fairness = None
    if params.fairness_by is not None:
        fairness = _fairness(ctx, candidate["model"], params)
        reasons += fairness["reasons"]
    passed = not reasons
    reason = "passed" if passed else "; ".join(reasons)
    ctx.log(f"gate {candidate['model']} vs {baseline['model'] if baseline else 'none'}: {reason}")
    if not passed and params.stop:
        raise StepStopped(f"gate: {candidate['model']} {reason}")
    return {
        "passed": passed,
        "reason": reason,
        "candidate": candidate["model"],
        "baseline": baseline["model"] if baseline else None,
        "accuracy": accuracy,
        "baseline_accuracy": base_accuracy,
        "budgets": budgets,
        "data": data,
        "fairness": fairness,
    }


def _fairness(ctx: StepContext, model: str, params: GateParams) -> dict[str, Any]:
    """The candidate's disparities across `fairness_by` groups (governance/fairness.py) on its
    testing split, and the reasons it fails `max_disparity`."""
    from edgeops.governance.fairness import fairness_report

    report = fairness_report(ctx.ws, model, params.fairness_by or "", project=ctx.project,
                             data=params.data, threshold=params.max_disparity)  # fmt: skip
    ctx.log(f"fairness by {report['by']}: {report['disparities']} (max {params.max_disparity})")
    reasons = [f"fairness: {reason}" for reason in report["reasons"]]
    return {"by": report["by"], "disparities": report["disparities"],
            "passed": report["passed"], "reasons": reasons}  # fmt: skip


class RetentionParams(_Params):
    dry_run: bool = False


def run_retention(ctx: StepContext, params: RetentionParams) -> dict[str, Any]:
    """Apply the project's retention policy (governance/retention.py) as of the run's time."""
    from edgeops.governance.retention import apply

    (report,) = apply(ctx.ws, project=ctx.project, dry_run=params.dry_run, now=ctx.now,
                      actor=ctx.actor)  # fmt: skip
    ctx.log(
        f"retention: {len(report['expired'])} samples expired, "
        f"{report['samples_deleted']} deleted, {report['kept_pinned']} kept (pinned)"
    )
    return {"expired": len(report["expired"]), "deleted": report["samples_deleted"],
            "kept_pinned": report["kept_pinned"]}  # fmt: skip


class ApproveParams(_Params):
    role: str | None = None
    timeout: str = "24h"
    message: str = Field("", max_length=500)


def run_approve(ctx: StepContext, params: ApproveParams) -> dict[str, Any]:
    """Never completes by itself: the engine parks the job until a person approves or rejects
    it (`edgeops runs approve`) or the timeout stops the run."""
    if params.role is not None:
        validate_role(params.role)
    deadline = ctx.now + timedelta(seconds=parse_duration(params.timeout).total_seconds())
    raise WaitForApproval(deadline, params.role)


class PromoteParams(_Params):
    model: str
    alias: str = "production"


def run_promote(ctx: StepContext, params: PromoteParams) -> dict[str, Any]:
    with ctx.ws.session() as session:
        project = projects.get(session, ctx.project)
        model = registry.get(session, project, params.model)
        before = registry.set_alias(session, project, params.alias, model, ctx.actor)
        session.commit()
    ctx.log(f"{params.alias}: {before or 'none'} → v{model.number}")
    return {"alias": params.alias, "model": f"v{model.number}", "before": before}


class NotifyParams(_Params):
    message: str = Field(min_length=1, max_length=2000)
    url: str | None = Field(None, max_length=1000)


def run_notify(ctx: StepContext, params: NotifyParams) -> dict[str, Any]:
    from edgeops.monitoring.alerts import send_webhook

    payload = {
        "workflow": ctx.workflow,
        "run": ctx.run_id,
        "project": ctx.project,
        "message": params.message,
    }
    error = send_webhook(params.url, payload) if params.url else None
    if error:
        raise RuntimeError(f"webhook {params.url} failed: {error}")
    ctx.log(f"notified: {params.message}" + (f" → {params.url}" if params.url else ""))
    return {"sent": params.url is not None}


class RolloutParams(_Params):
    release: str
    group: str | None = None
    stages: str = "1,10,50,100"
    dwell: str = "10m"


def run_rollout(ctx: StepContext, params: RolloutParams) -> dict[str, Any]:
    existing = [
        r
        for r in ctx.ws.fleet.rollouts(project=ctx.project)
        if str(r.get("release")) == params.release and r.get("group") == params.group
    ]
    if existing:  # a retry after a crash must not start the same rollout twice
        ctx.log(f"rollout {existing[0].get('id')} of {params.release} already exists: reused")
        return {"rollout": existing[0].get("id")}
    parse_duration(params.dwell, "dwell")
    made = ctx.ws.fleet.create_rollout(
        params.release,
        project=ctx.project,
        group=params.group,
        stages=params.stages,
        dwell=params.dwell,
        now=ctx.now,
    )
    ctx.log(f"rollout {made.get('id')} of {params.release} started")
    return {"rollout": made.get("id")}


class NotYetParams(_Params):
    model_config = _Params.model_config | {"extra": "allow"}


def not_available(ctx: StepContext, params: NotYetParams) -> dict[str, Any]:
    raise StepStopped(f"step type of {ctx.step!r} is not available yet")
