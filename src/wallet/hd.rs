//! Hierarchical deterministic keys for NIST P-256: BIP39 seed phrases and
//! SLIP-0010 child key derivation.
//!
//! - Seed phrase: BIP39 (English word list), 12 or 24 words, with an
//!   optional passphrase; the 64-byte seed is PBKDF2-HMAC-SHA512 of the
//!   phrase (through the `bip39` crate).
//! - Master key: SLIP-0010 "Master key generation" for the curve key
//!   `"Nist256p1 seed"`: `I = HMAC-SHA512(key, seed)`, secret = `I[..32]`,
//!   chain code = `I[32..]`; retried with `seed := I` while the secret is 0
//!   or not below the group order n.
//! - Child keys: SLIP-0010 CKDpriv/CKDpub (BIP32 with P-256's order, and a
//!   retry `I = HMAC-SHA512(c, 0x01 ‖ I[32..] ‖ ser32(i))` instead of
//!   skipping an invalid child). Indexes ≥ 2^31 ([`HARDENED`]) are hardened
//!   (private derivation only); P-256 supports non-hardened derivation, so
//!   addresses can be derived from the account's public key alone.
//!
//! The wallet's derivation path is `m/44'/1'/0'/c/i` ([`ACCOUNT_PATH`]
//! then the chain `c`: 0 receive, 1 change, then the address index `i`).
//! `1'` is SLIP-0044's coin type for test networks, shared by every coin
//! without its own number.

use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::elliptic_curve::{Field, PrimeField};
use p256::{FieldBytes, NonZeroScalar, ProjectivePoint, PublicKey, Scalar};
use sha2::Sha512;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::core::address::Address;
use crate::core::hash::hash160;

/// First hardened child index (2^31); `HARDENED + k` is written `k'`.
pub const HARDENED: u32 = 1 << 31;

/// The account node of this wallet: `m/44'/1'/0'`.
pub const ACCOUNT_PATH: [u32; 3] = [HARDENED + 44, HARDENED + 1, HARDENED];

/// Chain index of receive addresses under the account (`m/44'/1'/0'/0/i`).
pub const RECEIVE: u32 = 0;

/// Chain index of change addresses under the account (`m/44'/1'/0'/1/i`).
pub const CHANGE: u32 = 1;

/// SLIP-0010's HMAC key for the NIST P-256 master key.
const CURVE_KEY: &[u8] = b"Nist256p1 seed";

/// Why a seed phrase was refused.
#[derive(Debug, thiserror::Error)]
pub enum PhraseError {
    /// Not a valid BIP39 English phrase (unknown word, bad checksum, wrong
    /// word count); the text names which.
    #[error("not a valid BIP39 seed phrase: {0}")]
    Invalid(String),
    /// A word count other than 12 or 24.
    #[error("a seed phrase has 12 or 24 words, not {0}")]
    Words(usize),
}

/// A BIP39 seed phrase (English). The words are wiped on drop.
pub struct SeedPhrase(bip39::Mnemonic);

impl SeedPhrase {
    /// A new phrase of `words` (12 or 24) words from the OS random number
    /// generator.
    ///
    /// Errors: [`PhraseError::Words`]; [`PhraseError::Invalid`] if the
    /// OS RNG fails.
    pub fn generate(words: usize) -> Result<SeedPhrase, PhraseError> {
        let len = match words {
            12 => 16,
            24 => 32,
            n => return Err(PhraseError::Words(n)),
        };
        let mut entropy = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut entropy[..len])
            .map_err(|e| PhraseError::Invalid(format!("OS random number generator: {e}")))?;
        bip39::Mnemonic::from_entropy(&entropy[..len])
            .map(SeedPhrase)
            .map_err(|e| PhraseError::Invalid(e.to_string()))
    }

    /// Parses a phrase: words separated by any white space, case-insensitive.
    ///
    /// Errors: [`PhraseError::Words`] for a count other than 12 or 24,
    /// [`PhraseError::Invalid`] for an unknown word or a bad checksum.
    pub fn parse(text: &str) -> Result<SeedPhrase, PhraseError> {
        // Built in one buffer large enough never to move (lower case can
        // grow a character to 3 bytes), so no copy of the words is left
        // behind unwiped.
        let mut normal = Zeroizing::new(String::with_capacity(text.len() * 3 + 1));
        for word in text.split_whitespace() {
            if !normal.is_empty() {
                normal.push(' ');
            }
            normal.extend(word.chars().flat_map(char::to_lowercase));
        }
        let words = normal.split(' ').filter(|w| !w.is_empty()).count();
        if words != 12 && words != 24 {
            return Err(PhraseError::Words(words));
        }
        bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normal)
            .map(SeedPhrase)
            .map_err(|e| PhraseError::Invalid(e.to_string()))
    }

    /// The words, separated by single spaces.
    pub fn words(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.to_string())
    }

    /// The 64-byte BIP39 seed of this phrase with `passphrase` ("" for
    /// none).
    pub fn to_seed(&self, passphrase: &str) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.0.to_seed_normalized(passphrase))
    }
}

