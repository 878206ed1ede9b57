"""Config precedence: explicit > env > ./.env > ~/.config > legacy ~/.nullspace > default."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

import nullspace
from nullspace import AuthError, InvalidArgumentError, resolve_config
from nullspace._config import DEFAULT_API_URL, parse_dotenv

from .conftest import machine_json


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def home() -> Path:
    return Path.home()


def all_sources(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NULLSPACE_API_KEY", "ns_env")
    monkeypatch.setenv("NULLSPACE_API_URL", "http://env:1")
    Path(".env").write_text("NULLSPACE_API_KEY=ns_dotenv\nNULLSPACE_API_URL=http://dotenv:1\n")
    write_json(
        home / ".config/nullspace/config.json", {"api_key": "ns_xdg", "api_url": "http://xdg:1"}
    )
    write_json(
        home / ".nullspace/config.json", {"api_key": "ns_legacy", "api_url": "http://legacy:1"}
    )


def test_no_key_anywhere() -> None:
    with pytest.raises(AuthError) as info:
        resolve_config()
    assert info.value.code == "missing_api_key"
    assert "NULLSPACE_API_KEY" in info.value.message


def test_default_url() -> None:
    assert resolve_config(api_key="k").api_url == DEFAULT_API_URL == "http://127.0.0.1:7070"


def test_explicit_wins(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    all_sources(home, monkeypatch)
    cfg = resolve_config(api_key="ns_arg", api_url="http://arg:1/")
    assert (cfg.api_key, cfg.api_url) == ("ns_arg", "http://arg:1")


def test_base_url_alias(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    all_sources(home, monkeypatch)
    assert resolve_config(base_url="http://alias:2").api_url == "http://alias:2"
    with pytest.raises(InvalidArgumentError):
        resolve_config(api_url="http://a", base_url="http://b")


def test_env_second(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    all_sources(home, monkeypatch)
    cfg = resolve_config()
    assert (cfg.api_key, cfg.api_url) == ("ns_env", "http://env:1")


def test_dotenv_third(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    all_sources(home, monkeypatch)
    monkeypatch.delenv("NULLSPACE_API_KEY")
    monkeypatch.delenv("NULLSPACE_API_URL")
    cfg = resolve_config()
    assert (cfg.api_key, cfg.api_url) == ("ns_dotenv", "http://dotenv:1")


def test_xdg_fourth(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    all_sources(home, monkeypatch)
    monkeypatch.delenv("NULLSPACE_API_KEY")
    monkeypatch.delenv("NULLSPACE_API_URL")
    Path(".env").unlink()
    cfg = resolve_config()
    assert (cfg.api_key, cfg.api_url) == ("ns_xdg", "http://xdg:1")


def test_xdg_config_home_respected(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    write_json(tmp_path / "nullspace/config.json", {"api_key": "ns_xdghome"})
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert resolve_config().api_key == "ns_xdghome"


def test_legacy_fifth(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_json(
        home / ".nullspace/config.json", {"api_key": "ns_legacy", "base_url": "http://legacy:1"}
    )
    cfg = resolve_config()
    assert (cfg.api_key, cfg.api_url) == ("ns_legacy", "http://legacy:1")


def test_fields_resolve_independently(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NULLSPACE_API_URL", "http://env:1")
    Path(".env").write_text("NULLSPACE_API_URL=http://dotenv:1\n")
    write_json(home / ".nullspace/config.json", {"api_key": "ns_legacy"})
    cfg = resolve_config()
    assert (cfg.api_key, cfg.api_url) == ("ns_legacy", "http://env:1")
    assert resolve_config(api_key="ns_arg").api_url == "http://env:1"


def test_empty_env_is_unset(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NULLSPACE_API_KEY", "")
    Path(".env").write_text("NULLSPACE_API_KEY=ns_dotenv\n")
    assert resolve_config().api_key == "ns_dotenv"


def test_broken_files_are_ignored(home: Path) -> None:
    (home / ".config/nullspace").mkdir(parents=True)
    (home / ".config/nullspace/config.json").write_text("{not json")
    write_json(home / ".nullspace/config.json", ["not", "a", "dict"])
    with pytest.raises(AuthError):
        resolve_config()


def test_parse_dotenv() -> None:
    text = """
# comment
export NULLSPACE_API_KEY="ns_quoted"
NULLSPACE_API_URL='http://single:1'
OTHER = spaced value # trailing comment
NOEQUALS
=novalue
"""
    assert parse_dotenv(text) == {
        "NULLSPACE_API_KEY": "ns_quoted",
        "NULLSPACE_API_URL": "http://single:1",
        "OTHER": "spaced value",
    }


def test_bad_url_and_timeout() -> None:
    with pytest.raises(InvalidArgumentError):
        resolve_config(api_key="k", api_url="ftp://x")
    with pytest.raises(InvalidArgumentError):
        resolve_config(api_key="k", request_timeout=0)
    assert resolve_config(api_key="k", request_timeout=5).request_timeout == 5.0


def test_machine_uses_resolved_config(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the env key and .env URL reach the wire."""
    monkeypatch.setenv("NULLSPACE_API_KEY", "ns_from_env")
    Path(".env").write_text("NULLSPACE_API_URL=http://from-dotenv:9\n")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=machine_json())

    nullspace.Machine.get_info_by_id("sb_abc123", transport=httpx.MockTransport(handler))
    assert seen[0].headers["authorization"] == "Bearer ns_from_env"
    assert str(seen[0].url) == "http://from-dotenv:9/v1/machines/sb_abc123"


def test_missing_key_raises_before_any_request() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500)

    transport = httpx.MockTransport(handler)
    with pytest.raises(AuthError):
        nullspace.Machine.create(transport=transport)
    with pytest.raises(AuthError):
        nullspace.Machine.list(transport=transport)
    assert seen == []
