//! Serde helpers that refuse over-long lists and strings while
//! deserializing, before the items are read or the string is copied. They
//! know nothing of messages: [`super::payload`] names each field's bound.
//!
//! bincode reports a list's exact length prefix through
//! `SeqAccess::size_hint`, so the bound is checked before the first item;
//! other formats are checked item by item. A string is visited borrowed from
//! the input and checked before it is copied. The breach is recorded in a
//! thread-local slot so [`super::message::Message::from_frame`] can report it
//! as its own `MessageError` variant (decoding is synchronous, so the slot
//! read after a failed decode belongs to that decode).

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};

/// A bound broken during deserialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Breach {
    /// A list announced `count` items, over `max`.
    TooMany { count: usize, max: usize },
    /// A string of `len` bytes, over `max`.
    TooLong { len: usize, max: usize },
}

thread_local! {
    static BREACH: Cell<Option<Breach>> = const { Cell::new(None) };
}

/// Forgets any recorded breach; call before decoding.
pub(super) fn clear() {
    BREACH.with(|b| b.set(None));
}

/// The breach recorded since [`clear`], if any, and forgets it.
pub(super) fn take() -> Option<Breach> {
    BREACH.with(Cell::take)
}

fn record(breach: Breach) {
    BREACH.with(|b| b.set(Some(breach)));
}

/// Most items reserved up front, whatever the length prefix says; the
/// vector grows past this only as items actually arrive.
const PREALLOC: usize = 1024;

struct BoundedSeq<T> {
    max: usize,
    item: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for BoundedSeq<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a sequence of at most {} items", self.max)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let hint = seq.size_hint();
        if let Some(count) = hint
            && count > self.max
        {
            record(Breach::TooMany {
                count,
                max: self.max,
            });
            return Err(A::Error::invalid_length(count, &self));
        }
        let mut items = Vec::with_capacity(hint.unwrap_or(0).min(PREALLOC));
        while let Some(item) = seq.next_element()? {
            if items.len() >= self.max {
                let count = items.len().saturating_add(1);
                record(Breach::TooMany {
                    count,
                    max: self.max,
                });
                return Err(A::Error::invalid_length(count, &self));
            }
            items.push(item);
        }
        Ok(items)
    }
}

/// A list of at most `max` items; a longer one is refused (and recorded as
/// [`Breach::TooMany`]) from its length prefix, before any item is read.
pub(super) fn seq<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    max: usize,
) -> Result<Vec<T>, D::Error> {
    d.deserialize_seq(BoundedSeq {
        max,
        item: PhantomData,
    })
}

struct BoundedStr {
    max: usize,
}

impl Visitor<'_> for BoundedStr {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string of at most {} bytes", self.max)
    }

    fn visit_str<E: Error>(self, s: &str) -> Result<String, E> {
        if s.len() > self.max {
            record(Breach::TooLong {
                len: s.len(),
                max: self.max,
            });
            return Err(E::invalid_length(s.len(), &self));
        }
        Ok(s.to_owned())
    }
}

/// A string of at most `max` bytes; a longer one is refused (and recorded as
/// [`Breach::TooLong`]) before it is copied.
pub(super) fn string<'de, D: Deserializer<'de>>(d: D, max: usize) -> Result<String, D::Error> {
    d.deserialize_str(BoundedStr { max })
}

/// A string of at most `MAX` bytes as a list item ([`string`]).
#[repr(transparent)]
pub(super) struct BoundedString<const MAX: usize>(pub(super) String);

impl<'de, const MAX: usize> Deserialize<'de> for BoundedString<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string(d, MAX).map(BoundedString)
    }
}
