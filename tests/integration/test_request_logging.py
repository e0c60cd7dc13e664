"""Every log line of a request carries its id, the traceback of a 500 too (issue 11, row 16)."""

from __future__ import annotations

import json

from app import create_app


def test_the_traceback_of_a_500_carries_the_request_id(tmp_path, capsys):
    app = create_app(
        {
            "TESTING": False,
            "SQLALCHEMY_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
            "MEDIA_ROOT": str(tmp_path / "media"),
            "UPLOADS_ROOT": str(tmp_path / "uploads"),
            # The request id is taken from the header only when a trusted proxy sent it.
            "TRUSTED_PROXIES": "127.0.0.1",
        }
    )

    def boom():
        raise RuntimeError("the disk caught fire")

    app.add_url_rule("/boom", view_func=boom)
    response = app.test_client().get("/boom", headers={"X-Request-ID": "req-1234"})
    assert response.status_code == 500
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    traceback = [line for line in lines if "exc" in line]
    assert traceback, lines
    assert "the disk caught fire" in traceback[0]["exc"]
    assert traceback[0]["request_id"] == "req-1234"
    assert {line.get("request_id") for line in lines} == {"req-1234"}
    assert "/boom" not in response.get_json()["message"]
