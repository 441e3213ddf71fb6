"""Where machine state lives: $NQ_STATE_DIR, else the profile's state_dir, else XDG, else ~/.local/state."""
from __future__ import annotations

from pathlib import Path

from tasks.options_trading_system.state.state_dir import resolve_state_dir, state_path


def test_the_environment_wins_then_the_profile_then_xdg_then_home(tmp_path: Path) -> None:
    env = {"NQ_STATE_DIR": str(tmp_path / "env"), "XDG_STATE_HOME": str(tmp_path / "xdg"), "HOME": "/nowhere"}
    assert resolve_state_dir(str(tmp_path / "profile"), environ=env) == tmp_path / "env"
    del env["NQ_STATE_DIR"]
    assert resolve_state_dir(str(tmp_path / "profile"), environ=env) == tmp_path / "profile"
    assert resolve_state_dir(None, environ=env) == tmp_path / "xdg" / "nq-options"
    assert resolve_state_dir(None, environ={}) == Path.home().resolve() / ".local" / "state" / "nq-options"


def test_a_relative_state_file_is_inside_the_state_directory_an_absolute_one_stays(tmp_path: Path) -> None:
    env = {"NQ_STATE_DIR": str(tmp_path)}
    assert state_path("ifd_v3/baselines.sqlite", environ=env) == tmp_path / "ifd_v3" / "baselines.sqlite"
    assert state_path("/srv/b.sqlite", environ=env) == Path("/srv/b.sqlite")
