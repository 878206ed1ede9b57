//! The events of a stream channel (`spec/websocket.md`), decoded from its messages:
//! binary output (first byte the stream) and JSON text messages by `type`.

use nullspace_api::ErrorCode;
use serde::{Deserialize, Serialize};

/// One output stream of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputStream {
    /// Stdout, or a terminal's output.
    Stdout,
    /// Stderr.
    Stderr,
}

/// The first message of a channel: output from these offsets follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStart {
    /// The process.
    pub pid: u32,
    /// Offset of the first stdout byte that follows.
    pub stdout_offset: u64,
    /// Offset of the first stderr byte that follows.
    pub stderr_offset: u64,
}

/// The last message of a channel: the process ended (or, without `follow`, what is
/// kept was sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnd {
    /// The process.
    pub pid: u32,
    /// Whether it still runs (only without `follow`).
    #[serde(default)]
    pub running: bool,
    /// Exit code, if it exited by itself.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Signal that ended it, if one did.
    #[serde(default)]
    pub signal: Option<i32>,
    /// Whether its timeout killed it.
    #[serde(default)]
    pub timed_out: bool,
    /// Run time in milliseconds.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Offset after the last stdout byte sent.
    #[serde(default)]
    pub stdout_offset: u64,
    /// Offset after the last stderr byte sent.
    #[serde(default)]
    pub stderr_offset: u64,
}

/// What the server says on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The process was found; output from these offsets follows.
    Start(StreamStart),
    /// Raw output bytes of one stream.
    Output {
        /// Which stream.
        stream: OutputStream,
        /// The bytes, as the process wrote them.
        bytes: Vec<u8>,
    },
    /// Bytes dropped from the process's buffer before this reader got them.
    Gap {
        /// Which stream.
        stream: OutputStream,
        /// How many.
        bytes: u64,
    },
    /// The last message: the process ended (or what is kept was sent).
    End(StreamEnd),
    /// A failure: of an input (the channel stays open) or of the stream (it closes).
    Error {
        /// Stable code (an unknown one reads as `internal`).
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
}

/// A text message of the server, by its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerText {
    Start(StreamStart),
    Gap { stream: OutputStream, bytes: u64 },
    End(StreamEnd),
    Error { code: String, message: String },
}

/// The output event of a binary message, or what is wrong with it.
pub(crate) fn output(bytes: &[u8]) -> Result<StreamEvent, String> {
    let stream = match bytes.first() {
        Some(0x01) => OutputStream::Stdout,
        Some(0x02) => OutputStream::Stderr,
        other => return Err(format!("a binary message of unknown stream {other:?}")),
    };
    Ok(StreamEvent::Output {
        stream,
        bytes: bytes[1..].to_vec(),
    })
}

/// The event of a text message (`None` for a type this client does not know), or
/// what is wrong with it.
pub(crate) fn text(text: &str) -> Result<Option<StreamEvent>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("a text message that is not JSON: {e}"))?;
    let known = matches!(
        value.get("type").and_then(|t| t.as_str()),
        Some("start" | "gap" | "end" | "error")
    );
    if !known {
        return Ok(None);
    }
    let message: ServerText =
        serde_json::from_value(value).map_err(|e| format!("a malformed message: {e}"))?;
    Ok(Some(match message {
        ServerText::Start(start) => StreamEvent::Start(start),
        ServerText::Gap { stream, bytes } => StreamEvent::Gap { stream, bytes },
        ServerText::End(end) => StreamEvent::End(end),
        ServerText::Error { code, message } => {
            match serde_json::from_value(serde_json::Value::String(code.clone())) {
                Ok(code) => StreamEvent::Error { code, message },
                Err(_) => StreamEvent::Error {
                    code: ErrorCode::Internal,
                    message: format!("{message} ({code})"),
                },
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_decode_to_events() {
        assert_eq!(
            output(b"\x02oops").unwrap(),
            StreamEvent::Output {
                stream: OutputStream::Stderr,
                bytes: b"oops".to_vec()
            }
        );
        assert!(output(b"").is_err());
        assert!(output(b"\x09x").is_err());
        assert_eq!(text(r#"{"type":"later_feature"}"#).unwrap(), None);
        assert!(text("not json").is_err());
        assert!(text(r#"{"type":"start"}"#).is_err());
        let end = text(r#"{"type":"end","pid":3,"exit_code":null,"signal":9}"#)
            .unwrap()
            .unwrap();
        match end {
            StreamEvent::End(end) => {
                assert_eq!(
                    (end.pid, end.exit_code, end.signal, end.timed_out),
                    (3, None, Some(9), false)
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            text(r#"{"type":"error","code":"brand_new","message":"m"}"#).unwrap(),
            Some(StreamEvent::Error {
                code: ErrorCode::Internal,
                message: "m (brand_new)".into()
            })
        );
    }
}
