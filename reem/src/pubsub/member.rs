//! [`Member`]: what the dispatcher sees of one subscriber, whatever its message type: the
//! sequence check, the decoding, the counters, and where decoded messages go.

use std::fmt::Display;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use redis::Value;

use super::frame::{self, Stamp};
use super::names;
use super::publish::STAMP_SUFFIX;
use super::sequence::{Arrival, Seen, Verdict};
use crate::error::{Error, Result};
use crate::lock::lock;
use crate::marshal::{Commands, ReemMarshal, PUBLISHER_FIELD, SEQ_FIELD};

/// What a subscriber has seen since it was created.
///
/// Every publish on the topic after the first message this subscriber received ends up in
/// exactly one of `received`, `skipped` or `decode_errors` (counted per publisher: see
/// [`PublishSpace`](crate::PublishSpace) on sequence numbers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Messages decoded and accepted (the stored latest value read at start included).
    pub received: u64,
    /// Messages this subscriber never saw, known from gaps in the sequence numbers (they
    /// were replaced at the key before they could be read, or published while the
    /// connection was down).
    pub skipped: u64,
    /// Messages or stored values that did not decode (garbage, another type, an
    /// incompatible schema); each is also reported through `tracing`.
    pub decode_errors: u64,
    /// Received messages that `recv()` or the callback never got, because a newer one
    /// replaced them ([`Delivery::Latest`](crate::Delivery::Latest)) or the queue was full
    /// ([`Delivery::Queue`](crate::Delivery::Queue)).
    pub dropped: u64,
    /// Calls of the callback that panicked ([`CallbackSubscriber`](crate::CallbackSubscriber)).
    pub panics: u64,
}

/// Where a member puts a decoded message.
pub(crate) trait Outlet<T>: Send + Sync + 'static {
    /// Stores `value`; returns true if an older message that was never taken was discarded.
    fn put(&self, value: T) -> bool;

    /// Hands over an error (a message that did not decode, a lost connection), for an
    /// outlet that delivers errors in line (an async subscriber's stream). By default
    /// errors are only counted and reported by the member.
    fn fail(&self, _error: Error) {}

    /// True when it keeps only the newest message (latest wins): older ones, such as a
    /// topic's history, are of no use to it.
    fn keeps_one(&self) -> bool;
}

/// How the stored message of a topic and its stamp are read.
pub(crate) struct Load {
    /// The commands, all on the topic's slot.
    pub cmds: Commands<'static>,
    /// Run them in one transaction (the message and its companion stamp key); else the
    /// one command's reply is the message, stamp inside.
    pub atomic: bool,
}

/// What the dispatcher sees of a subscriber, whatever its message type.
pub(crate) trait Member: Send + Sync + 'static {
    /// The topic subscribed to.
    fn topic(&self) -> &str;

    /// True if the message a notification stamped `stamp` announces was not seen yet.
    fn is_new(&self, stamp: Stamp) -> bool;

    /// Decodes `reply` (shaped like the reply to the marshaller's `read`) and delivers it
    /// if `stamp` is new.
    fn offer(&self, stamp: Option<Stamp>, arrival: Arrival, reply: Value);

    /// Records a notification that cannot be decoded at all.
    fn reject(&self, stamp: Option<Stamp>, why: &dyn Display);

    /// How to read the stored message (on a cluster when `cluster`).
    fn load(&self, cluster: bool) -> Result<Load>;

    /// Offers what [`load`](Self::load)'s commands returned (their replies, those of the
    /// transaction when atomic), as the message `arrival` says.
    fn loaded(&self, replies: Vec<Value>, arrival: Arrival);

    /// The counters.
    fn counters(&self) -> Counters;

    /// Why the most recent message that did not decode was refused.
    fn last_decode_error(&self) -> Option<String>;

    /// The shared connection was lost (`why`); it is being made again.
    fn disconnected(&self, why: &str);

    /// How many messages of the topic's history to start with (0: none, read only the
    /// stored latest); when not 0, gaps after a reconnection are filled from the history too.
    fn history(&self) -> usize {
        0
    }

    /// True once a message with a stamp was accepted.
    fn has_seen_any(&self) -> bool;

    /// True if the message stamped `stamp` was already accepted (or an older one's number
    /// is behind the last accepted of its publisher).
    fn knows(&self, stamp: Stamp) -> bool;
}

/// The member of a subscriber to messages of type `T`, delivering to `O`.
pub(crate) struct TypedMember<T, O> {
    topic: String,
    /// The stored message carries its stamp in its own hash (else in the companion key).
    one_hash: bool,
    seen: Mutex<Seen>,
    /// Messages of the topic's history to start with (0: none).
    history: AtomicUsize,
    received: AtomicU64,
    skipped: AtomicU64,
    decode_errors: AtomicU64,
    dropped: AtomicU64,
    panics: AtomicU64,
    last_decode_error: Mutex<Option<String>>,
    pub(crate) out: O,
    _type: PhantomData<fn() -> T>,
}

impl<T: ReemMarshal, O: Outlet<T>> TypedMember<T, O> {
    pub(crate) fn new(topic: &str, out: O) -> Self {
        Self {
            topic: topic.to_owned(),
            one_hash: T::stores_one_hash(),
            seen: Mutex::new(Seen::default()),
            history: AtomicUsize::new(0),
            received: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            decode_errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            last_decode_error: Mutex::new(None),
            out,
            _type: PhantomData,
        }
    }

