"""The layout's import rules (pyproject's import-linter contracts) hold."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.split("Contracts:")[-1].split("kept")[0]


def test_every_domain_folder_has_the_same_file_names():
    app_dir = ROOT / "app"
    for name in ("accounts", "orgunits", "grids", "categories", "workcalendar", "merchants"):
        files = {path.name for path in (app_dir / name).glob("*.py")}
        assert {"models.py", "services.py", "schemas.py", "routes.py"} <= files, name
