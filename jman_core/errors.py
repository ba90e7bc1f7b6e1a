"""Errors a user can cause; each message names the problem and the fix."""


class JmanError(Exception):
    """Base class: the command line and the app show the message, never a traceback."""


class ConfigError(JmanError):
    """A configuration value, key or flag is wrong."""


class DataError(JmanError):
    """A dataset file is malformed, misses a column, or leaves nothing to train on."""

    def __init__(
        self, message: str, path: str | None = None, line: int | None = None, fix: str | None = None
    ):
        self.path = path
        self.line = line
        self.fix = fix
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        text = where + message
        if fix:
            text += f" Fix: {fix}"
        super().__init__(text)


class CheckpointError(JmanError):
    """A checkpoint is missing, truncated, corrupt or not a JMAN checkpoint."""


class DocumentError(JmanError):
    """A document given for prediction cannot be used (for example both title and content are empty)."""
