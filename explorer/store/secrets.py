"""API keys: in the operating system's keyring when one works (the `keyring` package: Secret
Service, macOS Keychain, Windows Credential Locker), else in a file only the user can read.

    keys = default_secrets()
    keys.set("https://host/v1", "sk-...")
    keys.get("https://host/v1")   # -> "sk-..." or None
    keys.where                    # where they are kept, for a person (never a key)

The file fallback is JSON ``{name: key}`` at `secrets_file()`, written with mode 0600 in a folder of
mode 0700 (replaced whole, through a temporary file of the same mode, so it is never readable by
others even for a moment); a file found readable by others is narrowed back to 0600 when read.
$QWEN3_EXPLORER_SECRETS_BACKEND=file keeps keys out of the keyring (tests, and machines whose keyring
asks for a password at every start); $QWEN3_EXPLORER_SECRETS names the file's folder.

No key is ever logged, put in an exception's message, or returned by anything but `get`.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from explorer.paths import _data_dir

SERVICE = "qwen3-explorer"
BACKEND_ENV = "QWEN3_EXPLORER_SECRETS_BACKEND"  # "file" or "keyring"; unset: the keyring when one works
SECRETS_DIR_ENV = "QWEN3_EXPLORER_SECRETS"


class SecretsError(Exception):
    """A key could not be kept or read; the message names the place, never the key."""


def secrets_file() -> Path:
    """The fallback file: user data ($XDG_DATA_HOME); $QWEN3_EXPLORER_SECRETS names the folder."""
    return _data_dir(SECRETS_DIR_ENV, "secrets") / "api-keys.json"


def _working_keyring() -> Any | None:
    """The keyring backend when the package is installed and a real backend works; None otherwise."""
    try:
        import keyring
        from keyring.backends import fail, null

        backend = keyring.get_keyring()
    except Exception:  # no package, or a backend that fails to initialise (no D-Bus, ...)
        return None
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    try:
        if float(backend.priority) <= 0:
            return None
    except Exception:
        return None
    return backend


class Secrets:
    """Keys by name (an endpoint's URL): in the keyring (`backend="keyring"`), or the file (`"file"`)."""

    def __init__(self, backend: str | None = None, path: Path | None = None) -> None:
        choice = (backend or os.environ.get(BACKEND_ENV, "") or "auto").lower()
        if choice not in ("auto", "keyring", "file"):
            raise ValueError(f"{BACKEND_ENV} is 'keyring' or 'file', not {choice!r}")
        self._keyring = None if choice == "file" else _working_keyring()
        if choice == "keyring" and self._keyring is None:
            raise SecretsError("no working system keyring (install and unlock one, or keep keys in a file)")
        self.path = path or secrets_file()

    @property
    def backend(self) -> str:
        return "keyring" if self._keyring is not None else "file"

    @property
    def where(self) -> str:
        if self._keyring is not None:
            return f"the system keyring ({type(self._keyring).__module__.rsplit('.', 1)[-1]})"
        return f"a file only you can read ({self.path})"

    def get(self, name: str) -> str | None:
        if self._keyring is not None:
            try:
                value = self._keyring.get_password(SERVICE, name)
            except Exception as exc:
                raise SecretsError(f"the system keyring could not be read ({type(exc).__name__})") from None
            if value:
                return str(value)
        value = self._read().get(name)
        return value if isinstance(value, str) and value else None

    def set(self, name: str, key: str) -> None:
        if not key:
            self.delete(name)
            return
        if self._keyring is not None:
            try:
                self._keyring.set_password(SERVICE, name, key)
            except Exception as exc:
                raise SecretsError(f"the system keyring refused to keep the key ({type(exc).__name__})") from None
            self._forget_in_file(name)  # one place only
            return
        data = self._read()
        data[name] = key
        self._write(data)

    def delete(self, name: str) -> None:
        if self._keyring is not None:
            with contextlib.suppress(Exception):  # none there is what we want
                self._keyring.delete_password(SERVICE, name)
        self._forget_in_file(name)

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    # --- the file --------------------------------------------------------------------------------

    def _forget_in_file(self, name: str) -> None:
        data = self._read()
        if name in data:
            del data[name]
            self._write(data)

    def _read(self) -> dict[str, str]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretsError(f"cannot read {self.path}: {exc.strerror}") from None
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except OSError as exc:
            raise SecretsError(f"cannot read {self.path}: {exc.strerror}") from None
        except ValueError:
            raise SecretsError(f"{self.path} is not a key file (not JSON): move it away to start afresh") from None
        if not isinstance(data, dict):
            raise SecretsError(f"{self.path} is not a key file (not a JSON object)")
        return {str(k): v for k, v in data.items() if isinstance(v, str)}

    def _write(self, data: dict[str, str]) -> None:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(OSError):
                os.chmod(folder, 0o700)
            tmp = self.path.with_name(self.path.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise SecretsError(f"cannot write {self.path}: {exc.strerror}") from None


def default_secrets() -> Secrets:
    """The keys of this user: the keyring when one works, else the file (see the module's doc)."""
    return Secrets()
