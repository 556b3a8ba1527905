//! Subscribing without the message type: reem's own subscribers, with two hand-written
//! marshallers that read any message hash.
//!
//! The subscribers (`reem::RawSubscriber`) do the topic work: late-joiner read of the
//! stored message, sequence numbers (nothing delivered twice, gaps counted), reconnection.
//! These marshallers only turn what arrives into something to print: [`Heard`] decodes it
//! with its stored schema, [`Tick`] only notes when it arrived (for `hz`, without decoding).

use std::borrow::Cow;
use std::time::{Duration, Instant};

use redis::Value;
use reem::dynamic::{self, Arrays, DynMessage};
use reem::marshal::{Commands, HashView};
use reem::pubsub::Delivery;
use reem::{RawSubscriber, RedisInterface, ReemMarshal};

use crate::cmd::{message_hash, SEQ_FIELD};
use crate::fail::{Code, Failure, Result};

/// Messages kept between the dispatcher and the printing loop; beyond, the oldest are
/// dropped (and counted).
const QUEUE: usize = 4096;

/// A message as `echo` prints it: decoded, or why it could not be.
pub struct Heard<const FULL: bool> {
    pub seq: Option<String>,
    pub decoded: std::result::Result<DynMessage, Failure>,
}

/// When a message arrived, for `hz`.
pub struct Tick {
    pub at: Instant,
}

/// Both marshallers read the topic's hash and are never used to write.
macro_rules! read_only {
    ($label:literal) => {
        fn get_label() -> Cow<'static, str> {
            Cow::Borrowed($label)
        }

        fn write(&self, key: &str, _: &mut Commands<'_>) -> reem::Result<()> {
            Err(reem::Error::NoMarshaller {
                key: key.to_owned(),
                what: concat!($label, " (read only)").to_owned(),
            })
        }

        fn read(key: &str, out: &mut Commands<'_>) {
            reem::marshal::hash::read(key, out)
        }

        fn delete(key: &str, out: &mut Commands<'_>) {
            reem::marshal::hash::delete(key, out)
        }

        /// Every reem topic is one hash with its sequence stamp inside.
        fn stores_one_hash() -> bool {
            true
        }
    };
}

impl<const FULL: bool> ReemMarshal for Heard<FULL> {
    read_only!("reem-cli.Heard");

    fn interpret_read(key: &str, reply: Value) -> reem::Result<Self> {
        let hash = match message_hash(key, &reply) {
            Ok(h) => h,
            Err(f) => {
                return Ok(Heard {
                    seq: None,
                    decoded: Err(f),
                })
            }
        };
        let arrays = if FULL { Arrays::Full } else { Arrays::Summary };
        Ok(Heard {
            seq: seq_of(&hash),
            decoded: dynamic::decode(key, &hash, arrays).map_err(Failure::from),
        })
    }
}

impl ReemMarshal for Tick {
    read_only!("reem-cli.Tick");

    fn interpret_read(_: &str, _: Value) -> reem::Result<Self> {
        Ok(Tick { at: Instant::now() })
    }
}

fn seq_of(hash: &HashView<'_>) -> Option<String> {
    hash.get(SEQ_FIELD.as_bytes())
        .map(|s| String::from_utf8_lossy(s).into_owned())
}

/// A subscriber to `topic`, listening; with `skip_stored`, the stored latest message (read
/// by `listen`) is discarded.
pub fn subscribe<T: ReemMarshal + Sync>(
    iface: &RedisInterface,
    topic: &str,
    skip_stored: bool,
) -> Result<RawSubscriber<T>> {
    let mut sub = RawSubscriber::with_delivery(iface, topic, Delivery::Queue(QUEUE))?;
    sub.listen()?;
    if skip_stored {
        while sub.try_recv().is_some() {}
    }
    Ok(sub)
}

/// Seconds from the command line as a duration (negative or absurd values refused).
pub fn seconds(s: Option<f64>) -> Result<Option<Duration>> {
    s.map(|s| {
        Duration::try_from_secs_f64(s).map_err(|_| {
            Failure::new(
                Code::Usage,
                format!("--timeout {s}: give a number of seconds, like 2 or 0.5"),
            )
        })
    })
    .transpose()
}
