"""Steps that turn a model into something a device runs: build (the targets service) and release
(a signed fleet release of a build's archive)."""

from typing import Any, Literal

from pydantic import Field

from edgeops.automation.steps import StepContext, StepStopped, _Params
from edgeops.errors import Conflict, InvalidInput, NotFound


class BuildParams(_Params):
    model: str
    target: Literal["c", "arduino", "linux", "eim", "onnx"] = "c"
    precision: Literal["auto", "int8", "float"] = "auto"
    verify: bool = False
    profile: str = Field("cortex-m4f", description="the device profile of `latency_ms`")


def latency_ms(cycles: list[dict[str, Any]], profile: str) -> float | None:
    """The estimated milliseconds per inference on `profile` from a build's cycle rows."""
    for row in cycles:
        if row["profile"] == profile:
            return round(float(row["microseconds"]) / 1000, 4)
    return None


def run_build(ctx: StepContext, params: BuildParams) -> dict[str, Any]:
    from edgeops.targets import build
    from edgeops.targets.profiles import PROFILES

    names = [profile.name for profile in PROFILES]
    if params.profile not in names:
        raise StepStopped(f"build: unknown profile {params.profile!r}: use one of {names}")
    out = ctx.ws.settings.home / "builds" / f"run-{ctx.run_id}" / ctx.step
    quantized = {"auto": None, "int8": True, "float": False}[params.precision]
    report = build(
        ctx.ws,
        params.model,
        params.target,
        out,
        quantized=quantized,
        verify=params.verify,
        project=ctx.project,
    )
    footprint = report.footprint or {}
    latency = latency_ms(report.cycles, params.profile)
    ctx.log(
        f"built {report.model} for {report.target} ({report.precision}): archive "
        f"{report.archive[:12]}, flash {footprint.get('flash_bytes')} B, RAM "
        f"{footprint.get('ram_bytes')} B ({footprint.get('measured_on', 'not measured')}), "
        f"{latency} ms on {params.profile} (model only, estimated)"
    )
    if params.verify and not report.passed:
        failed = ", ".join(f"{c.name} {c.value} (want {c.target})" for c in report.checks
                           if not c.passed)  # fmt: skip
        raise StepStopped(f"build: {report.model} failed verification: {failed}")
    return {
        "model": report.model,
        "target": report.target,
        "precision": report.precision,
        "archive": report.archive,
        "artifact": report.artifact,
        "flash_bytes": footprint.get("flash_bytes"),
        "ram_bytes": footprint.get("ram_bytes"),
        "measured_on": footprint.get("measured_on"),
        "latency_ms": latency,
        "profile": params.profile,
        "macs": report.macs,
        "passed": report.passed,
    }


class ReleaseParams(_Params):
    archive: str = Field(min_length=64, max_length=64, description="a build's `archive` digest")
    device_type: str = Field(min_length=1, max_length=64)
    version: str | None = Field(None, description="semantic version; default: next patch")
    model: str | None = None
    artifact: str = Field("model.zip", description="the archive's name in the release")
    changelog: str = Field("", max_length=20_000)


def _next_version(releases: list[dict[str, Any]]) -> str:
    from edgeops.fleet.releases import version_key

    if not releases:
        return "1.0.0"
    major, minor, patch, _ = version_key(releases[-1]["version"])
    return f"{major}.{minor}.{patch + 1}"


def run_release(ctx: StepContext, params: ReleaseParams) -> dict[str, Any]:
    """A release of the build's archive for `device_type`, signed with the project's update
    keys (the targets key online, or the key folder of this machine)."""
    fleet = ctx.ws.fleet
    existing = fleet.releases(project=ctx.project, device_type=params.device_type)
    # A retry after a crash, or a run on unchanged inputs, must not make a second release of
    # the same build: the newest release (or the one of `version`) holding it is the result.
    if params.version is None:
        candidates = existing[-1:]
    else:
        candidates = [r for r in existing if r["version"] == params.version]
    for release in candidates:
        shipped = {a["name"]: a["sha256"] for a in release["artifacts"]}
        if shipped.get(params.artifact) == params.archive:
            ctx.log(f"release {params.device_type}/{release['version']} holds this build: reused")
            return _outputs(release)
    try:
        data = ctx.ws.blobs.get(params.archive)
    except NotFound:
        raise StepStopped(
            f"release: no build archive {params.archive[:12]} in the blob store"
        ) from None
    version = params.version or _next_version(existing)
    with ctx.ws.session() as session:
        from edgeops.data import projects
        from edgeops.fleet.signing import active_keys

        keys = active_keys(session, projects.get(session, ctx.project))
    if "targets" not in keys:
        raise StepStopped(
            f"release: project {ctx.project!r} has no update signing keys, so a release "
            "cannot be signed: run `edgeops keys signing init` (once, on the machine that "
            "keeps the offline keys), then `edgeops runs retry` this run"
        )
    try:
        made = fleet.create_release(
            params.device_type,
            version,
            {params.artifact: data},
            project=ctx.project,
            changelog=params.changelog or f"{ctx.workflow} run #{ctx.run_id}",
            model=params.model,
            now=ctx.now,
        )
    except (NotFound, InvalidInput, Conflict) as exc:  # a retry would fail the same way
        raise StepStopped(f"release: {exc}") from None
    ctx.log(f"released {params.device_type}/{version} ({len(data):,} bytes)")
    return _outputs(made)


def _outputs(release: dict[str, Any]) -> dict[str, Any]:
    return {
        "release": f"{release['device_type']}/{release['version']}",
        "device_type": release["device_type"],
        "version": release["version"],
        "model": release["model"],
        "artifacts": {a["name"]: a["sha256"] for a in release["artifacts"]},
    }
