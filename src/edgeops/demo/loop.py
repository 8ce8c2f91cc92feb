"""The closed loop of `edgeops demo`: build, release, serve, a simulated fleet of watches, a
staged rollout, telemetry, an injected drift, the alert, collect-on-drift, the retraining
workflow, its rollout, and the drift clearing. Each stage goes through the real CLI, the REST
API or the simulator; a stage whose outcome is not what the loop needs fails loudly."""

import math
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from edgeops.demo.watches import UNITS_BUG, Runtimes, Watch, wear
from edgeops.workspace import Workspace

PROJECT = "basic-motions"
DEVICE_TYPE = "watch"
ROWS = 40  # inferences per watch per phase (the monitor needs 30 to name a device)
ROUNDS = 4  # rounds of telemetry per phase (points of the drift-over-time chart)
DRIFT_SHARE = 0.5  # watches that get the units bug (see THRESHOLDS on why half)
COLLECT_WINDOWS = 240  # as many as the study's windows: the new condition is half the data
TESTING_EVERY = 5  # one collected window in five goes to the testing split
# A feature counts as drifting when it moved by at least 2 reference standard deviations.
# Each device is tested against the whole reference, so after retraining a sub-population stays
# visible unless it is a fair share of the reference: with half the fleet and half the data in
# the new condition, a device's shift against the mix is at most ~1 std, well below 2, while
# the units bug moves the accelerometer features by far more.
THRESHOLDS = {"min_effect": 2.0, "collect_windows": COLLECT_WINDOWS}
DEFAULT_PORT = 8000


class StageFailed(RuntimeError):
    """A stage of the loop did not reach its outcome."""


@dataclass
class Stage:
    title: str
    seconds: float
    outcome: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass
class Journal:
    """What happened, for the terminal summary, the HTML report and the test."""

    started: float = field(default_factory=time.monotonic)
    stages: list[Stage] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)  # the monitor's checks
    rounds: list[dict[str, Any]] = field(default_factory=list)  # telemetry rounds: the timeline
    facts: dict[str, Any] = field(default_factory=dict)


def free_port(preferred: int | None) -> int:
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise StageFailed("no free port on 127.0.0.1")


