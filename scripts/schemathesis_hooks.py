"""Schemathesis hooks for scripts/schemathesis.sh.

A valid idempotency key that Schemathesis generates (the `Idempotency-Key` header
or the body's `idempotency_key`) is made unique per request, the same in both:
Hypothesis shrinks keys to the same few values, and a key reused with another body
is rightly refused (422 `idempotency_key_reused`, tested on its own in the
server's tests), which would read as "a valid request rejected". Invalid keys are
left as generated, so the header's own checks are still fuzzed.

Likewise a `public_key` of `POST …/ssh-access` that matches the spec's pattern is
replaced by a real key line: the pattern says what a key line looks like, but
random base64 in it is not a key (422 `ssh_key_invalid`, tested in the server's
`ssh_api.rs`). Keys that do not match the pattern are left, to be refused.
"""

import re
import uuid
from typing import Any

import schemathesis

_VALID = re.compile(r"^[!-~]([ -~]*[!-~])?$")
_KEY_LINE = re.compile(
    r"^\s*(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521)"
    r" [A-Za-z0-9+/]+={0,2}( [^\x00\n\r]*)?\s*$"
)
_REAL_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICgrN1WcdO0UyautNtCJ6wQeACUBRAw8he96n/NACseF fuzz"
)


def _valid_header(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 256 and bool(_VALID.match(value))


def _valid_body(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 256 and "\0" not in value


@schemathesis.hook
def before_call(ctx: Any, case: Any, kwargs: Any) -> None:
    fresh = uuid.uuid4().hex
    headers = case.headers or {}
    names = [n for n in headers if n.lower() == "idempotency-key"]
    body = case.body if isinstance(case.body, dict) else {}
    header_ok = all(_valid_header(headers[n]) for n in names)
    body_ok = "idempotency_key" not in body or _valid_body(body["idempotency_key"])
    # Only requests whose keys are all valid are made fresh (and equal when both
    # are given); an invalid key stays, to be refused.
    key = body.get("public_key")
    if isinstance(key, str) and len(key) <= 16384 and _KEY_LINE.match(key):
        body["public_key"] = _REAL_KEY
    if (names or "idempotency_key" in body) and header_ok and body_ok:
        for n in names:
            headers[n] = fresh
        if "idempotency_key" in body:
            body["idempotency_key"] = fresh
