"""The machine's state directory: files that belong to this machine and account, not to one run.

The data spend ledger lives here, so changing `--output-dir` never resets a budget, and so does
any other state a run must not place relative to the current directory. Where it is, first match:

1. the environment variable `NQ_STATE_DIR`;
2. the profile's top-level `state_dir` setting;
3. `$XDG_STATE_HOME/nq-options`;
4. `~/.local/state/nq-options`.

The folder is created on first use. Tests point `NQ_STATE_DIR` at a temporary folder.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

STATE_DIR_ENV = "NQ_STATE_DIR"
APP_FOLDER = "nq-options"


def resolve_state_dir(configured: str | os.PathLike[str] | None = None, *,
                      environ: Mapping[str, str] | None = None) -> Path:
    """The state directory (absolute, not created) by the order in the module docstring."""
    env = os.environ if environ is None else environ
    if env.get(STATE_DIR_ENV):
        return Path(env[STATE_DIR_ENV]).expanduser().resolve()
    if configured:
        return Path(configured).expanduser().resolve()
    if env.get("XDG_STATE_HOME"):
        return (Path(env["XDG_STATE_HOME"]).expanduser() / APP_FOLDER).resolve()
    return (Path.home() / ".local" / "state" / APP_FOLDER).resolve()


def state_path(setting: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Path:
    """A state file's path from a setting: absolute stays as given; relative is inside the state
    directory, never relative to the current directory."""
    path = Path(setting).expanduser()
    return path if path.is_absolute() else resolve_state_dir(environ=environ) / path


def export_profile_state_dir(configured: str | None) -> None:
    """At a CLI's start: make the profile's `state_dir` the process's (and its children's) state
    directory, unless `NQ_STATE_DIR` is already set (the environment wins)."""
    if configured and not os.environ.get(STATE_DIR_ENV):
        os.environ[STATE_DIR_ENV] = str(Path(configured).expanduser().resolve())
