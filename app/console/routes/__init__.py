"""The console's pages. Each module adds its views to ``web.blp``; importing them here
registers them. A new page module: import it below."""

from app.console.routes import admin, admin_setup, auth, cases, maps, queues  # noqa: F401
from app.console.web import blp

blueprints = (blp,)
