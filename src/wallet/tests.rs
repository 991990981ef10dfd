use std::fs::Permissions;

use super::file::{CHECKSUM_LEN, HEADER_LEN};
use super::*;
use crate::core::hash::sha256d;

const PHRASE: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

const FAST: crypt::Cost = crypt::Cost {
    memory_kib: 64,
    passes: 1,
    lanes: 1,
};

fn wallet_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("sub").join("wallets.dat")
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A saved seeded wallet with `n` receive addresses.
fn saved(dir: &tempfile::TempDir, n: usize) -> (PathBuf, Vec<Address>) {
    let path = wallet_path(dir);
    let mut w = Wallets::open_exclusive(&path).unwrap();
    w.set_seed(&SeedPhrase::parse(PHRASE).unwrap(), "").unwrap();
    let addrs: Vec<Address> = (0..n)
        .map(|_| w.new_address(Chain::Receive).unwrap())
        .collect();
    (path, addrs)
}

/// The bytes of a version-1 file holding `secrets`.
fn v1_file(secrets: &[[u8; 32]]) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&encode::encode(&secrets.to_vec()));
    let c = sha256d(&b);
    b.extend_from_slice(&c.as_bytes()[..4]);
    b
}

#[test]
fn missing_file_is_an_empty_wallet_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = wallet_path(&dir);
    let w = Wallets::load(&path).unwrap();
    assert!(w.is_empty() && !w.has_seed());
    assert!(!path.exists());
}

#[test]
fn addresses_follow_the_derivation_path_and_survive_reload() {
    let dir = tempfile::tempdir().unwrap();
    let (path, addrs) = saved(&dir, 3);
    let w = Wallets::load(&path).unwrap();
    assert_eq!(w.addresses(), addrs);
    let m = ExtendedKey::master(&SeedPhrase::parse(PHRASE).unwrap().to_seed("")[..]);
    for (i, a) in addrs.iter().enumerate() {
        let k = m.derive(&[
            hd::HARDENED + 44,
            hd::HARDENED + 1,
            hd::HARDENED,
            0,
            i as u32,
        ]);
        assert_eq!(address_of(&k.signing_key()), *a, "m/44'/1'/0'/0/{i}");
        assert_eq!(address_of(w.key(a).unwrap()), *a);
    }
    assert!(!w.contains(&Address([7; 20])));
    // A BIP39 passphrase gives other keys.
    let dir2 = tempfile::tempdir().unwrap();
    let mut w2 = Wallets::open_exclusive(&wallet_path(&dir2)).unwrap();
    w2.set_seed(&SeedPhrase::parse(PHRASE).unwrap(), "TREZOR")
        .unwrap();
    assert_ne!(w2.new_address(Chain::Receive).unwrap(), addrs[0]);
}

#[test]
fn changes_need_the_exclusive_lock_and_a_second_seed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = saved(&dir, 1);
    let mut w = Wallets::load(&path).unwrap();
    assert!(matches!(
        w.new_address(Chain::Receive),
        Err(WalletError::NotExclusive { .. })
    ));
    let mut w = Wallets::open_exclusive(&path).unwrap();
    let phrase = SeedPhrase::generate(12).unwrap();
    assert!(matches!(
        w.set_seed(&phrase, ""),
        Err(WalletError::HasSeed { .. })
    ));
}

#[test]
fn file_and_new_directory_are_private_and_no_temporary_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = saved(&dir, 2);
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dmode = fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dmode & 0o077, 0);
    assert_eq!(dir_entries(path.parent().unwrap()), vec!["wallets.dat"]);
    fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
    Wallets::open_exclusive(&path)
        .unwrap()
        .new_address(Chain::Change)
        .unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

fn assert_load_fails_untouched(path: &Path, bytes: &[u8]) -> WalletError {
    fs::write(path, bytes).unwrap();
    let err = Wallets::load(path).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "error does not name the path: {err}"
    );
    assert_eq!(fs::read(path).unwrap(), bytes, "file was modified");
    err
}

#[test]
fn every_flipped_byte_and_truncation_is_detected_and_file_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = saved(&dir, 2);
    let good = fs::read(&path).unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        let err = assert_load_fails_untouched(&path, &bad);
        if i < 8 {
            assert!(matches!(err, WalletError::NotAWallet { .. }), "{err}");
        } else {
            assert!(!matches!(err, WalletError::NotAWallet { .. }), "{i}: {err}");
        }
    }
    for len in 0..good.len() {
        let err = assert_load_fails_untouched(&path, &good[..len]);
        assert!(matches!(err, WalletError::Corrupt { .. }), "{len}: {err}");
    }
}

#[test]
fn garbage_and_future_versions_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wallets.dat");
    let err = assert_load_fails_untouched(&path, b"{\"keys\": []}\n");
    assert!(matches!(err, WalletError::NotAWallet { .. }), "{err}");
    let mut v3 = MAGIC.to_vec();
    v3.extend_from_slice(&3u32.to_le_bytes());
    let c = sha256d(&v3);
    v3.extend_from_slice(&c.as_bytes()[..CHECKSUM_LEN]);
    let err = assert_load_fails_untouched(&path, &v3);
    assert!(
        matches!(err, WalletError::UnsupportedVersion { version: 3, .. }),
        "{err}"
    );
    assert_eq!(HEADER_LEN, 12);
}

