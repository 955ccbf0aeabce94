"""Settings (one pydantic-settings model), the contexts file, PMPC_* names and their precedence.

Precedence, highest first: command-line flags > environment (PMPC_*) > `.env` in the workspace >
the workspace's `pmpc.yaml` > the selected context of the user's contexts file > defaults.
With proxmox_mpc.locations, the only module that reads os.environ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from proxmox_mpc.errors import ConfigError, NotFound
from proxmox_mpc.locations import (  # noqa: F401 (re-exported: the settings module is where callers look)
    NO_COLOR,
    PMPC_CONFIG,
    PMPC_DATABASE_URL,
    PMPC_WORKSPACE,
    WORKSPACE_FILE,
    contexts_path,
    env_flag,
    environ,
    find_workspace,
    no_color_requested,
    user_cache_dir,
    user_state_dir,
)

ENV_PREFIX = "PMPC_"
PMPC_CONTEXT = "PMPC_CONTEXT"
PMPC_HOST = "PMPC_HOST"
PMPC_PORT = "PMPC_PORT"
PMPC_TOKEN_ID = "PMPC_TOKEN_ID"
PMPC_TOKEN_SECRET = "PMPC_TOKEN_SECRET"
PMPC_USER = "PMPC_USER"
PMPC_PASSWORD = "PMPC_PASSWORD"
PMPC_VERIFY_TLS = "PMPC_VERIFY_TLS"
PMPC_CA_FILE = "PMPC_CA_FILE"
PMPC_FINGERPRINT = "PMPC_FINGERPRINT"
PMPC_TIMEOUT = "PMPC_TIMEOUT"
PMPC_CONCURRENCY = "PMPC_CONCURRENCY"
PMPC_DEBUG = "PMPC_DEBUG"
PMPC_READ_ONLY = "PMPC_READ_ONLY"
PMPC_NO_INSECURE_WARNING = "PMPC_NO_INSECURE_WARNING"

DOTENV_FILE = ".env"
SECRET_FIELDS = frozenset({"password", "token_secret"})
# Fields a context in the contexts file may hold (everything but the workspace's own).
CONTEXT_FIELDS = (
    "host", "port", "user", "password", "token_id", "token_secret", "verify_tls",
    "ca_file", "fingerprint", "timeout", "concurrency", "database_url", "read_only",
)
REDACTED = "********"


class Settings(BaseSettings):
    """Every setting pmpc reads, from every source, validated once."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", env_file_encoding="utf-8", populate_by_name=True
    )

    context: str | None = None
    host: str | None = None
    port: int = Field(8006, ge=1, le=65535)
    user: str | None = None
    password: SecretStr | None = None
    token_id: str | None = None
    token_secret: SecretStr | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    fingerprint: str | None = None
    timeout: float = Field(30.0, gt=0)
    concurrency: int = Field(8, ge=1, le=256)
    database_url: str | None = Field(None, repr=False)  # may embed a password
    # A read-only context (production, say): every write to the cluster is refused (exit 5).
    read_only: bool = False
    workspace: str | None = None
    debug: bool = False

    @field_validator("fingerprint")
    @classmethod
    def _normalise_fingerprint(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return normalise_fingerprint(value)

    @field_validator("token_id")
    @classmethod
    def _check_token_id(cls, value: str | None) -> str | None:
        if value and ("!" not in value or "@" not in value.split("!")[0]):
            raise ValueError("must look like user@realm!tokenname")
        return value or None

    @model_validator(mode="after")
    def _split_url_host(self) -> Settings:
        if self.host and "://" in self.host:
            parts = urlsplit(self.host)
            if parts.scheme != "https":
                raise ValueError("host URL must use https")
            self.host = parts.hostname
            if parts.port:
                self.port = parts.port
        return self

    @property
    def base_url(self) -> str:
        """Return https://host:port of the API (IPv6 hosts in brackets)."""
        if not self.host:
            raise ConfigError(
                "No Proxmox host is configured: set PMPC_HOST, or add a context with "
                "`pmpc config set-context NAME --host HOST ...`."
            )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def redacted(self) -> dict[str, Any]:
        """Return the settings as a plain dict with every secret replaced."""
        data = self.model_dump(mode="json")
        for key in SECRET_FIELDS:
            if data.get(key):
                data[key] = REDACTED
        if data.get("database_url"):
            data["database_url"] = redact_url(data["database_url"])
        return data


class _IsolatedSettings(Settings):
    """Settings validated from the values given alone: no environment, .env or files."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def settings_from_values(values: Mapping[str, Any], where: str = "the given settings") -> Settings:
    """Validate Settings from these values only (the environment is not consulted).

    Raises:
        ConfigError: a value is invalid.
    """
    try:
        bound = _IsolatedSettings(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, where)) from exc
    return Settings.model_construct(**dict(bound))


def normalise_fingerprint(value: str) -> str:
    """Return a SHA-256 fingerprint as upper-case colon-separated hex, as Proxmox shows it."""
    hexdigits = value.replace(":", "").replace(" ", "").strip().lower()
    if hexdigits.startswith("sha256"):
        hexdigits = hexdigits[len("sha256") :].lstrip("=")
    if len(hexdigits) != 64 or any(c not in "0123456789abcdef" for c in hexdigits):
        raise ValueError("must be a SHA-256 fingerprint: 32 hex bytes, colons optional")
    return ":".join(hexdigits[i : i + 2] for i in range(0, 64, 2)).upper()


def redact_url(url: str) -> str:
    """Return a database URL with its password replaced."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":" + REDACTED + "@", 1)
        return parts._replace(netloc=netloc).geturl()
    return url


# ----------------------------------------------------------------------------- paths


# environ, contexts_path, user_state_dir, user_cache_dir, env_flag, no_color_requested and
# find_workspace live in proxmox_mpc.locations (light: shell completion uses them) and are re-exported here.


# ----------------------------------------------------------------------------- files


def write_private(path: Path, text: str) -> None:
    """Write a file readable by its owner only (0600), atomically, following no symlink.

    Raises:
        FileWriteError: a symlink is in the way, or the write failed (nothing is left behind).
    """
    from proxmox_mpc.safeio.files import write_file

    write_file(path, text, private=True)


def _read_yaml_mapping(path: Path, what: str) -> dict[str, Any]:
    from proxmox_mpc.safeio.untrusted import InputLimitError, load_yaml

    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except InputLimitError as exc:
        raise ConfigError(f"Cannot read the {what} {path}: {exc}.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Cannot read the {what} {path}: it is not UTF-8 text.") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"Cannot read the {what} {path}: {where}{reason}.") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"Cannot read the {what} {path}: {str(exc).splitlines()[0]}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"The {what} {path} must hold a mapping at its top level.")
    return data


