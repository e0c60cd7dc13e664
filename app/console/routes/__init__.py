"""The console's pages. Each module adds its views to ``web.blp``; importing them here
registers them. A new page module: import it below."""

from app.console.routes import (  # noqa: F401
    admin,
    admin_setup,
    auth,
    cases,
    maps,
    monthly,
    queues,
    rankings,
    sync,
)
from app.console.web import blp

blueprints = (blp,)
