"""Console pages: queues (filled in below)."""

from __future__ import annotations

from app.console.web import DISPATCHERS, blp, page, render


@blp.route("/queues")
@page(*DISPATCHERS)
def queues():
    """The dispatcher's queues."""
    return render("home.html")
