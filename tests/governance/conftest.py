"""The server tests' fixtures, for the governance tests that talk HTTP."""

from tests.server.conftest import server, server_limits

__all__ = ["server", "server_limits"]