/// A SLIP-0010 extended private key: secret scalar and chain code. Wiped
/// on drop; `Debug` shows neither.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ExtendedKey {
    secret: [u8; 32],
    chain_code: [u8; 32],
}

impl std::fmt::Debug for ExtendedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExtendedKey(..)")
    }
}

/// A SLIP-0010 extended public key: the public point and chain code.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ExtendedPublicKey {
    /// The public key.
    pub point: PublicKey,
    /// The chain code.
    pub chain_code: [u8; 32],
}

fn hmac512(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    // HMAC accepts keys of any length: the error cannot occur.
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    for p in parts {
        mac.update(p);
    }
    let mut out = Zeroizing::new([0u8; 64]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

fn split(i: &[u8; 64]) -> ([u8; 32], [u8; 32]) {
    let mut l = [0u8; 32];
    let mut r = [0u8; 32];
    l.copy_from_slice(&i[..32]);
    r.copy_from_slice(&i[32..]);
    (l, r)
}

/// `parse256(bytes)` as a scalar if it is below the group order n.
fn scalar_below_n(bytes: &[u8; 32]) -> Option<Scalar> {
    Option::from(Scalar::from_repr(FieldBytes::from(*bytes)))
}

/// The SEC1 compressed encoding (33 bytes) of `point`.
fn ser_p(point: &PublicKey) -> Vec<u8> {
    point.to_sec1_point(true).as_bytes().to_vec()
}

impl ExtendedKey {
    /// The SLIP-0010 master key of `seed` (16 to 64 bytes) for P-256.
    pub fn master(seed: &[u8]) -> ExtendedKey {
        let mut i = hmac512(CURVE_KEY, &[seed]);
        loop {
            let (mut l, r) = split(&i);
            let ok = scalar_below_n(&l).is_some_and(|s| !bool::from(s.is_zero()));
            if ok {
                let key = ExtendedKey {
                    secret: l,
                    chain_code: r,
                };
                l.zeroize();
                return key;
            }
            l.zeroize();
            let next = *i;
            i = hmac512(CURVE_KEY, &[&next]);
        }
    }

    /// The secret scalar, 32 bytes big-endian.
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret
    }

    /// The chain code.
    pub fn chain_code(&self) -> &[u8; 32] {
        &self.chain_code
    }

    fn scalar(&self) -> NonZeroScalar {
        // Every ExtendedKey holds a valid non-zero scalar by construction.
        Option::from(NonZeroScalar::from_repr(FieldBytes::from(self.secret)))
            .expect("extended key holds a valid scalar")
    }

    /// The public half.
    pub fn public(&self) -> ExtendedPublicKey {
        ExtendedPublicKey {
            point: PublicKey::from_secret_scalar(&self.scalar()),
            chain_code: self.chain_code,
        }
    }

    /// The signing key of this node.
    pub fn signing_key(&self) -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from(self.scalar())
    }

    /// SLIP-0010 CKDpriv: child `index` (hardened when ≥ [`HARDENED`]).
    pub fn child(&self, index: u32) -> ExtendedKey {
        let ser_i = index.to_be_bytes();
        let mut i = if index >= HARDENED {
            hmac512(&self.chain_code, &[&[0], &self.secret, &ser_i])
        } else {
            hmac512(&self.chain_code, &[&ser_p(&self.public().point), &ser_i])
        };
        let parent = Zeroizing::new(*self.scalar());
        loop {
            let (mut l, r) = split(&i);
            if let Some(il) = scalar_below_n(&l) {
                let k = Zeroizing::new(il + *parent);
                let _il = Zeroizing::new(il);
                if !bool::from(k.is_zero()) {
                    l.zeroize();
                    return ExtendedKey {
                        secret: k.to_repr().into(),
                        chain_code: r,
                    };
                }
            }
            l.zeroize();
            i = hmac512(&self.chain_code, &[&[1], &r, &ser_i]);
        }
    }

    /// The key at `path` below this one, one [`ExtendedKey::child`] per index.
    pub fn derive(&self, path: &[u32]) -> ExtendedKey {
        path.iter().fold(self.clone(), |k, &i| k.child(i))
    }
}

