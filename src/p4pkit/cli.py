"""The `p4p` command line. Thin: each verb parses its options, calls one public function and renders
the result. User mistakes (`UserError`) become a readable message and exit code 2."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from p4pkit import __version__
from p4pkit.errors import UserError

app = typer.Typer(
    name="p4p",
    help="p4pkit: run pay-for-performance programs end to end, with fairness safeguards.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """p4pkit: run pay-for-performance programs end to end, with fairness safeguards."""


cms_app = typer.Typer(help="Reproduce CMS programs from CMS's public files.", no_args_is_help=True)
app.add_typer(cms_app, name="cms")
measure_app = typer.Typer(help="Compute quality measures.", no_args_is_help=True)
app.add_typer(measure_app, name="measure")


@app.command()
def version() -> None:
    """Print the p4pkit version."""
    print(__version__)


def main() -> None:
    """Entry point of the `p4p` script: runs the app and turns user errors into exit code 2."""
    try:
        app()
    except UserError as error:
        console.print(f"[bold red]error:[/] {error.render()}", highlight=False, markup=True)
        sys.exit(2)
