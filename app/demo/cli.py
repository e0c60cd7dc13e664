"""flask demo … commands."""

import click
from flask.cli import AppGroup

group = AppGroup("demo", help="demo commands")
