"""The hashed lock files cover every pin of the human-edited lists, so installs from the locks
(README, scripts/test.sh, CI) get exactly the listed versions, each with a hash."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def pins(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("-r "):
            out.update(pins(path.parent / line[3:].strip()))
        elif (match := PIN.match(line)):
            out[match.group(1).lower().replace("_", "-")] = match.group(2)
    return out


@pytest.mark.parametrize("listed, lock", [("requirements.txt", "requirements.lock"),
                                          ("requirements-dev.txt", "requirements-dev.lock")])
def test_every_listed_pin_is_locked_at_that_version_with_a_hash(listed: str, lock: str) -> None:
    text = (ROOT / lock).read_text()
    locked = pins(ROOT / lock)
    for name, version in pins(ROOT / listed).items():
        assert locked.get(name) == version, f"{name}=={version} of {listed} is not in {lock}: run scripts/lock_requirements.py"
    entries = re.findall(r"^[A-Za-z0-9_.\-]+==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}$", text, flags=re.MULTILINE)
    assert len(entries) == len(locked) > len(pins(ROOT / listed))   # transitive ones too, all hashed


def test_the_egg_info_is_not_tracked() -> None:
    assert "*.egg-info/" in (ROOT / ".gitignore").read_text()
