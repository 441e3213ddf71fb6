"""The project's exception tree.

Two families, as a trader needs to tell them apart:
- operational errors (`ConfigError`, `DataUnavailableError`): stop and fix something;
- data errors (`DataSourceError`, `ChainValidationError`): one source or one chain is bad, the
  loader records why and moves on to the next source.

Every message says what was wrong and what would fix it. CLIs catch `OptionsSystemError`,
print `Type: message` and exit with the class's `exit_code`.
"""
from __future__ import annotations


class OptionsSystemError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code: int = 1


class ConfigError(OptionsSystemError):
    """A profile or command-line option is invalid. Raised before anything runs; fix the file."""

    exit_code = 2


class DataSourceError(OptionsSystemError):
    """One data source could not serve a chain (down, refused, malformed). The loader fails over.

    `transient` says whether retrying the same source could help (timeouts, 5xx, 429);
    refusals for credentials, entitlement or budget are not transient.
    """

    def __init__(self, message: str, *, transient: bool = False, cost_usd: float = 0.0,
                 code: str = "") -> None:
        super().__init__(message)
        self.transient = transient
        self.cost_usd = cost_usd
        self.code = code  # short reason code for reports (TIMEOUT, HTTP_500, MALFORMED...)


class SourceNotAvailableError(DataSourceError):
    """A profile names a source this version does not have, or one that is not set up (no key)."""


class SourceRefusedError(DataSourceError):
    """The source refused on purpose: credentials rejected, no entitlement, or a data budget would
    be broken. Never retried; the message says which variable to set or which budget was hit."""

    def __init__(self, message: str, *, cost_usd: float = 0.0, code: str = "REFUSED") -> None:
        super().__init__(message, transient=False, cost_usd=cost_usd, code=code)


class DataBudgetExceededError(SourceRefusedError):
    """A paid request would push the day's or the month's data spend over the profile's budget;
    it was refused before it was sent. Raise the budget in the profile or wait for the next period."""

    def __init__(self, message: str, *, cost_usd: float = 0.0) -> None:
        super().__init__(message, cost_usd=cost_usd, code="BUDGET")


class SourceRateLimitedError(DataSourceError):
    """HTTP 429: the source asks us to come back later. Transient; the retry waits `retry_after_s`
    (the server's Retry-After) when that fits in the source's time limit."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, cost_usd: float = 0.0) -> None:
        super().__init__(message, transient=True, cost_usd=cost_usd, code="RATE_LIMITED")
        self.retry_after_s = retry_after_s


class ChainValidationError(OptionsSystemError):
    """A chain failed the data-quality gate (no strikes, all-NaN open interest, scale off...)."""


class DataUnavailableError(OptionsSystemError):
    """Every configured source failed; nothing to analyse. The attempts say why."""

    exit_code = 3

    def __init__(self, message: str, attempts: list | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts or []


class InputFileError(OptionsSystemError):
    """A file given on the command line cannot be read as any supported capture format."""

    exit_code = 2


class RunLockedError(OptionsSystemError):
    """Another process is running this shadow run; two processes on one ledger would each act on
    the same events. Wait for it to end (or stop it), then resume."""

    exit_code = 2


class LedgerWriteError(OptionsSystemError):
    """The run's ledger could not be written (disk full, read-only file or folder). Nothing after
    the last committed transaction is lost: free space or fix the permissions, then resume."""

    exit_code = 1


class OutputValidationError(OptionsSystemError):
    """A report failed its own JSON Schema; nothing is written (a bug, not a data problem)."""
