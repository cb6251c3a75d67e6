"""Named errors. The command line turns each into a one-line reason and an exit code."""

from __future__ import annotations


class LakehouseError(Exception):
    """A problem the user can fix (bad folder, bad config, unreadable input): exit code 1."""

    exit_code = 1


class ConfigError(LakehouseError):
    """Configuration is missing, malformed or inconsistent."""


class LandingError(LakehouseError):
    """The landing area cannot be read."""


class TableNotFoundError(LakehouseError):
    """A table was asked for that the lake does not hold."""


class LakeLockedError(LakehouseError):
    """Another run holds the lake's lock (``holder``: who, as it named itself)."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class QualityGateError(LakehouseError):
    """A data-quality gate blocked publishing: exit code 2. ``details`` lists what failed."""

    exit_code = 2

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []
