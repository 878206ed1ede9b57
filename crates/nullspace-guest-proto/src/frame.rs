//! Frame encoding: `MAGIC | header_len u32 | data_len u32 | header JSON | data`.

use serde::{de::DeserializeOwned, Serialize};

/// Magic that opens every frame: ASCII `NSG1`.
pub const MAGIC: [u8; 4] = *b"NSG1";
/// Largest JSON header accepted.
pub const MAX_HEADER: usize = 1 << 20;
/// Largest data payload in one frame; larger payloads are split by the sender.
pub const MAX_DATA: usize = 1 << 20;
/// Bytes before the header.
const PREFIX: usize = 12;

/// One decoded frame: a message and its raw data payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<M> {
    /// The control message.
    pub msg: M,
    /// Raw bytes carried beside the message (may be empty).
    pub data: Vec<u8>,
}

/// Why bytes could not be decoded into a frame.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Bytes were skipped to find the next frame start.
    #[error("skipped {0} bytes of garbage before a frame")]
    Resync(usize),
    /// A frame header announced more than the protocol allows.
    #[error("frame too large: header {header} bytes, data {data} bytes")]
    TooLarge {
        /// Announced header length.
        header: usize,
        /// Announced data length.
        data: usize,
    },
    /// The header was not a valid message.
    #[error("invalid frame header: {0}")]
    Json(#[from] serde_json::Error),
}

/// Encode a message and its data into one frame.
pub fn encode<M: Serialize>(msg: &M, data: &[u8]) -> Vec<u8> {
    let header = serde_json::to_vec(msg).expect("protocol messages always serialize");
    let mut out = Vec::with_capacity(PREFIX + header.len() + data.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out
}

/// Decode the first frame in `buf`, removing the bytes it used.
///
/// Returns `Ok(None)` when more bytes are needed. On garbage before a frame, or a
/// frame that cannot be parsed, the bad bytes are dropped and an error is returned;
/// the caller logs it and calls again, so the stream always makes progress.
pub fn decode<M: DeserializeOwned>(buf: &mut Vec<u8>) -> Result<Option<Frame<M>>, DecodeError> {
    if let Some(skip) = garbage_len(buf) {
        buf.drain(..skip);
        return Err(DecodeError::Resync(skip));
    }
    if buf.len() < PREFIX {
        return Ok(None);
    }
    let header_len = u32::from_be_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
    let data_len = u32::from_be_bytes(buf[8..12].try_into().expect("4 bytes")) as usize;
    if header_len > MAX_HEADER || data_len > MAX_DATA {
        // Drop the magic so the next call scans for a later frame.
        buf.drain(..MAGIC.len());
        return Err(DecodeError::TooLarge {
            header: header_len,
            data: data_len,
        });
    }
    let total = PREFIX + header_len + data_len;
    if buf.len() < total {
        return Ok(None);
    }
    let parsed = serde_json::from_slice::<M>(&buf[PREFIX..PREFIX + header_len]);
    let data = buf[PREFIX + header_len..total].to_vec();
    buf.drain(..total);
    Ok(Some(Frame { msg: parsed?, data }))
}

/// Number of bytes before the first possible frame start, if that is not zero.
fn garbage_len(buf: &[u8]) -> Option<usize> {
    if buf.is_empty() {
        return None;
    }
    // A frame start is the full magic, or a prefix of it at the very end of `buf`.
    let start = (0..buf.len())
        .find(|&i| {
            let n = (buf.len() - i).min(MAGIC.len());
            buf[i..i + n] == MAGIC[..n]
        })
        .unwrap_or(buf.len());
    (start > 0).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CallId, HostMsg, Op};

    fn health(id: u64) -> HostMsg {
        HostMsg::Call {
            id: CallId(id),
            op: Op::Health,
        }
    }

    #[test]
    fn round_trip_with_data_split_anywhere() {
        let bytes = [encode(&health(7), b"abc"), encode(&health(8), b"")].concat();
        for split in 0..bytes.len() {
            let mut buf = bytes[..split].to_vec();
            let mut got = Vec::new();
            while let Some(f) = decode::<HostMsg>(&mut buf).unwrap() {
                got.push(f);
            }
            buf.extend_from_slice(&bytes[split..]);
            while let Some(f) = decode::<HostMsg>(&mut buf).unwrap() {
                got.push(f);
            }
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(got[0].data, b"abc");
            assert_eq!(got[1].msg, health(8));
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn resyncs_after_garbage_and_bad_json() {
        let mut buf = b"xxNS".to_vec();
        buf.extend_from_slice(&encode(&health(1), b""));
        let err = decode::<HostMsg>(&mut buf).unwrap_err();
        assert!(matches!(err, DecodeError::Resync(4)), "{err}");
        assert_eq!(decode::<HostMsg>(&mut buf).unwrap().unwrap().msg, health(1));

        let mut bad = encode(&"not a message", b"");
        bad.extend_from_slice(&encode(&health(2), b""));
        assert!(matches!(
            decode::<HostMsg>(&mut bad),
            Err(DecodeError::Json(_))
        ));
        assert_eq!(decode::<HostMsg>(&mut bad).unwrap().unwrap().msg, health(2));
    }

    #[test]
    fn oversized_frames_are_rejected_not_buffered() {
        let mut buf = MAGIC.to_vec();
        buf.extend_from_slice(&(u32::MAX).to_be_bytes());
        buf.extend_from_slice(&0u32.to_be_bytes());
        assert!(matches!(
            decode::<HostMsg>(&mut buf),
            Err(DecodeError::TooLarge { .. })
        ));
        assert_eq!(buf.len(), 8);
    }
}
