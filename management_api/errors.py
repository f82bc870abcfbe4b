"""The errors the Management API client raises; views catch only these."""

from __future__ import annotations


class ManagementApiError(Exception):
    """Something the upstream tenant refused or could not do.

    `str()` is a human sentence safe to show staff: it never holds the token, the client
    secret or a signed download link.
    """

    def __init__(
        self,
        human: str,
        *,
        status: int | None = None,
        message: str = "",
        error_code: str = "",
    ) -> None:
        super().__init__(human)
        self.human = human
        self.status = status
        self.message = message  # Auth0's own `message` (or `error_description`)
        self.error_code = error_code  # Auth0's `errorCode` (or `error`)

    def __str__(self) -> str:
        return self.human


class TransientError(ManagementApiError):
    """Worth trying again later: 429, 5xx, a timeout or a refused connection."""

    def __init__(
        self,
        human: str,
        *,
        retry_after_seconds: float,
        status: int | None = None,
        message: str = "",
        error_code: str = "",
    ) -> None:
        super().__init__(human, status=status, message=message, error_code=error_code)
        self.retry_after_seconds = retry_after_seconds


class PermanentError(ManagementApiError):
    """A 4xx that repeating will not fix: a bad query, a missing scope, bad credentials."""
