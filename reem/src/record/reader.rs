//! [`Recording`]: an MCAP file read as a stream, up to its end or its first damage.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcap::records::Record;
use mcap::sans_io::linear_reader::{LinearReadEvent, LinearReader, LinearReaderOptions};

use super::{decode_hash, MAX_RECORD, REEM_ENCODING, REEM_SCHEMA_ENCODING};
use crate::error::{Error, Result};
use crate::marshal::ReemMarshal;

/// Bytes read from the file at a time at most.
const READ: usize = 1 << 20;

/// A channel of a recording: a topic and how its messages are encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelInfo {
    /// The channel id in the file.
    pub id: u16,
    /// The topic.
    pub topic: String,
    /// `reem-hash` ([`REEM_ENCODING`]), `json`, or another tool's.
    pub message_encoding: String,
    /// The schema's name: the message's `@label` (empty without a schema).
    pub schema_name: String,
    /// The schema's encoding: `reem-schema`, `jsonschema`, ...
    pub schema_encoding: String,
    /// The schema: the stored `@schema` text for `reem-schema`.
    pub schema: Vec<u8>,
}

/// One recorded message.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Its channel (topic, encodings, schema).
    pub channel: Arc<ChannelInfo>,
    /// The publisher's sequence number, modulo 2³².
    pub sequence: u32,
    /// Nanoseconds since the Unix epoch: when the server had it.
    pub log_time: u64,
    /// Nanoseconds since the Unix epoch: when it was published.
    pub publish_time: u64,
    /// The payload (for `reem-hash`: the stored hash, see [`decode_hash`]).
    pub data: Vec<u8>,
}

/// Where and why a file could not be read further.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Bytes of the file read when the damage was found.
    pub offset: u64,
    /// What is wrong (a truncated file: "unexpected end of file").
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.reason)
    }
}

/// Reads an MCAP file record by record (memory bounded by the largest record, at most
/// [`MAX_RECORD`]: chunks are checked against their CRC before any of their messages is
/// handed out). Reading stops at the end of the file, or at the first damage (a truncated
/// file, flipped bytes, an unsupported compression), which [`damage`](Self::damage) then
/// tells; everything before it was read.
pub struct Recording {
    path: PathBuf,
    file: File,
    size: u64,
    reader: LinearReader,
    offset: u64,
    schemas: HashMap<u16, (String, String, Vec<u8>)>,
    channels: HashMap<u16, Arc<ChannelInfo>>,
    finished: bool,
    damage: Option<Damage>,
}

