"""The official Edge Impulse clients, unmodified, pointed at edgeops."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.conftest import Server, key_maker, start_server

from edgeops.server.app import ServerLimits
from edgeops.workspace import Workspace

NODE_MODULES = Path(__file__).parents[2] / ".venv" / "npm" / "node_modules"
FORWARDER = NODE_MODULES / "edge-impulse-linux" / "build" / "library" / "data-forwarder.js"


def test_edgeimpulse_python_sdk_uploads(server: Server, tmp_path: Path) -> None:
    """`edgeimpulse.data.upload_samples`: multipart to /api/{category}/files, unsigned JSON
    labelled application/cbor, and a CSV file."""
    key = server.make_key("data-engineer")
    csv_file = tmp_path / "wave.01.csv"
    csv_file.write_text("timestamp,accX,accY\n0,1,2\n10,3,4\n20,5,6\n")
    script = textwrap.dedent(f"""
        import json, edgeimpulse as ei
        from edgeimpulse.data import upload_samples
        from edgeimpulse.data.sample_type import (
            DataAcquisition, Payload, Protected, Sample, Sensor)
        ei.INGESTION_ENDPOINT = {server.url!r}
        ei.API_KEY = {key!r}
        acquisition = DataAcquisition(
            protected=Protected(ver="v1", alg="none", iat=1700000000),
            signature="",
            payload=Payload(device_name="sdk-dev", device_type="PYTHON", interval_ms=10,
                            sensors=[Sensor(name="temp", units="C")], values=[[1.0], [2.0], [3.0]]),
        )
        samples = [
            Sample(filename="idle.01.json", data=acquisition, category="training", label="idle"),
            Sample(filename="wave.01.csv", data=open({str(csv_file)!r}, "rb"), category="testing",
                   label="wave", metadata={{"site": "lab"}}),
        ]
        response = upload_samples(samples)
        print(json.dumps({{"ok": len(response.successes), "failed": len(response.fails),
                          "errors": [str(f) for f in response.fails]}}))
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"ok": 2, "failed": 0, "errors": []}
    stored = {s.filename: s for s in server.ws.data.samples()}
    assert stored["idle.01.json"].label == "idle" and stored["idle.01.json"].category == "training"
    assert (
        stored["wave.01.csv"].category == "testing" and stored["wave.01.csv"].meta["site"] == "lab"
    )
    assert stored["wave.01.csv"].shape == [3, 2]


@pytest.fixture
def port_4810_server(tmp_path: Path) -> Iterator[Server]:
    """The EI data forwarder talks to localhost on port 4810, always."""
    ws = Workspace(tmp_path / "home")
    project = ws.projects.create("p")
    try:
        running = start_server(ws, ServerLimits(), port=4810)
    except (RuntimeError, OSError, SystemExit):
        pytest.fail("port 4810 is busy; the EI data forwarder test needs it")
    yield Server("http://127.0.0.1:4810", ws, project, key_maker(ws, project))
    running.should_exit = True
    time.sleep(0.1)
    ws.close()


@pytest.mark.skipif(
    not FORWARDER.exists() and not os.environ.get("CI"),
    reason="edge-impulse-linux is not installed (`make test` installs it)",
)
def test_edge_impulse_linux_data_forwarder_uploads(port_4810_server: Server) -> None:
    server = port_4810_server
    assert shutil.which("node"), "node is needed for the EI data forwarder test"
    key = server.make_key("device", device_id="forwarder-1")
    script = textwrap.dedent(f"""
        const {{ DataForwarder }} = require({str(FORWARDER)!r});
        const forwarder = new DataForwarder({{
            deviceId: 'forwarder-1', deviceType: 'LINUX', host: 'localhost',
            sensors: [{{ name: 'accX', units: 'm/s2' }}, {{ name: 'accY', units: 'm/s2' }}],
            intervalMs: 10, hmacKey: {server.project.hmac_key!r}, apiKey: {key!r},
        }});
        for (let i = 0; i < 50; i++) forwarder.addData([Math.sin(i / 5), Math.cos(i / 5)]);
        forwarder.upload({{ filename: 'wave.01.json', label: 'wave', category: 'training' }})
            .then(body => console.log('OK ' + body))
            .catch(err => {{ console.error('FAILED ' + err); process.exit(1); }});
    """)
    result = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    [sample] = server.ws.data.samples()
    assert (sample.label, sample.category, sample.device_id) == ("wave", "training", "forwarder-1")
    assert sample.shape == [50, 2] and sample.meta["signature"] == "verified"
