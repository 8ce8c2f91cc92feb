"""Client-side pieces for devices: a `tuf.ngclient` fetcher that authenticates with the device
key, and the URLs of a project's TUF repository on a server."""

from collections.abc import Iterator

import urllib3
from tuf.api import exceptions
from tuf.ngclient import FetcherInterface


def metadata_url(server: str, project: str) -> str:
    return f"{server.rstrip('/')}/api/v1/projects/{project}/tuf/metadata/"


def targets_url(server: str, project: str) -> str:
    return f"{server.rstrip('/')}/api/v1/projects/{project}/tuf/targets/"


class KeyFetcher(FetcherInterface):
    """Fetches over HTTP(S) with `x-api-key: <device key>`. Length limits and verification are
    ngclient's: this only moves bytes."""

    def __init__(self, key: str, timeout_s: float = 30.0, chunk_size: int = 64 * 1024) -> None:
        self._pool = urllib3.PoolManager(headers={"x-api-key": key})
        self._timeout = urllib3.Timeout(timeout_s)
        self._chunk_size = chunk_size

    def _fetch(self, url: str) -> Iterator[bytes]:
        response = self._pool.request(
            "GET", url, preload_content=False, timeout=self._timeout, retries=False
        )
        if response.status >= 400:
            # Read the error body before the connection goes back to the pool: left unread, it
            # would be taken for the start of the next response on that connection.
            response.drain_conn()
            response.release_conn()
            raise exceptions.DownloadHTTPError(f"HTTP {response.status} for {url}", response.status)
        return self._chunks(response)

    def _chunks(self, response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
        complete = False
        try:
            yield from response.stream(self._chunk_size)
            complete = True
        finally:
            if not complete:  # ngclient stopped reading (too long): never reuse the connection
                response.close()
            response.release_conn()