    /// Asks for the last `k` messages of the topic's history at start, and for the gaps
    /// after reconnections to be filled from it (0: neither). Ignored when the outlet
    /// keeps only the newest message: it reads only the stored latest one.
    pub(crate) fn set_history(&self, k: usize) {
        if !self.out.keeps_one() {
            self.history.store(k, Ordering::Relaxed);
        }
    }

    /// Counts a panic of the callback.
    pub(crate) fn count_panic(&self) {
        self.panics.fetch_add(1, Ordering::Relaxed);
    }

    /// Accepts `stamp` if new: records it and counts the gap.
    fn advance(&self, stamp: Option<Stamp>, arrival: Arrival) -> bool {
        let mut seen = lock(&self.seen);
        match seen.judge(stamp, arrival) {
            Verdict::New { skipped } => {
                seen.accept(stamp);
                self.skipped.fetch_add(skipped, Ordering::Relaxed);
                true
            }
            Verdict::Seen => false,
        }
    }

    fn decode_failed(&self, error: Error) {
        self.decode_errors.fetch_add(1, Ordering::Relaxed);
        let message = format!("topic {:?}: {error}", self.topic);
        tracing::warn!(
            topic = %self.topic,
            error = %error,
            "reem subscriber: a message did not decode; it was skipped"
        );
        *lock(&self.last_decode_error) = Some(message);
        self.out.fail(error);
    }

    /// The error of a message that cannot be decoded at all (`why`).
    fn undecodable(&self, why: &dyn Display) -> Error {
        Error::InvalidField {
            key: self.topic.clone(),
            field: String::new(),
            expected: "a message this subscriber decodes".to_owned(),
            found: why.to_string(),
        }
    }
}

impl<T: ReemMarshal, O: Outlet<T>> Member for TypedMember<T, O> {
    fn topic(&self) -> &str {
        &self.topic
    }

    fn is_new(&self, stamp: Stamp) -> bool {
        lock(&self.seen).judge(Some(stamp), Arrival::Announced(stamp)) != Verdict::Seen
    }

    fn offer(&self, stamp: Option<Stamp>, arrival: Arrival, reply: Value) {
        if !self.advance(stamp, arrival) {
            return;
        }
        // A hand-written marshaller may panic on bad bytes: that is a decode error too, and
        // must not take the shared dispatcher down.
        let decoded = catch_unwind(AssertUnwindSafe(|| T::interpret_read(&self.topic, reply)));
        match decoded {
            Ok(Ok(value)) => {
                self.received.fetch_add(1, Ordering::Relaxed);
                if self.out.put(value) {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Err(e)) => self.decode_failed(e),
            Err(_) => {
                self.decode_failed(self.undecodable(&"the marshaller panicked while decoding"))
            }
        }
    }

    fn reject(&self, stamp: Option<Stamp>, why: &dyn Display) {
        let arrival = stamp.map_or(Arrival::Load, Arrival::Announced);
        if stamp.is_none() || self.advance(stamp, arrival) {
            self.decode_failed(self.undecodable(why));
        }
    }

    fn load(&self, cluster: bool) -> Result<Load> {
        let mut cmds = Commands::new();
        T::read(&self.topic, &mut cmds);
        if self.one_hash {
            return Ok(Load {
                cmds,
                atomic: false,
            });
        }
        let companion = names::same_slot_key(&self.topic, STAMP_SUFFIX, cluster)?;
        cmds.cmd("HMGET")
            .arg(companion)
            .arg(PUBLISHER_FIELD)
            .arg(SEQ_FIELD);
        Ok(Load { cmds, atomic: true })
    }

    fn loaded(&self, mut replies: Vec<Value>, arrival: Arrival) {
        let (reply, stamp) = if self.one_hash {
            let reply = replies.pop().unwrap_or(Value::Nil);
            let stamp = frame::stamp_in(&reply);
            (reply, stamp)
        } else {
            let stamp = replies.pop().as_ref().and_then(frame::stamp_of_pair);
            (replies.pop().unwrap_or(Value::Nil), stamp)
        };
        if frame::is_absent(&reply) {
            return;
        }
        let announced = match arrival {
            Arrival::Announced(a) => Some(a),
            Arrival::Load | Arrival::History => None,
        };
        self.offer(stamp.or(announced), arrival, reply);
    }

    fn counters(&self) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            received: get(&self.received),
            skipped: get(&self.skipped),
            decode_errors: get(&self.decode_errors),
            dropped: get(&self.dropped),
            panics: get(&self.panics),
        }
    }

    fn last_decode_error(&self) -> Option<String> {
        lock(&self.last_decode_error).clone()
    }

    fn history(&self) -> usize {
        self.history.load(Ordering::Relaxed)
    }

    fn has_seen_any(&self) -> bool {
        lock(&self.seen).any()
    }

    fn knows(&self, stamp: Stamp) -> bool {
        lock(&self.seen).judge(Some(stamp), Arrival::History) == Verdict::Seen
    }

    fn disconnected(&self, why: &str) {
        self.out.fail(Error::Io {
            context: format!("subscriber of topic {:?}", self.topic),
            source: std::io::Error::new(std::io::ErrorKind::ConnectionReset, why.to_owned()),
        });
    }
}
