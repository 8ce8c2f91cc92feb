"""Settings: where a workspace keeps its database and blobs, from EDGEOPS_* variables."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path(".edgeops")


class Settings(BaseSettings):
    """One workspace's settings.

    The home defaults to `./.edgeops` (like `.git`): a workspace belongs to the folder you work
    in, so two projects on one laptop never share state by accident and a test or a demo runs in
    its own temporary home by setting one variable.
    """

    model_config = SettingsConfigDict(env_prefix="EDGEOPS_", extra="ignore")

    home: Path = DEFAULT_HOME
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default is a SQLite file in the home"
    )
    blob_url: str | None = Field(
        None, description="fsspec URL of the blob store; default is a folder in the home"
    )
    project: str | None = Field(None, description="project used when a command names none")
    user: str | None = Field(None, description="name recorded in the audit log; default: login")
    executor: str | None = Field(
        None,
        description="where heavy per-item work runs: unset or 'local' (a process pool), "
        "or a Dask scheduler as dask://host:port",
    )
    max_file_bytes: int = Field(
        50 * 1024 * 1024, gt=0, description="largest file an importer reads"
    )

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'edgeops.db').resolve()}"

    def resolved_blob_url(self) -> str:
        return self.blob_url or str((self.home / "blobs").resolve())


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides (None means 'not given')."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)  # type: ignore[arg-type]
