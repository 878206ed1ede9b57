"""Signed file URLs (``files.signed_url`` / ``download_url`` / ``upload_url`` and the
machine's wrappers) on the fake API, both flavours."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import nullspace
from nullspace import InvalidArgumentError, SignedUrl

from .conftest import API_KEY, MACHINE_ID, Flavour, error_response, maybe

FILES = f"/v1/machines/{MACHINE_ID}/files"
DOWNLOAD = f"{FILES}/download-url"
UPLOAD = f"{FILES}/upload-url"

# (method of the URL, route that makes it, name of the files method returning the URL)
KINDS = [("GET", DOWNLOAD, "download_url"), ("PUT", UPLOAD, "upload_url")]


def signed_json(method: str = "GET", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "url": f"http://nullspace.test:7070/v1/signed/files?m={MACHINE_ID}&sig=abc123",
        "method": method,
        "expires_at": "2026-01-02T04:04:05Z",
        "path": "/workspace/a.txt",
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize("method,route,name", KINDS)
async def test_url_request_and_answer(flavour: Flavour, method: str, route: str, name: str) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", route, signed_json(method))
    url = await maybe(getattr(machine.files, name)("/workspace/a.txt"))
    assert url == signed_json()["url"]
    req = flavour.api.last
    assert (req.method, req.path, req.params) == ("POST", route, [])
    assert req.headers["authorization"] == f"Bearer {API_KEY}"
    assert req.headers["content-type"] == "application/json"
    # the default user is named, never left out; expires_in is the server's default
    assert req.json() == {"path": "/workspace/a.txt", "user": "user"}


@pytest.mark.parametrize("method,route,name", KINDS)
async def test_url_user_and_expiry_sent(
    flavour: Flavour, method: str, route: str, name: str
) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", route, signed_json(method))
    await maybe(getattr(machine.files, name)("rel/b.bin", user="root", expires_in=600))
    assert flavour.api.last.json() == {"path": "rel/b.bin", "user": "root", "expires_in": 600}


@pytest.mark.parametrize("method,route,name", KINDS)
async def test_machine_wrappers(flavour: Flavour, method: str, route: str, name: str) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", route, signed_json(method))
    url = await maybe(getattr(machine, name)("/workspace/a.txt", user="root", expires_in=60))
    assert url == signed_json()["url"]
    assert flavour.api.last.path == route
    assert flavour.api.last.json() == {"path": "/workspace/a.txt", "user": "root", "expires_in": 60}


@pytest.mark.parametrize("method,route,name", KINDS)
async def test_signed_url_decodes_the_answer(
    flavour: Flavour, method: str, route: str, name: str
) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", route, signed_json(method, extra="ignored"))
    signed = await maybe(machine.files.signed_url("/workspace/a.txt", method, expires_in=3600))
    assert isinstance(signed, SignedUrl)
    assert (signed.url, signed.method, signed.path) == (
        signed_json()["url"],
        method,
        "/workspace/a.txt",
    )
    assert signed.expires_at == datetime(2026, 1, 2, 4, 4, 5, tzinfo=UTC)
    assert flavour.api.last.path == route


@pytest.mark.parametrize("expires_in", [1, 604800])
async def test_expiry_bounds_accepted(flavour: Flavour, expires_in: int) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", DOWNLOAD, signed_json())
    await maybe(machine.files.download_url("/x", expires_in=expires_in))
    assert flavour.api.last.json()["expires_in"] == expires_in


@pytest.mark.parametrize("expires_in", [0, -1, 604801, 1.5, 60.0, "60", True])
async def test_bad_expiry_rejected_before_any_request(flavour: Flavour, expires_in: object) -> None:
    machine = await flavour.machine()
    for call in (
        lambda: machine.files.download_url("/x", expires_in=expires_in),
        lambda: machine.files.upload_url("/x", expires_in=expires_in),
        lambda: machine.files.signed_url("/x", "GET", expires_in=expires_in),
        lambda: machine.download_url("/x", expires_in=expires_in),
        lambda: machine.upload_url("/x", expires_in=expires_in),
    ):
        with pytest.raises(InvalidArgumentError) as info:
            await maybe(call())
        assert info.value.code == "bad_request"
        assert "expires_in" in info.value.message
    assert flavour.api.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"path": "", "method": "GET"},
        {"path": "/x", "method": "DELETE"},
        {"path": "/x", "method": "get"},
        {"path": "/x", "method": "GET", "user": ""},
    ],
)
async def test_bad_arguments_rejected_before_any_request(
    flavour: Flavour, kwargs: dict[str, Any]
) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.signed_url(**kwargs))
    assert flavour.api.requests == []


@pytest.mark.parametrize(
    "status,code,exc",
    [
        (401, "unauthorized", nullspace.AuthError),
        (404, "not_found", nullspace.NotFoundError),
        (409, "machine_not_running", nullspace.MachineError),
        (422, "validation_error", InvalidArgumentError),
    ],
)
@pytest.mark.parametrize("method,route,name", KINDS)
async def test_errors_mapped(
    flavour: Flavour,
    method: str,
    route: str,
    name: str,
    status: int,
    code: str,
    exc: type[nullspace.NullspaceError],
) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", route, response=error_response(status, code))
    with pytest.raises(exc) as info:
        await maybe(getattr(machine, name)("/workspace/a.txt"))
    assert (info.value.code, info.value.status) == (code, status)


@pytest.mark.parametrize(
    "answer",
    [
        signed_json("PUT"),  # a URL for the other method
        {k: v for k, v in signed_json().items() if k != "url"},
        signed_json(expires_at="soon"),
    ],
)
async def test_odd_answer_is_invalid_response(flavour: Flavour, answer: dict[str, Any]) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", DOWNLOAD, answer)
    with pytest.raises(nullspace.ServerError) as info:
        await maybe(machine.files.download_url("/workspace/a.txt"))
    assert info.value.code == "invalid_response"
