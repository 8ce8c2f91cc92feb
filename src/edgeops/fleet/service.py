"""`ws.fleet`: devices, update signing keys, releases and rollouts for the SDK and the CLI."""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.data import projects
from edgeops.store.tables import Project, SigningKey, utcnow
from edgeops.training import registry

if TYPE_CHECKING:
    from edgeops.fleet.releases import McubootOptions
    from edgeops.fleet.signing import KeyFolder
    from edgeops.workspace import Workspace

# The fleet's modules load python-tuf, cryptography and imgtool: they are imported by the
# methods that use them, so that opening a workspace (every CLI command) stays fast.


def advance(session: Session, now: datetime) -> list[dict[str, Any]]:
    """The scheduler's step (what `edgeops serve` runs periodically): move rollouts on, and
    re-sign online TUF metadata (snapshot, timestamp) before it expires. Commits nothing."""
    from edgeops.fleet import rollouts, signing

    changes = rollouts.advance(session, now)
    project_ids = set(session.scalars(select(SigningKey.project_id).distinct()))
    for project_id in sorted(project_ids):
        project = session.get(Project, project_id)
        if project is not None and signing.refresh_online(session, project, now):
            changes.append({"project": project.name, "event": "metadata re-signed"})
    return changes


class Fleet:
    """The fleet of a project (the only one, or `project=`)."""

    def __init__(self, ws: "Workspace") -> None:
        self._ws = ws

    @contextmanager
    def _open(self, project: str | None) -> Iterator[tuple[Session, Project]]:
        with self._ws.session() as session:
            yield session, projects.get(session, project or self._ws.settings.project)

    def key_folder(self, project: Project, keys_dir: str | Path | None = None) -> "KeyFolder":
        """The offline key folder: `keys_dir`, else EDGEOPS_SIGNING_KEYS, else the home's
        `signing-keys/`; one subfolder per project."""
        from edgeops.fleet.signing import KeyFolder

        base = keys_dir or os.environ.get("EDGEOPS_SIGNING_KEYS")
        root = Path(base) if base else self._ws.settings.home / "signing-keys"
        return KeyFolder(root / project.name)

    # -- signing keys ------------------------------------------------------------------------
    def signing_init(
        self, *, project: str | None = None, keys_dir: str | Path | None = None,
        online_targets: bool = False, now: datetime | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        from edgeops.fleet import signing

        with self._open(project) as (session, proj):
            result = signing.init(session, proj, self.key_folder(proj, keys_dir),
                                  now or utcnow(), self._ws.actor,
                                  online_targets=online_targets)  # fmt: skip
            session.commit()
            return result

    def signing_rotate(
        self, role: str, *, project: str | None = None, keys_dir: str | Path | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        from edgeops.fleet import signing

        with self._open(project) as (session, proj):
            result = signing.rotate(session, proj, role, self.key_folder(proj, keys_dir),
                                    now or utcnow(), self._ws.actor)  # fmt: skip
            session.commit()
            return result

    def signing_show(self, *, project: str | None = None) -> dict[str, Any]:
        from edgeops.fleet import signing

        with self._open(project) as (session, proj):
            return signing.public_record(session, proj)

    # -- devices -----------------------------------------------------------------------------
    def register(
        self, device_id: str, device_type: str, *, project: str | None = None,
        attributes: dict[str, Any] | None = None, tags: list[str] | None = None,
        groups: list[str] | None = None,
    ) -> tuple[dict[str, Any], str]:  # fmt: skip
        """Register a device; returns its record and its device key (shown this once)."""
        from edgeops.fleet import devices

        with self._open(project) as (session, proj):
            device, secret = devices.register(
                session, proj, device_id, device_type, attributes=attributes, tags=tags,
                groups=groups, actor=self._ws.actor, now=utcnow(),
            )  # fmt: skip
            session.commit()
            return devices.record(device, {}), secret

    def enrolment_token(
        self, name: str, *, project: str | None = None, device_type: str | None = None,
        groups: list[str] | None = None, uses: int | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[dict[str, Any], str]:  # fmt: skip
        from edgeops.fleet import devices

        with self._open(project) as (session, proj):
            token, secret = devices.create_token(
                session, proj, name=name, device_type=device_type, groups=groups, uses=uses,
                expires_at=expires_at, actor=self._ws.actor,
            )  # fmt: skip
            session.commit()
            return devices.token_record(token), secret

    def devices(
        self, *, project: str | None = None, device_type: str | None = None,
        group: str | None = None, tag: str | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        from edgeops.fleet import devices

        with self._open(project) as (session, proj):
            versions = devices.release_versions(session, proj)
            found = devices.list_devices(session, proj, device_type=device_type, group=group,
                                         tag=tag)  # fmt: skip
            return [devices.record(d, versions) for d in found]

    def device(self, device_id: str, *, project: str | None = None) -> dict[str, Any]:
        from edgeops.fleet import devices

        with self._open(project) as (session, proj):
            device = devices.get(session, proj, device_id)
            return devices.record(device, devices.release_versions(session, proj))

    def tag(
        self, device_id: str, *, project: str | None = None, add_tags: list[str] = [],  # noqa: B006
        remove_tags: list[str] = [], add_groups: list[str] = [],  # noqa: B006
        remove_groups: list[str] = [], attributes: dict[str, Any] | None = None,  # noqa: B006
    ) -> dict[str, Any]:  # fmt: skip
        from edgeops.fleet import devices

        with self._open(project) as (session, proj):
            device = devices.tag(
                session, devices.get(session, proj, device_id), add_tags=add_tags,
                remove_tags=remove_tags, add_groups=add_groups, remove_groups=remove_groups,
                attributes=attributes, actor=self._ws.actor,
            )  # fmt: skip
            session.commit()
            return devices.record(device, devices.release_versions(session, proj))

    def revoke(self, device_id: str, *, project: str | None = None) -> dict[str, Any]:
        from edgeops.fleet import devices

        with self._open(project) as (session, proj):
            device = devices.revoke(session, devices.get(session, proj, device_id),
                                    self._ws.actor, utcnow())  # fmt: skip
            session.commit()
            return devices.record(device, devices.release_versions(session, proj))

    # -- releases ----------------------------------------------------------------------------
    def create_release(
        self, device_type: str, version: str, files: Mapping[str, bytes], *,
        project: str | None = None, changelog: str = "", model: str | None = None,
        keys_dir: str | Path | None = None, mcuboot: "McubootOptions | None" = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A signed release of `files` (artifact name → bytes) for `device_type`."""
        from edgeops.fleet import releases

        with self._open(project) as (session, proj):
            model_version = registry.get(session, proj, model) if model else None
            release = releases.create(
                session, self._ws.blobs, proj, device_type=device_type, version=version,
                artifacts=files, changelog=changelog, model=model_version,
                folder=self.key_folder(proj, keys_dir), now=now or utcnow(),
                actor=self._ws.actor, mcuboot_options=mcuboot,
            )  # fmt: skip
            session.commit()
            return releases.record(release, model_version.number if model_version else None)

    def releases(
        self, *, project: str | None = None, device_type: str | None = None
    ) -> list[dict[str, Any]]:
        from edgeops.fleet import releases

        with self._open(project) as (session, proj):
            return [
                releases.described(session, r)
                for r in releases.list_releases(session, proj, device_type)
            ]

    def release(self, ref: str, *, project: str | None = None) -> dict[str, Any]:
        from edgeops.fleet import releases

        with self._open(project) as (session, proj):
            return releases.described(session, releases.find(session, proj, ref))

    # -- rollouts ----------------------------------------------------------------------------
    def create_rollout(
        self, release: str, *, project: str | None = None, group: str | None = None,
        stages: str | list[int] = "1,10,50,100", dwell: str | int = "10m",
        stage_timeout: str | int = "24h", max_failure_rate: str | float = "2%",
        on_failure: str = "rollback", now: datetime | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        from edgeops.fleet import releases, rollouts

        with self._open(project) as (session, proj):
            rollout = rollouts.create(
                session, proj, releases.find(session, proj, release), group=group,
                stages=rollouts.parse_stages(stages), dwell_s=rollouts.parse_duration(dwell),
                stage_timeout_s=rollouts.parse_duration(stage_timeout),
                max_failure_rate=rollouts.parse_rate(max_failure_rate), on_failure=on_failure,
                actor=self._ws.actor, now=now or utcnow(),
            )  # fmt: skip
            session.commit()
            return rollouts.status(session, rollout)

    def rollouts(self, *, project: str | None = None) -> list[dict[str, Any]]:
        from edgeops.fleet import rollouts

        with self._open(project) as (session, proj):
            return [rollouts.status(session, r) for r in rollouts.list_rollouts(session, proj)]

    def rollout(self, rollout_id: int, *, project: str | None = None) -> dict[str, Any]:
        from edgeops.fleet import rollouts

        with self._open(project) as (session, proj):
            return rollouts.status(session, rollouts.get(session, proj, rollout_id))

    def pause(self, rollout_id: int, *, project: str | None = None) -> dict[str, Any]:
        from edgeops.fleet import rollouts

        return self._change(rollouts.pause, rollout_id, project)

    def resume(self, rollout_id: int, *, project: str | None = None) -> dict[str, Any]:
        from edgeops.fleet import rollouts

        return self._change(rollouts.resume, rollout_id, project)

    def abort(
        self, rollout_id: int, *, project: str | None = None, rollback: bool = False
    ) -> dict[str, Any]:
        from edgeops.fleet import rollouts

        with self._open(project) as (session, proj):
            rollout = rollouts.abort(session, rollouts.get(session, proj, rollout_id),
                                     self._ws.actor, utcnow(), rollback=rollback)  # fmt: skip
            session.commit()
            return rollouts.status(session, rollout)

    def _change(self, action: Any, rollout_id: int, project: str | None) -> dict[str, Any]:
        from edgeops.fleet import rollouts

        with self._open(project) as (session, proj):
            rollout = action(session, rollouts.get(session, proj, rollout_id), self._ws.actor,
                             utcnow())  # fmt: skip
            session.commit()
            return rollouts.status(session, rollout)

    def advance(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """One scheduler step for the whole workspace (see `advance`)."""
        with self._ws.session() as session:
            changes = advance(session, now or utcnow())
            session.commit()
            return changes
