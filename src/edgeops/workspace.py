"""`edgeops.Workspace`: the Python SDK. One object opens a home and exposes the services, the
same ones the CLI and the REST API call."""

import getpass
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from edgeops.automation.service import Automation
from edgeops.config import Settings, load_settings
from edgeops.data import importing, projects, samples, versions
from edgeops.data.importing import ImportReport, LabelFrom
from edgeops.data.versions import Diff
from edgeops.errors import InvalidInput, NotFound
from edgeops.fleet.service import Fleet
from edgeops.governance import audit, encryption, keys, users
from edgeops.governance.audit import VerifyResult
from edgeops.governance.encryption import DatabaseKeyRing, master_key_path
from edgeops.governance.keys import Principal
from edgeops.monitoring.service import Monitoring
from edgeops.recipes.spec import Recipe
from edgeops.store import db, staging
from edgeops.store.blobs import BlobStore
from edgeops.store.crypt import SealedBlobStore
from edgeops.store.tables import (
    ApiKey,
    AuditEvent,
    DatasetVersion,
    ModelVersion,
    Project,
    Sample,
    User,
)
from edgeops.training import registry


class Workspace:
    """An edgeops installation: a database, a blob store and settings.

    >>> ws = Workspace("/tmp/demo-home")          # SQLite + local blobs, created on first use
    >>> ws.projects.create("pump-vibration")
    >>> ws.data.import_files(["recordings/"])
    >>> ws.data.commit("first field recordings")
    """

    def __init__(
        self,
        home: str | Path | None = None,
        *,
        database_url: str | None = None,
        blob_url: str | None = None,
        create: bool = True,
    ) -> None:
        self.settings: Settings = load_settings(
            home=Path(home) if home is not None else None,
            database_url=database_url,
            blob_url=blob_url,
        )
        local_db = self.settings.database_url is None
        if local_db and not (self.settings.home / "edgeops.db").exists() and not create:
            raise NotFound(
                f"no edgeops workspace at {self.settings.home}: run `edgeops init` here "
                "or point EDGEOPS_HOME at one"
            )
        if local_db or self.settings.blob_url is None:
            self.settings.home.mkdir(parents=True, exist_ok=True)
        self.engine = db.create_db_engine(self.settings.resolved_database_url())
        db.migrate(self.engine)
        self._sessions = db.session_factory(self.engine)
        # Sealed blobs (projects with encryption at rest) open with keys from the database.
        self._keys = DatabaseKeyRing(self.engine, master_key_path(self.settings.home))
        self.blobs: BlobStore = SealedBlobStore(self.settings.resolved_blob_url(), self._keys)
        self.actor = self.settings.user or getpass.getuser()
        self.projects = Projects(self)
        self.data = Data(self)
        self.users = Users(self)
        self.keys = Keys(self)
        self.audit = AuditLog(self)
        self.models = Models(self)
        self.monitoring = Monitoring(self)
        self.fleet = Fleet(self)
        self.automation = Automation(self)
        self.governance = Governance(self)
        self.monitoring.subscribe(self.automation.alert_listener)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that rolls back on error; services commit what they change."""
        with self._sessions() as session:
            yield session

    def train(
        self,
        recipe: "Recipe | str | Path",
        data: str | None = None,
        *,
        project: str | None = None,
        seed: int = 0,
        parent: str | None = None,
        **options: Any,
    ) -> "Model":
        """Train a recipe (object or file) on a dataset version (default: the newest), test it
        and register the model version. `options` go to `edgeops.training.train.train`."""
        from edgeops.recipes.spec import load_recipe_file
        from edgeops.training.train import train

        parsed = recipe if isinstance(recipe, Recipe) else load_recipe_file(Path(recipe))
        version = train(self, parsed, data, project=project, seed=seed, parent=parent, **options)
        return Model(self, version)

    def close(self) -> None:
        self._keys.close()
        self.engine.dispose()

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


class Projects:
    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    def create(self, name: str, description: str = "") -> Project:
        with self._ws.session() as session:
            project = projects.create(session, name, self._ws.actor, description)
            session.commit()
            return project

    def list(self) -> list[Project]:
        with self._ws.session() as session:
            return projects.list_all(session)

    def get(self, name: str | None = None) -> Project:
        with self._ws.session() as session:
            return projects.get(session, name or self._ws.settings.project)


class Data:
    """Samples and dataset versions of a project (the only one, or `project=`)."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    @contextmanager
    def _open(self, project: str | None) -> Iterator[tuple[Session, Project]]:
        with self._ws.session() as session:
            yield session, projects.get(session, project or self._ws.settings.project)

    def import_files(
        self,
        paths: Sequence[str | Path],
        *,
        project: str | None = None,
        label: str | None = None,
        label_from: LabelFrom = "name",
        category: str | None = None,
        hmac_key: str | None = None,
        interval_ms: float | None = None,
        subject_id: str | None = None,
        progress: Any = None,
    ) -> ImportReport:
        with self._open(project) as (session, proj):
            subject = samples.validate_subject(subject_id) if subject_id is not None else None
            blobs = encryption.blobs_for(self._ws, session, proj, subject)
            return importing.import_files(
                session, blobs, proj, [Path(p) for p in paths],
                actor=self._ws.actor, label=label, label_from=label_from, category=category,
                hmac_key=hmac_key, interval_ms=interval_ms, subject_id=subject_id,
                max_bytes=self._ws.settings.max_file_bytes, progress=progress,
            )  # fmt: skip

    def samples(
        self,
        *,
        project: str | None = None,
        label: str | None = None,
        category: str | None = None,
        limit: int | None = None,
    ) -> list[Sample]:
        with self._open(project) as (session, proj):
            return samples.list_samples(session, proj, label=label, category=category, limit=limit)

    def get(self, sample_id: int, *, project: str | None = None) -> Sample:
        with self._open(project) as (session, proj):
            return samples.get(session, proj, sample_id)

    def values(self, sample: Sample | dict[str, Any]) -> np.ndarray:
        """The canonical array of a sample or of a dataset version's manifest entry."""
        content_hash = sample["content_hash"] if isinstance(sample, dict) else sample.content_hash
        with self._ws.session() as session:
            return samples.values(session, self._ws.blobs, content_hash)

    def original(self, sample: Sample | dict[str, Any]) -> bytes:
        """The file exactly as it was imported."""
        digest = sample["original_hash"] if isinstance(sample, dict) else sample.original_hash
        with self._ws.session() as session:
            return staging.read(session, self._ws.blobs, digest)

    def label(self, ids: Sequence[int], label: str, *, project: str | None = None) -> list[Sample]:
        with self._open(project) as (session, proj):
            changed = samples.relabel(session, proj, ids, label, self._ws.actor)
            session.commit()
            return changed

    def move(
        self, ids: Sequence[int], category: str, *, project: str | None = None
    ) -> list[Sample]:
        with self._open(project) as (session, proj):
            moved = samples.move(session, proj, ids, category, self._ws.actor)
            session.commit()
            return moved

    def remove(self, ids: Sequence[int], *, project: str | None = None) -> list[Sample]:
        with self._open(project) as (session, proj):
            removed = samples.remove(session, proj, ids, self._ws.actor)
            session.commit()
            return removed

    def commit(
        self, message: str, *, project: str | None = None, author: str | None = None
    ) -> DatasetVersion:
        with self._open(project) as (session, proj):
            return versions.commit(session, self._ws.blobs, proj, message, author or self._ws.actor)

    def versions(self, *, project: str | None = None) -> list[DatasetVersion]:
        with self._open(project) as (session, proj):
            return versions.list_versions(session, proj)

    def version(self, ref: str, *, project: str | None = None) -> DatasetVersion:
        with self._open(project) as (session, proj):
            return versions.get(session, proj, ref)

    def redactions(self, *, project: str | None = None) -> dict[str, dict[str, Any]]:
        """Version id → its redaction by privacy erasures (see `versions.redactions`)."""
        with self._open(project) as (session, proj):
            return versions.redactions(session, proj.id)

    def read_version(self, ref: str, *, project: str | None = None) -> list[dict[str, Any]]:
        """The samples of a version as committed (labels and categories of then), without the
        samples a privacy erasure removed since."""
        with self._open(project) as (session, proj):
            return versions.read_manifest(session, self._ws.blobs, versions.get(session, proj, ref))

    def diff(self, old: str, new: str, *, project: str | None = None) -> Diff:
        with self._open(project) as (session, proj):
            return versions.diff(
                session,
                self._ws.blobs,
                versions.get(session, proj, old),
                versions.get(session, proj, new),
            )


