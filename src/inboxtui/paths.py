"""Where inboxtui keeps things (platformdirs: XDG on Linux, the native places elsewhere).

`INBOXTUI_HOME` puts data and config under one folder: tests and demos use it
to stay out of the user's real directories.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "inboxtui"


def _home() -> Path | None:
    value = os.environ.get("INBOXTUI_HOME")
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP, appauthor=False))


def config_dir() -> Path:
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP, appauthor=False))


def default_database() -> Path:
    return data_dir() / "inbox.db"


def demo_database() -> Path:
    return data_dir() / "demo.db"


def config_file() -> Path:
    return config_dir() / "config.toml"
