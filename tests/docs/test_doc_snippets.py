"""Every command the guides in docs/ show runs, in order, in a fresh folder: the docs cannot rot.

Plain `edgeops ...` lines run in this process (the CLI's own entry point, as fast as a function
call); lines with shell syntax (pipes, `$(...)`, assignments) run in bash with the virtualenv
first on PATH. Variables a snippet assigns are kept for the guide's next commands. The grammar
is described in tests/docs/snippets.py.
"""

import io
import os
import re
import runpy
import shlex
import socket
import string
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.docs.snippets import Block, missing_lines, parse
from typer.testing import CliRunner

from edgeops.cli import context
from edgeops.cli.main import app

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = sorted(
    path.name
    for path in DOCS.glob("*.md")
    if any(block.kind == "console" for block in parse(path.read_text(encoding="utf-8")))
)
CAPTURE = re.compile(r"^(\w+)=\$\((edgeops [^|()`;&<>]*)((?:\|[^|()`;&<>]+)*)\)$")
PYTHON = re.compile(
    r"""^python (?:-c "(?P<code>[^"$`\\]*)"(?: > (?P<out>[\w.-]+))?|(?P<script>[\w.-]+\.py))$"""
)
ECHO_PIPE = re.compile(r"""^echo ("[^"$`]*"|'[^']*') \| (edgeops .*)$""")
SHELL_SYNTAX = re.compile(r"[|&;<>`()]|^\w+=")
VENV_BIN = str(Path(sys.executable).parent)
KEPT_OUT = {"PWD", "OLDPWD", "SHLVL", "_"}


def test_the_guides_have_snippets() -> None:
    assert {
        "quickstart.md",
        "data-engineer.md",
        "data-scientist.md",
        "ml-engineer.md",
        "operator.md",
        "admin.md",
        "scaling.md",
        "device.md",
    } <= set(GUIDES)


