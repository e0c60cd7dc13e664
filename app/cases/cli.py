"""``flask cases …``: the workflow diagram."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.cases import diagram, workflow

group = AppGroup("cases", help="The case workflow.")


@group.command("diagram")
@click.option("--markdown", is_flag=True, help="The whole docs/case-workflow.md page.")
def print_diagram(markdown):
    """Print the workflow's Mermaid state diagram, generated from the code."""
    click.echo(diagram.markdown() if markdown else workflow.mermaid(), nl=False)
