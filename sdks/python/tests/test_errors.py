"""Error mapping: JSON ``error.code`` first, HTTP status second (both flavours)."""

from __future__ import annotations

import httpx
import pytest

import nullspace
from nullspace import errors

from .conftest import MACHINE_ID, Flavour, error_response, maybe

ALL_CODES = [
    (400, "bad_request", errors.InvalidArgumentError),
    (422, "validation_error", errors.InvalidArgumentError),
    (401, "unauthorized", errors.AuthError),
    (404, "not_found", errors.NotFoundError),
    (409, "machine_not_running", errors.MachineError),
    (409, "conflict", errors.ConflictError),
    (413, "payload_too_large", errors.InvalidArgumentError),
    (429, "rate_limited", errors.RateLimitError),
    (422, "cwd_not_found", errors.InvalidArgumentError),
    (422, "command_not_found", errors.InvalidArgumentError),
    (422, "user_not_found", errors.InvalidArgumentError),
    (422, "path_escapes_root", errors.InvalidArgumentError),
    (403, "reserved_path", errors.FilesystemError),
    (403, "permission_denied", errors.FilesystemError),
    (409, "already_exists", errors.FilesystemError),
    (409, "not_empty", errors.FilesystemError),
    (409, "snapshot_in_use", errors.SnapshotInUseError),
    (409, "state_corrupt", errors.StateCorruptError),
    (422, "wrong_entry_type", errors.InvalidArgumentError),
    (504, "command_timeout", errors.TimeoutError),
    (413, "output_limit_exceeded", errors.OutputLimitError),
    (502, "machine_died", errors.MachineError),
    (503, "unavailable", errors.ServerError),
    (500, "internal", errors.ServerError),
    (405, "method_not_allowed", errors.InvalidArgumentError),
    (422, "idempotency_key_reused", errors.IdempotencyKeyReusedError),
    (413, "file_too_large", errors.FileTooLargeError),
    (507, "no_space", errors.NotEnoughSpaceError),
    (404, "process_not_found", errors.ProcessNotFoundError),
    (409, "process_exited", errors.ProcessExitedError),
    (409, "stdin_closed", errors.StdinClosedError),
    (409, "not_a_pty", errors.NotAPtyError),
    (409, "tag_in_use", errors.TagInUseError),
    (409, "agent_outdated", errors.AgentOutdatedError),
    (422, "invalid_pattern", errors.InvalidPatternError),
    (404, "upload_not_found", errors.UploadNotFoundError),
    (410, "upload_expired", errors.UploadExpiredError),
    (422, "upload_checksum_mismatch", errors.UploadChecksumError),
    (409, "upload_state", errors.UploadStateError),
    (409, "upload_conflict", errors.UploadConflictError),
    (413, "upload_too_large", errors.UploadLimitError),
    (422, "upload_path_invalid", errors.UploadPathError),
    (409, "upload_chunk_invalid", errors.UploadChunkError),
    (422, "git_auth_failed", errors.GitAuthError),
    (404, "git_repository_not_found", errors.GitRepositoryNotFoundError),
    (422, "git_not_a_repository", errors.GitNotARepositoryError),
    (404, "git_ref_not_found", errors.GitRefNotFoundError),
    (409, "git_push_rejected", errors.GitPushRejectedError),
    (409, "git_conflict", errors.GitConflictError),
    (409, "git_nothing_to_commit", errors.GitNothingToCommitError),
    (422, "git_failed", errors.GitError),
    (401, "preview_token_required", errors.PreviewTokenRequiredError),
    (403, "preview_token_invalid", errors.PreviewTokenInvalidError),
    (404, "preview_grant_not_found", errors.PreviewGrantNotFoundError),
    (502, "preview_upstream_unavailable", errors.PreviewUpstreamUnavailableError),
    (422, "ssh_key_invalid", errors.SshKeyInvalidError),
    (404, "ssh_access_not_found", errors.SshAccessNotFoundError),
    (404, "template_not_found", errors.TemplateNotFoundError),
    (404, "build_not_found", errors.BuildNotFoundError),
    (409, "template_in_use", errors.TemplateInUseError),
]


def test_every_spec_code_is_mapped() -> None:
    assert len({code for _, code, _ in ALL_CODES}) == 60


def test_process_codes_keep_older_except_clauses() -> None:
    # an older SDK raised these classes for the statuses of the process codes
    assert issubclass(errors.ProcessNotFoundError, errors.NotFoundError)
    for cls in (
        errors.ProcessExitedError,
        errors.StdinClosedError,
        errors.NotAPtyError,
        errors.TagInUseError,
        errors.AgentOutdatedError,
    ):
        assert issubclass(cls, errors.ConflictError)
    assert issubclass(errors.AgentOutdatedError, errors.MachineError)


