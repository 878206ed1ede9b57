"""The template builder: the steps of a build, written once for both flavours.

:class:`TemplateBuilder` records a build's parent (a template, or an OCI image and the
login to its registry), steps, start and ready commands;
:class:`~nullspace.Template` and :class:`~nullspace.AsyncTemplate` are it plus the
calls that send a build (``Template.build(builder, "name")``). Every method checks its
arguments at once, so a bad one raises :class:`~nullspace.InvalidArgumentError` where
it was written, before any request. The chain methods change the builder and return
it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self, TextIO

from ._template_context import Context, check_source, pack
from .errors import InvalidArgumentError
from .readiness import ReadyCmd
from .template_models import BuildLogEntry

__all__ = ["DEFAULT_PARENT", "TemplateBuilder", "default_build_logger"]

DEFAULT_PARENT = "base"
"""The parent of a build that names none: the host's built-in template."""
START_USER = "user"
START_WORKDIR = "/workspace"
"""The user and working directory at the start of every build."""

_ENV_NAME = re.compile(r"^[^=\x00]+$")
MAX_IMAGE_REF = 1024
"""The longest image reference the server takes, in characters."""
MAX_SECRET_BYTES = 65_536
"""The longest registry user name, password or service account key, in bytes."""
REDACTED = "<redacted>"
"""What :meth:`TemplateBuilder.to_dict` shows instead of a password or key."""


@dataclass(frozen=True)
class _Run:
    cmd: str
    user: str | None = None


@dataclass(frozen=True)
class _Env:
    envs: dict[str, str]


@dataclass(frozen=True)
class _Workdir:
    path: str


@dataclass(frozen=True)
class _User:
    user: str


@dataclass(frozen=True)
class _Copy:
    src: str
    dest: str
    ignore_patterns: tuple[str, ...] | None = None


_Step = _Run | _Env | _Workdir | _User | _Copy


@dataclass(frozen=True)
class _BasicAuth:
    username: str
    password: str = dataclasses.field(repr=False)


@dataclass(frozen=True)
class _GcpAuth:
    service_account_json: str = dataclasses.field(repr=False)


@dataclass(frozen=True)
class _AwsAuth:
    access_key_id: str
    secret_access_key: str = dataclasses.field(repr=False)
    region: str
    session_token: str | None = dataclasses.field(default=None, repr=False)


_RegistryAuth = _BasicAuth | _GcpAuth | _AwsAuth


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError("bad_request", f"{name} must be a non-empty string: {value!r}")
    return value


def _envs(name: str, envs: object) -> dict[str, str]:
    if not isinstance(envs, Mapping):
        raise InvalidArgumentError(
            "bad_request", f"{name} must be a dict of strings, got {type(envs).__name__}"
        )
    out: dict[str, str] = {}
    for key, value in envs.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key) or not isinstance(value, str):
            raise InvalidArgumentError(
                "bad_request", f"{name} must map variable names to strings, got {key!r}: {value!r}"
            )
        out[key] = value
    return out


def _image(value: object) -> str:
    """An image reference, once nothing obvious is wrong with it (the server parses
    it)."""
    ref = _text("image", value)
    if ref != ref.strip() or any(c.isspace() for c in ref):
        raise InvalidArgumentError("bad_request", f"an image reference has no spaces: {ref!r}")
    if len(ref) > MAX_IMAGE_REF:
        raise InvalidArgumentError(
            "bad_request", f"an image reference is at most {MAX_IMAGE_REF} characters"
        )
    if "://" in ref:
        raise InvalidArgumentError(
            "bad_request",
            f"an image reference has no scheme (write host/repo:tag, not a URL): {ref!r}",
        )
    return ref


