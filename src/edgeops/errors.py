"""The error hierarchy: every failure a user can cause has a type here and a message that says
what is wrong and how to fix it."""

import pickle


class EdgeopsError(Exception):
    """Base of everything edgeops raises on purpose. `exit_code` follows the CLI contract,
    `http_status` the REST API's."""

    exit_code = 1
    http_status = 500


class InvalidInput(EdgeopsError):
    """The caller gave something malformed, oversized or contradictory (CLI exit code 2)."""

    exit_code = 2
    http_status = 400


class InvalidSample(InvalidInput):
    """A file or payload could not be read as a sample."""


class NotFound(InvalidInput):
    """A named thing (project, sample, dataset version) does not exist."""

    http_status = 404


class Conflict(EdgeopsError):
    """The request is well-formed but clashes with the current state (e.g. nothing to commit)."""

    http_status = 409


class CorruptBlob(EdgeopsError):
    """A stored blob no longer matches its content address."""


class StorageUnavailable(EdgeopsError):
    """The database or blob store refused or could not be reached (credentials, network)."""

    http_status = 503


def portable(exc: Exception) -> Exception:
    """`exc`, or a RuntimeError saying what it was when it cannot be pickled (to cross to
    another process)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
