"""``SCHEDULE_INTERVALS``: ``job=seconds`` pairs over the defaults; a typo is an error at
start-up, not a job that silently never runs."""

import pytest

from app.config import SCHEDULE_DEFAULTS, _intervals


def test_pairs_override_the_defaults_and_zero_turns_a_job_off():
    intervals = _intervals(" pressing=120, sync_prune=0 ")
    assert intervals == {**SCHEDULE_DEFAULTS, "pressing": 120, "sync_prune": 0}
    assert _intervals("") == SCHEDULE_DEFAULTS


@pytest.mark.parametrize("text", ["presing=120", "pressing=soon", "pressing", "pressing=-5"])
def test_an_unknown_job_or_a_bad_number_is_refused(text):
    with pytest.raises(ValueError, match="SCHEDULE_INTERVALS"):
        _intervals(text)
