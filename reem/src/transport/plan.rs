//! Plans: what an operation sends and what its replies mean, without any I/O.
//!
//! Every operation of the key-value store and of the publisher is a [`Plan`]: it asks for
//! one request at a time ([`Step::Transaction`] or [`Step::Read`], built from the
//! marshallers' [`Commands`]) and turns the replies into its outcome. A face runs a plan on
//! its transport, [`run`] on the blocking [`Transport`] and `aio`'s runner on the async one,
//! so the blocking and async APIs send the same commands and decode the same replies with
//! the same code: only the transport call differs.
//!
//! ```text
//! plan.step(None)          → Step::Read(request)      face: transport.pipeline(key, cmds)
//! plan.step(Some(replies)) → Step::Read(request)      (get_field of another schema version)
//! plan.step(Some(replies)) → Step::Done(Ok(value))
//! ```

use redis::Value;

use super::{Resend, Transport};
use crate::error::{Error, Result};
use crate::marshal::Commands;

/// What a plan asks for next (borrowed from the plan, which keeps the commands).
pub(crate) enum Step<'s, O> {
    /// Run these commands as one `MULTI … EXEC` on the node of their key (a write: never
    /// sent again once it may have reached the server).
    Transaction(Request<'s>),
    /// Send these reads in one round trip to the node of their key (sent again once if the
    /// connection failed).
    Read(Request<'s>),
    /// The operation is over.
    Done(Result<O>),
}

/// One request of a plan: commands about one key.
#[derive(Debug)]
pub(crate) struct Request<'s> {
    /// Where the commands are routed, what errors name.
    pub(crate) key: &'s str,
    pub(crate) cmds: &'s Commands<'s>,
}

/// An operation as a sequence of requests, sans-IO.
pub(crate) trait Plan {
    /// What the operation returns.
    type Output;

    /// The next step: `None` for the first, then the outcome of the request the previous
    /// step asked for (transport errors included, so that a plan may map them).
    fn step(&mut self, replies: Option<Result<Vec<Value>>>) -> Step<'_, Self::Output>;
}

/// Runs `plan` on the blocking `transport`.
pub(crate) fn run<P: Plan>(transport: &dyn Transport, mut plan: P) -> Result<P::Output> {
    let mut replies = None;
    loop {
        replies = Some(match plan.step(replies.take()) {
            Step::Done(outcome) => return outcome,
            Step::Transaction(r) => transport.transaction(r.key, r.cmds),
            Step::Read(r) => transport.pipeline(r.key, r.cmds, Resend::IfLost),
        });
    }
}

/// A plan of one request, whose replies `finish` turns into the outcome.
pub(crate) struct Once<'a, F> {
    key: &'a str,
    atomic: bool,
    cmds: Commands<'a>,
    state: OnceState<F>,
}

enum OnceState<F> {
    /// The commands could not be built: this is the outcome, and nothing is sent.
    Failed(Error),
    Start(F),
    Sent(F),
    Over,
}

impl<'a, F> Once<'a, F> {
    /// `cmds` as one `MULTI … EXEC` (if they could be built: an `Err` is the outcome, and
    /// nothing is sent).
    pub(crate) fn transaction(key: &'a str, cmds: Result<Commands<'a>>, finish: F) -> Self {
        let (cmds, state) = match cmds {
            Ok(cmds) => (cmds, OnceState::Start(finish)),
            Err(e) => (Commands::new(), OnceState::Failed(e)),
        };
        Once {
            key,
            atomic: true,
            cmds,
            state,
        }
    }

    /// `cmds` as reads in one round trip.
    pub(crate) fn read(key: &'a str, cmds: Commands<'a>, finish: F) -> Self {
        Once {
            key,
            atomic: false,
            cmds,
            state: OnceState::Start(finish),
        }
    }
}