impl ExtendedPublicKey {
    /// SLIP-0010 CKDpub: non-hardened child `index`; `None` for a hardened
    /// index (those need the private key).
    pub fn child(&self, index: u32) -> Option<ExtendedPublicKey> {
        if index >= HARDENED {
            return None;
        }
        let ser_i = index.to_be_bytes();
        let mut i = hmac512(&self.chain_code, &[&ser_p(&self.point), &ser_i]);
        loop {
            let (l, r) = split(&i);
            if let Some(il) = scalar_below_n(&l) {
                let point = ProjectivePoint::GENERATOR * il + self.point.to_projective();
                if let Ok(point) = PublicKey::from_affine(point.to_affine()) {
                    return Some(ExtendedPublicKey {
                        point,
                        chain_code: r,
                    });
                }
            }
            i = hmac512(&self.chain_code, &[&[1], &r, &ser_i]);
        }
    }

    /// The address of this key: `hash160` of its SEC1 uncompressed encoding
    /// (as every sledchain address).
    pub fn address(&self) -> Address {
        Address(hash160(self.point.to_sec1_point(false).as_bytes()))
    }

    /// 65 bytes: SEC1 compressed point (33) ‖ chain code (32).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = ser_p(&self.point);
        v.extend_from_slice(&self.chain_code);
        v
    }

    /// The inverse of [`ExtendedPublicKey::to_bytes`]; `None` if malformed.
    pub fn from_bytes(b: &[u8]) -> Option<ExtendedPublicKey> {
        if b.len() != 65 {
            return None;
        }
        let point = PublicKey::from_sec1_bytes(b.get(..33)?).ok()?;
        let chain_code = b.get(33..)?.try_into().ok()?;
        Some(ExtendedPublicKey { point, chain_code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// (path, chain code, private key, public key) of one SLIP-0010 vector.
    type Row<'a> = (&'a [u32], &'a str, &'a str, &'a str);

    fn check(seed: &str, rows: &[Row]) {
        let m = ExtendedKey::master(&h(seed));
        for (path, cc, private, public) in rows {
            let k = m.derive(path);
            assert_eq!(hex::encode(k.chain_code()), *cc, "chain code of {path:?}");
            assert_eq!(hex::encode(k.secret()), *private, "private key of {path:?}");
            let p = k.public();
            assert_eq!(
                hex::encode(ser_p(&p.point)),
                *public,
                "public key of {path:?}"
            );
            // Public derivation agrees with private derivation where defined.
            if let Some((&last, parent)) = path.split_last() {
                if let Some(pc) = m.derive(parent).public().child(last) {
                    assert_eq!(pc, p, "CKDpub of {path:?}");
                } else {
                    assert!(last >= HARDENED);
                }
            }
        }
    }

    const H: u32 = HARDENED;

    /// SLIP-0010 "Test vector 1 for nist256p1".
    #[test]
    fn slip10_nist256p1_vector_1() {
        check(
            "000102030405060708090a0b0c0d0e0f",
            &[
                (
                    &[],
                    "beeb672fe4621673f722f38529c07392fecaa61015c80c34f29ce8b41b3cb6ea",
                    "612091aaa12e22dd2abef664f8a01a82cae99ad7441b7ef8110424915c268bc2",
                    "0266874dc6ade47b3ecd096745ca09bcd29638dd52c2c12117b11ed3e458cfa9e8",
                ),
                (
                    &[H],
                    "3460cea53e6a6bb5fb391eeef3237ffd8724bf0a40e94943c98b83825342ee11",
                    "6939694369114c67917a182c59ddb8cafc3004e63ca5d3b84403ba8613debc0c",
                    "0384610f5ecffe8fda089363a41f56a5c7ffc1d81b59a612d0d649b2d22355590c",
                ),
                (
                    &[H, 1],
                    "4187afff1aafa8445010097fb99d23aee9f599450c7bd140b6826ac22ba21d0c",
                    "284e9d38d07d21e4e281b645089a94f4cf5a5a81369acf151a1c3a57f18b2129",
                    "03526c63f8d0b4bbbf9c80df553fe66742df4676b241dabefdef67733e070f6844",
                ),
                (
                    &[H, 1, H + 2],
                    "98c7514f562e64e74170cc3cf304ee1ce54d6b6da4f880f313e8204c2a185318",
                    "694596e8a54f252c960eb771a3c41e7e32496d03b954aeb90f61635b8e092aa7",
                    "0359cf160040778a4b14c5f4d7b76e327ccc8c4a6086dd9451b7482b5a4972dda0",
                ),
                (
                    &[H, 1, H + 2, 2],
                    "ba96f776a5c3907d7fd48bde5620ee374d4acfd540378476019eab70790c63a0",
                    "5996c37fd3dd2679039b23ed6f70b506c6b56b3cb5e424681fb0fa64caf82aaa",
                    "029f871f4cb9e1c97f9f4de9ccd0d4a2f2a171110c61178f84430062230833ff20",
                ),
                (
                    &[H, 1, H + 2, 2, 1_000_000_000],
                    "b9b7b82d326bb9cb5b5b121066feea4eb93d5241103c9e7a18aad40f1dde8059",
                    "21c4f269ef0a5fd1badf47eeacebeeaa3de22eb8e5b0adcd0f27dd99d34d0119",
                    "02216cd26d31147f72427a453c443ed2cde8a1e53c9cc44e5ddf739725413fe3f4",
                ),
            ],
        );
    }

    /// SLIP-0010 "Test vector 2 for nist256p1".
    #[test]
    fn slip10_nist256p1_vector_2() {
        check(
            "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542",
            &[
                (
                    &[],
                    "96cd4465a9644e31528eda3592aa35eb39a9527769ce1855beafc1b81055e75d",
                    "eaa31c2e46ca2962227cf21d73a7ef0ce8b31c756897521eb6c7b39796633357",
                    "02c9e16154474b3ed5b38218bb0463e008f89ee03e62d22fdcc8014beab25b48fa",
                ),
                (
                    &[0],
                    "84e9c258bb8557a40e0d041115b376dd55eda99c0042ce29e81ebe4efed9b86a",
                    "d7d065f63a62624888500cdb4f88b6d59c2927fee9e6d0cdff9cad555884df6e",
                    "039b6df4bece7b6c81e2adfeea4bcf5c8c8a6e40ea7ffa3cf6e8494c61a1fc82cc",
                ),
                (
                    &[0, H + 2147483647],
                    "f235b2bc5c04606ca9c30027a84f353acf4e4683edbd11f635d0dcc1cd106ea6",
                    "96d2ec9316746a75e7793684ed01e3d51194d81a42a3276858a5b7376d4b94b9",
                    "02f89c5deb1cae4fedc9905f98ae6cbf6cbab120d8cb85d5bd9a91a72f4c068c76",
                ),
                (
                    &[0, H + 2147483647, 1],
                    "7c0b833106235e452eba79d2bdd58d4086e663bc8cc55e9773d2b5eeda313f3b",
                    "974f9096ea6873a915910e82b29d7c338542ccde39d2064d1cc228f371542bbc",
                    "03abe0ad54c97c1d654c1852dfdc32d6d3e487e75fa16f0fd6304b9ceae4220c64",
                ),
                (
                    &[0, H + 2147483647, 1, H + 2147483646],
                    "5794e616eadaf33413aa309318a26ee0fd5163b70466de7a4512fd4b1a5c9e6a",
                    "da29649bbfaff095cd43819eda9a7be74236539a29094cd8336b07ed8d4eff63",
                    "03cb8cb067d248691808cd6b5a5a06b48e34ebac4d965cba33e6dc46fe13d9b933",
                ),
                (
                    &[0, H + 2147483647, 1, H + 2147483646, 2],
                    "3bfb29ee8ac4484f09db09c2079b520ea5616df7820f071a20320366fbe226a7",
                    "bb0a77ba01cc31d77205d51d08bd313b979a71ef4de9b062f8958297e746bd67",
                    "020ee02e18967237cf62672983b253ee62fa4dd431f8243bfeccdf39dbe181387f",
                ),
            ],
        );
    }

    /// SLIP-0010 "Test derivation retry for nist256p1" (an invalid child
    /// makes CKD hash again).
    #[test]
    fn slip10_nist256p1_derivation_retry() {
        check(
            "000102030405060708090a0b0c0d0e0f",
            &[
                (
                    &[H + 28578],
                    "e94c8ebe30c2250a14713212f6449b20f3329105ea15b652ca5bdfc68f6c65c2",
                    "06f0db126f023755d0b8d86d4591718a5210dd8d024e3e14b6159d63f53aa669",
                    "02519b5554a4872e8c9c1c847115363051ec43e93400e030ba3c36b52a3e70a5b7",
                ),
                (
                    &[H + 28578, 33941],
                    "9e87fe95031f14736774cd82f25fd885065cb7c358c1edf813c72af535e83071",
                    "092154eed4af83e078ff9b84322015aefe5769e31270f62c3f66c33888335f3a",
                    "0235bfee614c0d5b2cae260000bb1d0d84b270099ad790022c1ae0b2e782efe120",
                ),
            ],
        );
    }

    /// SLIP-0010 "Test seed retry for nist256p1" (an invalid master key
    /// makes the master generation hash again).
    #[test]
    fn slip10_nist256p1_seed_retry() {
        check(
            "a7305bc8df8d0951f0cb224c0e95d7707cbdf2c6ce7e8d481fec69c7ff5e9446",
            &[(
                &[],
                "7762f9729fed06121fd13f326884c82f59aa95c57ac492ce8c9654e60efd130c",
                "3b8c18469a4634517d6d0b65448f8e6c62091b45540a1743c5846be55d47d88f",
                "0383619fadcde31063d8c5cb00dbfe1713f3e6fa169d8541a798752a1c1ca0cb20",
            )],
        );
    }

    /// BIP39 published vectors (Trezor's list, passphrase "TREZOR").
    #[test]
    fn bip39_vectors() {
        for (phrase, seed) in [
            (
                "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
                "c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
            ),
            (
                "legal winner thank year wave sausage worth useful legal winner thank yellow",
                "2e8905819b8723fe2c1d161860e5ee1830318dbf49a83bd451cfb8440c28bd6fa457fe1296106559a3c80937a1c1069be3a3a5bd381ee6260e8d9739fce1f607",
            ),
            (
                "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong",
                "ac27495480225222079d7be181583751e86f571027b0497b5b5d11218e0a8a13332572917f0f8e5a589620c6f15b11c61dee327651a14c34e18231052e48c069",
            ),
            (
                "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon art",
                "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8",
            ),
        ] {
            let p = SeedPhrase::parse(phrase).unwrap();
            assert_eq!(hex::encode(*p.to_seed("TREZOR")), seed, "{phrase}");
            assert_eq!(*p.words(), phrase);
        }
    }

    #[test]
    fn phrases_are_checked() {
        let ok = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
        // Case and white space do not matter.
        let p = SeedPhrase::parse(&format!("  {}\n", ok.to_uppercase())).unwrap();
        assert_eq!(*p.words(), ok);
        // A bad checksum, an unknown word, a wrong count.
        let bad = ok.replace("about", "abandon");
        assert!(matches!(
            SeedPhrase::parse(&bad),
            Err(PhraseError::Invalid(_))
        ));
        let unknown = ok.replace("about", "aboutt");
        assert!(matches!(
            SeedPhrase::parse(&unknown),
            Err(PhraseError::Invalid(_))
        ));
        assert!(matches!(
            SeedPhrase::parse("abandon about"),
            Err(PhraseError::Words(2))
        ));
        assert!(matches!(
            SeedPhrase::generate(15),
            Err(PhraseError::Words(15))
        ));
        for n in [12, 24] {
            let g = SeedPhrase::generate(n).unwrap();
            assert_eq!(g.words().split(' ').count(), n);
            assert_eq!(*SeedPhrase::parse(&g.words()).unwrap().words(), *g.words());
        }
    }
}
