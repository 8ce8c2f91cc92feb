"""Doc snippets: the ```console blocks of docs/*.md parsed into commands and expected output.

The grammar, kept small so a guide stays plain Markdown on any code host:

- A ```console block holds commands (`$ edgeops ...`, continued by a trailing backslash) each
  followed by what it prints, as much or as little as the guide shows. Output lines are matched
  loosely: table borders and runs of spaces are ignored, `...` stands for anything, and each
  shown line must appear in what the command printed.
- `<!-- snippet: server -->` just before a block: an `edgeops serve` runs beside it, on a free
  port that replaces 4810 in the block's commands.
- `<!-- snippet: file NAME -->` just before any fenced block: its text is written to NAME.
- Other blocks (```bash, ```yaml, ```c ...) are shown, not run.
"""

import re
from dataclasses import dataclass, field

FENCE = re.compile(r"^```(\S*)\s*$")
DIRECTIVE = re.compile(r"^<!--\s*snippet:\s*(\w+)\s*(.*?)\s*-->\s*$")
BOX = re.compile(
    r"[─━│┃┄┅┆┇┈┉┊┋┌┍┎┏┐┑┒┓└┕┖┗┘┙┚┛├┝┞┟┠┡┢┣┤┥┦┧┨┩┪┫┬┭┮┯┰┱┲┳┴┵┶┷┸┹┺┻┼┽┾┿╀╁╂╃╄╅╆╇╈╉╊╋╭╮╯╰]"
)


@dataclass
class Command:
    """One `$ ...` line (continuations joined) and the output lines the guide shows for it."""

    line: int
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    """A fenced block to act on: a console block to run, or a file to write."""

    line: int
    kind: str  # "console" or "file"
    server: bool = False
    path: str = ""
    text: str = ""
    commands: list[Command] = field(default_factory=list)


def parse(markdown: str) -> list[Block]:
    """The runnable blocks of a guide, in order."""
    blocks: list[Block] = []
    directive: tuple[str, str] | None = None
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        found = DIRECTIVE.match(line.strip())
        fence = FENCE.match(line)
        if found:
            directive = (found.group(1), found.group(2))
        elif fence:
            end = index + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            body = lines[index + 1 : end]
            if directive and directive[0] == "file":
                blocks.append(Block(index + 1, "file", path=directive[1], text="\n".join(body)))
            elif fence.group(1) == "console":
                server = directive is not None and directive[0] == "server"
                blocks.append(Block(index + 1, "console", server, commands=_commands(index, body)))
            directive = None
            index = end
        elif line.strip():
            directive = None
        index += 1
    return blocks


def _commands(start: int, body: list[str]) -> list[Command]:
    commands: list[Command] = []
    continuing = False
    for offset, line in enumerate(body, start=start + 2):
        if continuing:
            commands[-1].text = commands[-1].text[:-1].rstrip() + " " + line.strip()
        elif line.startswith("$ "):
            commands.append(Command(offset, line[2:].strip()))
        elif commands and line.strip():
            commands[-1].expected.append(line)
        continuing = bool(commands) and commands[-1].text.endswith("\\")
    return commands


def normalize(text: str) -> str:
    """A line without table borders and with single spaces."""
    return " ".join(BOX.sub(" ", text).split())


def missing_lines(expected: list[str], output: str) -> list[str]:
    """The expected lines that no line of the output matches (`...` matches anything)."""
    actual = [normalize(line) for line in output.splitlines()]
    flat = " ".join(actual)
    missing = []
    for line in expected:
        wanted = normalize(line)
        if not wanted:
            continue
        pattern = re.compile(".*?".join(re.escape(part.strip()) for part in wanted.split("...")))
        if not any(pattern.search(candidate) for candidate in actual) and not pattern.search(flat):
            missing.append(line)
    return missing
