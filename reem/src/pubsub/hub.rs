//! [`Hub`]: the dispatcher of one [`RedisInterface`], shared by all the subscribers made
//! from it: one connection ([`Link`]), one thread (`reem-pubsub`) running the task that
//! subscribes, reads stored values and hands every notification to the members of its
//! topic.
//!
//! Subscribers talk to the task through a channel: `add` subscribes the topic's channel
//! (once for all its members; the server's refusal comes back as an error), reads the stored
//! latest message for the new member, and only then answers, so `listen()` returns with the
//! stored value already delivered. The last subscriber to go stops the task and joins the
//! thread.
//!
//! **Faults.** When the connection is lost (a `Disconnection` push, or a `PING` that fails
//! the health check every [`HEALTH_CHECK`], within the interface's response timeout), the
//! task subscribes every channel again, with backoff ([`FIRST_RETRY`] doubling up to 2 s, for
//! ever) until the server confirms: on one server it first makes a new connection; on a Redis
//! Cluster the crate's connection reconnects, but does not subscribe again (see `link.rs`),
//! so the task does it also when a master pushes an `SUNSUBSCRIBE` reem did not ask for (the
//! topic's slot moved away from it). Each try on a cluster first reads the topic's key, so
//! that a `MOVED` makes the crate rebuild its slot map and the subscription goes to the
//! slot's master (the new one, or the promoted replica). Each success re-reads the topic's
//! stored message, as a late joiner would, so nothing published meanwhile is silently
//! missed (the gap is counted).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use super::frame::{self, Mode};
use super::history;
use super::link::Link;
use super::member::Member;
use super::names;
use super::sequence::Arrival;
use crate::error::{Error, Result};
use crate::interface::RedisInterface;
use crate::lock::lock;
use crate::marshal::Commands;

/// A silent connection is checked with `PING` this often.
const HEALTH_CHECK: Duration = Duration::from_secs(3);
/// How long `listen()` waits for its subscription to be active.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);
/// Cluster: first wait before subscribing a channel again (doubled after each failure, up
/// to [`MAX_RETRY`]).
const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(2);
/// Cluster: how long one try to subscribe again may take (the crate may wait for a failover).
const RESUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

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
    /// `None` once stopping: closing the channel ends the task.
    control: Option<mpsc::UnboundedSender<Control>>,
    status: Arc<Mutex<Status>>,
    thread: Option<JoinHandle<()>>,
}

/// A request to the task.
enum Control {
    /// Subscribe a member; answer once its stored value was read (or with the refusal).
    Add {
        id: u64,
        member: Arc<dyn Member>,
        done: Done,
    },
    /// Unsubscribe a member.
    Remove { id: u64 },
}

/// Where the answer to [`Control::Add`] goes: a blocked thread, or a future.
enum Done {
    Blocking(std_mpsc::Sender<Result<()>>),
    #[cfg(feature = "tokio")]
    Async(tokio::sync::oneshot::Sender<Result<()>>),
}

impl Done {
    fn send(self, answer: Result<()>) {
        match self {
            Done::Blocking(tx) => drop(tx.send(answer)),
            #[cfg(feature = "tokio")]
            Done::Async(tx) => drop(tx.send(answer)),
        }
    }
}

/// One member registered on a hub; dropping it unregisters the member.
pub(crate) struct Subscription {
    hub: Arc<Hub>,
    id: u64,
}

impl Subscription {
    /// Registers `member` on the dispatcher of `iface` and waits until its topic is
    /// subscribed and its stored latest value was read.
    pub(crate) fn start(iface: &RedisInterface, member: Arc<dyn Member>) -> Result<Self> {
        let (done, answer) = std_mpsc::channel();
        let topic = member.topic().to_owned();
        let subscription = Self::register(iface, member, Done::Blocking(done))?;
        match answer.recv_timeout(LISTEN_TIMEOUT) {
            Ok(Ok(())) => Ok(subscription),
            Ok(Err(e)) => Err(e),
            Err(std_mpsc::RecvTimeoutError::Timeout) => Err(not_active(&topic)),
            Err(std_mpsc::RecvTimeoutError::Disconnected) => Err(stopped(&topic)),
        }
    }

