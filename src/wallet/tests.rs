use std::fs::Permissions;

use super::file::{CHECKSUM_LEN, HEADER_LEN};
use super::*;
use crate::core::hash::{Txid, sha256d};
use crate::core::tx::{OutPoint, Transaction};

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

/// A chain that knows nothing: every address unused, every tx unknown.
struct EmptyChain;

impl ledger::ChainView for EmptyChain {
    fn confirmed(&self, _: &Address) -> anyhow::Result<Vec<(OutPoint, crate::core::TxOut)>> {
        Ok(Vec::new())
    }
    fn spendable(&self, _: &Address) -> anyhow::Result<Vec<(OutPoint, crate::core::TxOut)>> {
        Ok(Vec::new())
    }
    fn history(&self, _: &Address) -> anyhow::Result<Vec<ledger::HistoryItem>> {
        Ok(Vec::new())
    }
    fn tx_state(&self, _: &Txid) -> anyhow::Result<ledger::TxState> {
        Ok(ledger::TxState::Unknown)
    }
    fn spender(&self, _: &OutPoint) -> anyhow::Result<Option<Txid>> {
        Ok(None)
    }
}

/// Replaces the checksum of `bytes` by the right one (an attacker who can
/// write the file can always do so).
fn fix_checksum(bytes: &mut Vec<u8>) {
    let n = bytes.len() - CHECKSUM_LEN;
    bytes.truncate(n);
    let c = sha256d(bytes);
    bytes.extend_from_slice(&c.as_bytes()[..CHECKSUM_LEN]);
}

/// Everything a command does with a loaded wallet, none of which may panic.
fn exercise(path: &Path) {
    let Ok(mut w) = Wallets::load(path) else {
        return;
    };
    let _ = w.unlock(b"pass");
    let _ = format!("{w:?}");
    let _ = (w.addresses(), w.locked_outpoints(), w.len(), w.has_seed());
    let _ = ledger::resolve_pending(&w, &EmptyChain);
    let _ = ledger::wallet_coins(&w, &EmptyChain, None);
    let _ = ledger::balance(&w, &EmptyChain, None);
    let _ = ledger::transactions(&w, &EmptyChain);
    if let Ok(mut w) = Wallets::open_exclusive(path) {
        let _ = w.unlock(b"pass");
        let _ = w.new_address(Chain::Change);
        let _ = w.save();
    }
}

/// A seeded wallet with an address on each chain and a pending payment
/// paying it, encrypted or not: the file bytes.
fn sample_file(dir: &tempfile::TempDir, encrypted: bool) -> (PathBuf, Vec<u8>) {
    let (path, addrs) = saved(dir, 2);
    let mut w = Wallets::open_exclusive(&path).unwrap();
    w.new_address(Chain::Change).unwrap();
    let op = OutPoint {
        txid: Txid(sha256d(b"coin")),
        vout: 0,
    };
    let tx = Transaction {
        version: 1,
        inputs: vec![crate::core::tx::TxIn::unsigned(op)],
        outputs: vec![crate::core::TxOut {
            value: 7,
            pubkey_hash: addrs[1].0,
        }],
        coinbase_height: 0,
    };
    w.add_pending(tx, 9, 1).unwrap();
    if encrypted {
        w.encrypt(b"pass", FAST).unwrap();
    }
    drop(w);
    let bytes = fs::read(&path).unwrap();
    (path, bytes)
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(96))]

    /// A wallet file altered by someone who can write it (and so fix the
    /// checksum): loading, unlocking, the ledger's reads and a save give a
    /// result or an error, never a panic.
    #[test]
    fn hostile_files_with_a_valid_checksum_never_panic(
        encrypted in proptest::bool::ANY,
        edits in proptest::collection::vec(
            (proptest::num::usize::ANY, proptest::num::u8::ANY, 0u8..4),
            1..6,
        ),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (path, mut bytes) = sample_file(&dir, encrypted);
        for (at, value, op) in edits {
            let body = HEADER_LEN..bytes.len() - CHECKSUM_LEN;
            let i = body.start + at % body.len();
            match op {
                0 => bytes[i] ^= value | 1,
                1 => bytes[i] = value,
                2 => bytes.insert(i, value),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        fix_checksum(&mut bytes);
        fs::write(&path, &bytes).unwrap();
        exercise(&path);
    }
}

/// A pending payment whose outputs to the wallet add up past u64::MAX (a
/// hand-made file): the wallet's history is an error-free sum, not a panic.
#[test]
fn pending_outputs_overflowing_u64_do_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (path, addrs) = saved(&dir, 1);
    let tx = Transaction {
        version: 1,
        inputs: vec![crate::core::tx::TxIn::unsigned(OutPoint {
            txid: Txid(sha256d(b"coin")),
            vout: 0,
        })],
        outputs: vec![
            crate::core::TxOut {
                value: u64::MAX,
                pubkey_hash: addrs[0].0,
            };
            2
        ],
        coinbase_height: 0,
    };
    let mut w = Wallets::open_exclusive(&path).unwrap();
    w.add_pending(tx, u64::MAX, 1).unwrap();
    drop(w);
    exercise(&path);
}

