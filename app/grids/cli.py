"""flask grids … commands."""

import click
from flask.cli import AppGroup

group = AppGroup("grids", help="grids commands")
