"""The public surface of ``nullspace``."""

from __future__ import annotations

from importlib.metadata import version

import nullspace


def test_version() -> None:
    assert nullspace.__version__ == "1.0.0" == version("nullspace-sdk")


def test_exports() -> None:
    for name in nullspace.__all__:
        assert hasattr(nullspace, name), name
    for name in [
        "Machine",
        "AsyncMachine",
        "Sandbox",
        "AsyncSandbox",
        "MachineInfo",
        "CommandResult",
        "EntryInfo",
        "WriteEntry",
        "NullspaceError",
        "AuthError",
        "NotFoundError",
        "TimeoutError",
        "MachineError",
        "SandboxError",
        "InvalidArgumentError",
        "FilesystemError",
        "RateLimitError",
        "ServerError",
        "OutputLimitError",
        "BatchWriteError",
        "Snapshot",
        "AsyncSnapshot",
        "SnapshotInfo",
        "SnapshotPaginator",
        "AsyncSnapshotPaginator",
        "MachineMetrics",
        "TimeoutAction",
        "SnapshotInUseError",
        "StateCorruptError",
        "SignedUrl",
    ]:
        assert name in nullspace.__all__, name


def test_exceptions_hierarchy() -> None:
    for name in nullspace.errors.__all__:
        obj = getattr(nullspace.errors, name)
        if isinstance(obj, type):
            assert issubclass(obj, nullspace.NullspaceError)


def test_py_typed_shipped() -> None:
    from importlib.resources import files

    assert files("nullspace").joinpath("py.typed").is_file()
