"""Secrets never reach an output: every value of a secret variable is masked wherever it appears.

A variable is secret when its name matches `SECRET_NAME` (KEY, TOKEN, SECRET, PASSWORD, PASS, a
`_SEC` suffix, or any `TRADOVATE_*`): DATABENTO_API_KEY, POLYGON_API_KEY, TRADOVATE_PASSWORD,
MONITOR_CONTROL_TOKEN... Their values come from the process environment and from `.env`
(`config_manager.load_environment` registers those). `mask_secrets(text)` replaces each value,
also inside longer strings (a profile description with `${DATABENTO_API_KEY}` substituted), by
`MASK`. Writers of exports, reports and console output call it on what they write; `SecretFilter`
does it for every log record (message, arguments and traceback) on the handlers it is added to.

Values shorter than `MIN_SECRET_LENGTH` are not masked (masking "1" would garble every number);
real keys and tokens are far longer.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any, Iterable, Mapping

MASK = "********"
MIN_SECRET_LENGTH = 6
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASS|_SEC$|^TRADOVATE_)", re.IGNORECASE)

_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None
_seen_environ: frozenset[tuple[str, str]] = frozenset()


def is_secret_name(name: str) -> bool:
    """Whether a variable of this name holds a secret."""
    return bool(SECRET_NAME.search(name))


def secret_values(environ: Mapping[str, str]) -> set[str]:
    """The values of the secret variables in `environ` that are long enough to mask."""
    return {value for name, value in environ.items()
            if is_secret_name(name) and isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH}


def register_secrets(values: Iterable[str] | Mapping[str, str]) -> None:
    """Add values to mask: a mapping is read as an environment (secret names only), else values."""
    found = secret_values(values) if isinstance(values, Mapping) else \
        {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    global _pattern
    with _lock:
        if found - _known:
            _known.update(found)
            _pattern = None


def _current_pattern() -> re.Pattern[str] | None:
    """The pattern of every known secret, refreshed when the process environment changed."""
    global _pattern, _seen_environ
    environ = frozenset((k, v) for k, v in os.environ.items() if is_secret_name(k))
    if environ != _seen_environ:
        register_secrets(dict(environ))
        _seen_environ = environ
    with _lock:
        if _pattern is None and _known:
            # longest first, so a secret that contains another is masked whole
            _pattern = re.compile("|".join(re.escape(v) for v in sorted(_known, key=len, reverse=True)))
        return _pattern


def mask_secrets(text: str) -> str:
    """`text` with every known secret value replaced by `MASK`."""
    pattern = _current_pattern()
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


class SecretFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and traceback before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: keep the record as it is
            return True
        record.msg = mask_secrets(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info)
        return True


def mask_document(node: Any) -> Any:
    """A copy of a JSON-like document with secrets masked in every string (keys included)."""
    if isinstance(node, str):
        return mask_secrets(node)
    if isinstance(node, Mapping):
        return {mask_document(k) if isinstance(k, str) else k: mask_document(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [mask_document(v) for v in node]
    return node
