//! The sled chain store.