@pytest.mark.parametrize("status,code,exc", ALL_CODES)
async def test_code_mapping(
    flavour: Flavour, status: int, code: str, exc: type[nullspace.NullspaceError]
) -> None:
    flavour.api.on(
        "GET", f"/v1/machines/{MACHINE_ID}", response=error_response(status, code, "the msg")
    )
    with pytest.raises(exc) as info:
        await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    err = info.value
    assert isinstance(err, nullspace.NullspaceError)
    assert (err.code, err.message, err.status) == (code, "the msg", status)
    assert "the msg" in str(err) and code in str(err)


@pytest.mark.parametrize(
    "status,exc,code",
    [
        (400, errors.InvalidArgumentError, "bad_request"),
        (401, errors.AuthError, "unauthorized"),
        (403, errors.FilesystemError, "http_403"),
        (404, errors.NotFoundError, "not_found"),
        (405, errors.InvalidArgumentError, "method_not_allowed"),
        (409, errors.ConflictError, "conflict"),
        (422, errors.InvalidArgumentError, "validation_error"),
        (429, errors.RateLimitError, "rate_limited"),
        (500, errors.ServerError, "internal"),
        (502, errors.MachineError, "machine_died"),
        (503, errors.ServerError, "unavailable"),
        (504, errors.TimeoutError, "command_timeout"),
        (507, errors.NotEnoughSpaceError, "no_space"),
        (418, errors.NullspaceError, "http_418"),
    ],
)
async def test_status_fallback_without_json(
    flavour: Flavour, status: int, exc: type[nullspace.NullspaceError], code: str
) -> None:
    flavour.api.on(
        "GET", f"/v1/machines/{MACHINE_ID}", response=httpx.Response(status, text="plain text")
    )
    with pytest.raises(exc) as info:
        await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    assert type(info.value) is exc
    assert info.value.code == code
    assert info.value.message == "plain text"


async def test_unknown_code_uses_status(flavour: Flavour) -> None:
    flavour.api.on(
        "GET", f"/v1/machines/{MACHINE_ID}", response=error_response(404, "brand_new_code")
    )
    with pytest.raises(errors.NotFoundError) as info:
        await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    assert info.value.code == "brand_new_code"


async def test_code_wins_over_status(flavour: Flavour) -> None:
    flavour.api.on(
        "GET", f"/v1/machines/{MACHINE_ID}", response=error_response(400, "unauthorized")
    )
    with pytest.raises(errors.AuthError):
        await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))


async def test_empty_error_body(flavour: Flavour) -> None:
    flavour.api.on("GET", f"/v1/machines/{MACHINE_ID}", response=httpx.Response(503))
    with pytest.raises(errors.ServerError) as info:
        await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    assert "503" in info.value.message


async def test_connection_error_names_url(flavour: Flavour) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    flavour.api.on("POST", "/v1/machines", response=refuse)
    with pytest.raises(errors.ServerError) as info:
        await maybe(flavour.Machine.create(**flavour.conn()))
    assert info.value.code == "connection_error"
    assert info.value.status is None
    assert "http://nullspace.test:7070" in info.value.message
    assert "connection refused" in info.value.message
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_invalid_json_success_is_server_error(flavour: Flavour) -> None:
    flavour.api.on("GET", f"/v1/machines/{MACHINE_ID}", response=httpx.Response(200, text="<html>"))
    with pytest.raises(errors.ServerError) as info:
        await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    assert info.value.code == "invalid_response"


async def test_wrong_shape_is_server_error(flavour: Flavour) -> None:
    flavour.api.on("GET", f"/v1/machines/{MACHINE_ID}", {"id": MACHINE_ID})
    with pytest.raises(errors.ServerError) as info:
        await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    assert info.value.code == "invalid_response"


def test_repr_and_batch_paths() -> None:
    err = errors.BatchWriteError("not_empty", "m", 409, ["/a"])
    assert err.paths == ["/a"]
    assert isinstance(err, nullspace.NullspaceError)
    assert "BatchWriteError(code='not_empty'" in repr(err)
    assert str(errors.ServerError("connection_error", "down")) == "down (connection_error)"


def test_matches_the_spec_error_codes() -> None:
    """Every code of the spec's ErrorBody enum maps to the class this file expects."""
    import re
    from pathlib import Path

    spec = Path(__file__).resolve().parents[3] / "spec" / "openapi.yaml"
    if not spec.is_file():
        pytest.skip("spec/openapi.yaml not beside the SDK (installed from sdist)")
    match = re.search(r"enum: \[(bad_request[^\]]*)\]", spec.read_text())
    assert match is not None
    spec_codes = {c.strip() for c in match.group(1).split(",")}
    assert spec_codes == {code for _, code, _ in ALL_CODES}
    for _, code, exc in ALL_CODES:
        assert errors.error_class(code, None) is exc


def test_lifecycle_errors_subclass_the_broad_ones() -> None:
    """Code catching the broad classes keeps working for the two lifecycle codes."""
    assert issubclass(errors.SnapshotInUseError, errors.ConflictError)
    assert issubclass(errors.StateCorruptError, errors.MachineError)
    assert nullspace.SnapshotInUseError is errors.SnapshotInUseError
    assert nullspace.StateCorruptError is errors.StateCorruptError


