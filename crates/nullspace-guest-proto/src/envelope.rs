//! Decoding a host frame in two steps: the envelope (`type`, `id`) first, then
//! the operation, so a guest that meets an operation it does not know (a newer
//! host) answers a typed `unsupported` failure instead of dropping the frame.

use serde_json::Value;

use crate::error::{ErrorCode, GuestError};
use crate::msg::{CallId, HostMsg};
use crate::PROTOCOL_VERSION;

/// A host frame that could not be taken, with the answer it deserves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// A call the guest cannot run: answer `failed` with `error` for `id`.
    Call {
        /// The call.
        id: CallId,
        /// Why (`unsupported` or `invalid_argument`).
        error: GuestError,
    },
    /// Not a message at all (no `type`, or no id): log and drop.
    Malformed(String),
}

/// Decode a host message from its JSON header.
pub fn parse_host(header: Value) -> Result<HostMsg, Rejected> {
    let kind = header
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = header.get("id").and_then(Value::as_u64).map(CallId);
    let op = header
        .get("op")
        .and_then(|op| op.get("op"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    match serde_json::from_value::<HostMsg>(header) {
        Ok(msg) => Ok(msg),
        Err(e) => match (kind.as_deref(), id) {
            (Some("call"), Some(id)) => {
                let error = match op {
                    Some(name) if !is_known_op(&name) => GuestError::new(
                        ErrorCode::Unsupported,
                        format!(
                            "operation {name} is not supported by this guest agent (protocol {PROTOCOL_VERSION})"
                        ),
                    ),
                    _ => GuestError::new(ErrorCode::InvalidArgument, format!("bad call: {e}")),
                };
                Err(Rejected::Call { id, error })
            }
            (Some(kind), _) => Err(Rejected::Malformed(format!("bad {kind} frame: {e}"))),
            (None, _) => Err(Rejected::Malformed(format!("frame without a type: {e}"))),
        },
    }
}

/// Operation names this crate knows.
pub const KNOWN_OPS: &[&str] = &[
    "hello",
    "health",
    "metrics",
    "exec",
    "read_file",
    "write_file",
    "list",
    "stat",
    "exists",
    "mkdir",
    "remove",
    "rename",
    "chmod",
    "process_start",
    "process_list",
    "process_attach",
    "process_input",
    "process_signal",
    "process_resize",
    "process_wait",
    "search_files",
    "find_in_files",
    "replace_in_files",
    "watch_dir",
    "extract_archive",
    "create_archive",
    "digest_file",
];

fn is_known_op(name: &str) -> bool {
    KNOWN_OPS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::Op;

    #[test]
    fn unknown_operations_are_unsupported_not_dropped() {
        let v = serde_json::json!({"type":"call","id":7,"op":{"op":"teleport","to":"mars"}});
        match parse_host(v) {
            Err(Rejected::Call { id, error }) => {
                assert_eq!(id, CallId(7));
                assert_eq!(error.code, ErrorCode::Unsupported);
                assert!(error.message.contains("teleport"), "{error:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_known_operation_with_a_bad_body_is_invalid() {
        let v = serde_json::json!({"type":"call","id":8,"op":{"op":"stat","path":5}});
        match parse_host(v) {
            Err(Rejected::Call { error, .. }) => assert_eq!(error.code, ErrorCode::InvalidArgument),
            other => panic!("{other:?}"),
        }
        let v = serde_json::json!({"type":"warp","id":8});
        assert!(matches!(parse_host(v), Err(Rejected::Malformed(_))));
        let v = serde_json::json!({"type":"call","id":9,"op":{"op":"health"}});
        assert_eq!(
            parse_host(v),
            Ok(HostMsg::Call {
                id: CallId(9),
                op: Op::Health
            })
        );
    }

    #[test]
    fn known_ops_match_the_enum() {
        let ops = [
            Op::Health,
            Op::ProcessList,
            Op::Hello {
                identity: None,
                protocol: 2,
            },
        ];
        for op in ops {
            assert!(is_known_op(op.name()), "{}", op.name());
            let v = serde_json::to_value(&op).unwrap();
            assert_eq!(v["op"], op.name());
        }
    }
}
