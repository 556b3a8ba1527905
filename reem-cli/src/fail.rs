//! Why a command failed, and the exit status that tells a script (see `EXIT_STATUS` in
//! `args.rs`).

use std::io;
use std::process::ExitCode;

/// The exit statuses scripts can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Nothing to report: the reader of the output went away (`| head`).
    Quiet = 0,
    /// Redis could not be reached or failed.
    Redis = 1,
    /// Bad command line or URL.
    Usage = 2,
    /// The key or the field does not exist.
    NotFound = 3,
    /// The key does not hold a readable reem message.
    NotReem = 4,
    /// `set` refused a value.
    Refused = 5,
    /// `set` found the message changed while it wrote.
    Changed = 6,
    /// No message within the timeout.
    Timeout = 7,
    /// A recording is damaged (`info`, `play`).
    Damaged = 8,
}

/// A failed command: an exit status and a one-line message.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub message: String,
}

pub type Result<T = ()> = std::result::Result<T, Failure>;

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code as u8)
    }
}

impl From<reem::Error> for Failure {
    fn from(e: reem::Error) -> Self {
        use reem::Error as E;
        let code = match &e {
            E::NotFound { .. } => Code::NotFound,
            E::WrongRedisType { .. }
            | E::SchemaMismatch { .. }
            | E::MissingField { .. }
            | E::InvalidField { .. }
            | E::TooLarge { .. } => Code::NotReem,
            E::Encode { .. } => Code::Refused,
            E::InvalidUrl { .. } => Code::Usage,
            _ => Code::Redis,
        };
        Failure::new(code, one_line(&e.to_string()))
    }
}

impl From<redis::RedisError> for Failure {
    fn from(e: redis::RedisError) -> Self {
        Failure::from(reem::Error::from(e))
    }
}

/// Output errors: a closed pipe ends the program quietly, anything else is reported.
impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::new(Code::Quiet, "")
        } else {
            Failure::new(Code::Redis, format!("cannot write the output: {e}"))
        }
    }
}

/// Error texts from Redis may span lines; a script reads one.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
