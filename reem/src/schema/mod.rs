//! Schemas: what a message stores, in which fields, as which types.
//!
//! Every message reem writes carries its schema (`@schema`, JSON) and the schema's
//! fingerprint (`@fp`) next to its fields, in the same hash: one message stays one key and
//! one Redis Cluster slot, and a generic tool (the `reem` CLI, a Python script) can list and
//! decode a message's fields without the Rust type. `docs/FORMAT.md` specifies both.
//!
//! A reader compares fingerprints first (one string comparison per read); only when they
//! differ does it parse the stored schema and decide whether it can still read it (fields
//! added as `Option` or `#[reem(default)]` since the message was written are fine; a changed
//! type or a missing required field is [`Error::SchemaMismatch`](crate::Error)). That verdict
//! is cached with the stored schema it was decided on, and used again only for that same
//! schema text.

mod builder;
mod compat;
mod path;
mod types;

pub use builder::SchemaBuilder;
pub(crate) use path::walks_paths;
pub use path::{FieldPath, Mark, ROOT_LEAF, SEPARATOR};
pub use types::{
    FieldSchema, FieldType, Schema, FORMAT_VERSION, MAX_FIELD_DEPTH, MAX_SCHEMA_NESTING,
};

pub(crate) use compat::check_compatible;

/// FNV-1a, 64 bits: the fingerprint hash. Simple enough to recompute in any language.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }
}
