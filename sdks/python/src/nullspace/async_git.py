"""``machine.git`` of :class:`~nullspace.AsyncMachine`: the async flavour of
:mod:`nullspace.git` (same calls, same results and errors), thin over
:mod:`nullspace._git_ops`.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import _git_ops
from ._git_ops import DEFAULT_REPO, Timeout
from ._ops import DEFAULT
from ._transport import AsyncTransport
from .models import (
    GitBranches,
    GitCommit,
    GitCommitResult,
    GitConfigScope,
    GitConfigValue,
    GitFetchResult,
    GitPushResult,
    GitRemote,
    GitRepoState,
    GitStatus,
)

__all__ = ["AsyncGit"]


class AsyncGit:
    """Git in a machine (asynchronous): see the module docstring."""

    def __init__(self, machine_id: str, transport: AsyncTransport) -> None:
        self._id = machine_id
        self._transport = transport

    async def clone(
        self,
        url: str,
        path: str | None = None,
        *,
        branch: str | None = None,
        depth: int | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        ssh_key: str | None = None,
        known_hosts: str | None = None,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitRepoState:
        """Clone ``url`` into ``path`` (default ``/workspace/NAME``, NAME from the URL).

        Credentials (``username``/``password`` or ``token``, or ``ssh_key``), also when
        given in the URL, are used for the clone only: the stored remote URL has none."""
        return await self._transport.send(
            _git_ops.clone(
                self._id,
                url,
                path,
                branch=branch,
                depth=depth,
                auth=_git_ops.GitAuth(username, password, token, ssh_key, known_hosts),
                user=user,
                timeout=timeout,
            )
        )

    async def init(
        self,
        path: str = DEFAULT_REPO,
        *,
        initial_branch: str | None = None,
        bare: bool = False,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitRepoState:
        """Make a new repository at ``path``."""
        return await self._transport.send(
            _git_ops.init(
                self._id, path, initial_branch=initial_branch, bare=bare, user=user, timeout=timeout
            )
        )

    async def status(
        self,
        path: str = DEFAULT_REPO,
        *,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitStatus:
        """The branch, upstream, ahead/behind counts and changed paths."""
        return await self._transport.send(
            _git_ops.status(self._id, path, user=user, timeout=timeout)
        )

    async def log(
        self,
        path: str = DEFAULT_REPO,
        *,
        limit: int | None = None,
        revision: str | None = None,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> list[GitCommit]:
        """Commits, newest first (at most ``limit``, server default 50; none in a new
        repository)."""
        return await self._transport.send(
            _git_ops.log(self._id, path, limit=limit, revision=revision, user=user, timeout=timeout)
        )

    async def diff(
        self,
        path: str = DEFAULT_REPO,
        *,
        staged: bool = False,
        revision: str | None = None,
        paths: Sequence[str] | None = None,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> str:
        """The unified diff of the working tree against the index (``staged=True``: of the
        index against HEAD), optionally against ``revision`` and limited to ``paths``."""
        return await self._transport.send(
            _git_ops.diff(
                self._id,
                path,
                staged=staged,
                revision=revision,
                paths=paths,
                user=user,
                timeout=timeout,
            )
        )

    async def add(
        self,
        path: str = DEFAULT_REPO,
        paths: Sequence[str] | None = None,
        *,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitStatus:
        """Stage ``paths`` (default every change, new and deleted files too); the status after."""
        return await self._transport.send(
            _git_ops.add(self._id, path, paths, user=user, timeout=timeout)
        )

    async def commit(
        self,
        path: str,
        message: str,
        *,
        all: bool = False,
        allow_empty: bool = False,
        author_name: str | None = None,
        author_email: str | None = None,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitCommitResult:
        """Commit what is staged (``all=True``: every change of tracked files).

        The author defaults to git's configured identity, else the guest user.
        Nothing staged raises :class:`~nullspace.GitNothingToCommitError`."""
        return await self._transport.send(
            _git_ops.commit(
                self._id,
                path,
                message,
                all=all,
                allow_empty=allow_empty,
                author_name=author_name,
                author_email=author_email,
                user=user,
                timeout=timeout,
            )
        )

    async def checkout(
        self,
        path: str,
        branch: str,
        *,
        create: bool = False,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitRepoState:
        """Switch to ``branch`` (or a commit), making it first with ``create=True``."""
        return await self._transport.send(
            _git_ops.checkout(self._id, path, branch, create=create, user=user, timeout=timeout)
        )

    async def branches(
        self,
        path: str = DEFAULT_REPO,
        *,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitBranches:
        """The local branches and the current one."""
        return await self._transport.send(
            _git_ops.branches(self._id, path, user=user, timeout=timeout)
        )

    async def create_branch(
        self,
        path: str,
        name: str,
        *,
        start_point: str | None = None,
        checkout: bool = False,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitBranches:
        """Make branch ``name`` at ``start_point`` (default HEAD), switching to it with
        ``checkout=True``; the branches after."""
        return await self._transport.send(
            _git_ops.create_branch(
                self._id,
                path,
                name,
                start_point=start_point,
                checkout=checkout,
                user=user,
                timeout=timeout,
            )
        )

    async def delete_branch(
        self,
        path: str,
        name: str,
        *,
        force: bool = False,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitBranches:
        """Delete branch ``name`` (an unmerged one only with ``force=True``); the branches after."""
        return await self._transport.send(
            _git_ops.delete_branch(self._id, path, name, force=force, user=user, timeout=timeout)
        )

    async def pull(
        self,
        path: str = DEFAULT_REPO,
        *,
        remote: str | None = None,
        branch: str | None = None,
        rebase: bool = False,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        ssh_key: str | None = None,
        known_hosts: str | None = None,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitRepoState:
        """Fetch and merge (``rebase=True``: rebase onto) the upstream, or ``remote``/``branch``."""
        return await self._transport.send(
            _git_ops.pull(
                self._id,
                path,
                remote=remote,
                branch=branch,
                rebase=rebase,
                auth=_git_ops.GitAuth(username, password, token, ssh_key, known_hosts),
                user=user,
                timeout=timeout,
            )
        )

    async def push(
        self,
        path: str = DEFAULT_REPO,
        *,
        remote: str | None = None,
        branch: str | None = None,
        set_upstream: bool = False,
        force: bool = False,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        ssh_key: str | None = None,
        known_hosts: str | None = None,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitPushResult:
        """Push ``branch`` (default the current one) to ``remote`` (default its upstream's,
        else ``origin``). A remote with commits the branch lacks raises
        :class:`~nullspace.GitPushRejectedError`; ``force=True`` overwrites it unless it
        moved since the last fetch (``--force-with-lease``)."""
        return await self._transport.send(
            _git_ops.push(
                self._id,
                path,
                remote=remote,
                branch=branch,
                set_upstream=set_upstream,
                force=force,
                auth=_git_ops.GitAuth(username, password, token, ssh_key, known_hosts),
                user=user,
                timeout=timeout,
            )
        )

    async def fetch(
        self,
        path: str = DEFAULT_REPO,
        *,
        remote: str | None = None,
        prune: bool = False,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        ssh_key: str | None = None,
        known_hosts: str | None = None,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitFetchResult:
        """Fetch from ``remote`` (default ``origin``)."""
        return await self._transport.send(
            _git_ops.fetch(
                self._id,
                path,
                remote=remote,
                prune=prune,
                auth=_git_ops.GitAuth(username, password, token, ssh_key, known_hosts),
                user=user,
                timeout=timeout,
            )
        )

    async def remotes(
        self,
        path: str = DEFAULT_REPO,
        *,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> list[GitRemote]:
        """The remotes."""
        return await self._transport.send(
            _git_ops.remote(self._id, path, "list", {}, user=user, timeout=timeout)
        )

    async def add_remote(
        self,
        path: str,
        name: str,
        url: str,
        *,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> list[GitRemote]:
        """Add remote ``name`` (``url`` without credentials: pass them to the calls that use
        it); the remotes after."""
        return await self._transport.send(
            _git_ops.remote(
                self._id, path, "add", {"name": name, "url": url}, user=user, timeout=timeout
            )
        )

    async def set_remote_url(
        self,
        path: str,
        name: str,
        url: str,
        *,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> list[GitRemote]:
        """Change the URL of remote ``name``; the remotes after."""
        return await self._transport.send(
            _git_ops.remote(
                self._id, path, "set-url", {"name": name, "url": url}, user=user, timeout=timeout
            )
        )

    async def remove_remote(
        self,
        path: str,
        name: str,
        *,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> list[GitRemote]:
        """Remove remote ``name``; the remotes after."""
        return await self._transport.send(
            _git_ops.remote(self._id, path, "remove", {"name": name}, user=user, timeout=timeout)
        )

    async def get_config(
        self,
        key: str,
        *,
        path: str | None = None,
        scope: GitConfigScope | None = None,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> str | None:
        """The value of config ``key`` (``None`` when unset): as the repository at ``path``
        sees it, or with ``scope="global"`` the user's ``~/.gitconfig``."""
        return await self._transport.send(
            _git_ops.get_config(self._id, key, path=path, scope=scope, user=user, timeout=timeout)
        )

    async def set_config(
        self,
        key: str,
        value: str,
        *,
        path: str | None = None,
        scope: GitConfigScope | None = None,
        user: str | None = None,
        timeout: Timeout = DEFAULT,
    ) -> GitConfigValue:
        """Set config ``key`` in the repository at ``path`` (``scope="global"``: the user's
        ``~/.gitconfig``)."""
        return await self._transport.send(
            _git_ops.set_config(
                self._id, key, value, path=path, scope=scope, user=user, timeout=timeout
            )
        )
