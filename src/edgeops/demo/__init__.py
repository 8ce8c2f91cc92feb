"""`edgeops demo`: the lifecycle on real data, run through the real CLI, in a folder of its own."""

import json
import shlex
import shutil
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from rich.console import Console

from edgeops.data.formats.ei import sign_ei

if TYPE_CHECKING:
    from edgeops.demo.loop import Loop

HMAC_KEY = "demo-hmac-key"
RECIPE = """\
name: basic-motions
input:
  kind: timeseries
  axes: [accX, accY, accZ, gyrX, gyrY, gyrZ]
  frequency_hz: 10
  window_ms: 5000
  stride_ms: 2500
  zero_pad: false
features:
  - name: spectral
    params: {fft_length: 32, bands: 4, peaks: 3}
  - name: flatten
learner:
  name: nn-classifier
  params: {layers: [{dense: 20}, {dense: 10}], epochs: 30}
"""
NN_LEARNER = "name: nn-classifier\n  params: {layers: [{dense: 20}, {dense: 10}], epochs: 30}"
TREES_LEARNER = "name: trees\n  params: {trees: 20, max_depth: 6}"
TREES = {"name": "trees", "params": {"trees": 20, "max_depth": 6}}  # the same, as data
MARKER = ".edgeops-demo"
SENSORS = [
    {"name": "accX", "units": "m/s2"},
    {"name": "accY", "units": "m/s2"},
    {"name": "accZ", "units": "m/s2"},
    {"name": "gyrX", "units": "deg/s"},
    {"name": "gyrY", "units": "deg/s"},
    {"name": "gyrZ", "units": "deg/s"},
]


def basic_motions() -> tuple[np.ndarray, np.ndarray]:
    """BasicMotions (see README.md here): recordings (80, 100 steps, 6 axes) and labels."""
    with resources.files(__package__).joinpath("basic_motions.npz").open("rb") as handle:
        archive = np.load(handle)
        return archive["X"].transpose(0, 2, 1).copy(), archive["y"].astype(str)


def write_recordings(folder: Path) -> list[Path]:
    """The 80 recordings as signed Edge Impulse JSON files, as a watch's firmware sends them."""
    folder.mkdir(parents=True, exist_ok=True)
    recordings, labels = basic_motions()
    paths = []
    for index, (values, label) in enumerate(zip(recordings, labels, strict=True)):
        payload = {
            "device_name": f"watch-{index % 4 + 1}",
            "device_type": "SMARTWATCH",
            "interval_ms": 100,
            "sensors": SENSORS,
            "values": values.tolist(),
        }
        path = folder / f"{label.lower()}.{index:02d}.json"
        path.write_bytes(sign_ei(payload, HMAC_KEY))
        paths.append(path)
    return paths


def _damage(paths: list[Path]) -> None:
    """Two broken files among the good ones, as happens in the field."""
    tampered = json.loads(paths[0].read_bytes())
    tampered["payload"]["values"][0][0] += 1.0
    (paths[0].parent / "running.tampered.json").write_text(json.dumps(tampered))
    (paths[0].parent / "walking.truncated.json").write_bytes(paths[1].read_bytes()[:300])


def recipe_from_template(template: str, learner: dict[str, Any] | None = None) -> str:
    """The `motion` template, fitted to the watch: its six axes at 10 Hz, 5 s windows."""
    recipe = yaml.safe_load(template)
    recipe["name"] = "basic-motions"
    recipe["input"].update(axes=[s["name"] for s in SENSORS], frequency_hz=10, window_ms=5000,
                           stride_ms=2500, zero_pad=False)  # fmt: skip
    recipe["features"][0]["params"]["fft_length"] = 32
    if learner is not None:
        recipe["learner"] = learner
    return str(yaml.safe_dump(recipe, sort_keys=False))


