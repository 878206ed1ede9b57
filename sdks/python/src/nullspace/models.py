"""Typed results of the Nullspace API (pydantic models mirroring ``spec/openapi.yaml``).

Response models ignore fields they do not know, so a newer server does not break an
older SDK.
"""

from __future__ import annotations

import base64
import enum
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ArchiveInfo",
    "FilesystemEvent",
    "FilesystemEventType",
    "FindMatch",
    "FindResult",
    "ReplaceResult",
    "ReplacedFile",
    "UploadKind",
    "UploadPhase",
    "UploadSession",
    "UploadSessionKind",
    "CommandResult",
    "DownloadProgress",
    "DownloadResult",
    "EntryInfo",
    "GitBranch",
    "GitBranches",
    "GitCommit",
    "GitCommitResult",
    "GitConfigScope",
    "GitConfigValue",
    "GitFetchResult",
    "GitFileStatus",
    "GitPushResult",
    "GitRemote",
    "GitRepoState",
    "GitStatus",
    "MachineInfo",
    "MachineMetrics",
    "MachineState",
    "ProcessInfo",
    "ProcessLogs",
    "PtySessionInfo",
    "PtySize",
    "SandboxInfo",
    "SignedUrl",
    "SignedUrlMethod",
    "SnapshotInfo",
    "StreamFacts",
    "TimeoutAction",
    "UploadProgress",
    "UploadResult",
    "UploadTransport",
    "WriteEntry",
]

MachineState = str
"""One of ``starting``, ``running``, ``snapshotting``, ``pausing``, ``paused``,
``resuming``, ``killing``, ``killed``, ``failed`` (a plain ``str``, so states added by a
newer server still parse). ``killed`` and ``failed`` machines are kept for the server's
history retention (7 days by default) and listed only when asked for by state."""

TimeoutAction = Literal["kill", "pause", "hibernate"]
"""What happens to a machine at its timeout: ``kill`` (default) or ``pause``
(``hibernate`` is an alias; the API answers ``pause``)."""


