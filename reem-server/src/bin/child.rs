//! Test helper of `reem-server` (see `tests/lifecycle.rs`), not a tool.
//!
//! `reem-server-child WHAT END`: starts a private server (`WHAT` = `server`) or cluster
//! (`cluster`), or calls `url_or_start` (`url`: prints `url URL given|private` first), prints one line per redis-server (`server PID WATCHDOG_PID DIR`) and then
//! `ready`, waits for a line (or the end) on stdin, and ends as `END` says:
//! - `wait`: sleeps until a signal ends it;
//! - `return`: returns from `main` (the drops run);
//! - `panic`: panics (the unwinding drops run);
//! - `exit`: `std::process::exit(3)` (no drop runs);
//! - `abort`: `std::process::abort()` (SIGABRT, no drop runs);
//! - `spawn`: starts `reem-server-child WHAT wait` as its own child, passes its lines on, and
//!   waits for it (for killing a parent whose child started the server).

#[cfg(unix)]
fn main() {
    use reem_server::{RedisCluster, RedisServer};
    use std::io::{BufRead, BufReader, Write};

    let args: Vec<String> = std::env::args().skip(1).collect();
    let (what, end) = match args.as_slice() {
        [what, end] => (what.as_str(), end.as_str()),
        _ => {
            eprintln!(
                "usage: reem-server-child server|cluster|url wait|return|panic|exit|abort|spawn"
            );
            std::process::exit(2);
        }
    };
    let mut out = std::io::stdout().lock();
    if end == "spawn" {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([what, "wait"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(out, "child {}", child.id()).unwrap();
        for line in BufReader::new(child.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            writeln!(out, "{line}").unwrap();
            out.flush().unwrap();
            if line == "ready" {
                break;
            }
        }
        let _ = child.wait();
        return;
    }

    let print = |out: &mut std::io::StdoutLock, s: &RedisServer| {
        writeln!(
            out,
            "server {} {} {}",
            s.pid().unwrap(),
            s.watchdog_pid(),
            s.dir().display()
        )
        .unwrap();
    };
    let (_server, _cluster) = match what {
        "server" => {
            let s = RedisServer::start().expect("start a private redis-server");
            print(&mut out, &s);
            (Some(s), None)
        }
        "url" => {
            let (url, s) = reem_server::url_or_start().expect("url_or_start");
            let whose = if s.is_some() { "private" } else { "given" };
            writeln!(out, "url {url} {whose}").unwrap();
            if let Some(s) = &s {
                print(&mut out, s);
            }
            (s, None)
        }
        "cluster" => {
            let c = RedisCluster::start().expect("start a private cluster");
            for n in c.nodes() {
                print(&mut out, n.server());
            }
            (None, Some(c))
        }
        other => panic!("unknown {other:?}"),
    };
    writeln!(out, "ready").unwrap();
    out.flush().unwrap();
    let _ = std::io::stdin().read_line(&mut String::new());
    match end {
        "wait" => loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        },
        "return" => {}
        "panic" => panic!("the child panics, as told"),
        "exit" => std::process::exit(3),
        "abort" => std::process::abort(),
        other => panic!("unknown {other:?}"),
    }
}

#[cfg(not(unix))]
fn main() {}
