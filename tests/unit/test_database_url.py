"""DATABASE_URL in the forms hosts hand out (issue 11, row 14)."""

import pytest

from app.core.db import database_url


@pytest.mark.parametrize(
    "given",
    [
        "postgres://u:p@db.example:5432/city",
        "postgresql://u:p@db.example:5432/city",
        "postgresql+psycopg://u:p@db.example:5432/city",
    ],
)
def test_a_postgresql_url_means_the_installed_driver(given):
    url = database_url(given)
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "u",
        "p",
        "db.example",
        5432,
        "city",
    )


def test_other_urls_are_kept():
    assert str(database_url("sqlite:///instance/x.sqlite3")) == "sqlite:///instance/x.sqlite3"
