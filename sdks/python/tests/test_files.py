"""machine.files on the fake API, both flavours."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

import nullspace
from nullspace import BatchWriteError, EntryInfo, InvalidArgumentError, WriteEntry

from .conftest import MACHINE_ID, Flavour, entry_json, error_response, maybe

FILES = f"/v1/machines/{MACHINE_ID}/files"


async def test_read_text(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", FILES, content="héllo\n".encode())
    assert await maybe(machine.files.read("/workspace/a.txt")) == "héllo\n"
    req = flavour.api.last
    assert (req.method, req.path, req.params) == (
        "GET",
        FILES,
        [("path", "/workspace/a.txt"), ("user", "user")],
    )
    assert req.headers["accept"] == "application/octet-stream"


async def test_read_bytes(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", FILES, content=b"\x00\xff\x10")
    assert await maybe(machine.files.read("a.bin", format="bytes")) == b"\x00\xff\x10"


async def test_read_bad_format(flavour: Flavour) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.read("a", format="json"))


async def test_read_missing(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", FILES, response=error_response(404, "not_found", "no such file"))
    with pytest.raises(nullspace.NotFoundError):
        await maybe(machine.files.read("/nope"))


async def test_write_text(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json())
    info = await maybe(machine.files.write("/workspace/a.txt", "hello"))
    assert isinstance(info, EntryInfo)
    assert info.modified_time.tzinfo is not None
    assert info.is_file and not info.is_dir
    req = flavour.api.last
    assert req.method == "PUT"
    assert req.params == [("path", "/workspace/a.txt"), ("user", "user")]
    assert req.body == b"hello"
    assert req.headers["content-type"] == "application/octet-stream"


async def test_write_bytes_user_mode(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json(mode=0o755))
    await maybe(machine.files.write("/x", b"\x00\x01", user="root", mode=0o755))
    req = flavour.api.last
    assert req.params == [("path", "/x"), ("user", "root"), ("mode", "0755")]
    assert req.body == b"\x00\x01"


async def test_write_mode_string(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json())
    await maybe(machine.files.write("/x", "", mode="600"))
    assert flavour.api.last.param("mode") == "0600"


async def test_write_files_all_input_shapes(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "POST", f"{FILES}/batch", {"files": [entry_json("/a"), entry_json("/b"), entry_json("/c")]}
    )
    infos = await maybe(
        machine.files.write_files(
            [
                WriteEntry("/a", "text"),
                ("/b", b"\x00bin"),
                {"path": "/c", "data": "dict"},
            ],
            user="root",
        )
    )
    assert [i.path for i in infos] == ["/a", "/b", "/c"]
    assert flavour.api.last.json() == {
        "files": [
            {"path": "/a", "content": "text"},
            {"path": "/b", "content_base64": base64.b64encode(b"\x00bin").decode()},
            {"path": "/c", "content": "dict"},
        ],
        "user": "root",
    }


async def test_write_files_failure(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "POST", f"{FILES}/batch", response=error_response(403, "reserved_path", "reserved")
    )
    with pytest.raises(BatchWriteError) as info:
        await maybe(machine.files.write_files([("/workspace/.nullspace/x", "1"), ("/b", "2")]))
    assert info.value.code == "reserved_path"
    assert info.value.status == 403
    assert info.value.paths == ["/workspace/.nullspace/x", "/b"]
    assert isinstance(info.value.__cause__, nullspace.FilesystemError)


async def test_write_files_machine_errors_pass_through(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{FILES}/batch", response=error_response(404, "not_found"))
    with pytest.raises(nullspace.NotFoundError):
        await maybe(machine.files.write_files([("/a", "1")]))


async def test_write_files_bad_input(flavour: Flavour) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.write_files([{"nopath": 1}]))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.write_files([42]))
    assert flavour.api.requests == []


async def test_list(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "GET",
        f"{FILES}/list",
        {
            "entries": [
                entry_json("/w/d", type="dir", mode=0o755),
                entry_json("/w/l", type="symlink", symlink_target="/w/d"),
            ]
        },
    )
    entries = await maybe(machine.files.list("/w", depth=3))
    assert flavour.api.last.params == [("path", "/w"), ("user", "user"), ("depth", "3")]
    assert [e.type for e in entries] == ["dir", "symlink"]
    assert entries[0].is_dir
    assert entries[1].symlink_target == "/w/d"
    await maybe(machine.files.list("/w"))
    assert flavour.api.last.param("depth") == "1"


@pytest.mark.parametrize("value", [True, False])
async def test_exists(flavour: Flavour, value: bool) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{FILES}/exists", {"exists": value})
    assert await maybe(machine.files.exists("/x")) is value
    assert flavour.api.last.params == [("path", "/x"), ("user", "user")]


async def test_get_info(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", f"{FILES}/info", entry_json("/x", size=42, owner="root"))
    info = await maybe(machine.files.get_info("/x"))
    assert (info.size, info.owner, info.permissions) == (42, "root", "rw-r--r--")
    assert info.modified_time == datetime(2026, 1, 2, 3, 4, 5, 123000, tzinfo=UTC)
    assert flavour.api.last.params == [("path", "/x"), ("user", "user")]


@pytest.mark.parametrize("created", [True, False])
async def test_make_dir(flavour: Flavour, created: bool) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{FILES}/mkdir", {"created": created})
    assert await maybe(machine.files.make_dir("/d/e")) is created
    assert flavour.api.last.json() == {"path": "/d/e", "user": "user"}
    await maybe(machine.files.make_dir("/d", user="root"))
    assert flavour.api.last.json() == {"path": "/d", "user": "root"}


async def test_rename(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{FILES}/rename", entry_json("/new"))
    info = await maybe(machine.files.rename("/old", "/new"))
    assert info.path == "/new"
    assert flavour.api.last.json() == {"source": "/old", "destination": "/new", "user": "user"}


@pytest.mark.parametrize("recursive,expected", [(True, "true"), (False, "false")])
async def test_remove(flavour: Flavour, recursive: bool, expected: str) -> None:
    machine = await flavour.machine()
    flavour.api.on("DELETE", FILES, status=204)
    assert await maybe(machine.files.remove("/x", recursive=recursive)) is None
    assert flavour.api.last.method == "DELETE"
    assert flavour.api.last.params == [("path", "/x"), ("user", "user"), ("recursive", expected)]


async def test_remove_default_recursive(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("DELETE", FILES, status=204)
    await maybe(machine.files.remove("/x"))
    assert flavour.api.last.param("recursive") == "true"


@pytest.mark.parametrize(
    "mode,sent", [(0o644, "0644"), (0o4755, "4755"), ("755", "0755"), ("0o600", "0600")]
)
async def test_chmod(flavour: Flavour, mode: int | str, sent: str) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{FILES}/chmod", entry_json(mode=0o644))
    info = await maybe(machine.files.chmod("/x", mode))
    assert info.mode == 0o644
    assert flavour.api.last.json() == {"path": "/x", "mode": sent, "user": "user"}


@pytest.mark.parametrize("mode", ["rwx", "999", -1, 0o10000, True])
async def test_chmod_bad_mode(flavour: Flavour, mode: object) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.chmod("/x", mode))
    assert flavour.api.requests == []


@pytest.mark.parametrize(
    "status,code,exc",
    [
        (403, "reserved_path", nullspace.FilesystemError),
        (403, "permission_denied", nullspace.FilesystemError),
        (409, "already_exists", nullspace.FilesystemError),
        (409, "not_empty", nullspace.FilesystemError),
        (422, "path_escapes_root", InvalidArgumentError),
        (422, "wrong_entry_type", InvalidArgumentError),
        (413, "payload_too_large", InvalidArgumentError),
    ],
)
async def test_file_errors(
    flavour: Flavour, status: int, code: str, exc: type[nullspace.NullspaceError]
) -> None:
    machine = await flavour.machine()
    flavour.api.on("DELETE", FILES, response=error_response(status, code))
    with pytest.raises(exc) as info:
        await maybe(machine.files.remove("/x", recursive=False))
    assert info.value.code == code
    assert info.value.status == status


async def test_empty_path_rejected(flavour: Flavour) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.exists(""))


# -- the user whose rights a file operation has ------------------------------------

# (method, args, HTTP method, route suffix, answer, where ``user`` travels)
USER_OPS: list[tuple[str, tuple[object, ...], str, str, object, str]] = [
    ("read", ("/etc/shadow",), "GET", "", b"root:*:", "query"),
    ("write", ("/etc/x", "data"), "PUT", "", entry_json("/etc/x"), "query"),
    ("write_files", ([("/etc/x", "data")],), "POST", "/batch", {"files": []}, "body"),
    ("list", ("/root",), "GET", "/list", {"entries": []}, "query"),
    ("exists", ("/root/x",), "GET", "/exists", {"exists": True}, "query"),
    ("get_info", ("/root/x",), "GET", "/info", entry_json("/root/x"), "query"),
    ("make_dir", ("/etc/d",), "POST", "/mkdir", {"created": True}, "body"),
    ("rename", ("/etc/a", "/etc/b"), "POST", "/rename", entry_json("/etc/b"), "body"),
    ("remove", ("/etc/x",), "DELETE", "", None, "query"),
    ("chmod", ("/etc/x", 0o600), "POST", "/chmod", entry_json("/etc/x"), "body"),
]


def _on(flavour: Flavour, http: str, suffix: str, answer: object) -> None:
    if isinstance(answer, bytes):
        flavour.api.on(http, FILES + suffix, content=answer)
    elif answer is None:
        flavour.api.on(http, FILES + suffix, status=204)
    else:
        flavour.api.on(http, FILES + suffix, answer)


def _sent_user(flavour: Flavour, where: str) -> object:
    req = flavour.api.last
    if where == "query":
        assert [k for k, _ in req.params].count("user") == 1, req.params
        return req.param("user")
    return req.json().get("user")


@pytest.mark.parametrize("name,args,http,suffix,answer,where", USER_OPS)
async def test_every_file_op_runs_as_user_by_default_and_as_root_when_named(
    flavour: Flavour,
    name: str,
    args: tuple[object, ...],
    http: str,
    suffix: str,
    answer: object,
    where: str,
) -> None:
    machine = await flavour.machine()
    _on(flavour, http, suffix, answer)
    await maybe(getattr(machine.files, name)(*args))
    assert _sent_user(flavour, where) == "user"  # the default is named, never left out
    await maybe(getattr(machine.files, name)(*args, user="root"))
    assert _sent_user(flavour, where) == "root"
    assert (flavour.api.last.method, flavour.api.last.path) == (http, FILES + suffix)


@pytest.mark.parametrize("name,args,http,suffix,answer,where", USER_OPS)
async def test_file_op_user_in_the_e2b_position(
    flavour: Flavour,
    name: str,
    args: tuple[object, ...],
    http: str,
    suffix: str,
    answer: object,
    where: str,
) -> None:
    """``user`` may be passed positionally where E2B has it: after the path (and the
    data, format, depth, new path or mode the method takes first)."""
    machine = await flavour.machine()
    _on(flavour, http, suffix, answer)
    positional = {"read": ("text",), "list": (1,)}.get(name, ())
    await maybe(getattr(machine.files, name)(*args, *positional, "root"))
    assert _sent_user(flavour, where) == "root"


@pytest.mark.parametrize("user", ["", 0, ["root"]])
async def test_bad_user_rejected_before_any_request(flavour: Flavour, user: object) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.read("/x", user=user))
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.chmod("/x", 0o600, user=user))
    assert flavour.api.requests == []


async def test_user_none_means_the_default_user(flavour: Flavour) -> None:
    """Callers that passed ``user=None`` for "the server's default" still get it."""
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, entry_json())
    await maybe(machine.files.write("/x", "1", user=None))
    assert flavour.api.last.param("user") == "user"


async def test_permission_denied_for_the_user(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "GET", FILES, response=error_response(403, "permission_denied", "user may not read")
    )
    with pytest.raises(nullspace.FilesystemError) as info:
        await maybe(machine.files.read("/etc/shadow"))
    assert (info.value.code, info.value.status) == ("permission_denied", 403)


# -- ranged reads and the read limit -------------------------------------------------


async def test_read_range(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", FILES, content=b"tail")
    data = await maybe(
        machine.files.read("/tmp/big", format="bytes", user="root", offset=135266300, limit=4)
    )
    assert data == b"tail"
    assert flavour.api.last.params == [
        ("path", "/tmp/big"),
        ("user", "root"),
        ("offset", "135266300"),
        ("limit", "4"),
    ]


async def test_read_offset_alone_and_limit_zero(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("GET", FILES, content=b"")
    assert await maybe(machine.files.read("/f", offset=7)) == ""
    assert flavour.api.last.param("offset") == "7" and flavour.api.last.param("limit") is None
    await maybe(machine.files.read("/f", limit=0))
    assert flavour.api.last.param("limit") == "0" and flavour.api.last.param("offset") is None


@pytest.mark.parametrize(
    "kwargs", [{"offset": -1}, {"limit": -5}, {"limit": 1.5}, {"offset": "3"}, {"limit": True}]
)
async def test_read_bad_range_rejected(flavour: Flavour, kwargs: dict[str, object]) -> None:
    machine = await flavour.machine()
    with pytest.raises(InvalidArgumentError):
        await maybe(machine.files.read("/f", **kwargs))
    assert flavour.api.requests == []


async def test_read_too_large_needs_a_limit(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on(
        "GET",
        FILES,
        response=error_response(413, "file_too_large", "larger than 134217728 bytes"),
    )
    with pytest.raises(nullspace.FileTooLargeError) as info:
        await maybe(machine.files.read("/dev/zero", format="bytes"))
    assert (info.value.code, info.value.status) == ("file_too_large", 413)
    # an older `except InvalidArgumentError` (what a 413 used to raise) still catches it
    assert isinstance(info.value, InvalidArgumentError)


async def test_write_no_space(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("PUT", FILES, response=error_response(507, "no_space", "disk full"))
    with pytest.raises(nullspace.NotEnoughSpaceError) as info:
        await maybe(machine.files.write("/workspace/big", b"x"))
    assert isinstance(info.value, nullspace.FilesystemError)
    assert (info.value.code, info.value.status) == ("no_space", 507)


async def test_write_files_no_space_is_a_batch_error(flavour: Flavour) -> None:
    machine = await flavour.machine()
    flavour.api.on("POST", f"{FILES}/batch", response=error_response(507, "no_space", "full"))
    with pytest.raises(BatchWriteError) as info:
        await maybe(machine.files.write_files([("/a", "1"), ("/b", "2")]))
    assert (info.value.code, info.value.status, info.value.paths) == ("no_space", 507, ["/a", "/b"])
    assert isinstance(info.value.__cause__, nullspace.NotEnoughSpaceError)