/// A version-1 file with more than [`MAX_KEYS`] keys is refused by its
/// count, before any key is derived (a million derivations take minutes):
/// the invalid last key is never reached.
#[test]
fn version_1_file_with_too_many_keys_is_refused_by_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = wallet_path(&dir);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut one = [0u8; 32];
    one.copy_from_slice(&generate_key().unwrap().to_bytes());
    let mut keys = vec![one; MAX_KEYS];
    keys.push([0; 32]);
    fs::write(&path, v1_file(&keys)).unwrap();
    match Wallets::load(&path).unwrap_err() {
        WalletError::Corrupt { reason, .. } => assert!(reason.contains("limit"), "{reason}"),
        e => panic!("{e}"),
    }
}

/// A second version-1 file put in place of the wallet (a copy from another
/// machine, say) is backed up too, without overwriting the backup of the
/// first: no key of either is lost.
#[test]
fn a_second_version_1_migration_keeps_the_first_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = wallet_path(&dir);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut files = Vec::new();
    for _ in 0..2 {
        let secrets: Vec<[u8; 32]> = vec![generate_key().unwrap().to_bytes().into()];
        let old = v1_file(&secrets);
        fs::write(&path, &old).unwrap();
        let mut w = Wallets::open_exclusive(&path).unwrap();
        w.save().unwrap();
        // Saving again backs up nothing more.
        w.save().unwrap();
        files.push(old);
    }
    let parent = path.parent().unwrap();
    let first = parent.join("wallets.dat.v1-backup");
    let second = parent.join("wallets.dat.v1-backup.2");
    assert_eq!(fs::read(&first).unwrap(), files[0]);
    assert_eq!(fs::read(&second).unwrap(), files[1]);
    let w = Wallets::load(&path).unwrap();
    assert_eq!(w.v1_backups(), vec![first, second]);
    assert_eq!(
        fs::metadata(parent.join("wallets.dat.v1-backup.2"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

/// A chain on which some addresses have history, or which fails.
struct UsedChain {
    used: Vec<Address>,
    fail: bool,
}

impl ledger::ChainView for UsedChain {
    fn confirmed(&self, a: &Address) -> anyhow::Result<Vec<(OutPoint, crate::core::TxOut)>> {
        EmptyChain.confirmed(a)
    }
    fn spendable(&self, a: &Address) -> anyhow::Result<Vec<(OutPoint, crate::core::TxOut)>> {
        EmptyChain.spendable(a)
    }
    fn history(&self, a: &Address) -> anyhow::Result<Vec<ledger::HistoryItem>> {
        if self.fail {
            anyhow::bail!("the node went away");
        }
        Ok(self
            .used
            .iter()
            .filter(|u| *u == a)
            .map(|_| ledger::HistoryItem {
                txid: Txid(sha256d(&a.0)),
                height: 1,
                received: 1,
                sent: 0,
            })
            .collect())
    }
    fn tx_state(&self, t: &Txid) -> anyhow::Result<ledger::TxState> {
        EmptyChain.tx_state(t)
    }
    fn spender(&self, o: &OutPoint) -> anyhow::Result<Option<Txid>> {
        EmptyChain.spender(o)
    }
}

/// A restore whose scan fails writes nothing (so it can simply be run
/// again); the same phrase restored again rescans with a larger gap limit
/// and adds what it finds; another phrase is refused.
#[test]
fn restore_scans_before_writing_and_can_be_run_again() {
    let phrase = SeedPhrase::parse(PHRASE).unwrap();
    let account = ledger::account_of(&phrase, "");
    let r = |i| derive_address(&account, Chain::Receive, i);
    let c = |i| derive_address(&account, Chain::Change, i);
    let dir = tempfile::tempdir().unwrap();
    let path = wallet_path(&dir);
    let mut w = Wallets::open_exclusive(&path).unwrap();
    let failing = UsedChain {
        used: vec![],
        fail: true,
    };
    assert!(ledger::restore(&mut w, &phrase, "", &failing, 20).is_err());
    assert!(!path.exists(), "a failed restore wrote the wallet");
    drop(w);
    let chain = UsedChain {
        used: vec![r(2), r(30), c(0)],
        fail: false,
    };
    let mut w = Wallets::open_exclusive(&path).unwrap();
    assert_eq!(
        ledger::restore(&mut w, &phrase, "", &chain, 20).unwrap(),
        (3, 1)
    );
    drop(w);
    // Again, with a gap limit that reaches index 30.
    let mut w = Wallets::open_exclusive(&path).unwrap();
    assert_eq!(
        ledger::restore(&mut w, &phrase, "", &chain, 40).unwrap(),
        (31, 1)
    );
    drop(w);
    let w = Wallets::load(&path).unwrap();
    assert_eq!(w.receive_addresses().len(), 31);
    assert_eq!(w.receive_addresses()[30], r(30));
    assert_eq!(w.change_addresses(), vec![c(0)]);
    drop(w);
    // Another phrase, or an absurd gap limit, is refused.
    let other = SeedPhrase::parse(
        "legal winner thank year wave sausage worth useful legal winner thank yellow",
    )
    .unwrap();
    let mut w = Wallets::open_exclusive(&path).unwrap();
    let e = ledger::restore(&mut w, &other, "", &chain, 20).unwrap_err();
    assert!(
        matches!(e.downcast_ref(), Some(WalletError::HasSeed { .. })),
        "{e}"
    );
    assert!(ledger::restore(&mut w, &phrase, "", &chain, u32::MAX).is_err());
}

/// A version-1 wallet migrated and then encrypted can still take a seed
/// (and so hand out new addresses): unlocked, the seed is sealed under the
/// same passphrase; locked, the refusal says so and changes nothing.
#[test]
fn an_encrypted_wallet_of_imported_keys_takes_a_seed_once_unlocked() {
    let dir = tempfile::tempdir().unwrap();
    let path = wallet_path(&dir);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let key = generate_key().unwrap();
    fs::write(&path, v1_file(&[key.to_bytes().into()])).unwrap();
    let mut w = Wallets::open_exclusive(&path).unwrap();
    w.encrypt(b"pass", FAST).unwrap();
    drop(w);
    let before = fs::read(&path).unwrap();
    let phrase = SeedPhrase::parse(PHRASE).unwrap();
    let mut w = Wallets::open_exclusive(&path).unwrap();
    assert!(matches!(
        w.set_seed(&phrase, ""),
        Err(WalletError::Locked { .. })
    ));
    assert_eq!(fs::read(&path).unwrap(), before);
    w.unlock(b"pass").unwrap();
    w.set_seed(&phrase, "").unwrap();
    let fresh = w.new_address(Chain::Receive).unwrap();
    drop(w);
    let bytes = fs::read(&path).unwrap();
    assert!(
        !bytes
            .windows(32)
            .any(|win| win == key.to_bytes().as_slice())
    );
    let mut w = Wallets::load(&path).unwrap();
    assert!(w.is_encrypted() && !w.is_unlocked() && w.has_seed());
    assert!(matches!(
        w.unlock(b"wrong"),
        Err(WalletError::WrongPassphrase { .. })
    ));
    w.unlock(b"pass").unwrap();
    assert_eq!(address_of(w.key(&fresh).unwrap()), fresh);
    assert_eq!(w.key(&address_of(&key)).unwrap().to_bytes(), key.to_bytes());
}

/// A running node as the wallet sees it: confirmed coins by address, and
/// no way to name the transaction that spent a coin.
struct NodeLike {
    coins: Vec<(Address, OutPoint)>,
}

impl ledger::ChainView for NodeLike {
    fn confirmed(&self, a: &Address) -> anyhow::Result<Vec<(OutPoint, crate::core::TxOut)>> {
        Ok(self
            .coins
            .iter()
            .filter(|(owner, _)| owner == a)
            .map(|(_, op)| {
                (
                    *op,
                    crate::core::TxOut {
                        value: 10,
                        pubkey_hash: a.0,
                    },
                )
            })
            .collect())
    }
    fn spendable(&self, a: &Address) -> anyhow::Result<Vec<(OutPoint, crate::core::TxOut)>> {
        self.confirmed(a)
    }
    fn history(&self, a: &Address) -> anyhow::Result<Vec<ledger::HistoryItem>> {
        EmptyChain.history(a)
    }
    fn tx_state(&self, t: &Txid) -> anyhow::Result<ledger::TxState> {
        EmptyChain.tx_state(t)
    }
    fn spender(&self, o: &OutPoint) -> anyhow::Result<Option<Txid>> {
        EmptyChain.spender(o)
    }
}

/// With a running node (which cannot name spenders), a pending payment
/// whose coin another payment spent is found conflicted, so its change is
/// no longer counted; one whose coin is still there, and one spending a
/// pending payment's change, stay pending.
#[test]
fn a_pending_payment_whose_coin_is_gone_is_conflicted_on_a_running_node() {
    let dir = tempfile::tempdir().unwrap();
    let (path, addrs) = saved(&dir, 1);
    let a = addrs[0];
    let coin = |tag: &[u8]| OutPoint {
        txid: Txid(sha256d(tag)),
        vout: 0,
    };
    let mut w = Wallets::open_exclusive(&path).unwrap();
    let pubkey = crate::core::tx::pubkey_bytes(w.key(&a).unwrap().verifying_key());
    let pay = |op: OutPoint| {
        let mut input = crate::core::tx::TxIn::unsigned(op);
        input.pubkey = pubkey;
        Transaction {
            version: 1,
            inputs: vec![input],
            outputs: vec![crate::core::TxOut {
                value: 4,
                pubkey_hash: a.0,
            }],
            coinbase_height: 0,
        }
    };
    let kept = pay(coin(b"still there"));
    let gone = pay(coin(b"spent by another payment"));
    let chained = pay(OutPoint {
        txid: kept.txid(),
        vout: 0,
    });
    for tx in [&kept, &gone, &chained] {
        w.add_pending(tx.clone(), 10, 1).unwrap();
    }
    let node = NodeLike {
        coins: vec![(a, coin(b"still there"))],
    };
    assert_eq!(
        ledger::resolve_pending(&w, &node).unwrap(),
        vec![ledger::Resolution::Conflicted(gone.txid(), None)]
    );
    w.remove_pending(&[gone.txid()]).unwrap();
    // kept's change is spent by chained; chained's change is the total.
    assert_eq!(ledger::balance(&w, &node, None).unwrap().total, 4);
}
