//! The receiving end of one subscriber: sequence checks, decoding, counters, and the
//! bounded inbox that hands messages to `recv()` or a callback.

use std::collections::VecDeque;
use std::fmt::Display;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use redis::Value;

use super::frame::{self, Stamp};
use super::names;
use super::publish::STAMP_SUFFIX;
use super::sequence::{Arrival, Seen, Verdict};
use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::marshal::{Commands, ReemMarshal, PUBLISHER_FIELD, SEQ_FIELD};
use crate::transport::Resend;

/// How a subscriber hands messages to [`recv`](crate::RawSubscriber::recv) or to its
/// callback when they arrive faster than they are taken. Memory stays bounded either way:
/// the dispatcher never waits for a slow consumer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Keep only the newest message not yet taken: a newer one replaces it (the replaced
    /// one counts in [`Counters::dropped`]). The default, because a robot acts on the
    /// newest state of the world, not on a backlog.
    #[default]
    Latest,
    /// Keep up to this many messages (at least 1) in arrival order; when the queue is full
    /// the oldest is discarded (and counted in [`Counters::dropped`]).
    Queue(usize),
}

impl Delivery {
    fn capacity(self) -> usize {
        match self {
            Delivery::Latest => 1,
            Delivery::Queue(n) => n.max(1),
        }
    }
}

/// What a subscriber has seen since it was created.
///
/// Every publish on the topic after the first message this subscriber received ends up in
/// exactly one of `received`, `skipped` or `decode_errors` (unless the count restarted: see
/// the module documentation on epochs).
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
    /// replaced them ([`Delivery::Latest`]) or the queue was full ([`Delivery::Queue`]).
    pub dropped: u64,
    /// Calls of the callback that panicked ([`CallbackSubscriber`](crate::CallbackSubscriber)).
    pub panics: u64,
}

/// A bounded queue of decoded messages with a blocking take.
pub(crate) struct Inbox<M> {
    state: Mutex<InboxState<M>>,
    arrived: Condvar,
    capacity: usize,
}

struct InboxState<M> {
    items: VecDeque<M>,
    closed: bool,
}

impl<M> Inbox<M> {
    pub(crate) fn new(delivery: Delivery) -> Self {
        Self {
            state: Mutex::new(InboxState {
                items: VecDeque::new(),
                closed: false,
            }),
            arrived: Condvar::new(),
            capacity: delivery.capacity(),
        }
    }

    /// Adds a message; returns true if an older one had to make room.
    pub(crate) fn push(&self, item: M) -> bool {
        let mut state = lock(&self.state);
        let full = state.items.len() >= self.capacity;
        if full {
            state.items.pop_front();
        }
        state.items.push_back(item);
        drop(state);
        self.arrived.notify_one();
        full
    }

    /// The oldest message, waiting for one until `deadline` (for ever if `None`). `None`
    /// when the deadline passed or the inbox was closed.
    pub(crate) fn take(&self, deadline: Option<Instant>) -> Option<M> {
        let mut state = lock(&self.state);
        loop {
            if state.closed {
                return None;
            }
            if let Some(item) = state.items.pop_front() {
                return Some(item);
            }
            state = match deadline {
                None => self.arrived.wait(state).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    let left = deadline.checked_duration_since(Instant::now())?;
                    self.arrived
                        .wait_timeout(state, left)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
    }

    /// The oldest message, if one is waiting.
    pub(crate) fn try_take(&self) -> Option<M> {
        lock(&self.state).items.pop_front()
    }

    /// Wakes every waiting `take` for good and discards what is left.
    pub(crate) fn close(&self) {
        let mut state = lock(&self.state);
        state.closed = true;
        state.items.clear();
        drop(state);
        self.arrived.notify_all();
    }
}

/// Where a typed sink puts a decoded message.
pub(crate) trait Outlet<T>: Send + Sync + 'static {
    /// Stores `value`; returns true if an older message that was never taken was discarded.
    fn put(&self, value: T) -> bool;
}

impl<T: Send + 'static> Outlet<T> for Inbox<T> {
    fn put(&self, value: T) -> bool {
        self.push(value)
    }
}

/// What the dispatcher sees of a subscriber, whatever its message type.
pub(crate) trait Sink: Send + Sync + 'static {
    /// The topic subscribed to.
    fn topic(&self) -> &str;

    /// True if the message a notification stamped `stamp` announces was not seen yet.
    fn is_new(&self, stamp: Stamp) -> bool;

    /// Decodes `reply` (shaped like the reply to the marshaller's `read`, server errors
    /// included) and delivers it if `stamp` is new.
    fn offer(&self, stamp: Option<Stamp>, arrival: Arrival, reply: Value);

    /// Records a notification that cannot be decoded at all.
    fn reject(&self, stamp: Option<Stamp>, why: &dyn Display);

    /// Reads the topic's stored message with the marshaller's `read` and offers it. Fails
    /// only when Redis could not be asked.
    fn load(&self, iface: &RedisInterface, arrival: Arrival) -> Result<()>;
}

/// The sink of a subscriber to messages of type `T`, delivering to `O`.
pub(crate) struct TypedSink<T, O> {
    topic: String,
    /// Whether the stored message carries its stamp in its own hash (a marshaller with a
    /// schema) or in the topic's companion key.
    one_hash: bool,
    seen: Mutex<Seen>,
    received: AtomicU64,
    skipped: AtomicU64,
    decode_errors: AtomicU64,
    dropped: AtomicU64,
    panics: AtomicU64,
    last_decode_error: Mutex<Option<String>>,
    pub(crate) out: O,
    _type: PhantomData<fn() -> T>,
}