impl Recording {
    /// Opens the file at `path` (an error if it cannot be opened; damage inside is found
    /// while reading).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let file = File::open(&path).map_err(|e| Error::Io {
            context: format!("opening {}", path.display()),
            source: e,
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let options = LinearReaderOptions::default()
            .with_prevalidate_chunk_crcs(true)
            .with_record_length_limit(MAX_RECORD);
        Ok(Recording {
            path,
            file,
            size,
            reader: LinearReader::new_with_options(options),
            offset: 0,
            schemas: HashMap::new(),
            channels: HashMap::new(),
            finished: false,
            damage: None,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Why reading stopped before the end of the file, once it has.
    pub fn damage(&self) -> Option<&Damage> {
        self.damage.as_ref()
    }

    /// The channels met so far.
    pub fn channels(&self) -> impl Iterator<Item = &Arc<ChannelInfo>> {
        self.channels.values()
    }

    fn stop(&mut self, reason: String) {
        self.finished = true;
        self.damage = Some(Damage {
            offset: self.offset,
            reason,
        });
    }

    /// The next message in file order; `None` at the end of the file or at the first
    /// damage (see [`damage`](Self::damage)).
    pub fn next_message(&mut self) -> Option<Recorded> {
        while !self.finished {
            let event = match self.reader.next_event() {
                None => {
                    self.finished = true;
                    return None;
                }
                Some(Err(e)) => {
                    let reason = match e {
                        mcap::McapError::UnexpectedEof => "the file ends in the middle of a \
                             record (truncated, or its writer was stopped before finishing it)"
                            .to_owned(),
                        other => other.to_string(),
                    };
                    self.stop(reason);
                    return None;
                }
                Some(Ok(event)) => event,
            };
            match event {
                LinearReadEvent::ReadRequest(n) => {
                    let buf = self.reader.insert(n.clamp(1, READ));
                    match self.file.read(buf) {
                        Ok(read) => {
                            self.reader.notify_read(read);
                            self.offset += read as u64;
                        }
                        Err(e) => {
                            self.reader.notify_read(0);
                            self.stop(format!("reading failed: {e}"));
                        }
                    }
                }
                LinearReadEvent::Record { data, opcode } => {
                    let record = match mcap::parse_record(opcode, data) {
                        Ok(r) => r,
                        Err(e) => {
                            let reason = format!("a record does not parse: {e}");
                            self.stop(reason);
                            return None;
                        }
                    };
                    match record {
                        Record::Schema { header, data } => {
                            self.schemas.insert(
                                header.id,
                                (header.name, header.encoding, data.into_owned()),
                            );
                        }
                        Record::Channel(c) => {
                            let (name, encoding, schema) =
                                self.schemas.get(&c.schema_id).cloned().unwrap_or_default();
                            self.channels.insert(
                                c.id,
                                Arc::new(ChannelInfo {
                                    id: c.id,
                                    topic: c.topic,
                                    message_encoding: c.message_encoding,
                                    schema_name: name,
                                    schema_encoding: encoding,
                                    schema,
                                }),
                            );
                        }
                        Record::Message { header, data } => {
                            let Some(channel) = self.channels.get(&header.channel_id) else {
                                let reason = format!(
                                    "a message on channel {}, which no channel record defined",
                                    header.channel_id
                                );
                                self.stop(reason);
                                return None;
                            };
                            return Some(Recorded {
                                channel: Arc::clone(channel),
                                sequence: header.sequence,
                                log_time: header.log_time,
                                publish_time: header.publish_time,
                                data: data.into_owned(),
                            });
                        }
                        _ => {}
                    }
                }
            }
        }
        None
    }

    /// The messages of `topic`, decoded as `T` (in file order). Each is checked as a
    /// message read from Redis is: another type, or an incompatible version of `T`, is
    /// [`Error::SchemaMismatch`]; a channel of another encoding (`json`) is refused. The
    /// last item is an error when the file is damaged (everything before it was read).
    /// The [`Recorded`] of each item has its `data` moved into the value (empty).
    pub fn messages<T: ReemMarshal>(&mut self, topic: &str) -> TypedMessages<'_, T> {
        TypedMessages {
            recording: self,
            topic: topic.to_owned(),
            reported: false,
            _type: PhantomData,
        }
    }

    /// Reads the whole file (from where this recording stands) and summarises it.
    pub fn info(mut self) -> Info {
        let mut topics: BTreeMap<(String, u16), TopicInfo> = BTreeMap::new();
        // The lowest and highest sequence number of each channel.
        let mut span: HashMap<u16, (u32, u32)> = HashMap::new();
        let mut messages = 0u64;
        while let Some(m) = self.next_message() {
            messages += 1;
            let t = topics
                .entry((m.channel.topic.clone(), m.channel.id))
                .or_insert_with(|| TopicInfo {
                    topic: m.channel.topic.clone(),
                    label: m.channel.schema_name.clone(),
                    message_encoding: m.channel.message_encoding.clone(),
                    messages: 0,
                    bytes: 0,
                    first: m.log_time,
                    last: m.log_time,
                    gaps: 0,
                });
            t.messages += 1;
            t.bytes += m.data.len() as u64;
            t.first = t.first.min(m.log_time);
            t.last = t.last.max(m.log_time);
            let s = span.entry(m.channel.id).or_insert((m.sequence, m.sequence));
            *s = (s.0.min(m.sequence), s.1.max(m.sequence));
        }
        for ((_, id), t) in topics.iter_mut() {
            if let Some((lo, hi)) = span.get(id) {
                t.gaps = (u64::from(hi - lo) + 1).saturating_sub(t.messages);
            }
        }
        let topics: Vec<TopicInfo> = topics.into_values().collect();
        Info {
            path: self.path.clone(),
            size: self.size,
            messages,
            start: topics.iter().map(|t| t.first).min(),
            end: topics.iter().map(|t| t.last).max(),
            topics,
            damage: self.damage.take(),
        }
    }
}

/// What [`Recording::info`] found.
#[derive(Clone, Debug)]
pub struct Info {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Messages read.
    pub messages: u64,
    /// The first and last log times (ns since the Unix epoch), if any message.
    pub start: Option<u64>,
    /// See `start`.
    pub end: Option<u64>,
    /// Per channel (topic and schema), by topic.
    pub topics: Vec<TopicInfo>,
    /// Where reading stopped before the end, if it did.
    pub damage: Option<Damage>,
}

/// One channel of [`Info`].
#[derive(Clone, Debug)]
pub struct TopicInfo {
    /// The topic.
    pub topic: String,
    /// The schema's name (the message label).
    pub label: String,
    /// The message encoding.
    pub message_encoding: String,
    /// Messages.
    pub messages: u64,
    /// Payload bytes (uncompressed).
    pub bytes: u64,
    /// First log time (ns).
    pub first: u64,
    /// Last log time (ns).
    pub last: u64,
    /// Sequence numbers missing between the lowest and the highest one recorded (with one
    /// publisher on the topic: messages the recording does not have; messages recorded
    /// out of order count once).
    pub gaps: u64,
}

/// The messages of one topic of a [`Recording`], decoded as `T`: see
/// [`Recording::messages`].
pub struct TypedMessages<'r, T> {
    recording: &'r mut Recording,
    topic: String,
    reported: bool,
    _type: PhantomData<fn() -> T>,
}

impl<T: ReemMarshal> Iterator for TypedMessages<'_, T> {
    type Item = Result<(Recorded, T)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some(mut m) = self.recording.next_message() else {
                if self.reported {
                    return None;
                }
                self.reported = true;
                let damage = self.recording.damage.clone()?;
                return Some(Err(Error::Io {
                    context: format!("reading {} {damage}", self.recording.path.display()),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, damage.reason),
                }));
            };
            if m.channel.topic != self.topic {
                continue;
            }
            if m.channel.message_encoding != REEM_ENCODING {
                return Some(Err(Error::SchemaMismatch {
                    key: self.topic.clone(),
                    stored: format!(
                        "messages encoded as {:?} ({} schema {:?})",
                        m.channel.message_encoding,
                        m.channel.schema_encoding,
                        m.channel.schema_name
                    ),
                    expected: T::get_label().into_owned(),
                    reason: format!(
                        "only {REEM_ENCODING} channels (schema encoding {REEM_SCHEMA_ENCODING}) \
                         decode as a Rust type"
                    ),
                }));
            }
            let data = std::mem::take(&mut m.data);
            let decoded = decode_hash(&self.topic, &data)
                .and_then(|reply| T::interpret_read(&self.topic, reply));
            return Some(decoded.map(|value| (m, value)));
        }
    }
}