class _Response(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MachineNetwork(_Response):
    """A machine's network policy (``MachineNetwork`` schema)."""

    allow_out: list[str] = Field(default_factory=list)
    """IPv4 networks always reachable (normalised: sorted, nested ones dropped)."""
    deny_out: list[str] = Field(default_factory=list)
    """IPv4 networks dropped."""
    allow_public_traffic: bool = True
    """Whether preview traffic needs no token."""


class MachineInfo(_Response):
    """A machine as the API describes it (``Machine`` schema)."""

    id: str
    template: str
    state: MachineState
    cpu_count: int
    memory_mb: int
    metadata: dict[str, str] = Field(default_factory=dict)
    cwd: str
    created_at: datetime
    end_at: datetime
    """When the timeout is reached (then :attr:`timeout_action` happens); for a killed
    or failed machine, when it ended."""
    timeout_action: str = "kill"
    """``kill`` or ``pause`` (a plain ``str``, like :data:`MachineState`)."""
    auto_resume: bool = False
    """Whether a request to the machine while it is paused wakes it."""
    snapshot_id: str | None = None
    """The snapshot it was started from, if any."""
    forked_from: str | None = None
    """The machine it was forked from, if any."""
    failure_reason: str | None = None
    """Why the machine failed (state ``failed`` only; ``None`` otherwise)."""
    network: MachineNetwork = Field(default_factory=lambda: MachineNetwork())
    """Its outbound CIDR lists and preview access."""
    internet_access: bool = True
    """Whether destinations outside ``network.allow_out`` are reachable."""
    traffic_access_token: str | None = None
    """Token for ``x-nullspace-traffic-access-token`` when the machine takes no public
    preview traffic (given by create and get, never by lists)."""

    @property
    def machine_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id

    @property
    def sandbox_id(self) -> str:
        """Alias of :attr:`id` (older ``Sandbox`` naming)."""
        return self.id

    @property
    def is_running(self) -> bool:
        return self.state == "running"

    @property
    def is_paused(self) -> bool:
        return self.state == "paused"


SandboxInfo = MachineInfo


class SnapshotInfo(_Response):
    """A reusable snapshot as the API describes it (``Snapshot`` schema); see
    :class:`~nullspace.Snapshot` for the handle with methods."""

    id: str
    machine_id: str
    """The machine it was taken from."""
    template: str
    cpu_count: int
    """vCPUs of machines started from it."""
    memory_mb: int
    """Memory (MiB) of machines started from it."""
    metadata: dict[str, str] = Field(default_factory=dict)
    size_bytes: int
    """Bytes it takes on the server's disk."""
    source_stall_ms: int
    """How long the source machine was stopped while it was taken."""
    created_at: datetime

    @property
    def snapshot_id(self) -> str:
        """Alias of :attr:`id`."""
        return self.id


class MachineMetrics(_Response):
    """One sample of a machine's resource use (``MachineMetrics`` schema)."""

    cpu_count: int
    cpu_used_pct: float
    """CPU busy over a short sample, percent of all vCPUs (0-100)."""
    mem_total_bytes: int
    mem_used_bytes: int
    """Memory in use: total minus available."""
    disk_total_bytes: int
    """Size of the root filesystem."""
    disk_used_bytes: int
    uptime_secs: int
    """Seconds since the machine was created."""
    timestamp: datetime
    """When the sample was taken."""


class CommandResult(_Response):
    """The outcome of a finished command (any exit code)."""

    stdout: str
    stderr: str
    exit_code: int
    duration_ms: int

    @property
    def ok(self) -> bool:
        """``True`` when the command exited with status 0."""
        return self.exit_code == 0


class EntryInfo(_Response):
    """Facts about a file, directory or symlink in a machine."""

    name: str
    path: str
    type: str
    """``file``, ``dir``, ``symlink`` or ``other``."""
    size: int
    mode: int
    permissions: str
    owner: str
    group: str
    modified_time: datetime
    symlink_target: str | None = None

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"

    @property
    def is_file(self) -> bool:
        return self.type == "file"


UploadTransport = Literal["direct", "resumable"]
"""How an upload travelled: ``direct`` is one streamed request (``PUT /files`` for a
file, ``PUT /files/archive`` for a directory); ``resumable`` is an upload session sent
in chunks (``POST /uploads``), which :meth:`Filesystem.resume_upload` can continue."""

UploadKind = Literal["file", "directory"]
"""What was uploaded: one file, or a directory (sent as a tar archive)."""

UploadPhase = Literal["preparing", "uploading", "completing", "done"]
"""Where an upload stands: ``preparing`` (reading the source to checksum it, or
packing a directory for a resumable upload), ``uploading`` (bytes sent),
``completing`` (the server checks and moves the content into place), ``done``."""


class _Outcome(BaseModel):
    """A result the SDK makes itself (not an API answer)."""

    model_config = ConfigDict(frozen=True)


class UploadProgress(_Outcome):
    """One progress event of an upload: after each chunk sent (``uploading``), while a
    resumable upload prepares or completes, and once the server has the content
    (``done``). ``bytes_completed`` counts bytes the server took (for a directory, of
    its tar stream); a resumed upload starts from what the server already held."""

    phase: UploadPhase
    bytes_completed: int
    bytes_total: int | None
    """The source's length: known for a file (or a seekable stream), ``None`` for a
    stream of unknown length."""
    transport: UploadTransport = "direct"


class ArchiveInfo(_Response):
    """What a directory upload unpacked (the answer of ``PUT /files/archive``)."""

    path: str
    """The destination directory, absolute."""
    files: int
    dirs: int
    symlinks: int
    bytes: int
    """Bytes of the regular files written."""


class UploadResult(_Outcome):
    """A finished upload: ``files.upload_file``, ``upload_dir``, ``upload`` or
    ``resume_upload``."""

    transport: UploadTransport = "direct"
    target_path: str
    """The absolute path in the machine: the file, or the destination directory."""
    bytes_uploaded: int
    """Bytes this call sent (a directory's tar stream; a resumed upload only the
    chunks that were missing)."""
    upload_id: str | None = None
    """The session of a resumable upload; ``None`` for a direct upload."""
    kind: UploadKind = "file"
    file_count: int = 1
    """Regular files written (1 for a file upload)."""
    entry: EntryInfo | None = None
    """The written file, as the server described it (``None`` for a directory)."""
    archive: ArchiveInfo | None = None
    """What a directory upload unpacked (``None`` for a file)."""


UploadSessionKind = Literal["file", "archive"]
"""A session's content: one file, or a tar stream unpacked at completion."""


class UploadSession(_Response):
    """A resumable upload session (the ``Upload`` object of ``/uploads``)."""

    upload_id: str
    machine_id: str
    path: str
    kind: str
    """``file`` or ``archive`` (a plain ``str``, so kinds added later still parse)."""
    size: int
    chunk_size: int
    chunks: int
    received: list[int] = Field(default_factory=list)
    """Indexes of the chunks the server holds."""
    bytes_received: int = 0
    sha256: str | None = None
    state: str
    """``open``, ``complete`` or ``aborted``."""
    user: str | None = None
    """The guest user the upload writes as."""
    created_at: datetime
    expires_at: datetime

    @property
    def missing(self) -> list[int]:
        """Indexes of the chunks still to send, in order."""
        have = set(self.received)
        return [i for i in range(self.chunks) if i not in have]


class FindMatch(_Response):
    """One line that matched ``files.find_files``."""

    path: str
    line: int
    """1-based."""
    column: int
    """1-based, in bytes."""
    text: str
    """The whole line (at most 1000 bytes, invalid UTF-8 replaced)."""


class FindResult(_Response):
    """The answer of ``files.find_files``."""

    matches: list[FindMatch] = Field(default_factory=list)
    files_scanned: int
    truncated: bool = False
    """More matched than ``max_results``: only the first are listed."""


class ReplacedFile(_Response):
    """A file ``files.replace_in_files`` rewrote (or, with ``dry_run``, would)."""

    path: str
    replacements: int


class ReplaceResult(_Response):
    """The answer of ``files.replace_in_files``."""

    files: list[ReplacedFile] = Field(default_factory=list)
    total_replacements: int
    files_scanned: int
    dry_run: bool
    truncated: bool = False
    """More files than ``max_files`` were found: only the first were looked at."""


class FilesystemEventType(enum.StrEnum):
    """What changed, in a ``files.watch_dir`` event. A rename is reported as
    ``RENAME`` for the old path and ``CREATE`` for the new one."""

    CREATE = "create"
    WRITE = "write"
    REMOVE = "remove"
    RENAME = "rename"
    CHMOD = "chmod"


class FilesystemEvent(_Response):
    """One change under a watched directory."""

    kind: FilesystemEventType
    path: str
    """Absolute path of what changed."""
    is_dir: bool = False

    @property
    def type(self) -> FilesystemEventType:
        """Alias of :attr:`kind`."""
        return self.kind

    @property
    def name(self) -> str:
        """The path's last component."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]


class DownloadProgress(_Outcome):
    """One progress event of ``files.download_file``: after each chunk received
    (``downloading``), and once the destination holds the whole file (``done``)."""

    phase: Literal["downloading", "done"]
    bytes_completed: int
    bytes_total: int | None = None
    """Unknown while the file is streamed (the answer has no length): ``None``."""


class DownloadResult(_Outcome):
    """A finished ``files.download_file``."""

    path: str
    """The file in the machine, as asked for."""
    destination: str | None
    """The local path written, ``None`` when the destination was a stream."""
    bytes_downloaded: int


SignedUrlMethod = Literal["GET", "PUT"]
"""What a signed file URL is for: ``GET`` downloads the file, ``PUT`` writes it."""


class SignedUrl(_Response):
    """A signed file URL (the answer of ``POST /files/download-url`` and
    ``/files/upload-url``): whoever holds :attr:`url` may use it with :attr:`method`,
    and no API key, until :attr:`expires_at`."""

    url: str
    """Absolute, as the server names itself (``http://host/v1/signed/files?...``)."""
    method: SignedUrlMethod
    expires_at: datetime
    path: str
    """The file the URL is for."""


class PtySize(_Response):
    """Size of a terminal, in characters."""

    cols: int
    rows: int


class StreamFacts(_Response):
    """Byte counts of one output stream of a process. The process keeps the newest
    1 MiB of each stream: bytes before :attr:`kept_from` were dropped."""

    total_bytes: int
    """Bytes written so far (the offset of the next byte)."""
    kept_from: int
    """Offset of the oldest byte still kept."""


class ProcessInfo(_Response):
    """A process of a machine (``ProcessInfo`` schema): a background command or a PTY
    session, running or recently exited."""

    pid: int
    tag: str | None = None
    command: str | None = None
    """The shell command line, if it was started as one."""
    args: list[str] = Field(default_factory=list)
    """Program and arguments as run."""
    cwd: str
    user: str
    pty: PtySize | None = None
    """Its terminal, for a PTY process."""
    started_at: datetime
    running: bool
    stdin_open: bool
    """Whether its stdin (or terminal) still takes input."""
    exit_code: int | None = None
    """Exit code, once it exited by itself (``None`` while running or if a signal
    ended it)."""
    signal: int | None = None
    """Signal that ended it, if one did."""
    timed_out: bool = False
    duration_ms: int | None = None
    stdout: StreamFacts
    stderr: StreamFacts

    @property
    def is_pty(self) -> bool:
        return self.pty is not None


class ProcessLogs(_Response):
    """Output a process kept, from the asked offsets (``ProcessLogs`` schema).

    ``stdout`` / ``stderr`` are text (``encoding="utf8"``, invalid bytes replaced) or
    base64 (``encoding="base64"``); :attr:`stdout_bytes` / :attr:`stderr_bytes` are the
    raw bytes either way. Ask again with ``stdout_next`` / ``stderr_next`` for only the
    newer output."""

    pid: int
    encoding: Literal["utf8", "base64"]
    stdout: str
    stderr: str
    stdout_next: int
    stderr_next: int
    stdout_dropped: int
    """Bytes from the asked offset that were dropped before they could be read."""
    stderr_dropped: int
    running: bool
    exit_code: int | None = None

    def _raw(self, text: str) -> bytes:
        return base64.b64decode(text) if self.encoding == "base64" else text.encode()

    @property
    def stdout_bytes(self) -> bytes:
        return self._raw(self.stdout)

    @property
    def stderr_bytes(self) -> bytes:
        return self._raw(self.stderr)


class PtySessionInfo(_Response):
    """A PTY session (``PtySession`` schema): its id is the pid of its process."""

    session_id: int
    process: ProcessInfo

    @property
    def pid(self) -> int:
        return self.session_id


class WriteEntry(BaseModel):
    """One file of :meth:`Filesystem.write_files`: text is sent as UTF-8 ``content``,
    bytes as ``content_base64``."""

    model_config = ConfigDict(frozen=True)

    path: str
    data: str | bytes

    def __init__(self, path: str, data: str | bytes) -> None:
        super().__init__(path=path, data=data)


# ---------------------------------------------------------------------------
# git (``machine.git``)

GitConfigScope = Literal["repository", "global"]
"""Which file a git config call reads or writes: the repository's ``.git/config``
(default) or the user's ``~/.gitconfig``."""


class GitRepoState(_Response):
    """Where a repository's HEAD is, after clone, init, checkout or pull."""

    path: str
    branch: str | None
    """Current branch (``None``: detached HEAD)."""
    head: str | None
    """Commit checked out (``None``: no commits yet)."""


class GitFileStatus(_Response):
    """One changed or untracked path of :class:`GitStatus`."""

    path: str
    """Relative to the repository root."""
    renamed_from: str | None = None
    index_status: str
    """``git status --short`` index column: ``" "``, ``M``, ``A``, ``D``, ``R``, ``C``,
    ``T``, ``U`` (unmerged), ``?`` (untracked)."""
    worktree_status: str
    status: str
    """In one word: ``modified``, ``added``, ``deleted``, ``renamed``, ``copied``,
    ``typechange``, ``untracked`` or ``conflict``."""
    staged: bool


class GitStatus(_Response):
    """A repository's branch, upstream and changed paths (``git/status``)."""

    branch: str | None
    upstream: str | None
    ahead: int
    behind: int
    detached: bool
    head: str | None
    files: list[GitFileStatus]
    clean: bool
    """No changes and nothing untracked."""

    @property
    def staged(self) -> list[GitFileStatus]:
        """The paths with staged changes."""
        return [f for f in self.files if f.staged]

    @property
    def untracked(self) -> list[GitFileStatus]:
        """The untracked paths."""
        return [f for f in self.files if f.status == "untracked"]

    @property
    def conflicts(self) -> list[GitFileStatus]:
        """The paths with merge conflicts."""
        return [f for f in self.files if f.status == "conflict"]


class GitCommit(_Response):
    """One commit of ``git.log``."""

    sha: str
    author_name: str
    author_email: str
    date: datetime
    message: str

    @property
    def subject(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0]


class GitBranch(_Response):
    """One local branch."""

    name: str
    current: bool
    upstream: str | None
    sha: str


class GitBranches(_Response):
    """The local branches (``git/branch/list``) and the checked-out one."""

    branches: list[GitBranch]
    current: str | None

    @property
    def names(self) -> list[str]:
        """The branch names."""
        return [b.name for b in self.branches]


class GitCommitResult(_Response):
    """The commit ``git.commit`` made."""

    sha: str
    branch: str | None


class GitPushResult(_Response):
    """What ``git.push`` pushed, and where."""

    remote: str
    branch: str


class GitFetchResult(_Response):
    """What ``git.fetch`` fetched from (``None``: the default remote)."""

    remote: str | None


class GitRemote(_Response):
    """One remote."""

    name: str
    url: str
    push_url: str | None = None


class GitConfigValue(_Response):
    """A git config value (``None``: not set)."""

    key: str
    value: str | None
    scope: GitConfigScope
