"""Logging for the command-line tools: concise console, detailed file log under the run's logs/;
every handler masks secret values (`secrets_mask.SecretFilter`)."""
from __future__ import annotations

import logging
from pathlib import Path

from .secrets_mask import SecretFilter

CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(*, verbose: bool = False, quiet: bool = False, log_file: Path | None = None) -> None:
    """Console at WARNING (INFO with `verbose`, ERROR with `quiet`); the file, if any, at INFO."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    console = logging.StreamHandler()
    console.setLevel(logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter(CONSOLE_FORMAT))
    console.addFilter(SecretFilter())
    root.addHandler(console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
        file_handler.addFilter(SecretFilter())
        root.addHandler(file_handler)
    for noisy in ("urllib3", "matplotlib", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
