"""Network settings of a machine: outbound CIDR lists and preview access."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from .errors import InvalidArgumentError

ALL_TRAFFIC = "0.0.0.0/0"
"""Every IPv4 destination: ``network={"deny_out": [ALL_TRAFFIC], ...}``."""

MAX_CIDRS = 256
"""Most CIDRs one list of a policy takes."""

_KEYS = ("allow_out", "deny_out", "allow_public_traffic")


class NetworkPolicy(TypedDict, total=False):
    """The ``network`` of :meth:`Machine.create <nullspace.Machine.create>`.

    ``allow_out``: IPv4 networks always reachable (they win over ``deny_out``); given
    alone, the only ones reachable. ``deny_out``: IPv4 networks dropped.
    ``allow_public_traffic=False``: preview traffic needs a signed URL, a proxy token
    or the machine's :attr:`~nullspace.MachineInfo.traffic_access_token`."""

    allow_out: list[str]
    deny_out: list[str]
    allow_public_traffic: bool


def _cidrs(name: str, value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidArgumentError(
            "bad_request", f"{name} must be a list of IPv4 CIDRs, got {value!r}"
        )
    if len(value) > MAX_CIDRS:
        raise InvalidArgumentError(
            "bad_request", f"{name} takes at most {MAX_CIDRS} CIDRs, got {len(value)}"
        )
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise InvalidArgumentError("bad_request", f"{name}: {item!r} is not a string")
        try:
            net = ipaddress.ip_network(item, strict=False)
        except ValueError as e:
            raise InvalidArgumentError("bad_request", f"{name}: {item!r}: {e}") from None
        if net.version != 4:
            raise InvalidArgumentError(
                "bad_request", f"{name}: {item!r}: IPv6 is not routed to machines"
            )
        out.append(item)
    return out


def check_network(network: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The JSON ``network`` of a create, checked before any request is made."""
    if network is None:
        return None
    if not isinstance(network, Mapping):
        raise InvalidArgumentError(
            "bad_request", f"network must be a mapping, got {type(network).__name__}"
        )
    unknown = sorted(set(network) - set(_KEYS))
    if unknown:
        raise InvalidArgumentError(
            "bad_request", f"network takes {', '.join(_KEYS)}; unknown: {', '.join(unknown)}"
        )
    body: dict[str, Any] = {}
    for key in ("allow_out", "deny_out"):
        if network.get(key) is not None:
            body[key] = _cidrs(f"network.{key}", network[key])
    public = network.get("allow_public_traffic")
    if public is not None:
        if not isinstance(public, bool):
            raise InvalidArgumentError(
                "bad_request", f"network.allow_public_traffic must be True or False, got {public!r}"
            )
        body["allow_public_traffic"] = public
    return body
