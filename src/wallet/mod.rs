//! Wallets: P-256 keys and the wallet file.
