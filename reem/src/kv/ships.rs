//! Values whose marshaller is chosen at run time from the interface's ships: the plans of
//! `set_dyn` and `get_dyn`, shared by the blocking and async stores.

use std::any::Any;
use std::sync::Arc;

use redis::Value;

use crate::cache::BoundedCache;
use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::marshal::{Commands, Ship, LABEL_FIELD};
use crate::transport::plan::{misused, written, Once, Plan, Request, Step};

/// Keys remembered with the label last seen there, so that a dynamic read usually takes
/// one round trip (bounded: hostile key counts cannot grow it without limit).
const CACHE_LIMIT: usize = 4096;

#[derive(Clone, Debug)]
pub(crate) struct LabelCache(Arc<BoundedCache<String, Vec<u8>>>);

impl Default for LabelCache {
    fn default() -> Self {
        LabelCache(Arc::new(BoundedCache::new(CACHE_LIMIT)))
    }
}

/// `set_dyn`: stores `value` with the first registered ship whose `check_fit` accepts it,
/// adding the ship's label to the stored hash, in one MULTI/EXEC; remembers the label.
pub(crate) fn set_dyn<'a>(
    iface: &'a RedisInterface,
    labels: &'a LabelCache,
    key: &'a str,
    value: &'a dyn Any,
) -> impl Plan<Output = ()> + 'a {
    let ship = iface
        .ship_for_value(value)
        .ok_or_else(|| Error::NoMarshaller {
            key: key.to_owned(),
            what: "this value's type (register a ship for it)".to_owned(),
        });
    let mut label = Vec::new();
    let cmds = ship.and_then(|ship| {
        label = ship.get_label().as_bytes().to_vec();
        let mut cmds = Commands::new();
        ship.write(key, value, &mut cmds)?;
        cmds.cmd("HSET").arg(key).arg(LABEL_FIELD).arg(&label);
        Ok(cmds)
    });
    Once::transaction(key, cmds, move |key: &str, replies: Result<Vec<Value>>| {
        written(key, replies?)?;
        labels.0.insert(key.to_owned(), label);
        Ok(())
    })
}

/// `get_dyn`: reads the value at a key with the ship named by its stored `@label`.
///
/// One round trip when the store has seen the key's label before (it reads the label and
/// the ship's one command in one MULTI/EXEC), two otherwise.
pub(crate) struct GetDyn<'a> {
    iface: &'a RedisInterface,
    labels: &'a LabelCache,
    key: &'a str,
    /// The request in flight.
    cmds: Commands<'a>,
    stage: Stage,
}

enum Stage {
    Start,
    /// Read with the ship of the label this store saw last at the key.
    Guessed(Vec<u8>),
    /// Read the label alone.
    Blind,
    /// Read again with the ship of the stored label: it must not have changed meanwhile.
    Confirm(Vec<u8>),
    Over,
}

impl<'a> GetDyn<'a> {
    pub(crate) fn new(iface: &'a RedisInterface, labels: &'a LabelCache, key: &'a str) -> Self {
        GetDyn {
            iface,
            labels,
            key,
            cmds: Commands::new(),
            stage: Stage::Start,
        }
    }

    fn ship(&self, label: &[u8]) -> Result<&'a dyn Ship> {
        self.iface
            .ship_for_label(label)
            .ok_or_else(|| Error::NoMarshaller {
                key: self.key.to_owned(),
                what: format!("the stored label {:?}", String::from_utf8_lossy(label)),
            })
    }

    /// In one MULTI/EXEC (a consistent snapshot): the stored label, and `ship`'s read
    /// command.
    fn read_with(&mut self, ship: Option<&dyn Ship>, next: Stage) -> Step<'_, Box<dyn Any + Send>> {
        let mut cmds = Commands::new();
        cmds.cmd("HGET").arg(self.key).arg(LABEL_FIELD);
        if let Some(s) = ship {
            s.read(self.key, &mut cmds);
        }
        self.cmds = cmds;
        self.stage = next;
        Step::Transaction(Request {
            key: self.key,
            cmds: &self.cmds,
        })
    }

    /// The stored label and the reply to the ship's read, from the replies of
    /// [`read_with`](Self::read_with).
    fn replies(&self, replies: Result<Vec<Value>>) -> Result<(Option<Vec<u8>>, Option<Value>)> {
        let mut replies = replies?;
        let reply = (replies.len() > 1).then(|| replies.pop()).flatten();
        let label = match replies.pop() {
            Some(Value::BulkString(b)) => Some(b),
            Some(Value::ServerError(e)) => return Err(Error::from_server_error(self.key, &e)),
            _ => None,
        };
        Ok((label, reply))
    }

    /// Reads again with the ship of the stored label.
    fn by_label(&mut self, stored: Option<Vec<u8>>) -> Step<'_, Box<dyn Any + Send>> {
        let Some(label) = stored else {
            return Step::Done(Err(Error::NotFound {
                key: self.key.to_owned(),
            }));
        };
        match self.ship(&label) {
            Ok(ship) => self.read_with(Some(ship), Stage::Confirm(label)),
            Err(e) => Step::Done(Err(e)),
        }
    }

    fn finish(&self, label: Vec<u8>, reply: Option<Value>) -> Result<Box<dyn Any + Send>> {
        let ship = self.ship(&label)?;
        self.labels.0.insert(self.key.to_owned(), label);
        ship.interpret_read(self.key, reply.unwrap_or(Value::Nil))
    }
}

impl Plan for GetDyn<'_> {
    type Output = Box<dyn Any + Send>;

    fn step(&mut self, replies: Option<Result<Vec<Value>>>) -> Step<'_, Self::Output> {
        let (stage, replies) = match (std::mem::replace(&mut self.stage, Stage::Over), replies) {
            (Stage::Start, None) => {
                let guess = self
                    .labels
                    .0
                    .get(self.key)
                    .and_then(|l| self.iface.ship_for_label(&l).map(|s| (l, s)));
                return match guess {
                    Some((label, ship)) => self.read_with(Some(ship), Stage::Guessed(label)),
                    None => self.read_with(None, Stage::Blind),
                };
            }
            (Stage::Start | Stage::Over, _) | (_, None) => {
                return Step::Done(Err(misused(self.key)))
            }
            (stage, Some(replies)) => (stage, self.replies(replies)),
        };
        let (stored, reply) = match replies {
            Ok(r) => r,
            Err(e) => return Step::Done(Err(e)),
        };
        match stage {
            Stage::Guessed(label) if stored.as_deref() == Some(label.as_slice()) => {
                Step::Done(self.finish(label, reply))
            }
            Stage::Guessed(_) | Stage::Blind => self.by_label(stored),
            Stage::Confirm(label) if stored.as_deref() == Some(label.as_slice()) => {
                Step::Done(self.finish(label, reply))
            }
            Stage::Confirm(_) => Step::Done(Err(Error::NoMarshaller {
                key: self.key.to_owned(),
                what: "a value whose label changed while it was read (retry)".to_owned(),
            })),
            Stage::Start | Stage::Over => Step::Done(Err(misused(self.key))),
        }
    }
}
