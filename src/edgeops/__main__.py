"""`python -m edgeops`: the same as the `edgeops` command."""

from edgeops.cli.main import app

app(prog_name="edgeops")