class Users:
    """People who sign in with a password; their role applies to every project."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    def create(self, name: str, password: str, role: str) -> User:
        with self._ws.session() as session:
            user = users.create_user(session, name, password, role, self._ws.actor)
            session.commit()
            return user

    def list(self) -> list[User]:
        with self._ws.session() as session:
            return users.list_users(session)

    def authenticate(self, name: str, password: str) -> Principal | None:
        with self._ws.session() as session:
            principal = users.authenticate_user(session, name, password)
            session.commit()  # a password hash may have been upgraded
            return principal


class Keys:
    """API keys for programs and devices."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    def create(
        self,
        role: str,
        *,
        project: str | None = None,
        all_projects: bool = False,
        name: str | None = None,
        device_id: str | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret (shown this once). `all_projects` makes an admin key that
        reaches every project; otherwise the key belongs to `project` (or the only one)."""
        if all_projects and project is not None:
            raise InvalidInput("give either a project or all_projects (--all-projects), not both")
        with self._ws.session() as session:
            wanted = project or self._ws.settings.project
            scope = None if all_projects else projects.get(session, wanted)
            key, secret = keys.create_key(
                session, role=role, project=scope, name=name, actor=self._ws.actor,
                device_id=device_id,
            )  # fmt: skip
            session.commit()
            return key, secret

    def list(self, project: str | None = None) -> list[ApiKey]:
        """Every key, or only `project`'s."""
        with self._ws.session() as session:
            scope = projects.get(session, project) if project is not None else None
            return keys.list_keys(session, scope)

    def revoke(self, prefix_or_id: str | int) -> ApiKey:
        with self._ws.session() as session:
            key = keys.revoke(session, prefix_or_id, self._ws.actor)
            session.commit()
            return key

    def authenticate(self, secret: str) -> Principal | None:
        with self._ws.session() as session:
            principal = keys.authenticate_key(session, secret)
            session.commit()  # the key's last use may have been noted
            return principal


