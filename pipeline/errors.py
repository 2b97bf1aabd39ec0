"""One error hierarchy for the domain core.

Callers (the CLI, actors, web handlers) map these to exit codes, retries or HTTP statuses;
nothing below them needs to know which.
"""

from __future__ import annotations

from collections.abc import Iterable


class RecallError(Exception):
    """Base of every error recall raises on purpose."""


class InputError(RecallError):
    """Bad input a person can fix: names the file, the line and the field where known."""

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.reason = reason
        super().__init__(self.describe())

    def describe(self) -> str:
        """``users.csv:12: phone: not a valid phone number`` — the parts that are known."""
        where = self.path or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        prefix = f"{where}: " if where else ""
        field = f"{self.field}: " if self.field else ""
        return f"{prefix}{field}{self.reason}"


class InputErrors(RecallError):
    """Several input errors found in one pass, so a person can fix them all at once."""

    def __init__(self, errors: Iterable[InputError], *, summary: str | None = None) -> None:
        self.errors = list(errors)
        self.summary = summary or f"{len(self.errors)} error(s) in the input"
        super().__init__(self.describe(limit=20))

    def describe(self, limit: int | None = None) -> str:
        shown = self.errors if limit is None else self.errors[:limit]
        lines = [self.summary, *(f"  {error.describe()}" for error in shown)]
        if len(shown) < len(self.errors):
            lines.append(f"  … and {len(self.errors) - len(shown)} more")
        return "\n".join(lines)


class NotFound(RecallError):
    """The thing asked for (a campaign, a case, a recipient) does not exist."""


class InvalidState(RecallError):
    """The operation does not apply in the entity's current state."""


class MalformedEvent(RecallError, ValueError):
    """A provider event that is not well formed: a webhook request (answered 400, never a
    500) or a stored payload that lacks what its kind needs (recorded as its outcome)."""
