//! [`Commands`]: the one sink every marshaller writes into.
//!
//! A marshaller is sans-IO: [`write`](super::ReemMarshal::write), [`read`](super::ReemMarshal::read)
//! and [`delete`](super::ReemMarshal::delete) only queue Redis commands here, and the
//! transport decides what they become (one packed MULTI/EXEC on one node, the same bytes
//! routed to a cluster node, an async send). Nothing in reem outside the transport formats
//! RESP, and nothing parses back what it queued: the queued commands stay structured.
//!
//! **Copies.** Small arguments (names, numbers as text) are copied into one buffer as they
//! are queued. Large ones ([`Commands::arg_large`]: array bytes) stay borrowed from the
//! value being written until the transport sends them (one server: straight from where they
//! are, by a vectored write, never copied).

use std::borrow::Cow;
use std::ops::Range;

/// The Redis commands a marshaller queued, in order, with their arguments.
///
/// ```
/// use reem::marshal::Commands;
///
/// let mut out = Commands::new();
/// out.cmd("HSET").arg("lab/temperature").arg("celsius").arg(21.5.to_string());
/// out.cmd("EXPIRE").arg("lab/temperature").arg("60");
/// assert_eq!(out.len(), 2);
/// let first = out.iter().next().unwrap();
/// assert_eq!(first.name(), b"HSET");
/// assert_eq!(first.args().nth(2), Some(&b"21.5"[..]));
/// ```
#[derive(Clone, Default)]
pub struct Commands<'a> {
    /// Every small argument, back to back.
    small: Vec<u8>,
    args: Vec<Arg<'a>>,
    /// Where each command starts in `args`.
    starts: Vec<usize>,
}

#[derive(Clone)]
enum Arg<'a> {
    Small(Range<usize>),
    Large(Cow<'a, [u8]>),
}

impl<'a> Commands<'a> {
    /// No commands yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new command named `name` (`"HSET"`); add its arguments with
    /// [`arg`](Self::arg).
    pub fn cmd(&mut self, name: &str) -> &mut Self {
        self.starts.push(self.args.len());
        self.arg(name)
    }

    /// Appends an argument to the last command, copying it (for names and short values).
    ///
    /// # Panics
    /// If no command was started: a marshaller bug, never caused by data.
    pub fn arg(&mut self, arg: impl AsRef<[u8]>) -> &mut Self {
        assert!(
            !self.starts.is_empty(),
            "Commands::arg before Commands::cmd"
        );
        let start = self.small.len();
        self.small.extend_from_slice(arg.as_ref());
        self.args.push(Arg::Small(start..self.small.len()));
        self
    }

    /// Appends a large argument to the last command without copying it: the transport sends
    /// it from where it is (array bytes, images).
    ///
    /// # Panics
    /// If no command was started.
    pub fn arg_large(&mut self, arg: Cow<'a, [u8]>) -> &mut Self {
        assert!(
            !self.starts.is_empty(),
            "Commands::arg_large before Commands::cmd"
        );
        self.args.push(Arg::Large(arg));
        self
    }

    /// Appends to the last command the arguments of the command at `index`, its first
    /// `skip` arguments left out, without copying any of them again (small ones are shared,
    /// large ones stay borrowed). Used to repeat a message's fields in its history entry.
    pub(crate) fn repeat_args(&mut self, index: usize, skip: usize) {
        let Some(&start) = self.starts.get(index) else {
            return;
        };
        let end = self
            .starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.args.len());
        let from = (start + 1 + skip).min(end);
        let repeated: Vec<Arg<'a>> = self.args[from..end].to_vec();
        self.args.extend(repeated);
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True when nothing was queued.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The commands, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Command<'_>> + '_ {
        (0..self.starts.len()).map(move |i| self.command(i))
    }

    /// The command at `index`.
    pub fn get(&self, index: usize) -> Option<Command<'_>> {
        (index < self.starts.len()).then(|| self.command(index))
    }

    /// The last command, if any.
    pub fn last(&self) -> Option<Command<'_>> {
        self.starts.len().checked_sub(1).map(|i| self.command(i))
    }

    /// Moves every command of `other` to the end of these.
    pub fn append(&mut self, other: Commands<'a>) {
        let (shift, base) = (self.small.len(), self.args.len());
        self.small.extend_from_slice(&other.small);
        self.starts.extend(other.starts.iter().map(|s| s + base));
        self.args.extend(other.args.into_iter().map(|a| match a {
            Arg::Small(r) => Arg::Small(r.start + shift..r.end + shift),
            large => large,
        }));
    }

    /// Total bytes of all arguments (what the commands carry, before any framing).
    pub fn payload_len(&self) -> usize {
        self.args.iter().map(|a| self.bytes(a).len()).sum()
    }

    fn command(&self, i: usize) -> Command<'_> {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.args.len());
        Command {
            commands: self,
            args: &self.args[self.starts[i]..end],
        }
    }

    fn bytes<'s>(&'s self, arg: &'s Arg<'a>) -> &'s [u8] {
        match arg {
            Arg::Small(r) => &self.small[r.clone()],
            Arg::Large(b) => b,
        }
    }
}

impl std::fmt::Debug for Commands<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// One queued command: its name and arguments.
#[derive(Clone, Copy)]
pub struct Command<'c> {
    commands: &'c Commands<'c>,
    args: &'c [Arg<'c>],
}

impl<'c> Command<'c> {
    /// The command's name, as queued (`b"HSET"`).
    pub fn name(&self) -> &'c [u8] {
        self.commands.bytes(&self.args[0])
    }

    /// The arguments after the name.
    pub fn args(&self) -> impl ExactSizeIterator<Item = &'c [u8]> + Clone + 'c {
        let commands = self.commands;
        self.args[1..].iter().map(move |a| commands.bytes(a))
    }

    /// The name and the arguments: what is sent.
    pub fn parts(&self) -> impl ExactSizeIterator<Item = &'c [u8]> + Clone + 'c {
        let commands = self.commands;
        self.args.iter().map(move |a| commands.bytes(a))
    }

    /// True if the name is `name`, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name.as_bytes())
    }
}

impl std::fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for part in self.parts() {
            if part.len() > 64 {
                list.entry(&format_args!("<{} bytes>", part.len()));
            } else {
                list.entry(&String::from_utf8_lossy(part));
            }
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_keep_their_arguments_in_order_and_large_ones_borrowed() {
        let image = vec![7u8; 10_000];
        let mut out = Commands::new();
        out.cmd("UNLINK").arg("k");
        out.cmd("HSET")
            .arg("k")
            .arg("image.arr")
            .arg_large(Cow::Borrowed(&image));
        let mut more = Commands::new();
        more.cmd("PUBLISH").arg("k").arg("x");
        out.append(more);
        let cmds: Vec<Vec<&[u8]>> = out.iter().map(|c| c.parts().collect()).collect();
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![&b"UNLINK"[..], b"k"]);
        assert_eq!(cmds[1][..3], [&b"HSET"[..], b"k", b"image.arr"]);
        assert!(
            std::ptr::eq(cmds[1][3].as_ptr(), image.as_ptr()),
            "not copied"
        );
        assert_eq!(cmds[2], vec![&b"PUBLISH"[..], b"k", b"x"]);
        assert!(out.last().unwrap().is("publish"));
        assert_eq!(out.payload_len(), 6 + 1 + 4 + 1 + 9 + 10_000 + 7 + 1 + 1);
    }
}
