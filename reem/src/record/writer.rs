//! [`RecordWriter`]: messages into an MCAP file.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mcap::records::MessageHeader;
use mcap::{Compression, WriteOptions, Writer};

use crate::error::{Error, Result};

/// How a [`RecordWriter`] writes its file.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WriterOptions {
    /// Compress chunks with zstd (default), or not.
    pub compress: bool,
    /// Uncompressed bytes per chunk (default 4 MiB): a larger chunk compresses better; a
    /// writer killed mid-run loses at most the chunk in progress.
    pub chunk_size: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compress: true,
            chunk_size: 4 << 20,
        }
    }
}

/// The file under the MCAP writer, counting the bytes that reached it.
struct Counted {
    file: BufWriter<File>,
    end: Arc<AtomicU64>,
    pos: u64,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.pos += n as u64;
        self.end.fetch_max(self.pos, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Seek for Counted {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.pos = self.file.seek(to)?;
        Ok(self.pos)
    }
}

/// Writes messages into an MCAP file: one channel per topic and schema, one schema record
/// per stored `@schema`, chunked and zstd-compressed. [`finish`](Self::finish) writes the
/// summary (indexes, statistics); a file whose writer was killed before is still readable
/// up to its last complete chunk ([`Recording`](super::Recording)).
///
/// Every error is [`Error::Io`] naming the file: an unwritable path when creating, a full
/// disk on the write that hits it. After an error the file is left as it is (readable up
/// to its last complete chunk).
pub struct RecordWriter {
    path: PathBuf,
    /// `None` once finished or after a write error.
    mcap: Option<Writer<Counted>>,
    /// Bytes that reached the file.
    end: Arc<AtomicU64>,
    /// Schema ids by schema text, then `(name, encoding, id)`; channel ids by topic, then
    /// `(schema id, message encoding, id)`: keyed so that a lookup copies nothing.
    schemas: HashMap<Vec<u8>, Vec<(String, String, u16)>>,
    channels: HashMap<String, Vec<(u16, String, u16)>>,
    messages: u64,
}

impl RecordWriter {
    /// Creates (or truncates) the file at `path`.
    pub fn create(path: impl AsRef<Path>, options: WriterOptions) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let file = File::create(&path).map_err(|e| io(&path, "creating", e))?;
        let end = Arc::new(AtomicU64::new(0));
        let counted = Counted {
            file: BufWriter::with_capacity(1 << 20, file),
            end: Arc::clone(&end),
            pos: 0,
        };
        let opts = WriteOptions::new()
            .compression(options.compress.then_some(Compression::Zstd))
            .chunk_size(Some(options.chunk_size.max(1024)))
            .compression_threads(0)
            // zstd level 1: the fastest, so that the recorder keeps up with large messages.
            .compression_level(1)
            .profile("")
            .library(concat!("reem ", env!("CARGO_PKG_VERSION")));
        let mcap = opts
            .create(counted)
            .map_err(|e| mcap_error(&path, "starting", e))?;
        Ok(RecordWriter {
            path,
            mcap: Some(mcap),
            end,
            schemas: HashMap::new(),
            channels: HashMap::new(),
            messages: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written to the file so far (the chunk in progress not included).
    pub fn bytes_written(&self) -> u64 {
        self.end.load(Ordering::Relaxed)
    }

    /// Messages written so far.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    fn writer(&mut self) -> Result<&mut Writer<Counted>> {
        let path = &self.path;
        self.mcap.as_mut().ok_or_else(|| Error::Io {
            context: format!("writing {}", path.display()),
            source: std::io::Error::other("the recording is finished or failed"),
        })
    }

    /// The channel of `topic` for messages of schema `schema` (named `label`, in
    /// `schema_encoding`) sent as `message_encoding`: added on first use (a schema record,
    /// then a channel record), reused after.
    pub fn channel(
        &mut self,
        topic: &str,
        label: &str,
        schema_encoding: &str,
        schema: &[u8],
        message_encoding: &str,
    ) -> Result<u16> {
        let known = self.schemas.get(schema).and_then(|v| {
            v.iter()
                .find(|(n, e, _)| n == label && e == schema_encoding)
        });
        let schema_id = match known {
            Some(&(_, _, id)) => id,
            None => {
                let id = self
                    .writer()?
                    .add_schema(label, schema_encoding, schema)
                    .map_err(|e| mcap_error(&self.path, "writing a schema to", e));
                let id = self.failed(id)?;
                self.schemas.entry(schema.to_vec()).or_default().push((
                    label.to_owned(),
                    schema_encoding.to_owned(),
                    id,
                ));
                id
            }
        };
        let known = self.channels.get(topic).and_then(|v| {
            v.iter()
                .find(|(s, e, _)| *s == schema_id && e == message_encoding)
        });
        if let Some(&(_, _, id)) = known {
            return Ok(id);
        }
        let id = self
            .writer()?
            .add_channel(schema_id, topic, message_encoding, &BTreeMap::new())
            .map_err(|e| mcap_error(&self.path, "writing a channel to", e));
        let id = self.failed(id)?;
        self.channels.entry(topic.to_owned()).or_default().push((
            schema_id,
            message_encoding.to_owned(),
            id,
        ));
        Ok(id)
    }

    /// Writes one message on `channel`: `sequence` (the publisher's sequence number),
    /// `log_time` and `publish_time` in nanoseconds since the Unix epoch, and its payload.
    pub fn write(
        &mut self,
        channel: u16,
        sequence: u64,
        log_time: u64,
        publish_time: u64,
        payload: &[u8],
    ) -> Result<()> {
        let header = MessageHeader {
            channel_id: channel,
            // MCAP keeps 32 bits; the payload keeps the whole number.
            sequence: sequence as u32,
            log_time,
            publish_time,
        };
        let r = self
            .writer()?
            .write_to_known_channel(&header, payload)
            .map_err(|e| mcap_error(&self.path, "writing", e));
        self.failed(r)?;
        self.messages += 1;
        Ok(())
    }

    /// Ends the chunk in progress and writes it out (compressed), so that a reader sees
    /// every message written so far even if the writer is killed next.
    pub fn flush(&mut self) -> Result<()> {
        let r = self
            .writer()?
            .flush()
            .map_err(|e| mcap_error(&self.path, "writing", e));
        self.failed(r)
    }

    /// Writes the last chunk and the summary, and closes the file.
    pub fn finish(mut self) -> Result<()> {
        let path = self.path.clone();
        let mut mcap = self.mcap.take().ok_or_else(|| Error::Io {
            context: format!("finishing {}", path.display()),
            source: std::io::Error::other("a write had failed"),
        })?;
        mcap.finish()
            .map_err(|e| mcap_error(&path, "finishing", e))?;
        let mut counted = mcap.into_inner();
        counted
            .file
            .flush()
            .and_then(|()| counted.file.get_ref().sync_all())
            .map_err(|e| io(&path, "finishing", e))
    }

    /// After an error the writer is dropped (its file stays as written).
    fn failed<T>(&mut self, r: Result<T>) -> Result<T> {
        if r.is_err() {
            // Its drop tries to finish the file; what it cannot write stays unwritten.
            self.mcap = None;
        }
        r
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        if let Some(mut mcap) = self.mcap.take() {
            let _ = mcap.finish();
        }
    }
}

fn io(path: &Path, doing: &str, e: std::io::Error) -> Error {
    Error::Io {
        context: format!("{doing} {}", path.display()),
        source: e,
    }
}

fn mcap_error(path: &Path, doing: &str, e: mcap::McapError) -> Error {
    match e {
        mcap::McapError::Io(e) => io(path, doing, e),
        other => io(path, doing, std::io::Error::other(other.to_string())),
    }
}