impl<T: ReemMarshal, O: Outlet<T>> TypedSink<T, O> {
    pub(crate) fn new(topic: &str, out: O) -> Self {
        Self {
            topic: topic.to_owned(),
            one_hash: T::stores_one_hash(),
            seen: Mutex::new(Seen::default()),
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

    pub(crate) fn counters(&self) -> Counters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            received: get(&self.received),
            skipped: get(&self.skipped),
            decode_errors: get(&self.decode_errors),
            dropped: get(&self.dropped),
            panics: get(&self.panics),
        }
    }

    pub(crate) fn last_decode_error(&self) -> Option<String> {
        lock(&self.last_decode_error).clone()
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

    fn decode_failed(&self, why: &dyn Display) {
        self.decode_errors.fetch_add(1, Ordering::Relaxed);
        let message = format!("topic {:?}: {why}", self.topic);
        tracing::warn!(
            topic = %self.topic,
            error = %why,
            "reem subscriber: a message did not decode; it was skipped"
        );
        *lock(&self.last_decode_error) = Some(message);
    }

    /// Reads the stored message and its stamp in one round trip: with the hash's own
    /// `@pub`/`@seq`, or, for a marshaller that stores something else, with the companion
    /// key in the same transaction.
    fn read_stored(&self, iface: &RedisInterface) -> Result<(Value, Option<Stamp>)> {
        let mut cmds = Commands::new();
        T::read(&self.topic, &mut cmds);
        if self.one_hash {
            let reply = read(iface, &self.topic, &cmds)?.pop().unwrap_or(Value::Nil);
            let stamp = frame::stamp_in(&reply);
            return Ok((reply, stamp));
        }
        let companion = names::same_slot_key(&self.topic, STAMP_SUFFIX, iface.is_cluster())?;
        cmds.cmd("HMGET")
            .arg(companion)
            .arg(PUBLISHER_FIELD)
            .arg(SEQ_FIELD);
        let mut replies = iface.transport().transaction(&self.topic, &cmds)?;
        let stamp = replies.pop().as_ref().and_then(frame::stamp_of_pair);
        let reply = replies.pop().unwrap_or(Value::Nil);
        Ok((reply, stamp))
    }
}

impl<T: ReemMarshal, O: Outlet<T>> Sink for TypedSink<T, O> {
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
        // must not take the shared dispatcher thread down.
        let decoded = catch_unwind(AssertUnwindSafe(|| T::interpret_read(&self.topic, reply)));
        match decoded {
            Ok(Ok(value)) => {
                self.received.fetch_add(1, Ordering::Relaxed);
                if self.out.put(value) {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Err(e)) => self.decode_failed(&e),
            Err(_) => self.decode_failed(&"the marshaller panicked while decoding"),
        }
    }

    fn reject(&self, stamp: Option<Stamp>, why: &dyn Display) {
        let arrival = stamp.map_or(Arrival::Load, Arrival::Announced);
        if stamp.is_none() || self.advance(stamp, arrival) {
            self.decode_failed(why);
        }
    }

    fn load(&self, iface: &RedisInterface, arrival: Arrival) -> Result<()> {
        let (reply, stamp) = self.read_stored(iface)?;
        if !frame::is_absent(&reply) {
            let announced = match arrival {
                Arrival::Announced(a) => Some(a),
                Arrival::Load => None,
            };
            self.offer(stamp.or(announced), arrival, reply);
        }
        Ok(())
    }
}

/// Runs `cmds`, which read stored messages, and returns their replies.
///
/// What is stored decides what the reply is, not whether this fails: a `WRONGTYPE` reply is
/// returned as a reply, for the marshaller to refuse as a decode error. Any other error
/// (no connection, a server that is loading or refuses the read) is returned as an error,
/// to try again after reconnecting.
pub(crate) fn read(iface: &RedisInterface, topic: &str, cmds: &Commands<'_>) -> Result<Vec<Value>> {
    let replies = iface.transport().pipeline(topic, cmds, Resend::IfLost)?;
    match replies.iter().find_map(|r| match r {
        Value::ServerError(e) if e.code() != "WRONGTYPE" => Some(e),
        _ => None,
    }) {
        Some(e) => Err(Error::from_server_error(topic, e)),
        None => Ok(replies),
    }
}

/// Locks `m`, ignoring poisoning: every critical section here leaves the data consistent.
pub(crate) fn lock<M>(m: &Mutex<M>) -> MutexGuard<'_, M> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_inbox_discards_the_oldest() {
        let inbox = Inbox::new(Delivery::Queue(2));
        assert!(!inbox.push(1));
        assert!(!inbox.push(2));
        assert!(inbox.push(3));
        assert_eq!(inbox.try_take(), Some(2));
        let latest = Inbox::new(Delivery::Latest);
        latest.push(1);
        assert!(latest.push(2));
        assert_eq!(latest.take(Some(Instant::now())), Some(2));
        assert_eq!(latest.take(Some(Instant::now())), None);
        latest.close();
        assert_eq!(latest.take(None), None);
    }
}