    /// [`start`](Self::start) for async callers: waits without blocking the thread (needs a
    /// tokio runtime with its timer). Dropping the future unregisters the member.
    #[cfg(feature = "tokio")]
    pub(crate) async fn start_async(
        iface: &RedisInterface,
        member: Arc<dyn Member>,
    ) -> Result<Self> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let topic = member.topic().to_owned();
        let subscription = Self::register(iface, member, Done::Async(done))?;
        match tokio::time::timeout(LISTEN_TIMEOUT, answer).await {
            Ok(Ok(Ok(()))) => Ok(subscription),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(stopped(&topic)),
            Err(_) => Err(not_active(&topic)),
        }
    }

    /// Hands `member` to the dispatcher of `iface` (started if needed); `done` gets the
    /// answer.
    fn register(iface: &RedisInterface, member: Arc<dyn Member>, done: Done) -> Result<Self> {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let hub = Hub::of(iface)?;
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        let topic = member.topic().to_owned();
        hub.send(Control::Add { id, member, done })
            .map_err(|_| stopped(&topic))?;
        Ok(Subscription { hub, id })
    }

    /// The status of the shared connection.
    pub(crate) fn status(&self) -> Status {
        lock(&self.hub.status).clone()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.hub.send(Control::Remove { id: self.id });
    }
}

fn not_active(topic: &str) -> Error {
    Error::Timeout {
        context: format!(
            "subscribing to topic {topic:?}: not active within {} s",
            LISTEN_TIMEOUT.as_secs()
        ),
    }
}

fn stopped(topic: &str) -> Error {
    Error::Io {
        context: format!("subscribing to topic {topic:?}"),
        source: std::io::Error::other("the subscriber thread stopped"),
    }
}

impl Hub {
    fn send(&self, request: Control) -> std::result::Result<(), ()> {
        match &self.control {
            Some(control) => control.send(request).map_err(drop),
            None => Err(()),
        }
    }

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
        let (control, requests) = mpsc::unbounded_channel();
        let status = Arc::new(Mutex::new(Status {
            state: ConnectionState::Connecting,
            last_error: None,
            reconnects: 0,
        }));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Io {
                context: "starting the subscriber thread".to_owned(),
                source: e,
            })?;
        let task = Task {
            iface: iface.clone(),
            status: Arc::clone(&status),
            db: iface.db(),
            cluster: iface.is_cluster(),
            link: None,
            channels: HashMap::new(),
            members: HashMap::new(),
            pending: HashSet::new(),
            retry_at: None,
            retry_pause: FIRST_RETRY,
        };
        let thread = thread::Builder::new()
            .name("reem-pubsub".to_owned())
            .spawn(move || runtime.block_on(task.run(requests)))
            .map_err(|e| Error::Io {
                context: "starting the subscriber thread".to_owned(),
                source: e,
            })?;
        Ok(Hub {
            control: Some(control),
            status,
            thread: Some(thread),
        })
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        // Closing the channel ends the task.
        self.control = None;
        if let Some(thread) = self.thread.take() {
            // Dropped by an async subscriber on a tokio runtime: the thread ends by itself,
            // and the runtime's worker is not blocked waiting for it.
            let in_runtime = tokio::runtime::Handle::try_current().is_ok();
            if thread.thread().id() != thread::current().id() && !in_runtime {
                let _ = thread.join();
            }
        }
    }
}

/// The subscribers of one channel (one topic).
struct Channel {
    topic: String,
    members: Vec<(u64, Arc<dyn Member>)>,
    /// Confirmed by the server on the current connection.
    subscribed: bool,
}

/// The dispatcher task: owns the link and the registry.
struct Task {
    iface: RedisInterface,
    status: Arc<Mutex<Status>>,
    db: i64,
    /// On a Redis Cluster: sharded channels, subscribed again by the task.
    cluster: bool,
    link: Option<Link>,
    /// By channel name.
    channels: HashMap<String, Channel>,
    /// Member id → its channel.
    members: HashMap<u64, String>,
    /// The channels to subscribe again, and when to try next.
    pending: HashSet<String>,
    retry_at: Option<tokio::time::Instant>,
    retry_pause: Duration,
}