def run(folder: Path, console: Console, invoke: Callable[[list[str]], int], *,
        serve: bool = True, devices: int = 50) -> None:  # fmt: skip
    """Run the demo in `folder` (wiped first if an earlier demo made it); with `serve`, leave
    the server running at the end until Ctrl-C."""
    if folder.exists():
        if not (folder / MARKER).exists():
            raise SystemExit(f"{folder} exists and is not a demo folder; pick another --home")
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).touch()
    home, recordings = folder / "home", folder / "recordings"

    def step(title: str, *args: str) -> int:
        console.rule(f"[bold]{title}")
        console.print(f"$ edgeops {shlex.join(args)}", style="cyan", highlight=False)
        return invoke(["--home", str(home), *args])

    paths = write_recordings(recordings)
    _damage(paths)
    console.print(
        f"wrote {len(paths)} signed Edge Impulse files (BasicMotions, a real smartwatch study) "
        f"and 2 damaged ones to {recordings}"
    )
    step("1. a workspace and a project", "init", "--project", "basic-motions")
    from edgeops.demo.loop import Loop

    loop = Loop(folder, home, console, invoke, devices, serve)
    loop.launch()  # the server starts in the background while the data and training steps run
    try:
        trees = _lifecycle(folder, home, console, invoke, step)
        _close_the_loop(folder, console, loop, trees)
    finally:
        loop.stop_server()


def _lifecycle(folder: Path, home: Path, console: Console, invoke: Callable[[list[str]], int],
               step: Callable[..., int]) -> Path:  # fmt: skip
    """Steps 2-25: data in, versions, a device over HTTP, audit, recipes, training, the
    registry; returns the production model's recipe."""
    recordings = folder / "recordings"
    code = step("2. import, verifying signatures; damaged files are reported, good ones kept",
                "data", "import", str(recordings), "--hmac-key", HMAC_KEY)  # fmt: skip
    console.print(f"(exit code {code}: 2 means some files were rejected)", style="dim")
    step("3. what came in", "data", "list", "--limit", "8")
    step("4. snapshot an immutable dataset version", "data", "commit", "-m", "BasicMotions v1")
    step("5. a reviewer relabels two recordings", "data", "label", "3", "4", "--label", "walking")
    step("6. and moves one to the test set", "data", "move", "6", "--category", "testing")
    step("7. a second version", "data", "commit", "-m", "review: relabel 3 and 4, test on 6")
    step("8. history", "data", "versions")
    versions = _version_ids(invoke, home)
    step("9. what changed", "data", "diff", versions[1], versions[0])
    step("10. the first version still reads back as it was", "data", "list",
         "--version", versions[1], "--limit", "6")  # fmt: skip
    ids = _collect_from_a_device(home, console)
    step("14. a sample that came over HTTP", "data", "show", str(ids[-1]))
    step("15. who did what, hash-chained", "audit", "log", "--limit", "6")
    step("16. nobody edited the log", "audit", "verify")
    template = folder / "motion-template.yaml"
    step("17. a recipe from the `motion` template", "recipe", "new", "--template", "motion",
         "--out", str(template))  # fmt: skip
    recipe = folder / "basic-motions.yaml"
    recipe.write_text(recipe_from_template(template.read_text()))
    console.rule("[bold]    fitted to the watch: 5 s windows of the six axes at 10 Hz")
    console.print(recipe.read_text(), highlight=False, markup=False)
    step("18. valid, and versioned by its hash", "recipe", "validate", str(recipe))
    step("19. features of version 1, and how well they separate the labels",
         "features", "explore", "--recipe", str(recipe), "--version", versions[1],
         "--out", str(folder / "features.png"))  # fmt: skip
    console.print(f"open {folder / 'features.png'} to see the classes", style="bold")
    step("20. train the recipe on version 1 and test it on the held-out 20%",
         "train", "--recipe", str(recipe), "--data", versions[1], "--seed", "1",
         "--plot", str(folder / "confusion.png"))  # fmt: skip
    trees = folder / "basic-motions-trees.yaml"
    trees.write_text(recipe_from_template(template.read_text(), TREES))
    step("21. a random forest on the reviewed version 2, following v1",
         "train", "--recipe", str(trees), "--data", versions[0], "--parent", "v1")  # fmt: skip
    step("22. the registry, with lineage", "models", "list")
    step("23. v1 against v2", "models", "compare", "v1", "v2")
    step("24. v2 goes to production (audited)", "models", "alias", "production", "v2")
    step("25. re-test production on version 1's test split", "test", "production",
         "--data", versions[1])  # fmt: skip
    console.print(f"open {folder / 'confusion.png'} for the confusion matrix", style="bold")
    return trees


