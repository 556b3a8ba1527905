//! One module per subcommand, and what they share: reading one message.

pub mod echo;
pub mod get;
pub mod hz;
pub mod info;
pub mod json_record;
pub mod ls;
pub mod play;
pub mod record;
pub mod schema;
pub mod set;

use redis::Value;
use reem::dynamic::{self, Arrays, DynMessage};
pub use reem::marshal::SEQ_FIELD;
use reem::marshal::{HashView, FINGERPRINT_FIELD, LABEL_FIELD, SCHEMA_FIELD};
use reem::{KeyValueStore, RedisInterface};

use crate::fail::{Code, Failure, Result};

/// `HGETALL key`, with a clear error when the key holds another Redis type.
pub fn fetch(iface: &RedisInterface, key: &str) -> Result<Value> {
    match KeyValueStore::new(iface).get_hash(key) {
        Ok(v) => Ok(v),
        Err(reem::Error::WrongRedisType { .. }) => Err(other_type(iface, key)),
        Err(e) => Err(e.into()),
    }
}

/// The failure for a key that holds another Redis type than a hash, naming that type.
pub fn other_type(iface: &RedisInterface, key: &str) -> Failure {
    let found = KeyValueStore::new(iface)
        .key_type(key)
        .unwrap_or_else(|_| "another type".to_owned());
    Failure::new(
        Code::NotReem,
        format!("key {key:?} is a Redis {found}, not a reem message (a hash)"),
    )
}

/// Views `reply` as the hash of a reem message: the key must exist and carry reem's
/// reserved fields.
pub fn message_hash<'v>(key: &str, reply: &'v Value) -> Result<HashView<'v>> {
    let hash = HashView::from_hgetall(key, reply)?;
    let tagged = [LABEL_FIELD, FINGERPRINT_FIELD, SCHEMA_FIELD]
        .iter()
        .any(|f| hash.get(f.as_bytes()).is_some());
    if !tagged {
        return Err(Failure::new(
            Code::NotReem,
            format!(
                "key {key:?} is a hash without {SCHEMA_FIELD}: not a reem message \
                 (written by another program?)"
            ),
        ));
    }
    if let (Some(label), None) = (
        hash.get(LABEL_FIELD.as_bytes()),
        hash.get(SCHEMA_FIELD.as_bytes()),
    ) {
        return Err(Failure::new(
            Code::NotReem,
            format!(
                "key {key:?} holds a {:?} written by a hand-written marshaller, which stores \
                 no {SCHEMA_FIELD}: it can only be read with its Rust type",
                String::from_utf8_lossy(label)
            ),
        ));
    }
    Ok(hash)
}

/// A message read from its key.
pub struct Stored {
    pub msg: DynMessage,
    /// The sequence number, if the key is a topic.
    pub seq: Option<String>,
}

/// Reads and decodes the message at `key`.
pub fn read_message(iface: &RedisInterface, key: &str, arrays: Arrays) -> Result<Stored> {
    let reply = fetch(iface, key)?;
    let hash = message_hash(key, &reply)?;
    Ok(Stored {
        msg: dynamic::decode(key, &hash, arrays)?,
        seq: hash
            .get(SEQ_FIELD.as_bytes())
            .map(|s| String::from_utf8_lossy(s).into_owned()),
    })
}

/// `Arrays::Full` when `--full` was given.
pub fn arrays(full: bool) -> Arrays {
    if full {
        Arrays::Full
    } else {
        Arrays::Summary
    }
}
