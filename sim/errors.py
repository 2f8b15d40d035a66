"""The exception tree. Every user mistake raises one of these with a one-line message;
the CLI prints ``str(err)`` and exits non-zero, never a traceback.

    SimError
    ├── ConfigError        a config or scenario file is malformed or inconsistent
    │   └── UnknownNameError   a chip / model / scenario name that does not exist
    ├── CapacityError      the workload does not fit in the chip's memory
    └── UnsupportedError   a valid request the simulator cannot model (yet)
"""


class SimError(Exception):
    """Base of every error the simulator raises on purpose. Its message is kept to one
    line: line breaks a user's own text brought in (a name, a value) are shown as ``\\n``."""

    def __str__(self) -> str:
        text = super().__str__()
        return text.replace("\r", "\\r").replace("\n", "\\n") if ("\n" in text or "\r" in text) else text


class ConfigError(SimError):
    """A config or scenario file is malformed, inconsistent or incomplete."""


class UnknownNameError(ConfigError):
    """A chip, model or scenario name that is not in the catalog."""


class CapacityError(SimError):
    """The workload's memory does not fit; the message says by how much and what would fit."""

    def __init__(self, message: str, required_bytes: float = 0.0, available_bytes: float = 0.0):
        super().__init__(message)
        self.required_bytes = required_bytes
        self.available_bytes = available_bytes


class UnsupportedError(SimError):
    """A well-formed request that the simulator cannot model yet."""
