"""The installable package (what the Docker image gets) carries its translations, migrations and spec."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_carries_non_python_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "bot/locales/en/LC_MESSAGES/messages.po",
        "bot/locales/ru/LC_MESSAGES/messages.po",
        "storage/migrations/env.py",
        "storage/migrations/script.py.mako",
        "storage/migrations/versions/0001_initial_schema.py",
        "sandbox/data/bot-api-10.1.min.json",
    ):
        assert needed in names, f"{needed} missing from the wheel"