def _close_the_loop(folder: Path, console: Console, loop: "Loop", recipe: Path) -> None:
    from edgeops.demo import report

    recordings, labels = basic_motions()
    journal = loop.run(recordings, labels, recipe)
    page = report.write(folder, journal, loop.url if loop.serve else None)
    console.rule("[bold]the loop is closed")
    report.print_summary(console, journal)
    console.print(f"report: {page}", style="bold", highlight=False)
    if not loop.serve:
        return
    console.print(f"the server and the studio stay up at [bold]{loop.url}[/] — Ctrl-C to stop")
    console.print(f"  sign in to the studio as [bold]demo[/], password {loop.password}",
                  highlight=False, soft_wrap=True)  # fmt: skip
    console.print(f"  API key (admin): {loop.admin['x-api-key']}", highlight=False, soft_wrap=True)
    try:
        assert loop.server is not None
        loop.server.wait()
    except KeyboardInterrupt:
        console.print("stopping the server")


def _collect_from_a_device(home: Path, console: Console) -> list[int]:
    """Steps 11-13: a device key, the server, and a watch streaming over EI's ingestion API."""
    import httpx
    import uvicorn

    from edgeops.server.app import create_app
    from edgeops.workspace import Workspace

    console.rule("[bold]11. a key for one device (its secret is shown once)")
    console.print(
        "$ edgeops keys create --project basic-motions --role device --device watch-9",
        style="cyan", highlight=False,
    )  # fmt: skip
    with Workspace(home, create=False) as ws:
        _, secret = ws.keys.create("device", project="basic-motions", name="watch-9",
                                   device_id="watch-9")  # fmt: skip
        hmac_key = ws.projects.get("basic-motions").hmac_key
        console.print(f"device key {secret[:16]}… (stored hashed; shown once)")

        console.rule("[bold]12. the server: REST API and Edge Impulse-compatible ingestion")
        server = uvicorn.Server(uvicorn.Config(create_app(ws), port=0, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        console.print(f"$ edgeops serve --port {port}", style="cyan", highlight=False)

        console.rule("[bold]13. the watch streams 5-second windows, signed with the project key")
        recordings, labels = basic_motions()
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"x-api-key": secret}
        ) as http:
            for index in range(5):
                payload = {"device_name": "watch-9", "device_type": "SMARTWATCH",
                           "interval_ms": 100, "sensors": SENSORS,
                           "values": (recordings[index][:50] * 1.01).tolist()}  # fmt: skip
                answer = http.post("/api/training/data", content=sign_ei(payload, hmac_key),
                                   headers={"x-file-name": f"watch.{index}.json",
                                            "x-label": labels[index].lower()})  # fmt: skip
                if index == 0:
                    console.print(
                        "$ curl -X POST http://127.0.0.1:PORT/api/training/data "
                        "-H 'x-api-key: …' -H 'x-file-name: watch.0.json' "
                        f"-H 'x-label: {labels[0].lower()}' --data-binary @watch.0.json",
                        style="cyan", highlight=False,
                    )  # fmt: skip
                console.print(f"  {answer.status_code} {answer.text}")
        server.should_exit = True
        thread.join(timeout=10)
        console.print("each 200 came after the sample was committed and its bytes synced")
        return [s.id for s in ws.data.samples() if s.source.startswith("http")]


def _version_ids(invoke: Callable[[list[str]], int], home: Path) -> list[str]:
    from edgeops.workspace import Workspace

    with Workspace(home, create=False) as ws:
        return [version.id[:12] for version in ws.data.versions()]