class ContextsFile:
    """The kubeconfig-like contexts file: several named contexts, one current."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.current: str | None = data.get("current-context") or None
        raw = data.get("contexts") or {}
        if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
            raise ConfigError(f"The contexts file {path} must map each context name to its settings.")
        self.contexts: dict[str, dict[str, Any]] = {str(k): dict(v) for k, v in raw.items()}

    @classmethod
    def load(cls, path: Path | None = None) -> ContextsFile:
        """Read the contexts file (missing: empty)."""
        path = path or contexts_path()
        return cls(path, _read_yaml_mapping(path, "contexts file"))

    def get(self, name: str) -> dict[str, Any]:
        """Return one context's fields.

        Raises:
            NotFound: no context has that name.
        """
        if name not in self.contexts:
            known = ", ".join(sorted(self.contexts)) or "none"
            raise NotFound(f"No context named {name!r} in {self.path} (known: {known}).")
        return dict(self.contexts[name])

    def set(self, name: str, values: Mapping[str, Any], unset: tuple[str, ...] = ()) -> dict[str, Any]:
        """Create or update a context, validating the result; return its fields."""
        unknown = set(values) - set(CONTEXT_FIELDS)
        if unknown:
            raise ConfigError(f"Unknown context field(s): {', '.join(sorted(unknown))}.")
        entry = dict(self.contexts.get(name, {}))
        entry.update({k: v for k, v in values.items() if v is not None})
        for key in unset:
            entry.pop(key, None)
        try:
            # Validate the context alone: the environment of this shell is not part of it.
            _IsolatedSettings(**{**entry, "context": name})
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, f"context {name!r}")) from exc
        self.contexts[name] = entry
        return entry

    def delete(self, name: str) -> None:
        """Remove a context; the current context is unset when it was this one.

        Raises:
            NotFound: no context has that name.
        """
        self.get(name)
        del self.contexts[name]
        if self.current == name:
            self.current = None

    def rename(self, old: str, new: str) -> None:
        """Rename a context, keeping it current when it was.

        Raises:
            NotFound: no context is named `old`.
            ConfigError: a context is already named `new`.
        """
        self.get(old)
        if new in self.contexts:
            raise ConfigError(f"A context named {new!r} already exists in {self.path}.")
        self.contexts = {(new if k == old else k): v for k, v in self.contexts.items()}
        if self.current == old:
            self.current = new

    def save(self) -> None:
        """Write the file with mode 0600 (it may hold secrets)."""
        data: dict[str, Any] = {"current-context": self.current, "contexts": self.contexts}
        write_private(self.path, yaml.safe_dump(data, sort_keys=False, default_flow_style=False))


def tls_off_reason(settings: Settings, insecure_flag: bool) -> str | None:
    """Return why TLS verification is off (`--insecure`, `PMPC_VERIFY_TLS=false`, ...), or None when on."""
    if insecure_flag:
        return "--insecure"
    if settings.verify_tls:
        return None
    if environ().get(PMPC_VERIFY_TLS) is not None:
        return f"{PMPC_VERIFY_TLS}={environ()[PMPC_VERIFY_TLS]}"
    where = f"context {settings.context!r}" if settings.context else "the configuration"
    return f"verify_tls: false in {where}"


def insecure_warning(settings: Settings, insecure_flag: bool) -> str | None:
    """Return the one warning line for insecure TLS, or None (verification on, or silenced by env)."""
    reason = tls_off_reason(settings, insecure_flag)
    if reason is None or env_flag(PMPC_NO_INSECURE_WARNING):
        return None
    return (
        f"TLS verification is off ({reason}): the server's identity is not checked "
        f"(set {PMPC_NO_INSECURE_WARNING}=1 to silence this warning)."
    )


def describe_validation_error(exc: ValidationError, where: str) -> str:
    """Turn a pydantic ValidationError into one sentence naming the fields."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "value"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return f"Invalid settings in {where}: " + "; ".join(parts) + "."


