//! The dispatcher: one subscriber connection and one thread per [`RedisInterface`], shared
//! by all the subscribers made from it.
//!
//! The thread owns the connection. It subscribes each topic's channel once (exact
//! `SUBSCRIBE`, never a pattern), reads the stored latest value for each new subscriber
//! after its channel is subscribed, and hands every notification to the subscribers of its
//! topic. Subscribers
//! register under a lock and wake the thread by publishing on a private control channel,
//! so a subscription costs one round trip, not a poll. When the connection fails, the
//! thread waits (50 ms doubling to 2 s), reconnects, subscribes everything again and
//! re-reads every topic's latest value. The last subscriber to go stops and joins it.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::{Client, Msg, ProtocolVersion, PubSub, RedisError, RedisResult, Value};

use super::frame::{self, Mode};
use super::names;
use super::sequence::Arrival;
use super::sink::{self, lock, Sink};
use crate::error::{Error, Result};
use crate::interface::RedisInterface;

/// Longest blocking read on the subscriber connection: how often, at the latest, the thread
/// looks at registrations and the stop flag when no wake-up arrives.
const TICK: Duration = Duration::from_millis(500);
/// A silent connection is checked with `PING` this often (a dead peer shows no traffic).
const HEALTH_CHECK: Duration = Duration::from_secs(3);
/// First wait before reconnecting; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How long `listen()` waits for its subscription to be active.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The state of a subscriber's connection to Redis, as [`Status::state`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionState {
    /// The subscriber is not listening (`listen()` not called or failed).
    Idle,
    /// The first connection is being made.
    Connecting,
    /// Subscribed: messages arrive.
    Connected,
    /// The connection was lost (see [`Status::last_error`]); reconnecting with backoff.
    /// Messages published meanwhile are not lost for good: the stored latest value is read
    /// again once reconnected, and the gap is counted in
    /// [`Counters::skipped`](crate::Counters::skipped).
    Reconnecting,
}

/// What a subscriber's connection is doing, from
/// [`RawSubscriber::status`](crate::RawSubscriber::status) or
/// [`CallbackSubscriber::status`](crate::CallbackSubscriber::status).
///
/// Subscribers of one [`RedisInterface`] share one connection, so they share this status.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Connected, reconnecting, ...
    pub state: ConnectionState,
    /// The most recent connection error, kept after recovery (`None` if there was none).
    pub last_error: Option<String>,
    /// How many times the connection was made again after a failure.
    pub reconnects: u64,
}

impl Status {
    pub(crate) fn idle() -> Self {
        Status {
            state: ConnectionState::Idle,
            last_error: None,
            reconnects: 0,
        }
    }
}

/// Where a [`RedisInterface`] keeps its dispatcher while subscribers use it.
#[derive(Default)]
pub(crate) struct HubSlot(Mutex<Weak<Hub>>);

/// The dispatcher of one interface; stopped and joined when the last subscriber drops it.
pub(crate) struct Hub {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// One subscriber registered on a hub; dropping it unregisters the subscriber.
pub(crate) struct Subscription {
    hub: Arc<Hub>,
    id: u64,
}

impl Subscription {
    /// Registers `sink` on the dispatcher of `iface` and waits until its topic is
    /// subscribed and its stored latest value was read.
    pub(crate) fn start(iface: &RedisInterface, sink: Arc<dyn Sink>) -> Result<Self> {
        let hub = Hub::of(iface)?;
        let id = hub.shared.add(sink)?;
        Ok(Subscription { hub, id })
    }

    /// The status of the shared connection.
    pub(crate) fn status(&self) -> Status {
        let reg = lock(&self.hub.shared.reg);
        Status {
            state: reg.state,
            last_error: reg.last_error.as_ref().map(ToString::to_string),
            reconnects: reg.reconnects,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.shared.remove(self.id);
    }
}

struct Shared {
    iface: RedisInterface,
    /// The interface's connection settings, but always RESP2 (the `redis` crate's blocking
    /// pub/sub confirms subscriptions only in RESP2).
    client: Client,
    /// The private channel that wakes the thread.
    control: String,
    /// The database of the interface: it names the channels (see [`names::channel`]).
    db: i64,
    reg: Mutex<Registry>,
    /// Signalled whenever the registry changes: wakes the thread from its backoff and
    /// `listen()` callers waiting for their subscription.
    changed: Condvar,
}

struct Registry {
    members: HashMap<u64, Member>,
    channels: HashMap<String, Channel>,
    next_id: u64,
    /// Subscriptions or reads of the latest value are waiting to be done.
    dirty: bool,
    /// A `listen()` is waiting: try to connect now rather than after the backoff.
    retry_now: bool,
    stopping: bool,
    state: ConnectionState,
    last_error: Option<RedisError>,
    failures: u64,
    sessions: u64,
    reconnects: u64,
}

struct Member {
    sink: Arc<dyn Sink>,
    channel: String,
    /// While the stored latest value must be read for this member: how it arrives.
    load: Option<Arrival>,
    /// The first read of the latest value is done.
    ready: bool,
}

/// The members of one channel (one topic), and whether the connection subscribes it.
#[derive(Default)]
struct Channel {
    members: Vec<u64>,
    subscribed: bool,
}

impl Hub {
    /// The running dispatcher of `iface`, started if there is none.
    fn of(iface: &RedisInterface) -> Result<Arc<Hub>> {
        let mut slot = lock(&iface.pubsub_hub().0);
        if let Some(hub) = slot.upgrade() {
            return Ok(hub);
        }
        let hub = Arc::new(Hub::start(iface)?);
        *slot = Arc::downgrade(&hub);
        Ok(hub)
    }

