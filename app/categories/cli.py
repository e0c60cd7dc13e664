"""flask categories … commands."""

import click
from flask.cli import AppGroup

group = AppGroup("categories", help="categories commands")