def _secret(name: str, value: object) -> str:
    """A user name, password or key: a non-empty string of at most 64 KiB (its value
    stays out of the messages)."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError("bad_request", f"{name} must be a non-empty string")
    if len(value.encode()) > MAX_SECRET_BYTES:
        raise InvalidArgumentError("bad_request", f"{name} is at most {MAX_SECRET_BYTES} bytes")
    return value


def _image_tag(name: str, value: object) -> str:
    tag = _text(name, value)
    if any(c.isspace() or c in ":/@" for c in tag):
        raise InvalidArgumentError("bad_request", f"{name} must be a bare tag, got {tag!r}")
    return tag


def _service_account_json(value: object) -> str:
    """The key as the text the server takes: a dict serialized, a JSON string as it
    is, anything else the path of a key file, read now."""
    if isinstance(value, Mapping):
        try:
            text = json.dumps(dict(value))
        except (TypeError, ValueError) as err:
            raise InvalidArgumentError(
                "bad_request", f"service_account_json is not JSON-serializable: {err}"
            ) from None
    elif isinstance(value, str) and value.lstrip().startswith("{"):
        text = value
    elif isinstance(value, str | os.PathLike):
        path = os.fspath(value)
        if not path:
            raise InvalidArgumentError(
                "bad_request", "service_account_json must be a key, or the path of a key file"
            )
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as err:
            raise InvalidArgumentError(
                "bad_request", f"service_account_json: cannot read the key file {path}: {err}"
            ) from None
    else:
        raise InvalidArgumentError(
            "bad_request",
            "service_account_json must be a dict, a JSON string or the path of a key file, "
            f"got {type(value).__name__}",
        )
    try:
        key = json.loads(text)
    except ValueError:
        key = None
    if not isinstance(key, dict):
        raise InvalidArgumentError(
            "bad_request", "service_account_json must be a service account key (a JSON object)"
        )
    return _secret("service_account_json", text)


def _packages(packages: str | Sequence[str]) -> list[str]:
    items = [packages] if isinstance(packages, str) else packages
    if not isinstance(items, Sequence) or not items:
        raise InvalidArgumentError("bad_request", f"name at least one package, got {packages!r}")
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise InvalidArgumentError("bad_request", f"a package must be a name, got {item!r}")
    return [shlex.quote(item) for item in items]


def _ready(value: str | ReadyCmd) -> ReadyCmd:
    if isinstance(value, ReadyCmd):
        return value
    if isinstance(value, str):
        return ReadyCmd(value)
    raise InvalidArgumentError(
        "bad_request", f"a ready command is a string or a ReadyCmd, got {type(value).__name__}"
    )


def _instruction(keyword: str, cmd: str) -> str:
    """A ``RUN`` / ``CMD`` line: shell form, or the exact ``bash -c`` exec form when the
    command spans lines."""
    if "\n" in cmd:
        return f"{keyword} {json.dumps(['bash', '-c', cmd])}"
    return f"{keyword} {cmd}"


def _env_line(envs: Mapping[str, str]) -> str:
    return "ENV " + " ".join(f"{k}={json.dumps(v)}" for k, v in envs.items())


class TemplateBuilder:
    """The steps of a template build: parent, ``run``/``env``/``workdir``/``user``/
    ``copy`` steps, start and ready commands, runtime environment."""

    def __init__(self) -> None:
        self._parent = DEFAULT_PARENT
        self._image: str | None = None
        self._auth: _RegistryAuth | None = None
        self._steps: list[_Step] = []
        self._workdir = START_WORKDIR
        self._start_cmd: str | None = None
        self._ready: ReadyCmd | None = None
        self._runtime_envs: dict[str, str] = {}
        self._skip_cache = False

    # -- parent -------------------------------------------------------------------

    def from_template(self, ref: str = DEFAULT_PARENT) -> Self:
        """Build on the template ``ref`` (``name``, ``name:tag`` or ``tpl_…``), instead
        of any image named before."""
        self._parent = _text("from_template", ref)
        self._image = None
        self._auth = None
        return self

    def from_base_image(self) -> Self:
        """Build on the built-in ``base`` (Debian 12, python3, git, curl, sudo)."""
        return self.from_template(DEFAULT_PARENT)

    def from_image(
        self, image: str, username: str | None = None, password: str | None = None
    ) -> Self:
        """Build on the OCI image ``image`` (``python:3.12``,
        ``registry.example:5000/team/app:1``, ``ghcr.io/org/app@sha256:…``), instead
        of a template; ``username`` and ``password`` (or token), given together, log in
        to its registry. A name without a registry is pulled from the server's default
        one (Docker Hub, unless its operator set a mirror). The image's ``Env`` and
        ``WorkingDir`` become the template's environment and working directory."""
        ref = _image(image)
        if (username is None) != (password is None):
            raise InvalidArgumentError(
                "bad_request", "give username and password together, or neither"
            )
        auth: _RegistryAuth | None = None
        if username is not None and password is not None:
            auth = _BasicAuth(_secret("username", username), _secret("password", password))
        self._image, self._auth = ref, auth
        return self

    def from_registry(self, image: str, username: str, password: str) -> Self:
        """Build on ``image`` from a private registry, logging in with ``username``
        and ``password`` (or token): :meth:`from_image` with a login."""
        if username is None or password is None:
            raise InvalidArgumentError("bad_request", "from_registry needs username and password")
        return self.from_image(image, username, password)

    def from_gcp_registry(
        self,
        image: str,
        service_account_json: str | os.PathLike[str] | Mapping[str, Any],
    ) -> Self:
        """Build on ``image`` from Google Artifact Registry or Container Registry,
        logging in with a service account key: the path of its JSON key file (read
        now), the key as a dict, or its JSON text."""
        ref = _image(image)
        self._image, self._auth = ref, _GcpAuth(_service_account_json(service_account_json))
        return self

    def from_aws_registry(
        self,
        image: str,
        access_key_id: str,
        secret_access_key: str,
        region: str,
        session_token: str | None = None,
    ) -> Self:
        """Build on ``image`` from AWS ECR: the node exchanges the keys for a registry
        token (``GetAuthorizationToken`` in ``region``) before it pulls."""
        ref = _image(image)
        auth = _AwsAuth(
            _secret("access_key_id", access_key_id),
            _secret("secret_access_key", secret_access_key),
            _text("region", region),
            None if session_token is None else _secret("session_token", session_token),
        )
        self._image, self._auth = ref, auth
        return self

    def from_ubuntu_image(self, tag: str = "22.04") -> Self:
        """Build on ``ubuntu:{tag}``."""
        return self.from_image(f"ubuntu:{_image_tag('tag', tag)}")

    def from_debian_image(self, tag: str = "bookworm") -> Self:
        """Build on ``debian:{tag}``."""
        return self.from_image(f"debian:{_image_tag('tag', tag)}")

    def from_python_image(self, version: str = "3.12") -> Self:
        """Build on ``python:{version}``."""
        return self.from_image(f"python:{_image_tag('version', version)}")

    def from_node_image(self, version: str = "20") -> Self:
        """Build on ``node:{version}``."""
        return self.from_image(f"node:{_image_tag('version', version)}")

    # -- steps --------------------------------------------------------------------

    def run_cmd(self, cmd: str | Sequence[str], user: str | None = None) -> Self:
        """Run a shell command (a list runs its commands joined with ``&&``), as
        ``user`` for this step only (default: the current user)."""
        if isinstance(cmd, str):
            line = _text("cmd", cmd)
        elif isinstance(cmd, Sequence) and cmd:
            line = " && ".join(_text("each command", c) for c in cmd)
        else:
            raise InvalidArgumentError("bad_request", f"cmd must be a string or a list: {cmd!r}")
        self._steps.append(_Run(line, None if user is None else _text("user", user)))
        return self

    def apt_install(
        self, packages: str | Sequence[str], no_install_recommends: bool = True
    ) -> Self:
        """Install Debian packages, as root."""
        flag = " --no-install-recommends" if no_install_recommends else ""
        names = " ".join(_packages(packages))
        return self.run_cmd(
            f"apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y{flag} {names}",
            user="root",
        )

    def pip_install(self, packages: str | Sequence[str]) -> Self:
        """Install Python packages for the system ``python3``, as root (the image
        needs pip: ``apt_install("python3-pip")``)."""
        names = " ".join(_packages(packages))
        return self.run_cmd(f"python3 -m pip install --break-system-packages {names}", user="root")

    def npm_install(self, packages: str | Sequence[str], g: bool = False) -> Self:
        """Install npm packages: in the working directory as the current user, or
        globally (``g=True``) as root (the image needs npm)."""
        names = " ".join(_packages(packages))
        if g:
            return self.run_cmd(f"npm install -g {names}", user="root")
        return self.run_cmd(f"npm install {names}")

    def set_envs(self, envs: Mapping[str, str]) -> Self:
        """Add build-time environment variables for the following steps (the machines
        do not get them: see :meth:`set_runtime_envs`)."""
        checked = _envs("envs", envs)
        if checked:
            self._steps.append(_Env(checked))
        return self

    def set_workdir(self, path: str) -> Self:
        """Work in ``path`` (created if missing; relative to the current one) in the
        following steps, and in the machines created from the template."""
        self._workdir = posixpath.normpath(posixpath.join(self._workdir, _text("path", path)))
        self._steps.append(_Workdir(self._workdir))
        return self

    def set_user(self, user: str) -> Self:
        """Run the following steps as ``user`` (``user`` or ``root``)."""
        self._steps.append(_User(_text("user", user)))
        return self

    def copy(
        self,
        src: str | os.PathLike[str],
        dest: str,
        *,
        ignore_patterns: Sequence[str] | None = None,
    ) -> Self:
        """Copy a local file or directory into the directory ``dest`` (relative to the
        working directory), owned by the current user. A directory's contents go into
        ``dest``, less what its ``.nullspaceignore`` and ``ignore_patterns`` leave out;
        a file goes into ``dest`` under its own name. It is packed when the build
        starts."""
        path = check_source(src)
        target = posixpath.normpath(posixpath.join(self._workdir, _text("dest", dest)))
        patterns: tuple[str, ...] | None = None
        if ignore_patterns is not None:
            if isinstance(ignore_patterns, str) or not all(
                isinstance(p, str) for p in ignore_patterns
            ):
                raise InvalidArgumentError("bad_request", "ignore_patterns must be a list of str")
            patterns = tuple(ignore_patterns)
        self._steps.append(_Copy(path, target, patterns))
        return self

    # -- start, readiness, cache --------------------------------------------------

    def set_start_cmd(
        self,
        cmd: str,
        ready_cmd: str | ReadyCmd | None = None,
        *,
        readiness: str | ReadyCmd | None = None,
    ) -> Self:
        """Start ``cmd`` (``bash -c``, in the background) once the steps are done; the
        snapshot is taken when ``ready_cmd`` (alias ``readiness``) succeeds, so the
        machines created from the template start with it running."""
        if ready_cmd is not None and readiness is not None:
            raise InvalidArgumentError("bad_request", "give ready_cmd or readiness, not both")
        self._start_cmd = _text("start cmd", cmd)
        ready = ready_cmd if ready_cmd is not None else readiness
        if ready is not None:
            self.set_ready_cmd(ready)
        return self

    def set_ready_cmd(self, ready_cmd: str | ReadyCmd) -> Self:
        """Wait until ``ready_cmd`` succeeds (run every 500 ms) before the snapshot."""
        self._ready = _ready(ready_cmd)
        return self

    def set_runtime_envs(self, envs: Mapping[str, str]) -> Self:
        """Add environment variables of the machines created from the template (and of
        the start command)."""
        self._runtime_envs.update(_envs("runtime envs", envs))
        return self

    def skip_cache(self) -> Self:
        """Rerun every step instead of restoring cached ones (and refresh the cache)."""
        self._skip_cache = True
        return self

    # -- reading ------------------------------------------------------------------

    @property
    def parent(self) -> str:
        """The template or image the build starts from."""
        return self._image if self._image is not None else self._parent

    @property
    def image(self) -> str | None:
        """The image the build starts from, ``None`` when it starts from a template."""
        return self._image

    @property
    def step_count(self) -> int:
        """How many steps the build has."""
        return len(self._steps)

    @property
    def ready_cmd(self) -> ReadyCmd | None:
        """The ready command, if one was set."""
        return self._ready

    def pack_contexts(self) -> list[Context]:
        """The context of each ``copy`` step, in order, packed and hashed now."""
        return [pack(s.src, s.ignore_patterns) for s in self._steps if isinstance(s, _Copy)]

    def _parent_fields(self, redact: bool) -> dict[str, Any]:
        if self._image is None:
            return {"from_template": self._parent}
        fields: dict[str, Any] = {"from_image": self._image}
        if isinstance(self._auth, _BasicAuth):
            fields["registry_auth"] = {
                "kind": "basic",
                "username": self._auth.username,
                "password": REDACTED if redact else self._auth.password,
            }
        elif isinstance(self._auth, _GcpAuth):
            fields["registry_auth"] = {
                "kind": "gcp",
                "service_account_json": REDACTED if redact else self._auth.service_account_json,
            }
        elif isinstance(self._auth, _AwsAuth):
            aws: dict[str, str] = {
                "kind": "aws",
                "access_key_id": self._auth.access_key_id,
                "secret_access_key": REDACTED if redact else self._auth.secret_access_key,
                "region": self._auth.region,
            }
            if self._auth.session_token is not None:
                aws["session_token"] = REDACTED if redact else self._auth.session_token
            fields["registry_auth"] = aws
        return fields

    def render(self, context_hashes: Sequence[str], *, redact: bool = False) -> dict[str, Any]:
        """The request body but its name and build options, the ``copy`` steps naming
        ``context_hashes`` in order. It holds the registry password or key, unless
        ``redact`` shows them as ``"<redacted>"``."""
        hashes = iter(context_hashes)
        steps: list[dict[str, Any]] = []
        for step in self._steps:
            if isinstance(step, _Run):
                steps.append({"kind": "run", "cmd": step.cmd})
                if step.user is not None:
                    steps[-1]["user"] = step.user
            elif isinstance(step, _Env):
                steps.append({"kind": "env", "envs": dict(step.envs)})
            elif isinstance(step, _Workdir):
                steps.append({"kind": "workdir", "path": step.path})
            elif isinstance(step, _User):
                steps.append({"kind": "user", "user": step.user})
            else:
                steps.append({"kind": "copy", "context": next(hashes), "dest": step.dest})
        body: dict[str, Any] = {**self._parent_fields(redact), "steps": steps}
        if self._start_cmd is not None:
            body["start_cmd"] = self._start_cmd
        if self._ready is not None:
            body["ready_cmd"] = self._ready.cmd
            if self._ready.timeout_secs is not None:
                body["ready_timeout_secs"] = self._ready.timeout_secs
        body["runtime_envs"] = dict(self._runtime_envs)
        body["skip_cache"] = self._skip_cache
        return body

    def to_dict(self) -> dict[str, Any]:
        """The build request body, without ``name`` and the options of ``build``
        (packs the ``copy`` contexts to name them by hash), for reading: a registry
        password or key shows as ``"<redacted>"`` (the build sends them)."""
        return self.render([c.sha256 for c in self.pack_contexts()], redact=True)

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text (registry secrets redacted)."""
        return json.dumps(self.to_dict(), indent=indent)

    def to_dockerfile(self) -> str:
        """The build as a Dockerfile, for reading: it is not a build input, and a
        ``run`` step's own user shows as ``USER`` lines around its ``RUN``."""
        lines = [f"FROM {self.parent}"]
        user = START_USER
        for step in self._steps:
            if isinstance(step, _Run):
                if step.user is not None and step.user != user:
                    lines += [f"USER {step.user}", _instruction("RUN", step.cmd), f"USER {user}"]
                else:
                    lines.append(_instruction("RUN", step.cmd))
            elif isinstance(step, _Env):
                lines.append(_env_line(step.envs))
            elif isinstance(step, _Workdir):
                lines.append(f"WORKDIR {step.path}")
            elif isinstance(step, _User):
                user = step.user
                lines.append(f"USER {user}")
            else:
                src = step.src.rstrip("/") + "/" if os.path.isdir(step.src) else step.src
                dest = step.dest.rstrip("/") + "/"
                if any(c.isspace() for c in src + dest):
                    lines.append(f"COPY {json.dumps([src, dest])}")
                else:
                    lines.append(f"COPY {src} {dest}")
        if self._runtime_envs:
            lines.append(_env_line(self._runtime_envs))
        if self._ready is not None:
            lines.append(f"# ready when this succeeds: {self._ready.cmd}")
        if self._start_cmd is not None:
            lines.append(_instruction("CMD", self._start_cmd))
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(from={self.parent!r}, steps={len(self._steps)})"


_LEVELS = {"debug": 0, "info": 1, "warn": 2, "warning": 2, "error": 3}


def default_build_logger(
    min_level: str = "info", file: TextIO | None = None
) -> Callable[[BuildLogEntry], None]:
    """A build log callback printing ``[time] LEVEL message`` lines (to stdout)."""
    floor = _LEVELS.get(min_level)
    if floor is None:
        raise InvalidArgumentError("bad_request", f"min_level must be one of {sorted(_LEVELS)}")

    def log(entry: BuildLogEntry) -> None:
        if _LEVELS.get(entry.level, len(_LEVELS)) < floor:
            return
        at = entry.at.strftime("%H:%M:%S")
        print(f"[{at}] {entry.level.upper()} {entry.message}", file=file or sys.stdout, flush=True)

    return log