impl Task {
    async fn run(mut self, mut requests: mpsc::UnboundedReceiver<Control>) {
        let (push_tx, mut pushes) = mpsc::unbounded_channel::<PushInfo>();
        let mut push_tx = Some(push_tx);
        let mut health = tokio::time::interval(HEALTH_CHECK);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                request = requests.recv() => match request {
                    None => break,
                    Some(Control::Add { id, member, done }) => {
                        if self.link.is_none() {
                            if let Err(e) = self.connect(&mut push_tx).await {
                                done.send(Err(e));
                                continue;
                            }
                        }
                        done.send(self.add(id, member).await);
                    }
                    Some(Control::Remove { id }) => self.remove(id).await,
                },
                Some(push) = pushes.recv() => self.push(push).await,
                _ = health.tick() => self.health().await,
                _ = sleep_until(self.retry_at), if self.retry_at.is_some() => {
                    self.resubscribe().await
                }
            }
        }
    }

    /// Opens the link (once: it reconnects by itself afterwards).
    async fn connect(
        &mut self,
        push_tx: &mut Option<mpsc::UnboundedSender<PushInfo>>,
    ) -> Result<()> {
        let Some(tx) = push_tx.take() else {
            return Err(stopped(""));
        };
        match Link::open(&self.iface, tx.clone()).await {
            Ok(link) => {
                self.link = Some(link);
                self.set_state(ConnectionState::Connected, None);
                Ok(())
            }
            Err(e) => {
                *push_tx = Some(tx);
                self.set_state(ConnectionState::Connecting, Some(e.to_string()));
                Err(e)
            }
        }
    }

    fn set_state(&self, state: ConnectionState, error: Option<String>) {
        let mut status = lock(&self.status);
        if status.state == ConnectionState::Reconnecting && state == ConnectionState::Connected {
            status.reconnects += 1;
            tracing::info!(url = %self.iface.url(), "reem subscriber connection restored");
        }
        status.state = state;
        if error.is_some() {
            status.last_error = error;
        }
    }

    /// Subscribes the member's channel if needed, then reads its stored value for it.
    async fn add(&mut self, id: u64, member: Arc<dyn Member>) -> Result<()> {
        let topic = member.topic().to_owned();
        let channel = names::channel(self.db, &topic, self.cluster).into_owned();
        let Some(link) = self.link.as_mut() else {
            return Err(stopped(&topic));
        };
        if !self.channels.get(&channel).is_some_and(|c| c.subscribed) {
            link.subscribe(&topic, &channel).await?;
        }
        let entry = self
            .channels
            .entry(channel.clone())
            .or_insert_with(|| Channel {
                topic: topic.clone(),
                members: Vec::new(),
                subscribed: true,
            });
        entry.subscribed = true;
        entry.members.push((id, Arc::clone(&member)));
        self.pending.remove(&channel);
        self.members.insert(id, channel);
        history::catch_up(link, &*member).await
    }

    async fn remove(&mut self, id: u64) {
        let Some(channel) = self.members.remove(&id) else {
            return;
        };
        let Some(entry) = self.channels.get_mut(&channel) else {
            return;
        };
        entry.members.retain(|(m, _)| *m != id);
        if entry.members.is_empty() {
            let entry = self.channels.remove(&channel);
            if let (Some(link), Some(entry)) = (self.link.as_mut(), entry) {
                let _ = link.unsubscribe(&entry.topic, &channel).await;
            }
        }
    }

    async fn push(&mut self, push: PushInfo) {
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let mut data = push.data.into_iter();
                let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
                    return;
                };
                let (Value::BulkString(channel), Value::BulkString(payload)) = (channel, payload)
                else {
                    return;
                };
                let Ok(channel) = String::from_utf8(channel) else {
                    return;
                };
                self.dispatch(&channel, &payload).await;
            }
            PushKind::Disconnection => {
                const LOST: &str = "the connection to Redis was lost; reconnecting";
                for channel in self.channels.values_mut() {
                    channel.subscribed = false;
                    channel
                        .members
                        .iter()
                        .for_each(|(_, m)| m.disconnected(LOST));
                }
                tracing::warn!(url = %self.iface.url(), "reem subscriber connection lost; reconnecting");
                self.set_state(
                    ConnectionState::Reconnecting,
                    Some("the connection to Redis was lost".to_owned()),
                );
                // One server: the connection is made again. A cluster: a node is gone (which
                // one, the push does not say) and its replica may be promoted. Either way
                // every channel is subscribed again and its stored value re-read.
                if let Some(link) = self.link.as_mut() {
                    link.lost();
                }
                self.subscribe_all_again();
            }
            PushKind::SUnsubscribe => {
                // Unasked (a channel reem unsubscribes is gone from the registry first): the
                // topic's slot moved to another master, which is subscribed instead.
                let Some(Value::BulkString(channel)) = push.data.first() else {
                    return;
                };
                let Ok(channel) = String::from_utf8(channel.clone()) else {
                    return;
                };
                if let Some(entry) = self.channels.get_mut(&channel) {
                    entry.subscribed = false;
                    tracing::info!(topic = %entry.topic, "reem subscriber: the topic's slot moved; subscribing on its new master");
                    self.subscribe_again(vec![channel]);
                }
            }
            PushKind::Subscribe | PushKind::SSubscribe => {
                // A channel confirmed while it was marked lost (subscribed again by the
                // connection itself): catch up each topic, as a late joiner would.
                let Some(Value::BulkString(channel)) = push.data.first() else {
                    return;
                };
                let Ok(channel) = std::str::from_utf8(channel) else {
                    return;
                };
                let members = match self.channels.get_mut(channel) {
                    Some(c) if !c.subscribed => {
                        c.subscribed = true;
                        c.members.clone()
                    }
                    _ => return,
                };
                if let Some(link) = self.link.as_mut() {
                    catch_up_all(link, members).await;
                }
                if self.channels.values().all(|c| c.subscribed) {
                    self.set_state(ConnectionState::Connected, None);
                }
            }
            _ => {}
        }
    }

    /// Hands one notification to the members of its channel (all of one topic).
    async fn dispatch(&mut self, channel: &str, payload: &[u8]) {
        let Some(entry) = self.channels.get(channel) else {
            return;
        };
        let members: Vec<Arc<dyn Member>> =
            entry.members.iter().map(|(_, m)| Arc::clone(m)).collect();
        let topic = entry.topic.clone();
        let note = match frame::parse(payload) {
            Ok(note) => note,
            Err(why) => {
                let why = format!("malformed notification: {why}");
                members.iter().for_each(|m| m.reject(None, &why));
                return;
            }
        };
        let stamp = note.stamp;
        let arrival = Arrival::Announced(stamp);
        let fresh: Vec<&Arc<dyn Member>> = members.iter().filter(|m| m.is_new(stamp)).collect();
        if fresh.is_empty() {
            return;
        }
        match note.mode {
            Mode::Inline => match frame::inline_hash(note.body) {
                Ok(reply) => offer_all(&fresh, Some(stamp), arrival, reply),
                Err(why) => {
                    let why = format!("malformed notification: {why}");
                    fresh.iter().for_each(|m| m.reject(Some(stamp), &why));
                }
            },
            Mode::ReadKey => {
                let Some(link) = self.link.as_mut() else {
                    return;
                };
                let mut cmds = Commands::new();
                cmds.cmd("HGETALL").arg(&topic);
                match link.run(&topic, &cmds, false).await {
                    Ok(mut replies) => {
                        let reply = replies.pop().unwrap_or(Value::Nil);
                        // Deleted since: nothing to deliver, the next stamp shows the gap.
                        // Otherwise the key may hold a newer message: its own stamp says.
                        if !frame::is_absent(&reply) {
                            let stored = frame::stamp_in(&reply).unwrap_or(stamp);
                            offer_all(&fresh, Some(stored), arrival, reply);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(topic = %topic, error = %e, "reem subscriber: reading an announced message failed")
                    }
                }
            }
            Mode::ReadMarshalled => {
                let Some(link) = self.link.as_mut() else {
                    return;
                };
                for member in fresh {
                    if let Err(e) = load(link, &**member, arrival).await {
                        tracing::warn!(topic = %topic, error = %e, "reem subscriber: reading an announced message failed");
                    }
                }
            }
        }
    }

    /// Checks a silent connection (within the interface's response timeout); after a
    /// failure the connection is made again (one server) and every channel subscribed again.
    async fn health(&mut self) {
        if self.retry_at.is_some() || (self.cluster && self.channels.is_empty()) {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let Err(e) = link.ping(self.channels.keys().map(String::as_str)).await else {
            return;
        };
        if !self.cluster {
            link.lost();
        }
        if lock(&self.status).state == ConnectionState::Connected {
            self.set_state(ConnectionState::Reconnecting, Some(e.to_string()));
        }
        self.subscribe_all_again();
        if self.channels.is_empty() {
            // Nothing to subscribe, but the connection is made again for the next one.
            self.retry_at = Some(tokio::time::Instant::now());
        }
    }

    /// Schedules every channel to be subscribed again.
    fn subscribe_all_again(&mut self) {
        let all: Vec<String> = self.channels.keys().cloned().collect();
        self.subscribe_again(all);
    }

    /// Schedules `channels` to be subscribed again (at once if nothing was pending).
    fn subscribe_again(&mut self, channels: Vec<String>) {
        for channel in channels {
            if let Some(entry) = self.channels.get_mut(&channel) {
                entry.subscribed = false;
                self.pending.insert(channel);
            }
        }
        if self.retry_at.is_none() && !self.pending.is_empty() {
            self.retry_pause = FIRST_RETRY;
            self.retry_at = Some(tokio::time::Instant::now());
        }
    }

    /// Schedules the next try of [`resubscribe`](Self::resubscribe), backing off.
    fn retry_later(&mut self, error: Option<String>) {
        if error.is_some() {
            self.set_state(ConnectionState::Reconnecting, error);
        }
        self.retry_at = Some(tokio::time::Instant::now() + self.retry_pause);
        self.retry_pause = (self.retry_pause * 2).min(MAX_RETRY);
    }

    /// Tries once to subscribe every pending channel again; re-reads the stored
    /// message of each channel that is back, and schedules the next try for the others.
    async fn resubscribe(&mut self) {
        self.retry_at = None;
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let mut last_error = None;
        // One server: a lost connection is made again first (a cluster's reconnects itself).
        if let Err(e) = link.revive().await {
            self.retry_later(Some(e.to_string()));
            return;
        }
        for channel in self.pending.clone() {
            let Some(topic) = self.channels.get(&channel).map(|c| c.topic.clone()) else {
                self.pending.remove(&channel);
                continue;
            };
            // A read of the topic's key: a `MOVED` makes the crate rebuild its slot map, so
            // that the subscription goes to the slot's master.
            let mut probe = Commands::new();
            probe.cmd("TYPE").arg(&topic);
            let attempt = tokio::time::timeout(RESUBSCRIBE_TIMEOUT, async {
                let _ = link.run(&topic, &probe, false).await;
                link.subscribe(&topic, &channel).await
            })
            .await;
            match attempt {
                Ok(Ok(())) => {
                    self.pending.remove(&channel);
                    let members = match self.channels.get_mut(&channel) {
                        Some(c) => {
                            c.subscribed = true;
                            c.members.clone()
                        }
                        None => continue,
                    };
                    catch_up_all(link, members).await;
                }
                Ok(Err(e)) => last_error = Some(e.to_string()),
                Err(_) => {
                    last_error = Some(format!(
                        "subscribing to topic {topic:?} again: no answer within {} s",
                        RESUBSCRIBE_TIMEOUT.as_secs()
                    ))
                }
            }
        }
        if self.pending.is_empty() {
            if self.channels.values().all(|c| c.subscribed) {
                self.set_state(ConnectionState::Connected, None);
            }
        } else {
            self.retry_later(last_error);
        }
    }
}

/// Brings each member of a channel that is subscribed again up to date, as a late joiner
/// ([`history::catch_up`]); a failed read is logged (the live notifications go on).
async fn catch_up_all(link: &mut Link, members: Vec<(u64, Arc<dyn Member>)>) {
    for (_, member) in members {
        if let Err(e) = history::catch_up(link, &*member).await {
            tracing::warn!(topic = %member.topic(), error = %e, "reem subscriber: reading the stored value failed");
        }
    }
}

/// Waits until `at` (for ever if `None`).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Reads `member`'s stored message (on the link, so with the subscription's view) and
/// offers it. Errors only if Redis could not be asked.
pub(super) async fn load(link: &mut Link, member: &dyn Member, arrival: Arrival) -> Result<()> {
    let request = member.load(link.is_cluster())?;
    let replies = link
        .run(member.topic(), &request.cmds, request.atomic)
        .await?;
    // A refusal other than the stored type (a server loading its data, an ACL) is an error
    // to report; WRONGTYPE is the stored value's business: the marshaller refuses it.
    if let Some(Value::ServerError(e)) = replies
        .iter()
        .find(|r| matches!(r, Value::ServerError(e) if e.code() != "WRONGTYPE"))
    {
        return Err(Error::from_server_error(member.topic(), e));
    }
    member.loaded(replies, arrival);
    Ok(())
}

/// Offers one reply to several members, cloning it for all but the last.
fn offer_all(
    members: &[&Arc<dyn Member>],
    stamp: Option<frame::Stamp>,
    arrival: Arrival,
    reply: Value,
) {
    if let Some((last, rest)) = members.split_last() {
        for member in rest {
            member.offer(stamp, arrival, reply.clone());
        }
        last.offer(stamp, arrival, reply);
    }
}
