//! Outside test vectors (see `tests/vectors/README.md`): Bitcoin Core's Base58
//! cases through the `bs58` crate as the address code uses it, and Project
//! Wycheproof's ECDSA P-256 / SHA-256 / P1363 cases through
//! `sledchain::core::tx::verify_signature`, and again through both signature
//! backends (ring, the consensus path, and the p256 reference), which must
//! give the same answer on every case.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use sledchain::core::ecdsa::SigBackend;
use sledchain::core::tx::{SigError, verify_signature};

fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
        .join(name)
}

fn read_json<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = vector_path(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

#[test]
fn bitcoin_core_base58_vectors() {
    let cases: Vec<(String, String)> = read_json("bitcoin_base58_encode_decode.json");
    assert_eq!(cases.len(), 21, "the upstream file has 21 cases");
    for (hex_in, b58) in &cases {
        let bytes = hex::decode(hex_in).unwrap_or_else(|e| panic!("bad hex {hex_in:?}: {e}"));
        assert_eq!(bs58::encode(&bytes).into_string(), *b58, "encode {hex_in}");
        let decoded = bs58::decode(b58)
            .into_vec()
            .unwrap_or_else(|e| panic!("decode {b58:?}: {e}"));
        assert_eq!(
            hex::encode(&decoded),
            hex_in.to_ascii_lowercase(),
            "decode {b58:?}"
        );
    }
    println!("base58: {} cases, all pass both ways", cases.len());
}

#[derive(Deserialize)]
struct WycheproofFile {
    #[serde(rename = "numberOfTests")]
    number_of_tests: usize,
    #[serde(rename = "testGroups")]
    test_groups: Vec<WycheproofGroup>,
}

#[derive(Deserialize)]
struct WycheproofGroup {
    #[serde(rename = "publicKey")]
    public_key: WycheproofKey,
    sha: String,
    tests: Vec<WycheproofCase>,
}

#[derive(Deserialize)]
struct WycheproofKey {
    curve: String,
    uncompressed: String,
}

#[derive(Deserialize)]
struct WycheproofCase {
    #[serde(rename = "tcId")]
    tc_id: u32,
    comment: String,
    flags: Vec<String>,
    msg: String,
    sig: String,
    result: String,
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363_vectors() {
    let file: WycheproofFile = read_json("wycheproof_ecdsa_secp256r1_sha256_p1363_test.json");
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    // How the invalid cases were rejected, and what the acceptable ones did.
    let mut invalid_reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut acceptable_outcomes: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut total = 0;
    for group in &file.test_groups {
        assert_eq!(group.public_key.curve, "secp256r1");
        assert_eq!(group.sha, "SHA-256");
        let pubkey = hex::decode(&group.public_key.uncompressed).expect("public key hex");
        assert_eq!(pubkey.len(), 65, "uncompressed SEC1 key");
        for case in &group.tests {
            total += 1;
            let msg = hex::decode(&case.msg).expect("msg hex");
            let sig = hex::decode(&case.sig).expect("sig hex");
            let got = verify_signature(&pubkey, &msg, &sig);
            let describe = || {
                format!(
                    "tcId {} ({}; flags {:?}; sig {} bytes): {:?}",
                    case.tc_id,
                    case.comment,
                    case.flags,
                    sig.len(),
                    got
                )
            };
            match case.result.as_str() {
                "valid" => {
                    *counts.entry("valid").or_default() += 1;
                    if got.is_err() {
                        failures.push(format!("valid case rejected: {}", describe()));
                    }
                }
                "invalid" => {
                    *counts.entry("invalid").or_default() += 1;
                    match &got {
                        Ok(()) => failures.push(format!("invalid case accepted: {}", describe())),
                        Err(e) => {
                            let kind = match e {
                                SigError::BadPubkey => "BadPubkey",
                                SigError::BadSignatureEncoding => "BadSignatureEncoding",
                                SigError::Invalid => "Invalid",
                                SigError::NoSuchInput(_) => "NoSuchInput",
                            };
                            *invalid_reasons.entry(kind.to_string()).or_default() += 1;
                        }
                    }
                }
                "acceptable" => {
                    *counts.entry("acceptable").or_default() += 1;
                    acceptable_outcomes.push(describe());
                }
                other => failures.push(format!("tcId {}: unknown result {other:?}", case.tc_id)),
            }
        }
    }
    assert_eq!(total, file.number_of_tests, "every case was run");
    println!(
        "wycheproof: {total} cases: {} valid, {} invalid, {} acceptable",
        counts.get("valid").copied().unwrap_or(0),
        counts.get("invalid").copied().unwrap_or(0),
        counts.get("acceptable").copied().unwrap_or(0),
    );
    println!("wycheproof: invalid cases rejected as {invalid_reasons:?}");
    for a in &acceptable_outcomes {
        println!("wycheproof: acceptable {a}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Consensus must not depend on the backend: every Wycheproof case, whatever
/// its expected result (valid, invalid, acceptable), gets the same `Result`
/// from ring and from p256, the same accept/reject and the same reason.
#[test]
fn wycheproof_cases_give_the_same_result_on_both_backends() {
    let file: WycheproofFile = read_json("wycheproof_ecdsa_secp256r1_sha256_p1363_test.json");
    let mut differ: Vec<String> = Vec::new();
    let (mut total, mut accepted) = (0usize, 0usize);
    for group in &file.test_groups {
        let pubkey = hex::decode(&group.public_key.uncompressed).expect("public key hex");
        for case in &group.tests {
            total += 1;
            let msg = hex::decode(&case.msg).expect("msg hex");
            let sig = hex::decode(&case.sig).expect("sig hex");
            let ring = SigBackend::Ring.verify(&pubkey, &msg, &sig);
            let p256 = SigBackend::P256.verify(&pubkey, &msg, &sig);
            accepted += usize::from(ring.is_ok());
            if ring != p256 {
                differ.push(format!(
                    "tcId {} ({}): ring {ring:?}, p256 {p256:?}",
                    case.tc_id, case.comment
                ));
            }
        }
    }
    assert_eq!(total, file.number_of_tests, "every case was run");
    // Both outcomes occur, so agreement is not agreement on "always reject".
    assert!(
        accepted > 0 && accepted < total,
        "{accepted} of {total} accepted"
    );
    println!("wycheproof: {total} cases, {accepted} accepted, identical on ring and p256");
    assert!(
        differ.is_empty(),
        "{} differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}
