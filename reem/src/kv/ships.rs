//! Values whose marshaller is chosen at run time from the interface's ships.

use std::any::Any;
use std::sync::Arc;

use redis::Value;

use super::KeyValueStore;
use crate::cache::BoundedCache;
use crate::error::{Error, Result};
use crate::marshal::{Commands, Ship, LABEL_FIELD};

/// Keys remembered with the label last seen there, so that a dynamic read usually takes
/// one round trip (bounded: hostile key counts cannot grow it without limit).
const CACHE_LIMIT: usize = 4096;

#[derive(Clone, Debug)]
pub(super) struct LabelCache(Arc<BoundedCache<String, Vec<u8>>>);

impl Default for LabelCache {
    fn default() -> Self {
        LabelCache(Arc::new(BoundedCache::new(CACHE_LIMIT)))
    }
}

impl KeyValueStore {
    /// Stores `value` with the first registered ship whose `check_fit` accepts it, adding
    /// the ship's label to the stored hash, in one MULTI/EXEC.
    pub fn set_dyn(&self, key: &str, value: &dyn Any) -> Result<()> {
        let ship = self
            .iface
            .ship_for_value(value)
            .ok_or_else(|| Error::NoMarshaller {
                key: key.to_owned(),
                what: "this value's type (register a ship for it)".to_owned(),
            })?;
        let label = ship.get_label();
        let mut cmds = Commands::new();
        ship.write(key, value, &mut cmds)?;
        cmds.cmd("HSET")
            .arg(key)
            .arg(LABEL_FIELD)
            .arg(label.as_bytes());
        self.write(key, &cmds)?;
        self.labels
            .0
            .insert(key.to_owned(), label.as_bytes().to_vec());
        Ok(())
    }

    /// Reads the value at `key` with the ship named by its stored `@label`.
    ///
    /// One round trip when this store has seen the key's label before (it reads the label
    /// and the ship's one command in one MULTI/EXEC), two otherwise.
    pub fn get_dyn(&self, key: &str) -> Result<Box<dyn Any + Send>> {
        let guess = self
            .labels
            .0
            .get(key)
            .and_then(|l| self.iface.ship_for_label(&l).map(|s| (l, s)));
        let (label, reply) = match guess {
            Some((label, ship)) => {
                let (stored, reply) = self.read_with(key, Some(ship))?;
                if stored.as_deref() == Some(label.as_slice()) {
                    (label, reply)
                } else {
                    self.read_by_label(key, stored)?
                }
            }
            None => {
                let (stored, _) = self.read_with(key, None)?;
                self.read_by_label(key, stored)?
            }
        };
        let ship = self.ship(key, &label)?;
        self.labels.0.insert(key.to_owned(), label);
        ship.interpret_read(key, reply.unwrap_or(Value::Nil))
    }

    fn ship(&self, key: &str, label: &[u8]) -> Result<&dyn Ship> {
        self.iface
            .ship_for_label(label)
            .ok_or_else(|| Error::NoMarshaller {
                key: key.to_owned(),
                what: format!("the stored label {:?}", String::from_utf8_lossy(label)),
            })
    }

    fn read_by_label(
        &self,
        key: &str,
        stored: Option<Vec<u8>>,
    ) -> Result<(Vec<u8>, Option<Value>)> {
        let label = stored.ok_or_else(|| Error::NotFound {
            key: key.to_owned(),
        })?;
        let ship = self.ship(key, &label)?;
        let (again, reply) = self.read_with(key, Some(ship))?;
        match again {
            Some(l) if l == label => Ok((label, reply)),
            _ => Err(Error::NoMarshaller {
                key: key.to_owned(),
                what: "a value whose label changed while it was read (retry)".to_owned(),
            }),
        }
    }

    /// In one MULTI/EXEC (a consistent snapshot): the stored label, and the reply to
    /// `ship`'s read command.
    fn read_with(
        &self,
        key: &str,
        ship: Option<&dyn Ship>,
    ) -> Result<(Option<Vec<u8>>, Option<Value>)> {
        let mut cmds = Commands::new();
        cmds.cmd("HGET").arg(key).arg(LABEL_FIELD);
        if let Some(s) = ship {
            s.read(key, &mut cmds);
        }
        let mut replies = self.iface.transport().transaction(key, &cmds)?;
        let reply = (replies.len() > 1).then(|| replies.pop()).flatten();
        let label = match replies.pop() {
            Some(Value::BulkString(b)) => Some(b),
            Some(Value::ServerError(e)) => return Err(Error::from_server_error(key, &e)),
            _ => None,
        };
        Ok((label, reply))
    }
}
