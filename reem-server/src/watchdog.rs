//! The watchdog: a tiny `sh` process that is the parent of a private `redis-server` and
//! owns its directory, so that neither outlives the process that started them.
//!
//! The watchdog's stdin is a pipe whose only write end is held by this process (std opens
//! pipes close-on-exec, so no other child inherits it). Commands arrive as lines on it; when
//! this process ends, however it ends (return, `exit`, panic, SIGINT, SIGTERM, SIGKILL, abort),
//! the kernel closes that write end, the watchdog reads end-of-file, kills `redis-server`
//! (SIGKILL, by the PID of its own child, which cannot have been reused since the watchdog has
//! not reaped it), waits for it and removes the directory. The watchdog runs in its own process
//! group, so a Ctrl-C in a terminal (SIGINT to the foreground group) ends only this process,
//! and then the watchdog cleans up after it.
//!
//! Protocol (one reply line per command):
//! - `start`, a count `n`, then `n` lines (program and arguments): starts it in the background
//!   (stopping the previous one first); reply `pid N`.
//! - `kill`: SIGKILL the server and wait for it; reply `killed`.
//! - `alive`: reply `yes` while the server runs, `no` once it has exited.
//! - end of input: SIGKILL the server, wait, `rm -rf` the directory, exit.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::{Error, Result};

const SCRIPT: &str = r#"
dir=$1
pid=
stop() {
  if [ -n "$pid" ]; then
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
  fi
}
finish() {
  stop
  rm -rf "$dir"
  exit 0
}
trap finish HUP INT TERM PIPE
while IFS= read -r cmd; do
  case $cmd in
    start)
      stop
      IFS= read -r n || break
      set --
      while [ "$n" -gt 0 ]; do
        IFS= read -r arg || finish
        set -- "$@" "$arg"
        n=$((n - 1))
      done
      "$@" </dev/null >/dev/null 2>>"$dir/stderr.log" &
      pid=$!
      echo "pid $pid"
      ;;
    kill)
      stop
      echo killed
      ;;
    alive)
      jobs >/dev/null
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo yes; else echo no; fi
      ;;
    *)
      echo "unknown $cmd"
      ;;
  esac
done
finish
"#;

/// The watchdog of one server directory (and of the server running in it, if any).
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
    dir: PathBuf,
}

impl Watchdog {
    /// Starts the watchdog of `dir`: from now on `dir` is removed when this process ends.
    pub(crate) fn spawn(dir: &Path) -> Result<Watchdog> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg("reem-server-watchdog")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| Error::new(format!("cannot run /bin/sh for the watchdog: {e}")))?;
        let (Some(input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
            unreachable!("both pipes were requested")
        };
        Ok(Watchdog {
            child,
            input: Some(input),
            output: BufReader::new(output),
            dir: dir.to_owned(),
        })
    }

    /// The watchdog's own PID.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn request(&mut self, lines: &[&str]) -> Result<String> {
        let dead = |e: std::io::Error| Error::new(format!("the server's watchdog is gone: {e}"));
        let input = self
            .input
            .as_mut()
            .ok_or_else(|| Error::new("the server's watchdog was stopped"))?;
        let mut text = String::new();
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        input.write_all(text.as_bytes()).map_err(dead)?;
        input.flush().map_err(dead)?;
        let mut reply = String::new();
        self.output.read_line(&mut reply).map_err(dead)?;
        if reply.is_empty() {
            return Err(Error::new("the server's watchdog is gone"));
        }
        Ok(reply.trim_end().to_owned())
    }

    /// Starts `argv` (stopping the previous server first); returns its PID.
    pub(crate) fn start(&mut self, argv: &[String]) -> Result<u32> {
        if let Some(bad) = argv.iter().find(|a| a.contains(['\n', '\r'])) {
            return Err(Error::new(format!(
                "redis-server argument {bad:?} contains a line break"
            )));
        }
        let count = argv.len().to_string();
        let mut lines = vec!["start", count.as_str()];
        lines.extend(argv.iter().map(String::as_str));
        let reply = self.request(&lines)?;
        reply
            .strip_prefix("pid ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| Error::new(format!("the server's watchdog said {reply:?}")))
    }

    /// SIGKILL the server and wait for it to be gone.
    pub(crate) fn kill(&mut self) {
        let _ = self.request(&["kill"]);
    }

    /// True while the server process runs.
    pub(crate) fn alive(&mut self) -> bool {
        self.request(&["alive"]).is_ok_and(|r| r == "yes")
    }

    /// Stops the server, removes the directory, and waits for the watchdog to exit.
    pub(crate) fn finish(&mut self) {
        if let Some(input) = self.input.take() {
            // Closing the pipe is the signal; the watchdog exits once it has cleaned up.
            drop(input);
            let _ = self.child.wait();
        }
        if self.dir.exists() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.finish();
    }
}
