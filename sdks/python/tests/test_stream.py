"""The stream state machine without a socket: message decoding, offsets, incremental
UTF-8, gaps, end, and the reconnect decisions."""

from __future__ import annotations

import json

import pytest

import nullspace
from nullspace._config import ClientConfig
from nullspace._stream import RECONNECT_DELAYS, Output, StreamState, ws_headers, ws_url


def text(obj: object) -> str:
    return json.dumps(obj)


def started(state: StreamState, stdout: int = 0, stderr: int = 0) -> StreamState:
    state.opened()
    state.feed(text({"type": "start", "pid": 5, "stdout_offset": stdout, "stderr_offset": stderr}))
    return state


def end_message(exit_code: int | None = 0, **extra: object) -> str:
    body = {"type": "end", "pid": 5, "running": False, "exit_code": exit_code, "signal": None}
    body.update(timed_out=False, duration_ms=7, stdout_offset=None, stderr_offset=None)
    body.update(extra)
    return text(body)


def test_urls_and_headers() -> None:
    config = ClientConfig(api_key="ns_live_k", api_url="https://api.example/base")
    assert (
        ws_url(config, "/v1/x", [("follow", "true")]) == "wss://api.example/base/v1/x?follow=true"
    )
    config = ClientConfig(api_key="ns_live_k", api_url="http://127.0.0.1:7070")
    assert ws_url(config, "/v1/x") == "ws://127.0.0.1:7070/v1/x"
    assert ws_headers(config)["Authorization"] == "Bearer ns_live_k"


def test_binary_output_offsets_and_query() -> None:
    state = started(StreamState(5))
    assert state.feed(b"\x01hello") == [Output("stdout", b"hello", "hello")]
    assert state.feed(b"\x02\x00\xff") == [Output("stderr", b"\x00\xff", "\x00\ufffd")]
    assert state.feed(b"\x07junk") == [] and state.feed(b"") == []
    assert state.offsets == {"stdout": 5, "stderr": 2}
    assert state.query() == [("stdout_offset", "5"), ("stderr_offset", "2"), ("follow", "true")]
    assert bytes(state.output["stderr"]) == b"\x00\xff"


def test_split_utf8_character_comes_whole() -> None:
    state = started(StreamState(5))
    euro = "€".encode()
    first = state.feed(b"\x01a" + euro[:2])
    second = state.feed(b"\x01" + euro[2:] + b"b")
    assert [e.text for e in first + second] == ["a", "€b"]
    assert state.text("stdout") == "a€b"


def test_gap_moves_offsets_and_cuts_a_character() -> None:
    state = started(StreamState(5))
    state.feed(b"\x01" + "€".encode()[:1])
    events = state.feed(text({"type": "gap", "stream": "stdout", "bytes": 100}))
    assert events == [Output("stdout", b"", "\ufffd")]
    assert state.offsets["stdout"] == 101 and state.dropped["stdout"] == 100


def test_resume_skips_what_is_sent_again_and_counts_what_is_lost() -> None:
    state = StreamState(5, stdout_offset=10, stderr_offset=4)
    started(state, stdout=8, stderr=6)  # stdout sent again from 8, stderr lost 4..6
    assert state.dropped == {"stdout": 0, "stderr": 2}
    assert state.feed(b"\x01abcd") == [Output("stdout", b"cd", "cd")]
    assert state.offsets == {"stdout": 12, "stderr": 6}


def test_end_result_and_exit_status() -> None:
    state = started(StreamState(5))
    state.feed(b"\x01out")
    state.feed(end_message(3, stdout_offset=3, stderr_offset=0))
    assert state.done and state.closed(1000) is None
    result = state.result()
    assert (result.stdout, result.exit_code, result.duration_ms) == ("out", 3, 7)


def test_end_by_signal_is_128_plus_signal() -> None:
    state = started(StreamState(5))
    state.feed(end_message(None, signal=9))
    assert state.result().exit_code == 137


def test_end_flushes_a_cut_last_character() -> None:
    state = started(StreamState(5))
    state.feed(b"\x01" + "€".encode()[:2])
    assert state.feed(end_message()) == [Output("stdout", b"", "\ufffd")]


def test_timed_out_raises_with_output() -> None:
    state = started(StreamState(5))
    state.feed(b"\x01before\n")
    state.feed(end_message(None, signal=9, timed_out=True))
    with pytest.raises(nullspace.TimeoutError) as info:
        state.result()
    assert (info.value.code, info.value.stdout, info.value.truncated) == (
        "command_timeout",
        "before\n",
        True,
    )


@pytest.mark.parametrize("code", [None, 1000, 1001, 1006, 4500])
def test_drops_reconnect_then_give_up(code: int | None) -> None:
    state = started(StreamState(5))
    delays = [state.closed(code) for _ in RECONNECT_DELAYS]
    assert delays == list(RECONNECT_DELAYS)
    assert state.closed(code) is None
    assert state.error is not None and state.error.code == "connection_error"
    assert state.reconnects == len(RECONNECT_DELAYS)


def test_a_start_resets_the_failures() -> None:
    state = started(StreamState(5))
    for _ in range(10):
        assert state.closed(None) == RECONNECT_DELAYS[0]
        started(state)
    assert not state.done


@pytest.mark.parametrize(
    "code,exc",
    [
        (4404, nullspace.ProcessNotFoundError),
        (4409, nullspace.MachineError),
        (4502, nullspace.MachineError),
        (1008, nullspace.InvalidArgumentError),
    ],
)
def test_fatal_close_codes(code: int, exc: type[nullspace.NullspaceError]) -> None:
    state = started(StreamState(5))
    assert state.closed(code, "gone") is None
    with pytest.raises(exc):
        state.result()


def test_error_message_names_the_error() -> None:
    state = started(StreamState(5))
    state.feed(text({"type": "error", "code": "agent_outdated", "message": "old agent"}))
    assert state.closed(4409) is None
    with pytest.raises(nullspace.AgentOutdatedError) as info:
        state.result()
    assert info.value.message == "old agent"


def test_refused_upgrades() -> None:
    state = StreamState(5)
    assert state.open_failed(nullspace.ServerError("connection_error", "refused")) == 0.2
    assert state.open_failed(nullspace.AuthError("unauthorized", "no", 401)) is None
    with pytest.raises(nullspace.AuthError):
        state.result()


def test_unknown_messages_are_ignored() -> None:
    state = started(StreamState(5))
    assert state.feed(text({"type": "hello"})) == []
    assert state.feed("not json") == [] and state.feed("[1]") == []
    assert not state.done


def test_may_follow_again() -> None:
    state = started(StreamState(5))
    assert state.may_follow_again()  # stopped without an end
    for _ in range(len(RECONNECT_DELAYS) + 1):
        state.closed(None)
    assert state.done and state.may_follow_again() and not state.done
    state.open_failed(nullspace.AuthError("unauthorized", "no", 401))
    assert not state.may_follow_again()
