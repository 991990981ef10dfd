//! The cookie credential of the mutating node routes, as bitcoind's: a
//! random secret written at start to `DATADIR/PORT/.cookie` (mode 0600) as
//! `__cookie__:HEX` (32 random bytes in hex), sent back as HTTP Basic auth
//! (user `__cookie__`, password the hex).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use axum::http::HeaderMap;

use super::ApiError;

/// The Basic-auth user name.
pub const COOKIE_USER: &str = "__cookie__";

/// Writes a fresh cookie to `path` (mode 0600) and returns the
/// `Authorization` header value that matches it.
///
/// Errors: no randomness, or the file cannot be written.
pub fn write_cookie(path: &Path) -> anyhow::Result<String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let line = format!("{COOKIE_USER}:{}", hex::encode(secret));
    let _ = std::fs::remove_file(path);
    let mut f = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("cannot write {}", path.display()))?
    };
    f.write_all(line.as_bytes())?;
    Ok(format!("Basic {}", base64(line.as_bytes())))
}

/// Checks the request's `Authorization` header against `expected`.
///
/// Errors: 401 when it is missing or wrong.
pub fn check(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let got = headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let same = got.len() == expected.len()
        && got
            .iter()
            .zip(expected.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(ApiError {
            status: axum::http::StatusCode::UNAUTHORIZED,
            error: "this route needs the cookie in DATADIR/PORT/.cookie as HTTP Basic auth".into(),
            field: Some("authorization"),
        })
    }
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(i.as_bytes()), o);
        }
    }
}
