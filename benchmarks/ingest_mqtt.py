"""Ingest signed Edge Impulse messages over MQTT through a real mosquitto into a fresh workspace.

Prints JSON: messages/s acknowledged by the bridge (first publish to last ack, each ack sent only
once its sample is committed) beside the broker's raw round trip for the same messages with no
bridge (a plain subscriber that acknowledges at once and echoes to the ack topic), and their
ratio. Each message is a signed 1-second, 3-axis recording at 100 Hz (100 rows), published with
QoS 1 by 4 publisher threads for 100 devices; the publishers and the ack counter run in a child
process, as devices would be on other machines. Target: >= 3,000 messages/s acknowledged.

    .venv/bin/python benchmarks/ingest_mqtt.py [--count 5000] [--database-url URL]
"""

import argparse
import json
import multiprocessing
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgeops.data.formats.ei import sign_ei
from edgeops.data.ingest import Ingestor
from edgeops.server.mqtt import SUBSCRIPTIONS, MqttBridge, ack_topic, data_topic

MOSQUITTO = "/usr/sbin/mosquitto"
PUBLISHERS = 4
DEVICES = 100
TARGET = 3000
TIMEOUT_S = 600.0  # the whole run gives up after this long


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mosquitto(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 1000000\n"
    )
    process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.02)
    process.kill()
    raise SystemExit("mosquitto did not start")


def messages(count: int, key: str, devices: int) -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    sensors = [{"name": f"acc{axis}", "units": "m/s2"} for axis in "XYZ"]
    result = []
    for index in range(count):
        values = rng.normal(size=(100, 3)).astype(np.float32).round(4)
        payload = {"device_name": "bench", "device_type": "BENCH", "interval_ms": 10,
                   "sensors": sensors, "values": values.tolist()}  # fmt: skip
        result.append((data_topic("bench", f"dev-{index % devices}"), sign_ei(payload, key)))
    return result


def client(port: int, client_id: str = "") -> paho.Client:
    mqtt = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    mqtt.max_inflight_messages_set(200)
    mqtt.connect("127.0.0.1", port)
    mqtt.loop_start()
    return mqtt


def load(port: int, batch: list[tuple[str, bytes]], result: Any) -> None:
    """Child process: count acks on the ack topic while 4 threads publish `batch`."""
    done, lock, counts = threading.Event(), threading.Lock(), {"ok": 0, "failed": 0}
    timing: dict[str, float] = {}
    subscribed = threading.Event()

    def on_ack(_client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        ok = json.loads(message.payload).get("ok") is True
        with lock:
            counts["ok" if ok else "failed"] += 1
            if counts["ok"] + counts["failed"] == len(batch):
                timing["last_ack"] = time.perf_counter()
                done.set()

    acks = client(port)
    acks.on_message = on_ack
    acks.on_subscribe = lambda *_: subscribed.set()
    acks.subscribe(ack_topic("bench", "+"), qos=1)
    subscribed.wait(5)

    def publish(first: int) -> None:
        mqtt = client(port)
        infos = [mqtt.publish(topic, data, qos=1) for topic, data in batch[first::PUBLISHERS]]
        for info in infos:
            info.wait_for_publish(TIMEOUT_S)
        mqtt.disconnect()
        mqtt.loop_stop()

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(PUBLISHERS)]
    timing["first_publish"] = time.perf_counter()
    for thread in threads:
        thread.start()
    finished = done.wait(TIMEOUT_S)
    for thread in threads:
        thread.join(5)
    acks.disconnect()
    acks.loop_stop()
    seconds = (timing["last_ack"] if finished else time.perf_counter()) - timing["first_publish"]
    result.put({"seconds": seconds, "finished": finished, **counts})


def run_load(port: int, batch: list[tuple[str, bytes]]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    result = context.Queue()
    child = context.Process(target=load, args=(port, batch, result))
    child.start()
    outcome: dict[str, Any] = result.get(timeout=TIMEOUT_S + 30)
    child.join(10)
    return outcome


def echo(port: int) -> paho.Client:
    """The broker alone: acknowledge at once and echo an ack, no storage."""
    subscribed = threading.Event()

    def on_message(mqtt: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        _, project, device, *_ = message.topic.split("/")
        mqtt.publish(ack_topic(project, device), b'{"ok": true, "sample_id": 0}', qos=1)

    mqtt = client(port, "bench-echo")
    mqtt.on_message = on_message
    mqtt.on_subscribe = lambda *_: subscribed.set()
    mqtt.subscribe([(topic, 1) for topic in SUBSCRIPTIONS])
    subscribed.wait(5)
    return mqtt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--devices", type=int, default=DEVICES, help="distinct device ids")
    parser.add_argument("--database-url", default=None, help="default: SQLite in the home")
    args = parser.parse_args()
    from edgeops.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="edgeops-bench-") as tmp:
        broker, port = start_mosquitto(Path(tmp))
        try:
            with Workspace(Path(tmp) / "home", database_url=args.database_url) as ws:
                key = ws.projects.create("bench").hmac_key
                batch = messages(args.count, key, args.devices)
                backend = ws.engine.dialect.name

                echoer = echo(port)
                raw = run_load(port, batch)
                echoer.disconnect()
                echoer.loop_stop()

                ingestor = Ingestor(ws._sessions, ws.blobs)
                bridge = MqttBridge(ws, ingestor, f"mqtt://127.0.0.1:{port}")
                bridge.start()
                bridged = run_load(port, batch)
                bridge.stop()
                ingestor.close()
                stored = len(ws.data.samples(project="bench"))
        finally:
            broker.terminate()
            broker.wait(10)

    bridged_rate = bridged["ok"] / bridged["seconds"]
    raw_rate = (raw["ok"] + raw["failed"]) / raw["seconds"]
    print(json.dumps({
        "benchmark": "ingest_mqtt",
        "messages": args.count,
        "rows_per_message": 100,
        "publisher_threads": PUBLISHERS,
        "devices": args.devices,
        "backend": backend,
        "bridge_acknowledged_messages_per_s": round(bridged_rate, 1),
        "bridge_acks": {"ok": bridged["ok"], "failed": bridged["failed"]},
        "samples_stored": stored,
        "broker_raw_round_trip_messages_per_s": round(raw_rate, 1),
        "ratio_bridge_vs_raw": round(bridged_rate / raw_rate, 4),
        "target_messages_per_s": TARGET,
        "meets_target": bridged["finished"] and bridged_rate >= TARGET,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