def read_workspace_file(workspace: Path) -> dict[str, Any]:
    """Return the parsed pmpc.yaml of a workspace."""
    return _read_yaml_mapping(workspace / WORKSPACE_FILE, "workspace file")


def _workspace_settings(workspace: Path | None) -> dict[str, Any]:
    if workspace is None:
        return {}
    data = read_workspace_file(workspace)
    values: dict[str, Any] = {}
    if data.get("context"):
        values["context"] = str(data["context"])
    raw = data.get("settings") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"`settings` in {workspace / WORKSPACE_FILE} must be a mapping.")
    secrets_found = SECRET_FIELDS & set(raw)
    if secrets_found:
        raise ConfigError(
            f"{workspace / WORKSPACE_FILE} must not hold secrets ({', '.join(sorted(secrets_found))}): "
            "use the contexts file, .env or PMPC_* variables."
        )
    values.update(raw)
    return values


def _dotenv_values(workspace: Path | None) -> dict[str, str]:
    if workspace is None or not (workspace / DOTENV_FILE).is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(workspace / DOTENV_FILE).items() if v is not None}


class _MappingSource(PydanticBaseSettingsSource):
    """A settings source that serves an already-read mapping (workspace file, a context)."""

    def __init__(self, settings_cls: type[BaseSettings], values: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self.values = dict(values)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self.values.items() if k in self.settings_cls.model_fields}


@dataclass(frozen=True)
class _SourceLayers:
    """What each source of the precedence holds, read once: flags, environment, .env, pmpc.yaml, context."""

    given: Mapping[str, Any]
    env: Mapping[str, str]
    dotenv: Mapping[str, str]
    workspace: dict[str, Any]
    context: dict[str, Any]
    context_name: str | None

    @classmethod
    def read(
        cls, given: Mapping[str, Any], workspace: Path | None, contexts: ContextsFile | None
    ) -> _SourceLayers:
        env = environ()
        dotenv = _dotenv_values(workspace)
        ws_values = _workspace_settings(workspace)
        contexts = contexts if contexts is not None else ContextsFile.load()
        name = (
            given.get("context")
            or env.get(PMPC_CONTEXT)
            or dotenv.get(PMPC_CONTEXT)
            or ws_values.get("context")
            or contexts.current
        )
        return cls(given, env, dotenv, ws_values, contexts.get(name) if name else {}, name)

    def source_of(self, field: str) -> str:
        """Return where a setting's value comes from, in SPEC's precedence."""
        env_name = ENV_PREFIX + field.upper()
        if field in self.given:
            return "flag"
        if env_name in self.env:
            return f"environment ({env_name})"
        if env_name in self.dotenv:
            return f"{DOTENV_FILE} ({env_name})"
        if field in self.workspace:
            return WORKSPACE_FILE
        if field in self.context:
            return f"context {self.context_name}"
        if field == "context" and self.context_name:
            return "contexts file (current-context)"
        return "default"


def setting_sources(
    flags: Mapping[str, Any] | None = None, workspace: Path | None = None, contexts: ContextsFile | None = None
) -> dict[str, str]:
    """Return, for every setting, which source won: `flag`, `environment (PMPC_PORT)`, `.env (...)`,
    `pmpc.yaml`, `context NAME` or `default`.

    Raises:
        ConfigError: a source cannot be read.
    """
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    layers = _SourceLayers.read(given, workspace, contexts)
    sources = {field: layers.source_of(field) for field in Settings.model_fields}
    if workspace is not None and "workspace" not in given:
        sources["workspace"] = "workspace directory"
    return sources


def load_settings(
    flags: Mapping[str, Any] | None = None,
    workspace: Path | None = None,
    contexts: ContextsFile | None = None,
) -> Settings:
    """Build Settings from every source in SPEC's precedence.

    Raises:
        ConfigError: a source holds an invalid value.
        NotFound: the selected context does not exist.
    """
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    layers = _SourceLayers.read(given, workspace, contexts)
    ws_values, ctx_values, name = layers.workspace, layers.context, layers.context_name
    if name:
        given.setdefault("context", name)
    if workspace is not None:
        given.setdefault("workspace", str(workspace))

    class _Bound(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (
                init_settings,
                env_settings,
                dotenv_settings,
                _MappingSource(settings_cls, ws_values),
                _MappingSource(settings_cls, ctx_values),
            )

    env_file = (workspace / DOTENV_FILE) if workspace is not None else None
    try:
        bound = _Bound(_env_file=env_file, **given)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, "the configuration")) from exc
    return Settings.model_construct(**dict(bound))
