"""machine.git against a real machine, both flavours: a git server inside the machine
(scripts/git_http_server.py on its loopback, HTTP Basic auth) is cloned with a token,
committed to and pushed to; a wrong token, a missing repository and a rejected push
raise their typed errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import nullspace

from ..conftest import maybe

TOKEN = "tok-sdk-81c2e4"
REMOTE = "http://127.0.0.1:8418/repo.git"
SERVER = Path(__file__).resolve().parents[4] / "scripts" / "git_http_server.py"


async def sh(machine: Any, command: str, stdin: str | None = None) -> str:
    result = await maybe(machine.commands.run(command, stdin=stdin, timeout=120))
    assert result.exit_code == 0, (command, result.stderr)
    out: str = result.stdout
    return out


async def serve(machine: Any) -> None:
    """A bare repository with one commit, served on the machine's 127.0.0.1:8418."""
    if not SERVER.is_file():
        pytest.skip("scripts/git_http_server.py not beside the SDK")
    await sh(
        machine,
        "set -e; mkdir -p /tmp/srv /tmp/seed; git init -q --bare -b main /tmp/srv/repo.git; "
        "git -C /tmp/srv/repo.git config http.receivepack true; cd /tmp/seed; "
        "git init -q -b main; echo hello > README; git add README; "
        "git -c user.name=Seed -c user.email=seed@x commit -qm first; "
        "git push -q /tmp/srv/repo.git main",
    )
    await sh(machine, "cat > /tmp/srv/server.py", stdin=SERVER.read_text())
    await maybe(
        machine.commands.run(
            "python3 /tmp/srv/server.py /tmp/srv", background=True, envs={"GIT_TOKEN": TOKEN}
        )
    )
    await sh(
        machine,
        'for i in $(seq 150); do python3 -c "import socket; '
        "socket.create_connection(('127.0.0.1', 8418))\" 2>/dev/null && exit 0; "
        "sleep 0.2; done; exit 1",
    )


async def test_clone_commit_push_and_typed_failures(machine: Any) -> None:
    await serve(machine)
    git = machine.git
    state = await maybe(git.clone(REMOTE, "/workspace/a", username="agent", token=TOKEN))
    assert (state.path, state.branch) == ("/workspace/a", "main")
    config = await sh(machine, "cat /workspace/a/.git/config")
    assert REMOTE in config and TOKEN not in config

    await sh(machine, "echo more >> /workspace/a/README")
    status = await maybe(git.status("/workspace/a"))
    assert [(f.path, f.status) for f in status.files] == [("README", "modified")]
    await maybe(git.add("/workspace/a"))
    assert "+more" in await maybe(git.diff("/workspace/a", staged=True))
    done = await maybe(
        git.commit("/workspace/a", "more", author_name="Ada", author_email="ada@example.com")
    )
    commits = await maybe(git.log("/workspace/a"))
    assert [c.subject for c in commits] == ["more", "first"]
    assert commits[0].sha == done.sha and commits[0].author_name == "Ada"
    with pytest.raises(nullspace.GitNothingToCommitError):
        await maybe(git.commit("/workspace/a", "again"))
    pushed = await maybe(git.push("/workspace/a", username="agent", password=TOKEN))
    assert (pushed.remote, pushed.branch) == ("origin", "main")

    with pytest.raises(nullspace.GitAuthError):
        await maybe(git.clone(REMOTE, "/workspace/bad", username="agent", token="wrong"))
    with pytest.raises(nullspace.GitRepositoryNotFoundError):
        await maybe(
            git.clone(
                "http://127.0.0.1:8418/nope.git", "/workspace/n", username="agent", token=TOKEN
            )
        )

    # A second clone behind the first: its push is rejected until it pulls.
    url = f"http://agent:{TOKEN}@127.0.0.1:8418/repo.git"
    await maybe(git.clone(url, "/workspace/b"))
    assert TOKEN not in await sh(machine, "cat /workspace/b/.git/config")
    await maybe(git.set_config("user.email", "b@example.com", path="/workspace/b"))
    assert await maybe(git.get_config("user.email", path="/workspace/b")) == "b@example.com"
    await sh(machine, "echo b > /workspace/a/a.txt; echo b > /workspace/b/b.txt")
    for repo in ("/workspace/a", "/workspace/b"):
        await maybe(git.add(repo))
        await maybe(git.commit(repo, f"from {repo}"))
    await maybe(git.push("/workspace/a", username="agent", token=TOKEN))
    with pytest.raises(nullspace.GitPushRejectedError):
        await maybe(git.push("/workspace/b", username="agent", token=TOKEN))
    await maybe(git.pull("/workspace/b", username="agent", token=TOKEN))
    await maybe(git.push("/workspace/b", username="agent", token=TOKEN))
    branches = await maybe(git.branches("/workspace/b"))
    assert branches.current == "main" and branches.branches[0].upstream == "origin/main"
