"""Where the API key and URL come from.

Each setting is resolved on its own, first match wins:

1. explicit arguments (``api_key=``, ``api_url=`` or its alias ``base_url=``);
2. environment variables ``NULLSPACE_API_KEY`` / ``NULLSPACE_API_URL``;
3. a ``.env`` file in the current directory (``KEY=VALUE`` lines);
4. ``~/.config/nullspace/config.json`` (``$XDG_CONFIG_HOME/nullspace/config.json`` when
   that is set) with ``{"api_key": ..., "api_url": ...}`` (``base_url`` accepted too);
5. the legacy ``~/.nullspace/config.json`` (same shape);
6. the default URL ``http://127.0.0.1:7070`` (there is no default key).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import AuthError, InvalidArgumentError

__all__ = ["DEFAULT_API_URL", "DEFAULT_REQUEST_TIMEOUT", "ClientConfig", "resolve_config"]

DEFAULT_API_URL = "http://127.0.0.1:7070"
DEFAULT_REQUEST_TIMEOUT = 60.0
ENV_API_KEY = "NULLSPACE_API_KEY"
ENV_API_URL = "NULLSPACE_API_URL"


@dataclass(frozen=True)
class ClientConfig:
    """Resolved connection settings."""

    api_key: str
    api_url: str
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT

    def __repr__(self) -> str:  # never print the key
        return (
            f"ClientConfig(api_key='{_redact(self.api_key)}', api_url={self.api_url!r}, "
            f"request_timeout={self.request_timeout!r})"
        )


def _redact(key: str) -> str:
    return key[:8] + "…" if len(key) > 8 else "…"


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines; ``#`` comments, ``export`` prefixes and quotes allowed."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, _, value = line.partition("=")
        key = key.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        if key:
            out[key] = value
    return out


def _read_dotenv(path: Path) -> dict[str, str]:
    try:
        return parse_dotenv(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def _read_json_config(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, str] = {}
    key = data.get("api_key")
    if isinstance(key, str) and key:
        out["api_key"] = key
    for name in ("api_url", "base_url"):
        url = data.get(name)
        if isinstance(url, str) and url:
            out["api_url"] = url
            break
    return out


def _sources(env: Mapping[str, str], cwd: Path, home: Path) -> list[dict[str, str]]:
    """The non-explicit sources in precedence order, as ``{"api_key", "api_url"}`` dicts."""
    sources: list[dict[str, str]] = []
    env_src: dict[str, str] = {}
    if env.get(ENV_API_KEY):
        env_src["api_key"] = env[ENV_API_KEY]
    if env.get(ENV_API_URL):
        env_src["api_url"] = env[ENV_API_URL]
    sources.append(env_src)

    dotenv = _read_dotenv(cwd / ".env")
    dot_src: dict[str, str] = {}
    if dotenv.get(ENV_API_KEY):
        dot_src["api_key"] = dotenv[ENV_API_KEY]
    if dotenv.get(ENV_API_URL):
        dot_src["api_url"] = dotenv[ENV_API_URL]
    sources.append(dot_src)

    xdg = env.get("XDG_CONFIG_HOME")
    config_dir = Path(xdg) if xdg else home / ".config"
    sources.append(_read_json_config(config_dir / "nullspace" / "config.json"))
    sources.append(_read_json_config(home / ".nullspace" / "config.json"))
    return sources


def resolve_config(
    api_key: str | None = None,
    api_url: str | None = None,
    *,
    base_url: str | None = None,
    request_timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> ClientConfig:
    """Resolve the settings (see the module docstring for the order).

    Raises :class:`AuthError` (code ``missing_api_key``) when no source has a key.
    """
    if api_url is not None and base_url is not None and api_url != base_url:
        raise InvalidArgumentError(
            "bad_request", "pass either api_url= or base_url= (its alias), not both"
        )
    url = api_url if api_url is not None else base_url
    key = api_key
    if key is None or url is None:
        for source in _sources(
            os.environ if env is None else env,
            Path.cwd() if cwd is None else cwd,
            Path.home() if home is None else home,
        ):
            if key is None and "api_key" in source:
                key = source["api_key"]
            if url is None and "api_url" in source:
                url = source["api_url"]
            if key is not None and url is not None:
                break
    if not key:
        raise AuthError(
            "missing_api_key",
            "no Nullspace API key: pass api_key=, set NULLSPACE_API_KEY, put it in ./.env, "
            "or in ~/.config/nullspace/config.json",
        )
    url = (url or DEFAULT_API_URL).strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise InvalidArgumentError(
            "bad_request", f"API URL must start with http:// or https://, got {url!r}"
        )
    timeout = DEFAULT_REQUEST_TIMEOUT if request_timeout is None else float(request_timeout)
    if timeout <= 0:
        raise InvalidArgumentError("bad_request", "request_timeout must be positive")
    return ClientConfig(api_key=key, api_url=url, request_timeout=timeout)
