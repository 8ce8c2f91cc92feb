"""`build`, the service behind `edgeops build`: a registered model version compiled for a
target, verified on its testing windows, archived in the blob store and recorded on the model
(`artifacts["build/<target>/<precision>"]` and a `model.build` audit event).

Verification (`verify=True`) compiles the model with gcc and runs every testing window of the
model's dataset version through the generated C, next to the Python references: the int8
outputs must equal the int8 reference bit for bit, the C's top class must agree with the float
model in Python on at least 99.5% of windows, and int8 accuracy must be within 1 point of
float accuracy (`CHECKS`)."""

import io
import shutil
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.compiler import verify as compiler_verify
from edgeops.compiler.cost import macs
from edgeops.compiler.memory import plan
from edgeops.errors import InvalidInput
from edgeops.governance import audit
from edgeops.store import db
from edgeops.store.tables import ModelVersion
from edgeops.targets import arduino, c, eim, linux, onnx, profiles
from edgeops.targets.prepare import Prepared, load, verification_windows
from edgeops.targets.sources import model_sources

if TYPE_CHECKING:
    from collections.abc import Callable

    from edgeops.workspace import Workspace

WRITERS: "dict[str, Callable[[Prepared, Path], None]]" = {
    "c": c.write,
    "arduino": arduino.write,
    "linux": linux.write,
    "eim": eim.write,
    "onnx": onnx.write,
}
TARGETS = tuple(WRITERS)
AGREEMENT_TARGET = 99.5  # percent of windows whose C top class equals float Python's
ACCURACY_TOLERANCE = 1.0  # points of accuracy int8 may lose against float
ZIP_TIME = (2000, 1, 1, 0, 0, 0)  # fixed: the same build is the same archive, the same blob


@dataclass
class Check:
    name: str
    value: float | None
    target: str
    passed: bool


@dataclass
class BuildReport:
    """What was built, where it went, and (with verification) how faithful it is."""

    model: str
    target: str
    precision: str
    output: str
    files: list[str]
    archive: str  # blob digest of the zip
    artifact: str  # the key on the model's artifacts
    macs: int
    arena_bytes: int
    footprint: dict[str, Any] | None  # flash/RAM of the model's C (not for onnx)
    cycles: list[dict[str, Any]]
    verify: dict[str, Any] | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        return data


def _archive(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            entry = zipfile.ZipInfo(path.relative_to(directory).as_posix(), ZIP_TIME)
            entry.external_attr = (path.stat().st_mode & 0o777) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())
    return buffer.getvalue()


def stack_estimate(files: dict[str, str], work: Path) -> int | None:
    """Bytes of stack: the three largest frames gcc reports (-fstack-usage) — the run function,
    a feature block and a kernel, the deepest call chain the generated code has."""
    from edgeops.targets.compile import gcc

    units = [name for name in files if name.endswith(".c")]
    gcc(["-fstack-usage", "-c", *units], work, "stack usage")
    frames = []
    for report in work.glob("*.su"):
        for line in report.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[1].strip().isdigit():
                frames.append(int(parts[1]))
    return sum(sorted(frames)[-3:]) if frames else None


def measure_footprint(prepared: Prepared) -> dict[str, Any]:
    """Flash (text incl. rodata + data) and RAM (data + bss, which holds the arena, + a stack
    estimate) of the model's C: Cortex-M4 sizes when arm-none-eabi-gcc is there, else host."""
    files = model_sources(prepared)
    with tempfile.TemporaryDirectory(prefix="edgeops-footprint-") as folder:
        work = Path(folder)
        compiler_verify.write_sources(files, work)
        host, arm = compiler_verify.footprint(files, prepared.name, work)
        extra_ram = 0
        if prepared.anomaly_graph is not None:
            anomaly_host, anomaly_arm = compiler_verify.footprint(
                files, f"{prepared.name}_anomaly", work
            )
            host = _sum(host, anomaly_host)
            arm = _sum(arm, anomaly_arm) if arm and anomaly_arm else arm
        stack = stack_estimate(files, work) or 0
        extra_ram += stack
    chosen = arm or host
    return {
        "measured_on": chosen.target,
        "flash_bytes": chosen.flash_bytes,
        "ram_bytes": chosen.ram_bytes + extra_ram,
        "stack_estimate_bytes": stack,
        "arena_bytes": plan(prepared.graph).arena_bytes,
        "host": host.as_dict(),
        "cortex_m4": arm.as_dict() if arm else None,
    }


