//! The command line, as clap parses it.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The exit statuses, shown at the end of `--help`.
const EXIT_STATUS: &str = "\
Exit status:
  0  success (also when the output was closed early, e.g. by `| head`)
  1  Redis could not be reached or failed, or `record` could not write its file
  2  bad command line or URL
  3  the key (or the --field asked for) does not exist
  4  the key does not hold a readable reem message: another Redis type, a hash
     without @schema (written by another program), a broken schema or field
  5  `set` refused a value: unknown field, not a scalar, not stored (None), or a
     text that does not fit the field's type; nothing was written
  6  `set` found that the message changed type or lost a field while it wrote;
     nothing was written (read it again and retry)
  7  `echo` or `hz`: no message arrived within --timeout
  8  `info` or `play`: the recording is damaged (truncated, corrupt); everything
     before the damage was read, and where it stops is printed";

/// Lists, reads, edits and watches reem messages in Redis, without their Rust types: every
/// message carries its schema.
#[derive(Debug, Parser)]
#[command(name = "reem", version, after_help = EXIT_STATUS, max_term_width = 100)]
pub struct Cli {
    /// Redis to talk to, e.g. redis://host:6379, redis://user:secret@host:6379/2,
    /// unix:///run/redis.sock; or the seed nodes of a Redis Cluster, separated by commas:
    /// redis://10.0.0.1:7000,redis://10.0.0.2:7000
    #[arg(
        long,
        global = true,
        env = "REEM_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub url: String,

    /// The URL is a seed node of a Redis Cluster (implied when --url lists several)
    #[arg(long, global = true)]
    pub cluster: bool,

    /// When to colour the output
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,

    #[command(subcommand)]
    pub command: Command,
}

/// When to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Only on a terminal, and not when NO_COLOR is set.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List reem messages and topics: label, field count, size in bytes, topic sequence
    /// number. Keys of other programs are left out (--all marks them instead).
    Ls(LsArgs),
    /// Print the message at KEY, decoded with its stored schema.
    Get(GetArgs),
    /// Change scalar fields of the message at KEY, type-checked against its stored schema,
    /// in one atomic step.
    Set(SetArgs),
    /// Print the stored schema of the message at KEY: label, fingerprint, fields and types.
    Schema(SchemaArgs),
    /// Print each message published on TOPIC as it arrives (starting with the stored latest
    /// one, like a reem subscriber).
    Echo(EchoArgs),
    /// Measure the publish rate of TOPIC: rate, and min / max / standard deviation of the
    /// intervals, once a second.
    Hz(HzArgs),
    /// Record topics into an MCAP file (Foxglove Studio, Rerun and `mcap` read it), from
    /// their history when they have one, else as they are published. Ctrl-C stops.
    Record(crate::cmd::record::RecordArgs),
    /// Publish the messages of an MCAP recording again, with their recorded timing.
    Play(crate::cmd::play::PlayArgs),
    /// Summarise an MCAP recording: topics, types, message counts, duration, rates, size.
    Info(crate::cmd::info::InfoArgs),
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Redis glob pattern of the keys to list (`robot/*`)
    #[arg(default_value = "*")]
    pub pattern: String,
    /// Also list keys that are not reem messages, marked with their Redis type
    #[arg(short, long)]
    pub all: bool,
    /// Print a JSON array instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// The key of the message
    pub key: String,
    /// Print JSON (arrays as summaries, or as nested lists with --full)
    #[arg(long)]
    pub json: bool,
    /// Print only this field or group: a dotted path, list elements by index (`path.0.x`)
    #[arg(long, value_name = "PATH")]
    pub field: Option<String>,
    /// Print arrays, long lists and long texts in full instead of summarising them
    #[arg(long)]
    pub full: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The key of the message (it must exist)
    pub key: String,
    /// Assignments such as `x=1.5`, `base.theta=0.2`, `mode=Driving`, `path.0.x=3`
    #[arg(required = true, value_name = "FIELD=VALUE")]
    pub assignments: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The key of the message
    pub key: String,
    /// Print the stored schema as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct EchoArgs {
    /// The topic
    pub topic: String,
    /// Exit after the first message (same as --count 1)
    #[arg(long)]
    pub once: bool,
    /// Exit after this many messages
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Print each message as one line of JSON
    #[arg(long)]
    pub json: bool,
    /// Only messages published from now on, not the stored latest one
    #[arg(long)]
    pub new: bool,
    /// Print arrays, long lists and long texts in full
    #[arg(long)]
    pub full: bool,
    /// Give up (exit 7) if no message arrives for this many seconds
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}

#[derive(Debug, Args)]
pub struct HzArgs {
    /// The topic
    pub topic: String,
    /// Number of most recent intervals the statistics are computed over
    #[arg(long, short, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub window: u32,
    /// Stop after this many reports (one a second)
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Give up (exit 7) if no message arrives for this many seconds
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
}
