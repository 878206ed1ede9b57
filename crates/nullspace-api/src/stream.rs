//! Messages of the process stream WebSocket (`spec/websocket.md`). Output
//! travels in binary messages whose first byte names the stream; these are the
//! text (JSON) messages.

use serde::{Deserialize, Serialize};

use crate::processes::SignalName;

/// First byte of a binary message from the client: stdin bytes follow.
pub const WS_STDIN: u8 = 0x00;
/// First byte of a binary message from the server: stdout bytes follow.
pub const WS_STDOUT: u8 = 0x01;
/// First byte of a binary message from the server: stderr bytes follow.
pub const WS_STDERR: u8 = 0x02;

/// Close code: the machine or process is gone.
pub const CLOSE_NOT_FOUND: u16 = 4404;
/// Close code: the machine is not running, or its agent is too old.
pub const CLOSE_CONFLICT: u16 = 4409;
/// Close code: an internal error.
pub const CLOSE_INTERNAL: u16 = 4500;
/// Close code: the machine died.
pub const CLOSE_MACHINE_DIED: u16 = 4502;

/// Output stream named in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamName {
    /// Standard output (or a terminal's output).
    Stdout,
    /// Standard error.
    Stderr,
}

/// A text message from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// First message: output from these offsets follows.
    Start {
        /// The process.
        pid: u32,
        /// Offset of the first stdout byte sent.
        stdout_offset: u64,
        /// Offset of the first stderr byte sent.
        stderr_offset: u64,
    },
    /// Bytes dropped from the process's buffer before this reader got them.
    Gap {
        /// The stream.
        stream: StreamName,
        /// How many.
        bytes: u64,
    },
    /// Last message: the process ended, or (without follow) what is kept was sent.
    End {
        /// The process.
        pid: u32,
        /// Whether it still runs (only without follow).
        running: bool,
        /// Exit code, if it exited by itself.
        exit_code: Option<i32>,
        /// Signal that ended it.
        signal: Option<i32>,
        /// Whether its timeout killed it.
        timed_out: bool,
        /// Run time, ms.
        duration_ms: Option<u64>,
        /// Offset after the last stdout byte sent.
        stdout_offset: u64,
        /// Offset after the last stderr byte sent.
        stderr_offset: u64,
    },
    /// A failure, with the REST API's stable code.
    Error {
        /// Stable code.
        code: crate::ErrorCode,
        /// What happened.
        message: String,
    },
}

/// A text message from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// Write to stdin: `data` (text) or `data_base64` (bytes).
    Stdin {
        /// Text.
        #[serde(default)]
        data: Option<String>,
        /// Bytes, standard base64.
        #[serde(default)]
        data_base64: Option<String>,
    },
    /// Close stdin.
    CloseStdin,
    /// Signal the process group.
    Signal {
        /// The signal.
        signal: SignalName,
    },
    /// Resize the terminal.
    Resize {
        /// Columns.
        #[serde(deserialize_with = "crate::de::int")]
        cols: u16,
        /// Rows.
        #[serde(deserialize_with = "crate::de::int")]
        rows: u16,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_shapes() {
        let m: ClientMsg =
            serde_json::from_str(r#"{"type":"resize","cols":120,"rows":40}"#).unwrap();
        assert_eq!(
            m,
            ClientMsg::Resize {
                cols: 120,
                rows: 40
            }
        );
        let m: ClientMsg = serde_json::from_str(r#"{"type":"close_stdin"}"#).unwrap();
        assert_eq!(m, ClientMsg::CloseStdin);
        assert!(serde_json::from_str::<ClientMsg>(r#"{"type":"warp"}"#).is_err());
        let s = serde_json::to_string(&ServerMsg::Gap {
            stream: StreamName::Stderr,
            bytes: 5,
        })
        .unwrap();
        assert_eq!(s, r#"{"type":"gap","stream":"stderr","bytes":5}"#);
    }
}