class AuditLog:
    """The hash-chained record of every change."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    def events(
        self,
        *,
        project: str | None = None,
        action: str | None = None,
        actor: str | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """The newest events first."""
        with self._ws.session() as session:
            project_id = projects.get(session, project).id if project is not None else None
            return audit.events(session, project_id, limit, action=action, actor=actor)

    def verify(self) -> VerifyResult:
        with self._ws.session() as session:
            return audit.verify(session)


class Governance:
    """Reports on models (fairness, model cards, compliance bundles) and data subjects'
    requests (erasure, export). See `edgeops.governance`."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    def fairness(
        self, model: str, by: str, *, project: str | None = None, threshold: float = 0.1
    ) -> dict[str, Any]:
        from edgeops.governance.fairness import fairness_report

        return fairness_report(self._ws, model, by, project=project, threshold=threshold)

    def model_card(
        self, model: str, *, project: str | None = None, intended_use: str | None = None
    ) -> dict[str, Any]:
        """{"title", "facts", "sections"}; render with edgeops.governance.modelcard.to_markdown."""
        from edgeops.governance.modelcard import model_card

        return model_card(self._ws, model, project=project, intended_use=intended_use)

    def compliance(
        self, model: str, out: str | Path, *, project: str | None = None, by: str | None = None
    ) -> dict[str, Any]:
        from edgeops.governance.compliance import compliance_bundle

        return compliance_bundle(self._ws, model, Path(out), project=project, by=by)

    def erase(
        self, subject: str, *, project: str | None = None, reason: str = ""
    ) -> dict[str, Any]:
        from edgeops.governance.privacy import erase

        return erase(self._ws, subject, project=project, reason=reason)

    def export_subject(
        self, subject: str, out: str | Path, *, project: str | None = None
    ) -> dict[str, Any]:
        from edgeops.governance.privacy import export

        return export(self._ws, subject, Path(out), project=project)


class Model:
    """A registered model version (its fields are the registry row's), ready to predict."""

    def __init__(self, ws: Workspace, version: ModelVersion) -> None:
        self._ws = ws
        self.version = version
        self._predictor: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.version, name)

    def __repr__(self) -> str:
        return f"<Model v{self.version.number} {self.version.name} ({self.version.learner})>"

    def predict(self, samples: Sequence[np.ndarray | int | Sample]) -> list[dict[str, Any]]:
        """Per recording: its label and scores (classifiers), value (regressors), anomaly score.
        A recording is a raw array (steps, axes) at the recipe's rate, or a stored sample."""
        from edgeops.training.predict import Predictor

        if self._predictor is None:
            self._predictor = Predictor(self._ws, self.version)
        results: list[dict[str, Any]] = self._predictor.predict(samples)
        return results


class Models:
    """The model registry of a project: versions, aliases, comparisons."""

    def __init__(self, ws: Workspace) -> None:
        self._ws = ws

    @contextmanager
    def _open(self, project: str | None) -> Iterator[tuple[Session, Project]]:
        with self._ws.session() as session:
            yield session, projects.get(session, project or self._ws.settings.project)

    def list(self, *, project: str | None = None) -> list[dict[str, Any]]:
        with self._open(project) as (session, proj):
            names = registry.aliases(session, proj)
            return [registry.summary(m, names.get(m.id)) for m in registry.list_all(session, proj)]

    def get(self, ref: str, *, project: str | None = None) -> Model:
        with self._open(project) as (session, proj):
            return Model(self._ws, registry.get(session, proj, ref))

    def show(self, ref: str, *, project: str | None = None) -> dict[str, Any]:
        with self._open(project) as (session, proj):
            model = registry.get(session, proj, ref)
            return registry.summary(model, registry.aliases(session, proj).get(model.id))

    def compare(self, a: str, b: str, *, project: str | None = None) -> dict[str, Any]:
        with self._open(project) as (session, proj):
            return registry.compare(registry.get(session, proj, a), registry.get(session, proj, b))

    def alias(self, name: str, ref: str, *, project: str | None = None) -> str | None:
        """Point alias `name` at model `ref`; returns the model it named before, if any."""
        registry.check_alias(name)
        with self._open(project) as (session, proj):
            before = registry.set_alias(session, proj, name, registry.get(session, proj, ref),
                                        self._ws.actor)  # fmt: skip
            session.commit()
            return before
