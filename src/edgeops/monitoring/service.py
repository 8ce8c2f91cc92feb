"""`Workspace.monitoring`: telemetry in, monitors run, alerts out — the one service the CLI,
the REST API and automation call."""

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.data import projects
from edgeops.errors import InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.store.tables import Alert, ModelVersion, Monitor, Project

if TYPE_CHECKING:
    from edgeops.monitoring.analysis import Analysis
    from edgeops.monitoring.reference import ReferenceProfile
    from edgeops.workspace import Workspace

AlertListener = Callable[[dict[str, Any]], None]
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
COUNT_LOOKBACK = timedelta(days=30)  # how far back a count window looks for its rows
DEFAULT_COOLDOWN_S = 3600


def parse_duration(text: str, what: str = "duration") -> timedelta:
    """`90s`, `30m`, `24h`, `7d`, `2w`."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise InvalidInput(f"{what}: expected a duration such as 30m, 24h or 7d, got {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_window(text: str) -> dict[str, int]:
    """A time window (`24h`) or a count window (`5000` rows)."""
    if text.strip().isdigit():
        count = int(text)
        if count < 1:
            raise InvalidInput("window: a count window needs at least 1 row")
        return {"count": count}
    return {"seconds": int(parse_duration(text, "window").total_seconds())}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Monitoring:
    """Telemetry, monitors, alerts and the to-label queue of a project."""

    def __init__(self, ws: "Workspace") -> None:
        self._ws = ws
        self._listeners: list[AlertListener] = []

    @contextmanager
    def _open(self, project: str | None) -> Iterator[tuple[Session, Project]]:
        with self._ws.session() as session:
            yield session, projects.get(session, project or self._ws.settings.project)

    @property
    def store(self) -> Any:
        from edgeops.monitoring.telemetry import store_for

        return store_for(self._ws)

    def subscribe(self, listener: AlertListener) -> None:
        """Call `listener(alert record)` whenever an alert opens or is due again (automation
        triggers hook in here)."""
        self._listeners.append(listener)

    # telemetry -------------------------------------------------------------------------

    def ingest(
        self,
        payload: bytes | Any,
        *,
        project: str | None = None,
        device: str | None = None,
        content_type: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, int]:
        from edgeops.monitoring import telemetry

        with self._open(project) as (_, proj):
            name = proj.name
        return telemetry.ingest(
            self._ws, name, payload, device=device, content_type=content_type, now=now
        )

    def reference(self, model: str, *, project: str | None = None) -> "ReferenceProfile":
        from edgeops.training import registry

        with self._open(project) as (session, proj):
            return self._profile(registry.get(session, proj, model))

    def _profile(self, model: ModelVersion) -> "ReferenceProfile":
        from edgeops.monitoring.reference import ReferenceProfile

        digest = model.artifacts.get("reference")
        if digest is None:
            raise NotFound(
                f"model v{model.number} has no reference profile (it was trained before "
                "monitoring existed): train it again to monitor it"
            )
        return ReferenceProfile.from_bytes(self._ws.blobs.get(digest))

    def commands(
        self, device: str | None, *, project: str | None = None, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        """What `device` is asked to do (collect requests)."""
        from edgeops.monitoring import collect

        with self._open(project) as (session, proj):
            return collect.pending(session, proj, device, now or datetime.now(UTC))

    def label_queue(
        self,
        *,
        project: str | None = None,
        status: str | None = "to-label",
        device: str | None = None,
        alert: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Raw windows collected from the field, newest first (`status` None: all)."""
        from edgeops.monitoring import labelling

        with self._open(project) as (session, proj):
            return labelling.items(
                session, proj, status=status, device=device, alert=alert, limit=limit
            )

    def label_windows(
        self,
        ids: list[int],
        label: str,
        *,
        category: str = "training",
        project: str | None = None,
        actor: str | None = None,
    ) -> list[dict[str, Any]]:
        """Make queued windows samples labelled `label` (all or none): the next dataset
        version holds them."""
        from edgeops.governance import encryption
        from edgeops.monitoring import labelling
        from edgeops.store import db

        with self._open(project) as (session, proj):
            made = labelling.label(
                session, self._ws.blobs, proj, ids, label, actor or self._ws.actor,
                category=category,
                sample_blobs=encryption.blobs_for(self._ws, session, proj, None),
            )  # fmt: skip
            db.commit(session, self._ws.blobs)
            return made

    def discard_windows(
        self, ids: list[int], *, project: str | None = None, actor: str | None = None
    ) -> list[dict[str, Any]]:
        """Take queued windows out of the queue without making samples of them."""
        from edgeops.monitoring import labelling

        with self._open(project) as (session, proj):
            dropped = labelling.discard(session, proj, ids, actor or self._ws.actor)
            session.commit()
            return dropped

    def prune(
        self, keep_days: int, *, project: str | None = None, actor: str | None = None
    ) -> list[str]:
        """Retention: drop telemetry days older than `keep_days` (audited when any went)."""
        with self._open(project) as (session, proj):
            removed = self.store.prune(proj.name, keep_days)
            if removed:
                audit.record(session, actor or self._ws.actor, "telemetry.prune",
                             f"project:{proj.name}", proj.id,
                             {"days": [d.isoformat() for d in removed]})  # fmt: skip
                session.commit()
        return [d.isoformat() for d in removed]

    # monitors --------------------------------------------------------------------------

    def add_monitor(
        self,
        name: str,
        *,
        model: str = "production",
        window: str = "24h",
        devices: list[str] | None = None,
        group: str | None = None,
        thresholds: dict[str, Any] | None = None,
        cooldown: str = "1h",
        webhook: str | None = None,
        collect: bool = False,
        project: str | None = None,
        actor: str | None = None,
    ) -> dict[str, Any]:
        """A monitor of `model` over all devices, the `devices` named, or the fleet `group`
        (its members when each check runs: devices that join later are watched too)."""
        from edgeops.monitoring.analysis import thresholds_with_defaults

        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", name):
            raise InvalidInput(f"monitor name {name!r}: use letters, digits, . _ - (≤100)")
        if webhook is not None and not webhook.startswith(("http://", "https://")):
            raise InvalidInput(f"webhook must be an http(s) URL, got {webhook[:60]!r}")
        if devices and group:
            raise InvalidInput("a monitor watches named devices or a device group, not both")
        if group is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$", group):
            raise InvalidInput(f"device group {group[:70]!r}: use letters, digits, . _ : -")
        thresholds_with_defaults(thresholds)
        with self._open(project) as (session, proj):
            exists = session.scalar(
                select(Monitor).where(Monitor.project_id == proj.id, Monitor.name == name)
            )
            if exists is not None:
                raise InvalidInput(f"monitor {name!r} exists already in project {proj.name!r}")
            monitor = Monitor(
                project_id=proj.id,
                name=name,
                model_ref=model.strip().lower(),
                # a group is kept as [{"group": name}] in the devices list (no extra column)
                devices=[{"group": group}] if group else (devices or None),
                window=parse_window(window),
                thresholds=dict(thresholds or {}),
                cooldown_s=int(parse_duration(cooldown, "cooldown").total_seconds()),
                webhook_url=webhook,
                collect=collect,
                enabled=True,
                created_by=actor or self._ws.actor,
            )
            session.add(monitor)
            session.flush()
            audit.record(
                session, actor or self._ws.actor, "monitor.create", f"monitor:{name}", proj.id,
                {"model": monitor.model_ref, "window": monitor.window},
            )  # fmt: skip
            session.commit()
            return _monitor_record(monitor)

    def monitors(self, *, project: str | None = None) -> list[dict[str, Any]]:
        with self._open(project) as (session, proj):
            found = session.scalars(
                select(Monitor).where(Monitor.project_id == proj.id).order_by(Monitor.name)
            ).all()
            return [_monitor_record(m) for m in found]

    def analyse(
        self,
        model: str,
        *,
        since: datetime,
        until: datetime | None = None,
        devices: list[str] | None = None,
        thresholds: dict[str, Any] | None = None,
        project: str | None = None,
    ) -> "Analysis":
        """Every detector on `model`'s telemetry in [since, until), without raising alerts."""
        from edgeops.monitoring.analysis import COLUMNS, analyse
        from edgeops.training import registry

        with self._open(project) as (session, proj):
            version = registry.get(session, proj, model)
            profile = self._profile(version)
            name, number = proj.name, version.number
        table = self.store.read(
            name, since=since, until=until, model=number, devices=devices, columns=COLUMNS
        )
        return analyse(profile, table, thresholds, model=f"v{number}")

    def check(
        self,
        *,
        project: str | None = None,
        monitor: str | None = None,
        now: datetime | None = None,
        actor: str | None = None,
    ) -> list[dict[str, Any]]:
        """Run the enabled monitors (or the one named) over their windows ending `now`: raise,
        update and resolve alerts, ask devices for windows when drift fires, notify."""
        now = now or datetime.now(UTC)
        results: list[dict[str, Any]] = []
        notices: list[tuple[str | None, Alert]] = []
        with self._open(project) as (session, proj):
            query = select(Monitor).where(Monitor.project_id == proj.id, Monitor.enabled)
            if monitor is not None:
                query = query.where(Monitor.name == monitor)
            chosen = session.scalars(query.order_by(Monitor.name)).all()
            if monitor is not None and not chosen:
                raise NotFound(f"no enabled monitor {monitor!r} in project {proj.name!r}")
            for item in chosen:
                result, due = self._run(session, proj, item, now, actor or self._ws.actor)
                results.append(result)
                notices.extend((item.webhook_url, alert) for alert in due)
            session.commit()
            payloads = [(url, self._alert_record(session, a)) for url, a in notices]
        self._notify(payloads)
        return results

    def _run(
        self, session: Session, proj: Project, monitor: Monitor, now: datetime, actor: str
    ) -> tuple[dict[str, Any], list[Alert]]:
        from edgeops.monitoring import alerts, collect, health
        from edgeops.monitoring.analysis import COLUMNS, analyse, thresholds_with_defaults
        from edgeops.training import registry

        model = registry.get(session, proj, monitor.model_ref)
        profile = self._profile(model)
        scope = _scope(session, proj, monitor)
        limits = thresholds_with_defaults(monitor.thresholds)
        seconds = monitor.window.get("seconds")
        since = now - (timedelta(seconds=seconds) if seconds else COUNT_LOOKBACK)
        table = self.store.read(
            proj.name, since=since, until=now, model=model.number, devices=scope,
            columns=COLUMNS,
        )  # fmt: skip
        if not seconds:
            table = table.slice(max(0, table.num_rows - int(monitor.window["count"])))
            if table.num_rows:
                since = _aware(table["time"][0].as_py())
        label = f"{model.name} v{model.number}"
        analysis = analyse(profile, table, limits, model=label)
        fleet = health.devices(self.store, proj.name, since, now, model=model.number, only=scope)
        findings = [*analysis.findings, *health.findings(fleet, now, limits, label)]
        due: list[Alert] = []
        raised = []
        for finding in findings:
            finding.details = {"model": f"v{model.number}", **finding.details}
            alert, notify = alerts.raise_finding(
                session, proj, monitor, model.id, finding, actor, now
            )
            raised.append(alert)
            if notify:
                due.append(alert)
            if monitor.collect and notify and finding.kind.endswith("drift"):
                named = [d["device"] for d in finding.details.get("devices", [])]
                features = [f["feature"] for f in finding.details.get("features", [])]
                collect.request(
                    session, proj, model.number, named or scope,
                    {"alert": alert.id, "kind": finding.kind, "features": features}, now,
                    alert_id=alert.id, windows=int(limits.get("collect_windows", 50)),
                )  # fmt: skip
        condemned = health.fail_rollouts(session, proj, model.id, findings, scope, now)
        present = {f.kind for f in findings} if analysis.rows or fleet else None
        if present is not None:
            alerts.resolve_absent(session, proj, monitor, model.id, present, now)
        monitor.last_run_at = now
        session.flush()
        return {
            "monitor": monitor.name,
            "model": f"v{model.number}",
            "since": since.isoformat(),
            "until": now.isoformat(),
            "analysis": analysis.record(),
            "devices": fleet,
            "alerts": [a.id for a in raised],
            "rollout_devices_failed": condemned,
        }, due

    def _alert_record(self, session: Session, alert: Alert) -> dict[str, Any]:
        from edgeops.monitoring import alerts

        model = (
            session.get(ModelVersion, alert.model_version_id) if alert.model_version_id else None
        )
        return alerts.record(alert, f"v{model.number}" if model else None)

    def _notify(self, notices: list[tuple[str | None, dict[str, Any]]]) -> None:
        from edgeops.monitoring import alerts

        for url, payload in notices:
            if url:
                error = alerts.send_webhook(url, payload)
                if error:
                    payload["notification_error"] = error
            for listener in self._listeners:
                listener(payload)

    # alerts ----------------------------------------------------------------------------

    def alerts(
        self, *, project: str | None = None, status: str | None = "active", limit: int = 100
    ) -> list[dict[str, Any]]:
        from edgeops.monitoring import alerts

        with self._open(project) as (session, proj):
            found = alerts.list_alerts(session, proj, status, limit)
            return [self._alert_record(session, a) for a in found]

    def ack(
        self, alert_id: int, *, project: str | None = None, actor: str | None = None
    ) -> dict[str, Any]:
        from edgeops.monitoring import alerts

        with self._open(project) as (session, proj):
            who = actor or self._ws.actor
            alert = alerts.acknowledge(session, proj, alert_id, who, datetime.now(UTC))
            session.commit()
            return self._alert_record(session, alert)

    def status(self, *, project: str | None = None, now: datetime | None = None) -> dict[str, Any]:
        """Monitors with their open alerts, the fleet's health over the last day, and the
        telemetry kept."""
        from edgeops.monitoring import health

        now = now or datetime.now(UTC)
        monitors = self.monitors(project=project)
        active = self.alerts(project=project, status="active")
        with self._open(project) as (_, proj):
            name = proj.name
        fleet = health.devices(self.store, name, now - timedelta(days=1), now)
        days = self.store.days(name)
        return {
            "project": name,
            "monitors": [
                {**m, "alerts": [a["id"] for a in active if a["monitor_id"] == m["id"]]}
                for m in monitors
            ],
            "alerts": active,
            "devices": fleet,
            "telemetry": {
                "days": len(days),
                "first_day": days[0].isoformat() if days else None,
                "last_day": days[-1].isoformat() if days else None,
                "rows_last_day": sum(d["rows"] for d in fleet),
            },
        }

    def report(
        self,
        model: str,
        out: Any,
        *,
        since: timedelta = timedelta(days=7),
        project: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Write an HTML report with PNG plots (per-feature reference vs live, drift scores per
        day) for `model` over the last `since` into folder `out`."""
        from pathlib import Path

        from edgeops.monitoring import report
        from edgeops.training import registry

        now = now or datetime.now(UTC)
        with self._open(project) as (session, proj):
            version = registry.get(session, proj, model)
            profile = self._profile(version)
            name, number, title = proj.name, version.number, f"{version.name} v{version.number}"
        table = self.store.read(name, since=now - since, until=now, model=number)
        return report.write(Path(out), title, profile, table)


def _scope(session: Session, project: Project, monitor: Monitor) -> list[str] | None:
    """The device ids a monitor watches now (None: every device)."""
    if not monitor.devices:
        return None
    from edgeops.fleet import devices

    found: list[str] = []
    for entry in monitor.devices:
        if isinstance(entry, dict):
            members = devices.list_devices(
                session, project, group=entry["group"], include_revoked=False
            )
            found.extend(d.device_id for d in members)
        else:
            found.append(str(entry))
    return sorted(set(found))


def _monitor_record(monitor: Monitor) -> dict[str, Any]:
    return {
        "id": monitor.id,
        "name": monitor.name,
        "model": monitor.model_ref,
        "devices": [d for d in monitor.devices or [] if isinstance(d, str)] or None,
        "group": next((d["group"] for d in monitor.devices or [] if isinstance(d, dict)), None),
        "window": monitor.window,
        "thresholds": monitor.thresholds,
        "cooldown_s": monitor.cooldown_s,
        "webhook": monitor.webhook_url,
        "collect": monitor.collect,
        "enabled": monitor.enabled,
        "last_run_at": _aware(monitor.last_run_at).isoformat() if monitor.last_run_at else None,
    }
