"""flask workcalendar … commands."""

import click
from flask.cli import AppGroup

group = AppGroup("workcalendar", help="workcalendar commands")