#[test]
fn version_1_file_migrates_as_imported_keys_with_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = wallet_path(&dir);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let keys = [generate_key().unwrap(), generate_key().unwrap()];
    let secrets: Vec<[u8; 32]> = keys.iter().map(|k| k.to_bytes().into()).collect();
    let old = v1_file(&secrets);
    fs::write(&path, &old).unwrap();
    // Loading reads it and writes nothing.
    let w = Wallets::load(&path).unwrap();
    let imported: Vec<Address> = keys.iter().map(address_of).collect();
    assert_eq!(w.addresses(), imported);
    assert_eq!(fs::read(&path).unwrap(), old);
    // The first change writes version 2 after backing up version 1.
    let mut w = Wallets::open_exclusive(&path).unwrap();
    w.set_seed(&SeedPhrase::parse(PHRASE).unwrap(), "").unwrap();
    let fresh = w.new_address(Chain::Receive).unwrap();
    drop(w);
    let backup = path.parent().unwrap().join("wallets.dat.v1-backup");
    assert_eq!(fs::read(&backup).unwrap(), old);
    assert_eq!(fs::read(&path).unwrap()[8..12], 2u32.to_le_bytes());
    let w = Wallets::load(&path).unwrap();
    assert_eq!(w.imported_addresses(), imported);
    assert_eq!(w.receive_addresses(), vec![fresh]);
    for (k, a) in keys.iter().zip(&imported) {
        assert_eq!(w.key(a).unwrap().to_bytes(), k.to_bytes());
    }
}

#[test]
fn encryption_round_trip_and_wrong_passphrase_leaves_the_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let (path, addrs) = saved(&dir, 2);
    let plain_key = Wallets::load(&path)
        .unwrap()
        .key(&addrs[0])
        .unwrap()
        .to_bytes();
    let mut w = Wallets::open_exclusive(&path).unwrap();
    w.encrypt(b"correct horse", FAST).unwrap();
    assert!(matches!(
        w.encrypt(b"x", FAST),
        Err(WalletError::AlreadyEncrypted { .. })
    ));
    drop(w);
    let bytes = fs::read(&path).unwrap();
    assert!(
        !bytes.windows(32).any(|x| x == plain_key.as_slice()),
        "secret in clear"
    );
    // Locked: addresses known, no keys.
    let mut w = Wallets::load(&path).unwrap();
    assert!(w.is_encrypted() && !w.is_unlocked());
    assert_eq!(w.addresses(), addrs);
    assert!(w.key(&addrs[0]).is_none());
    let err = w.unlock(b"wrong").unwrap_err();
    assert!(matches!(err, WalletError::WrongPassphrase { .. }), "{err}");
    assert_eq!(
        fs::read(&path).unwrap(),
        bytes,
        "a wrong passphrase changed the file"
    );
    w.unlock(b"correct horse").unwrap();
    assert_eq!(w.key(&addrs[0]).unwrap().to_bytes(), plain_key);
    // A locked wallet still hands out addresses (from the account's public
    // key); unlocked later, their keys are there.
    let mut w = Wallets::open_exclusive(&path).unwrap();
    let c = w.new_address(Chain::Change).unwrap();
    assert!(w.key(&c).is_none());
    drop(w);
    let mut w = Wallets::load(&path).unwrap();
    w.unlock(b"correct horse").unwrap();
    assert_eq!(address_of(w.key(&c).unwrap()), c);
}

#[test]
fn pending_payments_lock_their_inputs_across_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let (path, addrs) = saved(&dir, 1);
    let op = crate::core::OutPoint {
        txid: crate::core::Txid(sha256d(b"coin")),
        vout: 1,
    };
    let tx = Transaction {
        version: 1,
        inputs: vec![crate::core::tx::TxIn::unsigned(op)],
        outputs: vec![crate::core::TxOut {
            value: 3,
            pubkey_hash: addrs[0].0,
        }],
        coinbase_height: 0,
    };
    let mut w = Wallets::open_exclusive(&path).unwrap();
    w.add_pending(tx.clone(), 5, 1).unwrap();
    w.add_pending(tx.clone(), 5, 1).unwrap();
    drop(w);
    let w = Wallets::load(&path).unwrap();
    assert_eq!(w.pending().len(), 1);
    assert!(w.locked_outpoints().contains(&op));
    let mut w = Wallets::open_exclusive(&path).unwrap();
    w.remove_pending(&[tx.txid()]).unwrap();
    drop(w);
    assert!(Wallets::load(&path).unwrap().locked_outpoints().is_empty());
}

#[test]
fn debug_output_shows_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (path, addrs) = saved(&dir, 2);
    let w = Wallets::load(&path).unwrap();
    let dbg = format!("{w:?} {:?}", w.key(&addrs[0]).unwrap());
    for a in &addrs {
        assert!(dbg.contains(&a.to_string()));
        let secret = hex::encode(w.key(a).unwrap().to_bytes());
        assert!(!dbg.to_lowercase().contains(&secret[..16]));
    }
}

#[test]
fn generated_keys_differ() {
    let a = generate_key().unwrap();
    let b = generate_key().unwrap();
    assert_ne!(address_of(&a), address_of(&b));
}
