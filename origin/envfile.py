"""IMGORIGIN_ENV_FILE: settings from a file that the server reads at start and again on SIGHUP
(which the master also sends itself when the file's bytes change: origin/envwatch.py).

Settings are environment variables read by each worker when it starts; a reload (SIGHUP,
`systemctl reload`) starts new workers, so a file the master re-reads before it forks them
changes settings without dropping a connection: purge tokens, signing keys (rotation),
allowed hosts, presets, limits. A file that does not read or whose settings do not parse is
logged and ignored on reload (the running settings stay), and refused at start. What the
listening sockets and the worker count depend on (`--port`, `--workers`) needs a restart.

A path written with a leading `-` (as systemd writes it) may be missing: then it sets nothing.
The format is systemd's `EnvironmentFile=`: `NAME=value` lines, `#` or `;` comments, blank
lines, an optional `export `, the value optionally in single or double quotes (in double quotes
`\\"` and `\\\\` are escapes). A name the file stops setting falls back to the value the process
started with.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import MutableMapping

from origin.settings import Settings, SettingsError, unknown_names

log = logging.getLogger("imgorigin.server")

ENV_FILE_VARIABLE = "IMGORIGIN_ENV_FILE"
MAX_FILE_BYTES = 1 << 20
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EnvFileError(ValueError):
    """The file cannot be read, or a line of it is not `NAME=value`."""


def parse(text: str) -> dict[str, str]:
    """The variables a file sets, in order; raises EnvFileError naming the first bad line."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        name, eq, value = line.removeprefix("export ").partition("=")
        name = name.strip()
        if not eq or not _NAME.fullmatch(name):
            raise EnvFileError(f"line {number}: expected NAME=value")
        values[name] = _unquote(value.strip(), number)
    return values


def _unquote(value: str, number: int) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r'\\(["\\])', r"\1", value[1:-1])
    if value[:1] in ("'", '"'):
        raise EnvFileError(f"line {number}: unterminated quote")
    return value


def read(path: str) -> dict[str, str]:
    """The variables of the file at `path` (`-path`: none when it does not exist)."""
    optional = path.startswith("-")
    path = path.removeprefix("-")
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        if optional:
            return {}
        raise EnvFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise EnvFileError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise EnvFileError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return parse(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise EnvFileError(f"{path}: not UTF-8") from None
    except EnvFileError as exc:
        raise EnvFileError(f"{path}: {exc}") from None


class EnvFile:
    """Applies the file to `environ` (os.environ): the process's own values, then the file's."""

    def __init__(self, path: str, environ: MutableMapping[str, str] | None = None) -> None:
        self.path = path
        self.environ = os.environ if environ is None else environ
        self.base = dict(self.environ)  # what the process started with
        self.applied: dict[str, str] = {}

    @classmethod
    def start(cls, environ: MutableMapping[str, str] | None = None) -> EnvFile | None:
        """The env file `environ` (os.environ) names in IMGORIGIN_ENV_FILE, applied to it, and
        the settings that makes checked, as a start needs them; None without a file. Raises
        EnvFileError or SettingsError."""
        environ = os.environ if environ is None else environ
        path = environ.get(ENV_FILE_VARIABLE, "")
        env_file = cls(path, environ) if path else None
        if env_file is not None:
            env_file.apply()
        else:
            Settings.from_env(environ)
        return env_file

    def apply(self) -> Settings:
        """Read the file, check the settings it makes and apply them; raises EnvFileError or
        SettingsError (nothing applied) when it cannot."""
        values = read(self.path)
        values.pop(ENV_FILE_VARIABLE, None)  # the file cannot move itself
        merged = {**self.base, **values}
        settings = Settings.from_env(merged)  # raises SettingsError before anything changes
        for name in self.applied.keys() - values.keys():
            if name in self.base:
                self.environ[name] = self.base[name]
            else:
                self.environ.pop(name, None)
        self.environ.update(values)
        self.applied = values
        return settings

    def reload(self) -> bool:
        """`apply` for a reload: a failure is logged and the running settings stay."""
        try:
            self.apply()
        except (EnvFileError, SettingsError) as exc:
            log.error("%s not applied, the running settings stay: %s", ENV_FILE_VARIABLE, exc)
            return False
        log.info("settings re-read from %s", self.path)
        for note in unknown_names(self.environ):
            log.warning("%s", note)
        return True
