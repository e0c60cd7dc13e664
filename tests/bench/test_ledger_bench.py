"""The ledger bench runs at a tiny size (the full size is run by hand: bench/README.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ledger_bench.py"


def test_the_ledger_bench_runs_at_a_tiny_size(tmp_path):
    spec = importlib.util.spec_from_file_location("ledger_bench", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.run(cases=3, work=tmp_path)
    assert results["baseline"]["rows"] == 6
    assert results["xlsx"]["rows"] == results["pdf"]["rows"] == 3
    assert results["xlsx"]["ratio"] > 0 and results["pdf"]["peak_growth_mb"] >= 0
    assert "xlsx" in bench.report(results)