impl<O, F> Plan for Once<'_, F>
where
    F: FnOnce(&str, Result<Vec<Value>>) -> Result<O>,
{
    type Output = O;

    fn step(&mut self, replies: Option<Result<Vec<Value>>>) -> Step<'_, O> {
        match (std::mem::replace(&mut self.state, OnceState::Over), replies) {
            (OnceState::Failed(e), None) => Step::Done(Err(e)),
            (OnceState::Start(finish), None) => {
                self.state = OnceState::Sent(finish);
                let request = Request {
                    key: self.key,
                    cmds: &self.cmds,
                };
                if self.atomic {
                    Step::Transaction(request)
                } else {
                    Step::Read(request)
                }
            }
            (OnceState::Sent(finish), Some(replies)) => Step::Done(finish(self.key, replies)),
            _ => Step::Done(Err(misused(self.key))),
        }
    }
}

/// The outcome of a step asked for out of order: a bug in a face, never caused by data.
pub(crate) fn misused(key: &str) -> Error {
    Error::Io {
        context: format!("key {key:?}"),
        source: std::io::Error::other("internal error: a request plan was run out of order"),
    }
}

/// The outcome of a write transaction: its replies are not needed, but an error among them
/// is reported.
pub(crate) fn written(key: &str, replies: Vec<Value>) -> Result<()> {
    match replies.into_iter().find_map(|r| match r {
        Value::ServerError(e) => Some(e),
        _ => None,
    }) {
        Some(e) => Err(Error::from_server_error(key, &e)),
        None => Ok(()),
    }
}

/// The reply of a one-command read (a server error as an [`Error`], `WRONGTYPE` as
/// [`Error::WrongRedisType`]), refused if its values add up to more than `limit` bytes,
/// before anything decodes it.
pub(crate) fn one_reply(key: &str, mut replies: Vec<Value>, limit: u64) -> Result<Value> {
    let reply = replies.pop().unwrap_or(Value::Nil);
    if let Value::ServerError(e) = &reply {
        return Err(Error::from_server_error(key, e));
    }
    fn size(v: &Value) -> u64 {
        match v {
            Value::BulkString(b) => b.len() as u64,
            Value::Array(a) => a.iter().map(size).sum(),
            Value::Map(m) => m.iter().map(|(k, v)| size(k) + size(v)).sum(),
            _ => 0,
        }
    }
    let size = size(&reply);
    if size > limit {
        return Err(Error::TooLarge {
            key: key.to_owned(),
            size,
            limit,
        });
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_that_cannot_build_its_request_sends_nothing() {
        let mut plan = Once::transaction(
            "k",
            Err(Error::NotFound { key: "k".into() }),
            |_: &str, _| Ok(()),
        );
        assert!(matches!(
            plan.step(None),
            Step::Done(Err(Error::NotFound { .. }))
        ));
    }

    #[test]
    fn a_plan_run_out_of_order_is_an_error_not_a_panic() {
        let mut cmds = Commands::new();
        cmds.cmd("GET").arg("k");
        let mut plan = Once::read("k", cmds, |_: &str, r: Result<Vec<Value>>| r);
        assert!(matches!(plan.step(Some(Ok(vec![]))), Step::Done(Err(_))));
        let mut cmds = Commands::new();
        cmds.cmd("GET").arg("k");
        let mut plan = Once::read("k", cmds, |_: &str, r: Result<Vec<Value>>| r);
        assert!(matches!(plan.step(None), Step::Read(_)));
        assert!(
            matches!(plan.step(Some(Ok(vec![Value::Int(1)]))), Step::Done(Ok(v)) if v == [Value::Int(1)])
        );
        assert!(matches!(plan.step(None), Step::Done(Err(_))));
    }

    #[test]
    fn oversized_replies_are_refused_before_decoding() {
        let reply = Value::Map(vec![(
            Value::BulkString(b"f".to_vec()),
            Value::BulkString(vec![0; 100]),
        )]);
        assert!(matches!(
            one_reply("k", vec![reply], 50),
            Err(Error::TooLarge {
                size: 101,
                limit: 50,
                ..
            })
        ));
    }
}