    fn start(iface: &RedisInterface) -> Result<Hub> {
        static HUBS: AtomicU64 = AtomicU64::new(0);
        let info = iface.client().get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP2);
        let client = Client::open(info.set_redis_settings(settings))?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let shared = Arc::new(Shared {
            iface: iface.clone(),
            client,
            db: iface.db(),
            control: format!(
                "__reem/pubsub/{}/{}/{nanos}",
                std::process::id(),
                HUBS.fetch_add(1, Ordering::Relaxed)
            ),
            reg: Mutex::new(Registry {
                members: HashMap::new(),
                channels: HashMap::new(),
                next_id: 0,
                dirty: false,
                retry_now: false,
                stopping: false,
                state: ConnectionState::Connecting,
                last_error: None,
                failures: 0,
                sessions: 0,
                reconnects: 0,
            }),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("reem-pubsub".to_owned())
            .spawn(move || worker.run())
            .map_err(|e| Error::Redis(e.into()))?;
        Ok(Hub {
            shared,
            thread: Some(thread),
        })
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let connected = {
            let mut reg = lock(&self.shared.reg);
            reg.stopping = true;
            reg.state == ConnectionState::Connected
        };
        self.shared.changed.notify_all();
        if connected {
            self.shared.poke();
        }
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Shared {
    /// Registers a member and waits until it is ready (or the connection failed).
    fn add(&self, sink: Arc<dyn Sink>) -> Result<u64> {
        let mut reg = lock(&self.reg);
        let id = reg.next_id;
        reg.next_id += 1;
        let channel = names::channel(self.db, sink.topic()).into_owned();
        reg.channels
            .entry(channel.clone())
            .or_default()
            .members
            .push(id);
        reg.members.insert(
            id,
            Member {
                sink,
                channel,
                load: Some(Arrival::Load),
                ready: false,
            },
        );
        reg.dirty = true;
        reg.retry_now = true;
        let failures = reg.failures;
        let connected = reg.state == ConnectionState::Connected;
        drop(reg);
        self.changed.notify_all();
        if connected {
            self.poke();
        }

        let deadline = Instant::now() + LISTEN_TIMEOUT;
        let mut reg = lock(&self.reg);
        let outcome = loop {
            if reg.members.get(&id).is_some_and(|m| m.ready) {
                break Ok(id);
            }
            if reg.failures != failures {
                let cause = reg.last_error.clone().unwrap_or_else(|| {
                    RedisError::from(std::io::Error::other("the subscriber connection failed"))
                });
                break Err(Error::Redis(cause));
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break Err(Error::Redis(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the subscription was not active within 10 s",
                ))));
            };
            reg = self
                .changed
                .wait_timeout(reg, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        drop(reg);
        if outcome.is_err() {
            self.remove(id);
        }
        outcome
    }

    /// Unregisters a member; its channel is unsubscribed if it was the last one.
    fn remove(&self, id: u64) {
        let mut reg = lock(&self.reg);
        let Some(member) = reg.members.remove(&id) else {
            return;
        };
        let mut emptied = false;
        if let Some(channel) = reg.channels.get_mut(&member.channel) {
            channel.members.retain(|&m| m != id);
            emptied = channel.members.is_empty();
        }
        reg.dirty |= emptied;
        let connected = reg.state == ConnectionState::Connected;
        drop(reg);
        if emptied && connected {
            self.poke();
        }
    }

    /// Wakes the thread from its blocking read (best effort: it also wakes every [`TICK`]).
    fn poke(&self) {
        let mut cmds = crate::marshal::Commands::new();
        cmds.cmd("PUBLISH").arg(&self.control).arg("");
        let _ =
            self.iface
                .transport()
                .pipeline(&self.control, &cmds, crate::transport::Resend::Never);
    }

    /// The thread: sessions until stopped, with backoff between them. A panic (a bug: the
    /// marshallers' own panics are caught where they decode) ends the session, not the
    /// thread.
    fn run(&self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            let outcome = catch_unwind(AssertUnwindSafe(|| self.session(&mut backoff)))
                .unwrap_or_else(|_| {
                    Err(RedisError::from(std::io::Error::other(
                        "the subscriber thread panicked",
                    )))
                });
            match outcome {
                Ok(()) => return,
                Err(e) => {
                    if !self.failed(e) || !self.pause(backoff) {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One connection's life: returns `Ok` when asked to stop, `Err` when the connection
    /// failed.
    fn session(&self, backoff: &mut Duration) -> RedisResult<()> {
        let mut con = self
            .client
            .get_connection_with_timeout(self.iface.connect_timeout())?;
        con.set_read_timeout(Some(TICK))?;
        con.set_write_timeout(self.iface.response_timeout())?;
        let mut ps = con.as_pubsub();
        ps.subscribe(&self.control)?;
        self.begin_session();
        self.connected();
        let mut quiet_since = Instant::now();
        loop {
            if !self.sync(&mut ps)? {
                return Ok(());
            }
            // Only a session that got as far as its subscriptions resets the backoff.
            *backoff = MIN_BACKOFF;
            match ps.get_message() {
                Ok(msg) => {
                    quiet_since = Instant::now();
                    self.handle(&msg)?;
                }
                Err(e) if e.is_timeout() => {
                    if quiet_since.elapsed() >= HEALTH_CHECK {
                        ps.ping::<Value>()?;
                        quiet_since = Instant::now();
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A new connection has no subscriptions: subscribe every channel again and re-read
    /// every topic's latest value (rebasing the members that had one).
    fn begin_session(&self) {
        let mut reg = lock(&self.reg);
        reg.sessions += 1;
        for channel in reg.channels.values_mut() {
            channel.subscribed = false;
        }
        for member in reg.members.values_mut() {
            member.load = Some(Arrival::Load);
        }
        reg.dirty = true;
    }

    fn connected(&self) {
        let mut reg = lock(&self.reg);
        reg.state = ConnectionState::Connected;
        reg.retry_now = false;
        if reg.sessions > 1 {
            reg.reconnects += 1;
            tracing::info!(url = %self.iface.url(), "reem subscriber connection restored");
        }
        drop(reg);
        self.changed.notify_all();
    }

    /// Records a failed session; false if the hub is stopping anyway.
    fn failed(&self, e: RedisError) -> bool {
        let mut reg = lock(&self.reg);
        if reg.stopping {
            return false;
        }
        tracing::warn!(
            url = %self.iface.url(),
            error = %e,
            "reem subscriber connection lost; reconnecting"
        );
        reg.state = ConnectionState::Reconnecting;
        reg.last_error = Some(e);
        reg.failures += 1;
        drop(reg);
        self.changed.notify_all();
        true
    }

    /// Waits `backoff`, or less if a `listen()` waits; false if the hub is stopping.
    fn pause(&self, backoff: Duration) -> bool {
        let reg = lock(&self.reg);
        let (mut reg, _) = self
            .changed
            .wait_timeout_while(reg, backoff, |r| !r.stopping && !r.retry_now)
            .unwrap_or_else(|e| e.into_inner());
        reg.retry_now = false;
        !reg.stopping
    }

    /// Brings the connection's subscriptions in line with the registry and reads the latest
    /// value for members that need it. False when the hub is stopping.
    fn sync(&self, ps: &mut PubSub<'_>) -> RedisResult<bool> {
        let (subscribe, unsubscribe) = {
            let mut reg = lock(&self.reg);
            if reg.stopping {
                return Ok(false);
            }
            if !reg.dirty {
                return Ok(true);
            }
            reg.dirty = false;
            let (mut subscribe, mut unsubscribe) = (Vec::new(), Vec::new());
            reg.channels.retain(|name, channel| {
                if channel.members.is_empty() {
                    if channel.subscribed {
                        unsubscribe.push(name.clone());
                    }
                    false
                } else {
                    if !channel.subscribed {
                        subscribe.push(name.clone());
                    }
                    true
                }
            });
            (subscribe, unsubscribe)
        };
        for name in &unsubscribe {
            ps.unsubscribe(name)?;
        }
        // One channel per SUBSCRIBE: the crate returns at the first confirmation, and only
        // then is it certain that no later publish can be missed.
        for name in &subscribe {
            ps.subscribe(name)?;
            if let Some(channel) = lock(&self.reg).channels.get_mut(name) {
                channel.subscribed = true;
            }
        }
        self.load_pending()?;
        Ok(true)
    }

    /// Reads the stored latest value for every member whose channel is subscribed and that
    /// still needs it, and marks them ready.
    fn load_pending(&self) -> RedisResult<()> {
        let pending: Vec<(u64, Arc<dyn Sink>, Arrival)> = {
            let reg = lock(&self.reg);
            reg.members
                .iter()
                .filter_map(|(&id, m)| {
                    let arrival = m.load?;
                    let subscribed = reg.channels.get(&m.channel)?.subscribed;
                    subscribed.then(|| (id, Arc::clone(&m.sink), arrival))
                })
                .collect()
        };
        for (id, sink, arrival) in pending {
            sink.load(&self.iface, arrival).map_err(redis_error)?;
            if let Some(member) = lock(&self.reg).members.get_mut(&id) {
                member.load = None;
                member.ready = true;
            }
            self.changed.notify_all();
        }
        Ok(())
    }

    /// Hands one notification to the members of its topic.
    fn handle(&self, msg: &Msg) -> RedisResult<()> {
        let Ok(channel) = msg.get_channel::<Vec<u8>>() else {
            return Ok(());
        };
        let Ok(channel) = std::str::from_utf8(&channel) else {
            return Ok(());
        };
        if channel == self.control {
            return Ok(());
        }
        let sinks: Vec<Arc<dyn Sink>> = {
            let reg = lock(&self.reg);
            match reg.channels.get(channel) {
                Some(t) => t
                    .members
                    .iter()
                    .filter_map(|id| reg.members.get(id))
                    .map(|m| Arc::clone(&m.sink))
                    .collect(),
                None => return Ok(()),
            }
        };
        self.dispatch(msg.get_payload_bytes(), &sinks)
    }

    /// Hands one notification to the members of its channel (all of one topic).
    fn dispatch(&self, payload: &[u8], sinks: &[Arc<dyn Sink>]) -> RedisResult<()> {
        let Some(topic) = sinks.first().map(|s| s.topic()) else {
            return Ok(());
        };
        let note = match frame::parse(payload) {
            Ok(note) => note,
            Err(why) => {
                let why = format!("malformed notification: {why}");
                sinks.iter().for_each(|s| s.reject(None, &why));
                return Ok(());
            }
        };
        let stamp = note.stamp;
        let arrival = Arrival::Announced(stamp);
        let fresh: Vec<&Arc<dyn Sink>> = sinks.iter().filter(|s| s.is_new(stamp)).collect();
        if fresh.is_empty() {
            return Ok(());
        }
        match note.mode {
            Mode::Inline => match frame::inline_hash(note.body) {
                Ok(reply) => offer_all(&fresh, Some(stamp), arrival, reply),
                Err(why) => {
                    let why = format!("malformed notification: {why}");
                    fresh.iter().for_each(|s| s.reject(Some(stamp), &why));
                }
            },
            Mode::ReadKey => {
                let mut cmds = crate::marshal::Commands::new();
                cmds.cmd("HGETALL").arg(topic);
                let reply = sink::read(&self.iface, topic, &cmds)
                    .map_err(redis_error)?
                    .pop()
                    .unwrap_or(Value::Nil);
                // Deleted since: nothing to deliver, the next stamp shows the gap. Otherwise
                // the key may already hold a newer message: its own stamp says which.
                if !frame::is_absent(&reply) {
                    let stored = frame::stamp_in(&reply).unwrap_or(stamp);
                    offer_all(&fresh, Some(stored), arrival, reply);
                }
            }
            Mode::ReadMarshalled => {
                for sink in fresh {
                    sink.load(&self.iface, arrival).map_err(redis_error)?;
                }
            }
        }
        Ok(())
    }
}

/// Offers one reply to several members, cloning it for all but the last.
fn offer_all(
    sinks: &[&Arc<dyn Sink>],
    stamp: Option<frame::Stamp>,
    arrival: Arrival,
    reply: Value,
) {
    if let Some((last, rest)) = sinks.split_last() {
        for sink in rest {
            sink.offer(stamp, arrival, reply.clone());
        }
        last.offer(stamp, arrival, reply);
    }
}

/// A reem error as the `redis` error the session's connection handling expects.
fn redis_error(e: Error) -> RedisError {
    match e {
        Error::Redis(e) => e,
        other => RedisError::from(std::io::Error::other(other.to_string())),
    }
}
