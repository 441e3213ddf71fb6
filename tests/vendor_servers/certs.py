"""A throwaway self-signed TLS certificate for 127.0.0.1 (the Databento client only speaks HTTPS).

Made with the `openssl` command line, valid one day, for the IP 127.0.0.1 only. Point
`REQUESTS_CA_BUNDLE` at the certificate so `requests` (inside databento's client) trusts it.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

OPENSSL_TIMEOUT_S = 60


def make_self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """Write cert.pem and key.pem into `folder`; returns (cert, key)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is not installed: it is needed to make the stand-in's TLS certificate")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=OPENSSL_TIMEOUT_S)
    return cert, key