async def test_state_corrupt_on_resume(flavour: Flavour) -> None:
    flavour.api.on(
        "POST",
        f"/v1/machines/{MACHINE_ID}/resume",
        response=error_response(409, "state_corrupt", "memory file checksum mismatch"),
    )
    with pytest.raises(errors.StateCorruptError) as info:
        await maybe(flavour.Machine.resume_by_id(MACHINE_ID, **flavour.conn()))
    assert isinstance(info.value, errors.MachineError)
    assert (info.value.code, info.value.status) == ("state_corrupt", 409)
    assert "checksum" in info.value.message


def test_new_codes_subclass_what_older_sdks_raised() -> None:
    """``except`` clauses written for the classes an older SDK raised keep working."""
    # 413 used to be InvalidArgumentError by status
    assert issubclass(errors.FileTooLargeError, errors.InvalidArgumentError)
    # a reused key used to be 409 ``conflict``; 422 by status is InvalidArgumentError
    assert issubclass(errors.IdempotencyKeyReusedError, errors.ConflictError)
    assert issubclass(errors.IdempotencyKeyReusedError, errors.InvalidArgumentError)
    # a full disk refuses a filesystem operation; it used to be a 500 / by status 5xx
    assert issubclass(errors.NotEnoughSpaceError, errors.FilesystemError)
    assert issubclass(errors.NotEnoughSpaceError, errors.ServerError)
    for name in ("FileTooLargeError", "IdempotencyKeyReusedError", "NotEnoughSpaceError"):
        assert getattr(nullspace, name) is getattr(errors, name)
        assert name in nullspace.__all__


async def test_idempotency_key_reused_on_create(flavour: Flavour) -> None:
    flavour.api.on(
        "POST",
        "/v1/machines",
        response=error_response(422, "idempotency_key_reused", "key k was used for another body"),
    )
    with pytest.raises(errors.ConflictError) as info:
        await maybe(flavour.Machine.create(idempotency_key="k", **flavour.conn()))
    assert type(info.value) is errors.IdempotencyKeyReusedError
    assert (info.value.code, info.value.status) == ("idempotency_key_reused", 422)


async def test_method_not_allowed(flavour: Flavour) -> None:
    flavour.api.on(
        "GET",
        f"/v1/machines/{MACHINE_ID}",
        response=httpx.Response(
            405,
            json={"error": {"code": "method_not_allowed", "message": "allowed: DELETE"}},
            headers={"Allow": "DELETE"},
        ),
    )
    with pytest.raises(errors.InvalidArgumentError) as info:
        await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    assert (info.value.code, info.value.status) == ("method_not_allowed", 405)


# -- Retry-After on 429 ---------------------------------------------------------------


def rate_limited(retry_after: str | None, *, json: bool = True) -> httpx.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    if not json:
        return httpx.Response(429, text="slow down", headers=headers)
    body = {"error": {"code": "rate_limited", "message": "slow down"}}
    return httpx.Response(429, json=body, headers=headers)


@pytest.mark.parametrize(
    "header,seconds", [("7", 7.0), ("0", 0.0), ("2.5", 2.5), (None, None), ("soon", None)]
)
async def test_rate_limit_retry_after(
    flavour: Flavour, header: str | None, seconds: float | None
) -> None:
    flavour.api.on("GET", f"/v1/machines/{MACHINE_ID}", response=rate_limited(header))
    with pytest.raises(errors.RateLimitError) as info:
        await maybe(flavour.Machine.get_info_by_id(MACHINE_ID, **flavour.conn()))
    assert info.value.retry_after == seconds
    assert (info.value.code, info.value.status) == ("rate_limited", 429)


async def test_rate_limit_retry_after_without_json(flavour: Flavour) -> None:
    flavour.api.on("POST", "/v1/machines", response=rate_limited("3", json=False))
    with pytest.raises(errors.RateLimitError) as info:
        await maybe(flavour.Machine.create(**flavour.conn()))
    assert info.value.retry_after == 3.0


def test_retry_after_http_date() -> None:
    from datetime import UTC, datetime

    from nullspace._transport import retry_after_seconds

    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert retry_after_seconds("Fri, 02 Jan 2026 03:04:35 GMT", now) == 30.0
    assert retry_after_seconds("Fri, 02 Jan 2026 03:04:00 GMT", now) == 0.0  # past: now
    assert retry_after_seconds("-4", now) == 0.0
    assert retry_after_seconds("inf", now) is None
    assert retry_after_seconds("", now) is None


def test_rate_limit_error_built_by_hand() -> None:
    assert errors.RateLimitError("rate_limited", "m", 429).retry_after is None
    assert errors.RateLimitError("rate_limited", "m", 429, retry_after=1.0).retry_after == 1.0