def _sum(a: compiler_verify.Footprint, b: compiler_verify.Footprint) -> compiler_verify.Footprint:
    return compiler_verify.Footprint(
        a.target, a.text_bytes + b.text_bytes, a.data_bytes + b.data_bytes,
        a.bss_bytes + b.bss_bytes,
    )  # fmt: skip


def run_verify(ws: "Workspace", prepared: Prepared) -> tuple[dict[str, Any], list[Check]]:
    """Compile and run every testing window; the report and the pass/fail checks."""
    windows, labels = verification_windows(ws, prepared)
    report = compiler_verify.verify(
        prepared.graph,
        windows,
        float_graph=prepared.float_graph,
        recipe=prepared.recipe,
        states=prepared.states,
        labels=labels,
        name=prepared.name,
        measure=False,
    )
    checks: list[Check] = []
    if report.int8:
        mismatches = report.int8_mismatches
        checks.append(Check("int8 mismatches", mismatches, "= 0", mismatches in (0, None)))
    if report.label_agreement_percent is not None:
        agreement = report.label_agreement_percent
        checks.append(Check("label agreement %", agreement, f">= {AGREEMENT_TARGET}",
                            agreement >= AGREEMENT_TARGET))  # fmt: skip
    if report.float_accuracy_percent is not None and report.compiled_accuracy_percent is not None:
        drop = round(report.float_accuracy_percent - report.compiled_accuracy_percent, 3)
        checks.append(Check("accuracy drop (points)", drop, f"<= {ACCURACY_TOLERANCE}",
                            drop <= ACCURACY_TOLERANCE))  # fmt: skip
    return report.as_dict(), checks


def build(
    ws: "Workspace",
    model_ref: str,
    target: str,
    out: Path | str,
    *,
    quantized: bool | None = None,
    verify: bool = False,
    project: str | None = None,
) -> BuildReport:
    """Build model `model_ref` for `target` into folder `out` (created; emptied of a previous
    build's files). `quantized` None: int8 where the graph has int8 kernels, else float."""
    if target not in WRITERS:
        raise InvalidInput(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    if target == "onnx" and quantized:
        raise InvalidInput("the onnx target exports the float model: build it with --float")
    output = Path(out)
    if output.exists() and not output.is_dir():
        raise InvalidInput(f"{output} is a file: give a folder for the build")
    prepared = load(ws, model_ref, quantized=False if target == "onnx" else quantized,
                    project=project)  # fmt: skip
    verified: dict[str, Any] | None = None
    checks: list[Check] = []
    if verify:
        verified, checks = run_verify(ws, prepared)
    if output.exists():
        shutil.rmtree(output)
    output.mkdir(parents=True)
    WRITERS[target](prepared, output)
    archive = _archive(output)
    key = f"build/{target}/{prepared.precision}"
    report = BuildReport(
        model=prepared.ref,
        target=target,
        precision=prepared.precision,
        output=str(output),
        files=sorted(p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()),
        archive="",
        artifact=key,
        macs=macs(prepared.float_graph),
        arena_bytes=plan(prepared.graph).arena_bytes,
        footprint=None if target == "onnx" else measure_footprint(prepared),
        cycles=profiles.estimate(prepared.graph, prepared.quantized),
        verify=verified,
        checks=checks,
    )
    report.archive = _record(ws, prepared, key, archive, report)
    return report


def _record(
    ws: "Workspace", prepared: Prepared, key: str, archive: bytes, report: BuildReport
) -> str:
    digest = ws.blobs.put(archive)
    with ws.session() as session:
        model = session.get(ModelVersion, prepared.model.id)
        assert model is not None
        model.artifacts = {**model.artifacts, key: digest}
        audit.record(
            session,
            ws.actor,
            "model.build",
            f"model:v{model.number}",
            prepared.project.id,
            {
                "target": report.target,
                "precision": report.precision,
                "archive": digest,
                "verified": report.verify is not None,
                "passed": report.passed if report.verify is not None else None,
                "checks": {check.name: check.value for check in report.checks},
            },
        )
        db.commit(session, ws.blobs)
    return digest