class Loop:
    def __init__(
        self,
        folder: Path,
        home: Path,
        console: Console,
        invoke: Callable[[list[str]], int],
        devices: int,
        serve: bool,
    ) -> None:
        self.folder, self.home, self.console, self.invoke = folder, home, console, invoke
        self.devices, self.serve = devices, serve
        self.journal = Journal()
        self.journal.facts["min_effect"] = THRESHOLDS["min_effect"]
        self.journal.facts["watches"] = devices
        self.server: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.http = httpx.Client(timeout=60)
        self.admin: dict[str, str] = {}
        self.password = ""
        self.ws = Workspace(home, create=False)

    # -- plumbing ------------------------------------------------------------------------
    def step(self, *args: str, expect: int = 0) -> None:
        from shlex import join

        self.console.print(f"$ edgeops {join(args)}", style="cyan", highlight=False)
        code = self.invoke(["--home", str(self.home), *args])
        if code != expect:
            raise StageFailed(f"`edgeops {join(args)}` exited with {code}")

    def stage(self, title: str, outcome: str, **numbers: Any) -> None:
        """End a stage: a summary panel now, a row in the report later."""
        now = time.monotonic()
        previous = sum(s.seconds for s in self.journal.stages)
        stage = Stage(title, round(now - self.journal.started - previous, 1), outcome, numbers)
        self.journal.stages.append(stage)
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_row("[bold green]✓[/] " + outcome, f"[dim]{stage.seconds:.1f} s[/]")
        for name, value in numbers.items():
            table.add_row(f"  {name}", str(value))
        self.console.print(table)

    def api(self, method: str, route: str, **kwargs: Any) -> Any:
        answer = self.http.request(
            method, f"{self.url}/api/v1/projects/{PROJECT}{route}", headers=self.admin, **kwargs
        )
        if answer.status_code >= 400:
            log = (self.folder / "server.log").read_text(errors="replace")[-3000:]
            raise StageFailed(
                f"{method} {route}: {answer.status_code} {answer.text[:300]}\nserver.log:\n{log}"
            )
        return answer.json()

    # -- the stages ----------------------------------------------------------------------
    def run(self, recordings: np.ndarray, labels: np.ndarray, recipe: Path) -> Journal:
        self.journal.started = time.monotonic()
        try:
            self.build()
            self.release()
            self.start_server()
            watches = self.fleet(recordings, labels)
            self.rollout("watch/1.0.0", watches)
            self.watch_it(recipe)
            runtimes = Runtimes(self.ws, PROJECT, self.folder / "runtimes")
            self.telemetry("baseline", watches, runtimes, expect_drift=False)
            drifted = self.inject(watches)
            alert = self.telemetry("drift", watches, runtimes, expect_drift=True)
            self.collect(watches, drifted, alert)
            release = self.retrain(alert)
            self.rollout(release, watches)
            self.telemetry("after retraining", watches, runtimes, expect_drift=False)
            self.timeline()
            self.step(
                "monitor",
                "report",
                "production",
                "--since",
                "1d",
                "--out",
                str(self.folder / "monitor-report"),
            )
            self.console.print(
                "(`monitor report` applies the default sensitivity, 0.1 std: at that level each "
                "watch's sensor condition stays visible against the mixed reference; the "
                f"monitor alerts from {THRESHOLDS['min_effect']:g} std)",
                style="dim",
            )
        finally:
            self.http.close()
        return self.journal

    def build(self) -> None:
        self.console.rule("[bold]26. compile production for a microcontroller (C, checked by gcc)")
        self.step(
            "build",
            "production",
            "--target",
            "c",
            "--verify",
            "--out",
            str(self.folder / "build-c"),
        )
        self.console.rule("[bold]27. and for the Linux watches: a shared library and runner.py")
        self.step(
            "build", "production", "--target", "linux", "--out", str(self.folder / "build-linux")
        )
        shown = self.ws.models.show("production", project=PROJECT)
        archives = {k: v for k, v in shown["artifacts"].items() if k.startswith("build/")}
        linux = [v for k, v in archives.items() if k.startswith("build/linux/")]
        if not linux or not any(k.startswith("build/c/") for k in archives):
            raise StageFailed(f"the builds were not recorded on the model: {sorted(archives)}")
        (self.folder / "model.zip").write_bytes(self.ws.blobs.get(linux[0]))
        self.journal.facts["production"] = shown.get("model") or "production"
        self.stage(
            "build",
            "C verified with gcc; Linux library built",
            **{"builds": ", ".join(sorted(archives)), "archive": linux[0][:12]},
        )

    def release(self) -> None:
        self.console.rule("[bold]28. signing keys (TUF roles), then a signed release")
        self.step("keys", "signing", "init", "--project", PROJECT)
        self.step(
            "release",
            "create",
            "--project",
            PROJECT,
            "--device-type",
            DEVICE_TYPE,
            "--version",
            "1.0.0",
            "--file",
            f"model.zip={self.folder / 'model.zip'}",
            "--model",
            "production",
            "--changelog",
            "first release",
        )
        self.stage("release", f"{DEVICE_TYPE}/1.0.0 signed")

    def launch(self) -> None:
        """Start `edgeops serve` (rollouts move every second) without waiting for it."""
        port = free_port(DEFAULT_PORT if self.serve else None)
        env = {**os.environ, "EDGEOPS_HOME": str(self.home), "EDGEOPS_SERVE_SCHEDULE_S": "1"}
        with (self.folder / "server.log").open("wb") as log:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "edgeops", "--home", str(self.home), "serve", "--port",
                 str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"

    def start_server(self) -> None:
        assert self.server is not None, "launch() first"
        self.console.rule("[bold]29. the server, with its rollout scheduler and workflow workers")
        self.console.print(
            f"$ edgeops serve --port {self.url.rsplit(':', 1)[1]}  (started in the background "
            "at step 1)", style="cyan", highlight=False,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise StageFailed(f"the server stopped: see {self.folder / 'server.log'}")
            try:
                if self.http.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise StageFailed("the server did not answer /healthz within 60 s")
        _, secret = self.ws.keys.create("admin", project=PROJECT, name="demo-operator")
        self.admin = {"x-api-key": secret}
        self.password = secrets.token_urlsafe(12)  # a local demo's sign-in, shown at the end
        self.ws.users.create("demo", self.password, "admin")
        self.stage("serve", f"serving {self.url}")

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.terminate()
            try:
                self.server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.server.kill()
        self.server = None

    def fleet(self, recordings: np.ndarray, labels: np.ndarray) -> list[Watch]:
        from edgeops.fleet.simulator.fleet import Simulation, enrol, fetch_root

        self.console.rule(f"[bold]30. {self.devices} simulated watches enrol themselves")
        _, token = self.ws.fleet.enrolment_token(
            "demo-watches", project=PROJECT, device_type=DEVICE_TYPE, uses=self.devices
        )
        self.console.print(
            f"$ edgeops devices enrolment-token demo-watches --device-type {DEVICE_TYPE} "
            f"--uses {self.devices}\n$ edgeops simulate fleet --devices {self.devices} "
            f"--server {self.url} --project {PROJECT} --token … --device-type {DEVICE_TYPE}",
            style="cyan",
            highlight=False,
        )
        self.sim = Simulation(
            self.url, PROJECT, b"", self.folder / "fleet", workers=8, http=self.http
        )
        specs = enrol(self.http, self.url, PROJECT, token, DEVICE_TYPE, self.devices, "watch")
        self.sim.root = fetch_root(self.http, self.url, PROJECT, specs[0].key)
        self.sim.add_all(specs)
        first = self.sim.round(datetime.now(UTC))
        self.stage(
            "fleet",
            f"{len(specs)} watches enrolled, trust root provisioned",
            **{"first check-in": dict(first)},
        )
        return wear(list(self.sim.devices.values()), recordings, labels)

    def rollout(self, release: str, watches: list[Watch]) -> None:
        first = release == "watch/1.0.0"
        if first:
            self.console.rule("[bold]31. a staged rollout: 10% → 50% → 100%, healthy before each")
            self.step(
                "rollout",
                "create",
                release,
                "--project",
                PROJECT,
                "--stages",
                "10,50,100",
                "--dwell",
                "1s",
            )
        else:
            self.console.rule(f"[bold]the workflow's rollout of {release} reaches the fleet")
        version = release.partition("/")[2]
        deadline, rounds = time.monotonic() + 120, 0
        while time.monotonic() < deadline:
            outcomes = self.sim.round(datetime.now(UTC))
            rounds += 1
            census = self.sim.census()
            line = ", ".join(f"{n} {what}" for what, n in outcomes.most_common())
            self.console.print(
                f"  round {rounds}: {line} · running {release}: "
                f"{census.get(version, 0)}/{len(watches)}",
                highlight=False,
            )
            if census.get(version, 0) == len(watches):
                break
            time.sleep(1.0)
        else:
            raise StageFailed(f"{release} did not reach every watch in 120 s: {census}")
        self.journal.facts.setdefault("rollouts", []).append({"release": release, "rounds": rounds})
        self.stage(
            "rollout", f"{release} running on {len(watches)}/{len(watches)} watches", rounds=rounds
        )

    def watch_it(self, recipe: Path) -> None:
        self.console.rule("[bold]32. a drift monitor on production, and the retraining workflow")
        window = str(self.devices * ROWS)
        self.step(
            "monitor",
            "add",
            "fleet",
            "--project",
            PROJECT,
            "--model",
            "production",
            "--window",
            window,
            "--collect",
            "--cooldown",
            "1m",
            *[a for k, v in THRESHOLDS.items() for a in ("--threshold", f"{k}={v}")],
        )
        spec = self.folder / "retrain.yaml"
        spec.write_text(WORKFLOW.format(recipe=recipe.resolve(), device_type=DEVICE_TYPE))
        self.console.print(
            WORKFLOW.format(recipe=recipe.name, device_type=DEVICE_TYPE),
            highlight=False,
            markup=False,
        )
        self.step("workflow", "apply", str(spec), "--project", PROJECT)
        self.stage(
            "monitor",
            f"monitor `fleet` over the last {window} inferences; workflow "
            "`retrain` on drift alerts",
            thresholds=THRESHOLDS,
        )

    def inject(self, watches: list[Watch]) -> list[str]:
        count = max(2, round(len(watches) * DRIFT_SHARE))
        picked = np.random.default_rng(7).choice(len(watches), count, replace=False)
        for index in picked:
            watches[index].gain = UNITS_BUG
        names = sorted(watches[i].name for i in picked)
        self.console.rule(
            f"[bold]34. drift: {count} watches now report acceleration in m/s² "
            "instead of g (x 9.81)"
        )
        self.console.print("a firmware change on one batch of watches; nobody told the model")
        self.journal.facts["drifted"] = names
        return names

    def telemetry(
        self, phase: str, watches: list[Watch], runtimes: Runtimes, expect_drift: bool
    ) -> dict[str, Any]:
        number = {"baseline": 33, "drift": 35}.get(phase, 39)
        self.console.rule(
            f"[bold]{number}. telemetry ({phase}): {ROWS} inferences per watch, then the monitor"
        )
        # The oracle's accuracy is the demo's own measure; it is not sent as `feedback`, whose
        # error CUSUM alarms at the first error when the reference accuracy is 100% (it is,
        # for the forest on its 48 testing windows).
        correct: dict[str, list[bool]] = {"normal": [], "drifted": []}
        rows = 0
        for _ in range(ROUNDS):
            since = datetime.now(UTC)
            tally: dict[str, list[bool]] = {"normal": [], "drifted": []}
            for watch in watches:
                records, truth = watch.infer(runtimes, ROWS // ROUNDS)
                group = "drifted" if watch.gain != 1 else "normal"
                tally[group] += [r["label"] == t for r, t in zip(records, truth, strict=True)]
                self._send(watch, records)
                rows += len(records)
            self.journal.rounds.append({
                "phase": phase, "model": records[0]["model"], "since": since,
                "until": datetime.now(UTC),
                "accuracy": {g: float(np.mean(c)) for g, c in tally.items() if c},
            })  # fmt: skip
            for group, hits in tally.items():
                correct[group] += hits
        self.console.print("$ edgeops monitor check", style="cyan", highlight=False)
        [result] = self.api("POST", "/monitors/check", params={"monitor": "fleet"})
        findings = result["analysis"]["findings"]
        accuracy = {g: round(float(np.mean(c)), 3) for g, c in correct.items() if c}
        point = self._point(phase, result, accuracy)
        self.journal.checks.append(point)
        active = self.api("GET", "/alerts")
        for finding in findings:
            self.console.print(f"  [bold red]finding[/] {finding['title']}", highlight=False)
        if expect_drift != bool(findings):
            raise StageFailed(
                f"{phase}: expected {'a' if expect_drift else 'no'} drift finding, "
                f"got {[f['title'] for f in findings]}"
            )
        outcome = "drift detected" if findings else "within reference"
        numbers = {
            "rows": rows,
            "model": result["model"],
            "oracle accuracy": accuracy,
            "strongest shift (std)": point["strongest"],
            "active alerts": [a["title"] for a in active] or "none",
        }
        if phase == "after retraining":
            self.journal.facts["active after"] = numbers["active alerts"]
        self.stage(f"telemetry: {phase}", outcome, **numbers)
        return next((a for a in active if a["kind"] == "data_drift"), {}) if expect_drift else {}

    def _send(self, watch: Watch, records: list[dict[str, Any]]) -> None:
        answer = self.http.post(
            f"{self.url}/api/v1/projects/{PROJECT}/telemetry",
            json={"records": records},
            headers={"x-api-key": watch.device.spec.key},
        )
        if answer.status_code != 202:
            raise StageFailed(f"telemetry of {watch.name}: {answer.status_code} {answer.text}")

    def timeline(self) -> None:
        """The drift over time: each round of telemetry analysed on its own (the monitor's
        analysis, without alerts; too few rows per round to test single watches)."""
        for item in self.journal.rounds:
            analysis = self.ws.monitoring.analyse(
                f"v{item['model']}", since=item["since"], until=item["until"],
                thresholds=THRESHOLDS, project=PROJECT,
            )  # fmt: skip
            effects = [row.get("effect") or 0 for row in analysis.checks.get("features", [])]
            item["shift"] = round(max(effects, default=0.0), 3)
            item["findings"] = len(analysis.findings)
            item["seconds"] = round(
                (item["since"] - self.journal.rounds[0]["since"]).total_seconds(), 1
            )

    def _point(
        self, phase: str, result: dict[str, Any], accuracy: dict[str, float]
    ) -> dict[str, Any]:
        checks = result["analysis"]["checks"]
        fleet = [row.get("effect", 0) or 0 for row in checks.get("features", [])]
        devices = [
            d["effect"]
            for f in result["analysis"]["findings"]
            for d in f["details"].get("devices", [])
        ]
        return {
            "phase": phase,
            "model": result["model"],
            "seconds": round(time.monotonic() - self.journal.started, 1),
            "fleet": round(max(fleet, default=0.0), 3),
            "strongest": round(max([*fleet, *devices], default=0.0), 3),
            "accuracy": accuracy,
            "findings": len(result["analysis"]["findings"]),
        }

    def collect(self, watches: list[Watch], drifted: list[str], alert: dict[str, Any]) -> None:
        self.console.rule("[bold]36. the alert, and collect-on-drift")
        if not alert:
            raise StageFailed("the drift check raised no alert")
        named = sorted(d["device"] for d in alert["details"].get("devices", []))
        features = [f["feature"] for f in alert["details"].get("features", [])]
        self.console.print(
            f"alert #{alert['id']} ({alert['severity']}): {alert['title']}", highlight=False
        )
        self.console.print(
            f"  model {alert['model']} · {len(named)} devices named · "
            f"features {', '.join(features[:6])}…",
            highlight=False,
        )
        wrong = set(named) - set(drifted)
        if not named or wrong:
            raise StageFailed(f"the alert should name drifted watches only; it names {named}")
        self.journal.facts["alert"] = {
            "id": alert["id"],
            "title": alert["title"],
            "devices": named,
            "features": features,
        }
        by_name = {w.name: w for w in watches}
        base = f"{self.url}/api/v1/projects/{PROJECT}"
        each = math.ceil(COLLECT_WINDOWS / len(named))
        sent = sum(by_name[name].answer_collect(self.http, base, each) for name in named)
        queue = self.api("GET", "/label-queue", params={"limit": 1000})
        self.console.print(
            f"{sent} raw windows sent by the named watches; {len(queue)} in the to-label queue",
            highlight=False,
        )
        self.console.rule("[bold]37. labelled by the demo's oracle (the simulator's ground truth)")
        truth = {digest: label for w in watches for digest, label in w.truth.items()}
        groups: dict[tuple[str, str], list[int]] = {}
        for index, item in enumerate(queue):
            label = truth.get(item["digest"])
            if label is None:
                raise StageFailed(
                    f"window {item['id']} of {item['device']}: the oracle never saw it"
                )
            category = "testing" if index % TESTING_EVERY == 0 else "training"
            groups.setdefault((label, category), []).append(item["id"])
        for (label, category), ids in sorted(groups.items()):
            self.api(
                "POST",
                "/label-queue/label",
                json={"ids": ids, "label": label, "category": category},
            )
        left = self.api("GET", "/label-queue", params={"limit": 1000})
        if left:
            raise StageFailed(f"{len(left)} windows are still waiting for a label")
        uploaded = self.journal.facts["collected"] = len(queue)
        self.stage(
            "collect",
            f"{uploaded} windows from the new condition labelled from the queue",
            alert=alert["title"],
            devices=len(named),
        )

    def retrain(self, alert: dict[str, Any]) -> str:
        self.console.rule("[bold]38. the alert started the retraining workflow")
        deadline = time.monotonic() + 60
        run = None
        while time.monotonic() < deadline and run is None:
            runs = self.api("GET", "/runs")
            run = next((r for r in runs if r["trigger"].get("alert") == alert["id"]), None)
            time.sleep(0.5)
        if run is None:
            raise StageFailed(f"no workflow run was started by alert #{alert['id']}")
        self.console.print(
            f"run #{run['id']} of `{run['workflow']}`, trigger: alert "
            f"#{alert['id']}; it waits for a person to approve",
            highlight=False,
        )
        self._wait(run["id"], ("waiting",), 60)
        self.step("runs", "approve", str(run["id"]), "--project", PROJECT)
        done = self._wait(run["id"], ("succeeded", "failed", "stopped", "cancelled"), 240)
        self.step("runs", "show", str(run["id"]), "--project", PROJECT)
        if done["status"] != "succeeded":
            raise StageFailed(f"run #{run['id']} {done['status']}: {done.get('reason')}")
        out = {s["step"]: s["output"] for s in done["steps"]}
        gate, release = out["gate"], out["release"]
        if not gate.get("passed"):
            raise StageFailed(f"the gate did not pass: {gate.get('reason')}")
        self.journal.facts["retrain"] = {
            "run": run["id"],
            "trigger": done["trigger"],
            "model": out["train"]["model"],
            "gate": gate,
            "release": release["release"],
            "rollout": out["rollout"]["rollout"],
            "dataset": out["data"]["version"],
        }
        self.stage(
            "retrain",
            f"run #{run['id']} trained {out['train']['model']}, gated, "
            f"released {release['release']}",
            **{
                "candidate accuracy": gate.get("accuracy"),
                "production accuracy (same test split)": gate.get("baseline_accuracy"),
                "dataset": out["data"]["version"][:12],
            },
        )
        return str(release["release"])

    def _wait(self, run_id: int, statuses: tuple[str, ...], seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            record = self.ws.automation.get_run(run_id, project=PROJECT)
            if record["status"] in statuses:
                return record
            time.sleep(0.5)
        raise StageFailed(f"run #{run_id} is still {record['status']} after {seconds:.0f} s")


WORKFLOW = """\
name: retrain
description: On a drift alert, retrain on the collected windows, gate, ship to the watches.
triggers:
  - type: alert
    kind: data_drift
    severity: warning
steps:
  - id: labelled                # a person confirms the collected windows are labelled
    type: approve
    with: {{role: ml-engineer, timeout: 1h}}
  - id: data
    type: commit-data
    with: {{message: "with the windows collected on drift"}}
  - id: train
    type: train
    with: {{recipe: {recipe}, data: "${{data.version}}", seed: 0}}
  - id: gate                    # candidate vs production on the candidate's testing split
    type: gate
    with: {{candidate: "${{train.model}}", baseline: production, max_accuracy_drop: 0.0}}
  - id: build
    type: build
    with: {{model: "${{train.model}}", target: linux}}
  - id: release
    type: release
    with: {{archive: "${{build.archive}}", device_type: {device_type}, model: "${{train.model}}"}}
  - id: promote
    type: promote
    with: {{model: "${{train.model}}", alias: production}}
  - id: rollout
    type: rollout
    with: {{release: "${{release.release}}", stages: "10,50,100", dwell: 1s}}
"""
