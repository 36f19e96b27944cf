"""Where the database files are: `db/` of a source checkout, or its copy inside the wheel (`kith/_db`)."""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parents[1] / "_db"  # pyproject.toml force-includes db/ here
_CHECKOUT = Path(__file__).resolve().parents[3] / "db"

DB_DIR = _PACKAGED if _PACKAGED.is_dir() else _CHECKOUT
MIGRATIONS_DIR = DB_DIR / "migrations"
VIEWS_DIR = DB_DIR / "views"
