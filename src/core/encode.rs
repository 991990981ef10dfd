//! The one bincode configuration used for every payload on the wire and every
//! value on disk: bincode 1.3, fixed-width little-endian integers, collection
//! lengths as u64 little-endian, a byte limit on decoding, and trailing bytes
//! rejected.
//!
//! Decoding never trusts a length prefix: bincode refuses to read past the
//! limit, so a peer cannot make us allocate more than the limit it is given.

use bincode::Options;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Error decoding bytes from the network, the disk or a user.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode {what}: {source}")]
pub struct DecodeError {
    /// The type that was being decoded.
    pub what: &'static str,
    /// bincode's reason (short input, limit exceeded, trailing bytes, bad tag…).
    #[source]
    pub source: bincode::Error,
}

fn options(limit: u64) -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(limit)
        .reject_trailing_bytes()
}

/// Encodes `value` with the project's bincode configuration.
///
/// Serializing the project's own types into memory cannot fail (no maps with
/// non-string keys, no unsized sequences); a failure here is a programming
/// error and yields an empty vector after logging, never a panic.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    match options(u64::MAX).serialize(value) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("encoding failed: {e}");
            Vec::new()
        }
    }
}

/// Size in bytes of `value`'s encoding.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> u64 {
    options(u64::MAX).serialized_size(value).unwrap_or(u64::MAX)
}

/// Decodes a `T` from exactly `bytes`, reading at most `limit` bytes.
///
/// Errors: [`DecodeError`] on short input, a length or tag that does not
/// fit, more than `limit` bytes needed, or bytes left over after the value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, DecodeError> {
    // bincode 1.3 does not apply its limit when reading from a slice, so the
    // input's own length is checked against it first.
    if bytes.len() as u64 > limit {
        return Err(DecodeError {
            what: std::any::type_name::<T>(),
            source: Box::new(bincode::ErrorKind::SizeLimit),
        });
    }
    options(limit)
        .deserialize(bytes)
        .map_err(|source| DecodeError {
            what: std::any::type_name::<T>(),
            source,
        })
}
