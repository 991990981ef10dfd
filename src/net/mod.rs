//! Wire protocol and peer networking (tokio).
