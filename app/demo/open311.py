"""The demo's Open311 client system (docs/open311.md): created once with a fixed demo key,
which ``flask demo load`` prints each time (the key is stored only hashed)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.open311 import clients

DEMO_CLIENT = "演示 Open311 客户端"
DEMO_KEY = "demo-open311-key-change-me"  # a demo key, as the demo password is


def load_open311_client(session: Session) -> str:
    """The demo client's api_key, the client created if it is not there yet."""
    if clients.find_client(session, DEMO_CLIENT) is None:
        clients.create_client(session, None, DEMO_CLIENT, 60, api_key=DEMO_KEY)
    return DEMO_KEY
