"""bench/assessment_bench.py runs, at a tiny size: it builds its district and cases, checks
that the app and the hand-written GROUP BYs count the same, and times both."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "assessment_bench.py"


def test_the_bench_runs_at_a_tiny_size(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("assessment_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    app_seconds, baseline_seconds = bench.run(
        f"sqlite:///{tmp_path / 'bench.sqlite3'}", "SQLite", 3000, 1
    )
    assert app_seconds > 0 and baseline_seconds > 0
    out = capsys.readouterr().out
    assert "same counts" in out and "ratio" in out
