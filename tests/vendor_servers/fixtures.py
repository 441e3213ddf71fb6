"""Pytest fixtures for the stand-ins; a test module imports the ones it uses by name."""
from __future__ import annotations

from pathlib import Path

import pytest

from .certs import make_self_signed_cert


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1, made once per test session."""
    return make_self_signed_cert(tmp_path_factory.mktemp("standin_tls"))


@pytest.fixture
def trusted_tls(tls_pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The certificate, trusted by `requests` (and so by databento's client) for this test only."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_pair[0]))
    return tls_pair