@pytest.mark.slow
@pytest.mark.parametrize("guide", GUIDES)
def test_guide_commands_run(guide: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("EDGEOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setattr(context.console, "width", 250)
    monkeypatch.setattr(context.errors, "width", 250)
    monkeypatch.chdir(tmp_path)
    guide_run = GuideRun(tmp_path)
    with ExitStack() as server:
        port = None
        for block in parse((DOCS / guide).read_text(encoding="utf-8")):
            if block.kind == "file":
                (tmp_path / block.path).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / block.path).write_text(block.text + "\n", encoding="utf-8")
                continue
            if block.server and port is None:  # one server for consecutive server blocks
                port = server.enter_context(serving(tmp_path, guide_run.variables))
            elif not block.server and port is not None:
                server.close()
                port = None
            for command in block.commands:
                text = command.text.replace(":4810", f":{port}") if port else command.text
                started = time.monotonic()
                code, output = guide_run.run(text)
                print(f"[{time.monotonic() - started:5.1f} s] $ {text}")
                place = f"docs/{guide}:{command.line}: $ {text}"
                assert code == 0, f"{place}\nexit code {code}\n{output[-3000:]}"
                missing = missing_lines(command.expected, output)
                assert not missing, f"{place}\nnot in the output: {missing}\n{output[-3000:]}"


class GuideRun:
    """The commands of one guide, sharing a folder and the variables they set."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.variables: dict[str, str] = {}
        self.runner = CliRunner()

    def run(self, command: str) -> tuple[int, str]:
        captured = CAPTURE.match(command)
        if captured:  # NAME=$(edgeops ... | filter): the edgeops part here, the filter in bash
            name, inner, filters = captured.groups()
            code, output = self._edgeops(inner, stdout_only=True)
            if code == 0 and filters.strip():
                done = subprocess.run(["bash", "-c", filters.strip().lstrip("|")], input=output,
                                      capture_output=True, text=True, timeout=60)  # fmt: skip
                code, output = done.returncode, done.stdout + done.stderr
            self.variables[name] = output.rstrip("\n")
            return code, output
        python = PYTHON.match(command)
        if python:
            return self._python(python["code"], python["script"], python["out"])
        piped = ECHO_PIPE.match(command)  # echo "text" | edgeops ...: the text on stdin
        if piped and not SHELL_SYNTAX.search(piped.group(2)):
            return self._edgeops(piped.group(2), stdin=shlex.split(piped.group(1))[0] + "\n")
        if SHELL_SYNTAX.search(command) or not command.startswith("edgeops "):
            return self._bash(command)
        return self._edgeops(command)

    def _edgeops(
        self, command: str, stdout_only: bool = False, stdin: str | None = None
    ) -> tuple[int, str]:
        expanded = string.Template(command).safe_substitute(self.variables)
        arguments = shlex.split(expanded)[1:]
        result = self.runner.invoke(app, arguments, env=self.variables, input=stdin)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout if stdout_only else result.output

    def _python(self, code: str | None, script: str | None, out: str | None) -> tuple[int, str]:
        """`python -c "..." [> file]` or `python script.py` in this process: the same
        interpreter as the virtualenv's, without paying for its start and imports each time."""
        printed = io.StringIO()
        try:
            with redirect_stdout(printed):
                if script is not None:
                    runpy.run_path(script, run_name="__main__")
                else:
                    exec(compile(code or "", "<doc snippet>", "exec"), {"__name__": "__main__"})
        except SystemExit as exc:
            return (exc.code if isinstance(exc.code, int) else 1), printed.getvalue()
        except Exception:
            return 1, printed.getvalue() + traceback.format_exc()
        if out is not None:
            (self.folder / out).write_text(printed.getvalue(), encoding="utf-8")
            return 0, ""
        return 0, printed.getvalue()

    def _bash(self, command: str) -> tuple[int, str]:
        state = self.folder / ".snippet-env"
        env = {**os.environ, **self.variables, "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
        script = f'set -a\n{command}\n__code=$?\nenv -0 > "{state}"\nexit $__code\n'
        done = subprocess.run(
            ["bash", "-c", script], cwd=self.folder, env=env, capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip
        if state.exists():
            for entry in state.read_text().split("\0"):
                name, _, value = entry.partition("=")
                if name and name not in KEPT_OUT and env.get(name) != value:
                    self.variables[name] = value
            state.unlink()
        return done.returncode, done.stdout + done.stderr


@contextmanager
def serving(folder: Path, variables: dict[str, str]) -> Iterator[int]:
    """`edgeops serve` on the guide's workspace, on a free port, for one block."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    log = (folder / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "edgeops", "serve", "--port", str(port)],
        cwd=folder, env={**os.environ, **variables}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (folder / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "edgeops serve did not start within 90 s"
            time.sleep(0.2)
        # The server runs its fleet and monitor schedulers once at start; a device checking in
        # during that first step once failed to fetch TUF metadata (reported, not papered over
        # in the guides: they show one agent round, as a person trying it would).
        time.sleep(3)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_parse_reads_commands_output_and_directives() -> None:
    markdown = (
        "Intro\n\n<!-- snippet: file r.yaml -->\n```yaml\nname: x\n```\n\n"
        "```console\n$ edgeops data list \\\n    --json\n[\n$ edgeops data versions\n```\n\n"
        "<!-- snippet: server -->\n\n```console\n$ curl localhost:4810/healthz\n```\n"
        "```bash\nedgeops agent run\n```\n"
    )
    blocks: list[Block] = parse(markdown)
    assert [(b.kind, b.server) for b in blocks] == [
        ("file", False), ("console", False), ("console", True),
    ]  # fmt: skip
    assert blocks[0].path == "r.yaml" and blocks[0].text == "name: x"
    first, second = blocks[1].commands
    assert first.text == "edgeops data list --json" and first.expected == ["["]
    assert second.text == "edgeops data versions" and second.expected == []


def test_expected_lines_match_loosely() -> None:
    output = "┃ id ┃ label     ┃\n│ 1  │ badminton │\ndataset version 3f2a9c · 80 samples\n"
    assert missing_lines(["│ 1 │ badminton │", "dataset version ... · 80 samples"], output) == []
    assert missing_lines(["81 samples"], output) == ["81 samples"]


LINK = re.compile(r"\]\(([^)#\s]+\.md)(#[^)\s]*)?\)")


def test_links_between_pages_resolve() -> None:
    """Every relative link to a page (and an anchor in it) names one that exists."""
    broken = []
    for page in sorted(DOCS.glob("*.md")):
        for target, anchor in LINK.findall(page.read_text(encoding="utf-8")):
            if target.startswith("http"):
                continue
            linked = (page.parent / target).resolve()
            if not linked.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and anchor[1:] not in _anchors(linked.read_text(encoding="utf-8")):
                broken.append(f"{page.name}: {target}{anchor}")
    assert not broken


def _anchors(markdown: str) -> set[str]:
    """The anchors a code host makes of headings: lower case, punctuation dropped, - for spaces."""
    headings = re.findall(r"^#+\s+(.*)$", markdown, flags=re.MULTILINE)
    return {
        re.sub(r"[^\w\- ]", "", heading).strip().lower().replace(" ", "-") for heading in headings
    }


# Lines as guides write them: starting with a letter or digit (not `$`, not a directive).
line_text = st.from_regex(
    r"[A-Za-z0-9][A-Za-z0-9 .,:/=|'\"{}()\[\]<>é→·…-]{0,24}", fullmatch=True
).map(str.rstrip)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # a shared, loaded CI box
@given(st.lists(st.tuples(line_text, st.lists(line_text, max_size=3)), min_size=1, max_size=4))
def test_parse_round_trips_any_console_block(session: list[tuple[str, list[str]]]) -> None:
    body = "".join(
        f"$ {command}\n" + "".join(f"{line}\n" for line in out) for command, out in session
    )
    (block,) = parse(f"Some text\n\n```console\n{body}```\n")
    assert [(c.text, c.expected) for c in block.commands] == session
