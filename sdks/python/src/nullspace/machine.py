"""``Machine``: a Nullspace microVM (synchronous client)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from . import _ops
from ._config import ClientConfig
from ._ops import DEFAULT_USER, StateFilter
from ._preview_methods import PreviewMethods
from ._ssh_methods import SshMethods
from ._transport import SyncTransport, open_config
from .commands import Commands
from .files import Filesystem
from .git import Git
from .models import CommandResult, MachineInfo, MachineMetrics, TimeoutAction
from .network import NetworkPolicy
from .pagination import MachinePaginator
from .pty import Pty
from .snapshot import Snapshot

__all__ = ["Machine", "Sandbox"]


def _open(
    api_key: str | None,
    api_url: str | None,
    base_url: str | None,
    request_timeout: float | None,
    transport: httpx.BaseTransport | None,
) -> SyncTransport:
    return SyncTransport(open_config(api_key, api_url, base_url, request_timeout), transport)


class Machine(PreviewMethods, SshMethods):
    """A running Nullspace machine.

    Make one with :meth:`create` or :meth:`connect`; run commands with
    :attr:`commands`, use files with :attr:`files`, repositories with
    :attr:`git` and terminals with :attr:`pty`; reach its ports with
    :meth:`get_preview_url` and the other preview methods, and SSH into it with a
    certificate from :meth:`create_ssh_access`. As a context manager it kills the
    machine on exit::

        with Machine.create(template="base", timeout=300) as machine:
            result = machine.commands.run("python3 --version", shell=True)

    Every class method takes the connection settings ``api_key=``, ``api_url=`` (alias
    ``base_url=``), ``request_timeout=`` (seconds per HTTP request) and ``transport=``
    (an ``httpx.BaseTransport``, e.g. ``httpx.MockTransport`` in tests).
    """

    def __init__(self, info: MachineInfo, transport: SyncTransport) -> None:
        self._info = info
        self._transport = transport
        self.last_fork_stall_ms: int | None = None
        """How long the source stopped during this handle's last :meth:`fork`, in ms."""
        self.commands = Commands(info.id, transport)
        self.files = Filesystem(info.id, transport)
        self.git = Git(info.id, transport)
        self.pty = Pty(info.id, transport)

    # -- identity -------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._info.id

    @property
    def machine_id(self) -> str:
        return self._info.id

    @property
    def sandbox_id(self) -> str:
        return self._info.id

    @property
    def traffic_access_token(self) -> str | None:
        """The ``x-nullspace-traffic-access-token`` of a machine created with
        ``network={"allow_public_traffic": False}`` (else ``None``)."""
        return self._info.traffic_access_token

    @property
    def info(self) -> MachineInfo:
        """The last known :class:`MachineInfo` (refresh with :meth:`get_info`)."""
        return self._info

    @property
    def config(self) -> ClientConfig:
        return self._transport.config

    def __repr__(self) -> str:
        return f"Machine(id={self.id!r}, template={self._info.template!r})"

    # -- class methods ----------------------------------------------------------

    @classmethod
    def create(
        cls,
        template: str | None = None,
        timeout: int = 300,
        metadata: Mapping[str, str] | None = None,
        envs: Mapping[str, str] | None = None,
        cwd: str | None = None,
        cpu_count: int | None = None,
        memory_mb: int | None = None,
        idempotency_key: str | None = None,
        *,
        snapshot_id: str | None = None,
        on_timeout: TimeoutAction | None = None,
        auto_resume: bool | None = None,
        network: NetworkPolicy | Mapping[str, Any] | None = None,
        internet_access: bool | None = None,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> Machine:
        """Create a machine from ``template`` (default ``base``) whose ``timeout``, in
        seconds, kills it (change it later with :meth:`set_timeout`).

        ``snapshot_id`` starts it from a :class:`~nullspace.Snapshot` instead, with the
        snapshot's memory, processes and disk (``template`` may then be left out).
        ``on_timeout`` is what happens at the timeout: ``"kill"`` (default), ``"pause"``
        or its alias ``"hibernate"``. ``auto_resume=True`` wakes the machine when a
        request (command, file, metrics) reaches it while it is paused.
        ``network`` (:class:`~nullspace.NetworkPolicy`) limits where it may connect
        (``allow_out``/``deny_out`` IPv4 CIDRs) and whether preview traffic needs a
        token; ``internet_access=False`` drops everything outside ``allow_out``. The
        policy is in force before the machine runs anything and is kept by pause,
        resume, fork and snapshots.
        ``idempotency_key`` makes retries return the machine of the first call. Bad
        arguments raise :class:`~nullspace.InvalidArgumentError` before any request."""
        op = _ops.create_machine(
            template=template,
            timeout=timeout,
            metadata=metadata,
            envs=envs,
            cwd=cwd,
            cpu_count=cpu_count,
            memory_mb=memory_mb,
            idempotency_key=idempotency_key,
            snapshot_id=snapshot_id,
            on_timeout=on_timeout,
            auto_resume=auto_resume,
            network=network,
            internet_access=internet_access,
        )
        sender = _open(api_key, api_url, base_url, request_timeout, transport)
        try:
            info = sender.send(op)
        except BaseException:
            sender.close()
            raise
        return cls(info, sender)

    @classmethod
    def connect(
        cls,
        machine_id: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> Machine:
        """Attach to a running machine, resuming it first when it is paused; raises
        :class:`~nullspace.MachineError` when it is not running (killed, failed, ...) and
        :class:`~nullspace.NotFoundError` when it does not exist."""
        op = _ops.get_machine(machine_id)
        sender = _open(api_key, api_url, base_url, request_timeout, transport)
        try:
            info = sender.send(op)
            if _ops.needs_resume(info):
                info = sender.send(_ops.resume_machine(machine_id))
            info = _ops.ensure_running(info)
        except BaseException:
            sender.close()
            raise
        return cls(info, sender)

    @classmethod
    def get_info_by_id(
        cls,
        machine_id: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> MachineInfo:
        """Describe a machine, in any state: killed and failed machines stay visible
        for the server's history retention (``end_at`` is when they ended,
        ``failure_reason`` why a failed one failed)."""
        op = _ops.get_machine(machine_id)
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(op)

    @classmethod
    def kill_by_id(
        cls,
        machine_id: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> bool:
        """Kill a machine: ``True`` if killed now, ``False`` if it was already gone."""
        op = _ops.kill_machine(machine_id)
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(op)

    @classmethod
    def pause_by_id(
        cls,
        machine_id: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> MachineInfo:
        """Pause a machine (state ``paused``); see :meth:`pause`."""
        op = _ops.pause_machine(machine_id)
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(op)

    @classmethod
    def resume_by_id(
        cls,
        machine_id: str,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> MachineInfo:
        """Resume a paused machine (state ``running``); see :meth:`resume`."""
        op = _ops.resume_machine(machine_id)
        with _open(api_key, api_url, base_url, request_timeout, transport) as sender:
            return sender.send(op)

    @classmethod
    def list(
        cls,
        state: StateFilter | None = None,
        template: str | None = None,
        metadata: Mapping[str, str] | None = None,
        limit: int | None = None,
        *,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> MachinePaginator:
        """Machines of this API key, newest first, as a :class:`MachinePaginator`.

        Without ``state`` it lists the live machines: every state but ``killed`` and
        ``failed``. ``state`` is one state or a list of them (``state="killed"``,
        ``state=["running", "paused"]``); killed and failed machines are kept for the
        server's history retention (7 days by default). ``metadata`` matches machines
        having all the given pairs; ``limit`` is the page size (1-1000). Iterating the
        paginator fetches every page."""
        config = open_config(api_key, api_url, base_url, request_timeout)
        return MachinePaginator(
            config, transport, state=state, template=template, metadata=metadata, limit=limit
        )

    @classmethod
    def run_once(
        cls,
        command: str,
        args: Sequence[str] | None = None,
        template: str = "base",
        *,
        cwd: str | None = None,
        envs: Mapping[str, str] | None = None,
        user: str | None = None,
        stdin: str | bytes | None = None,
        timeout: float | None = 60,
        machine_timeout: int = 300,
        metadata: Mapping[str, str] | None = None,
        api_key: str | None = None,
        api_url: str | None = None,
        base_url: str | None = None,
        request_timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> CommandResult:
        """Create a machine, run one command, kill the machine, return the result.

        Without ``args`` ``command`` runs with ``bash -c``; with ``args`` it is
        ``argv[0]`` and runs without a shell. ``timeout`` limits the command,
        ``machine_timeout`` the machine's life."""
        with cls.create(
            template=template,
            timeout=machine_timeout,
            metadata=metadata,
            api_key=api_key,
            api_url=api_url,
            base_url=base_url,
            request_timeout=request_timeout,
            transport=transport,
        ) as machine:
            return machine.commands.run(
                command,
                args=args,
                shell=args is None,
                cwd=cwd,
                envs=envs,
                user=user,
                stdin=stdin,
                timeout=timeout,
            )

    # -- instance methods -----------------------------------------------------

    def get_info(self) -> MachineInfo:
        """Fetch the machine's current description."""
        self._info = self._transport.send(_ops.get_machine(self.id))
        return self._info

    def is_running(self) -> bool:
        return self.get_info().state == "running"

    def set_timeout(self, seconds: int, action: TimeoutAction | None = None) -> MachineInfo:
        """Reach the timeout ``seconds`` from now instead (see the new ``end_at``); then
        ``action`` happens: ``"kill"``, ``"pause"`` or ``"hibernate"`` (alias of pause),
        unchanged when ``None``."""
        op = _ops.set_machine_timeout(self.id, seconds, action)
        self._info = self._transport.send(op)
        return self._info

    def pause(self) -> MachineInfo:
        """Pause the machine: memory, processes and devices are saved to disk and the VM
        stops (no CPU or RAM while paused; the disk is kept). Commands and files raise
        :class:`~nullspace.MachineError` until :meth:`resume` (or :meth:`connect`).
        Raises :class:`~nullspace.MachineError` when the machine is not running."""
        self._info = self._transport.send(_ops.pause_machine(self.id))
        return self._info

    def hibernate(self) -> MachineInfo:
        """Alias of :meth:`pause`."""
        return self.pause()

    def resume(self) -> MachineInfo:
        """Resume a paused machine with its processes and files (a running machine is
        returned as is). Raises :class:`~nullspace.MachineError` when it was killed."""
        self._info = self._transport.send(_ops.resume_machine(self.id))
        return self._info

    def fork(
        self,
        count: int = 1,
        *,
        metadata: Mapping[str, str] | None = None,
        timeout: int | None = None,
    ) -> builtins.list[Machine]:
        """Make ``count`` (1-16) independent running copies of this machine — memory,
        processes and disk — and return handles to them (same connection settings;
        close or kill each). This machine keeps running; it stops only while its
        memory is saved, for :attr:`last_fork_stall_ms`. Children get their own id,
        hostname and entropy, ``metadata`` (default: this machine's) and ``timeout``
        (seconds, default 300), and inherit envs, cwd, timeout action and auto-resume."""
        op = _ops.fork_machine(
            self.id,
            count,
            metadata=metadata,
            timeout=timeout,
            request_timeout=self._transport.config.request_timeout,
        )
        fork = self._transport.send(op)
        self.last_fork_stall_ms = fork.source_stall_ms
        return [type(self)(info, self._transport.clone()) for info in fork.machines]

    def create_snapshot(self, metadata: Mapping[str, str] | None = None) -> Snapshot:
        """Capture a reusable :class:`~nullspace.Snapshot` (memory, processes, disk) while
        the machine keeps running; start machines from it with
        ``Machine.create(snapshot_id=snapshot.id)``. ``metadata`` labels it for
        :meth:`Snapshot.list`."""
        op = _ops.create_snapshot(self.id, metadata=metadata, cls=Snapshot)
        snapshot = self._transport.send(op)
        return snapshot._bind(self.config, self._transport.inner)

    def get_metrics(self) -> MachineMetrics:
        """One sample of CPU, memory and disk use inside the machine, and its uptime.
        Raises :class:`~nullspace.MachineError` unless it is running (or paused with
        auto-resume, which wakes it)."""
        return self._transport.send(_ops.get_metrics(self.id))

    def download_url(
        self, path: str, *, user: str = DEFAULT_USER, expires_in: int | None = None
    ) -> str:
        """A URL that downloads ``path`` with a plain ``GET`` and no API key: alias of
        :meth:`Filesystem.download_url <nullspace.Filesystem.download_url>`."""
        return self.files.download_url(path, user=user, expires_in=expires_in)

    def upload_url(
        self, path: str, *, user: str = DEFAULT_USER, expires_in: int | None = None
    ) -> str:
        """A URL that writes ``path`` with a plain ``PUT`` and no API key: alias of
        :meth:`Filesystem.upload_url <nullspace.Filesystem.upload_url>`."""
        return self.files.upload_url(path, user=user, expires_in=expires_in)

    def kill(self) -> bool:
        """Kill the machine: ``True`` if killed now, ``False`` if it was already gone."""
        return self._transport.send(_ops.kill_machine(self.id))

    def close(self) -> None:
        """Release the HTTP connections (does not kill the machine)."""
        self._transport.close()

    def __enter__(self) -> Machine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.kill()
        except Exception:
            if exc is None:
                raise
        finally:
            self.close()


Sandbox = Machine
