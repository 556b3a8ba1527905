//! A private server and its directory never outlive the process that started them, however
//! that process ends. Each test runs `reem-server-child` (src/bin/child.rs), which starts a
//! server (or a cluster), prints its PIDs and directory, and then ends as told; the test
//! checks that every redis-server and watchdog is gone and every directory removed.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long cleanup may take after the starting process ended.
const CLEANUP: Duration = Duration::from_secs(5);

/// One redis-server the child started.
#[derive(Debug)]
struct Started {
    pid: u32,
    watchdog: u32,
    dir: PathBuf,
}

/// The running child and what it started.
struct Run {
    child: Child,
    servers: Vec<Started>,
    /// With `spawn`: the PID of the grandchild that started the servers.
    starter: Option<u32>,
}

fn child_command(what: &str, end: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_reem-server-child"));
    c.args([what, end])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

/// Starts `cmd` and reads its lines up to `ready`.
fn run(mut cmd: Command) -> Run {
    let mut child = cmd.spawn().expect("run reem-server-child");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut servers = Vec::new();
    let mut starter = None;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the child prints `ready`");
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["ready"] => break,
            ["child", pid] => starter = Some(pid.parse().unwrap()),
            ["server", pid, watchdog, dir] => servers.push(Started {
                pid: pid.parse().unwrap(),
                watchdog: watchdog.parse().unwrap(),
                dir: PathBuf::from(dir),
            }),
            _ => panic!("unexpected line {line:?}"),
        }
    }
    assert!(!servers.is_empty());
    for s in &servers {
        assert!(alive(s.pid), "redis-server {} runs", s.pid);
        assert!(alive(s.watchdog), "watchdog {} runs", s.watchdog);
        assert!(s.dir.is_dir(), "{} exists", s.dir.display());
    }
    Run {
        child,
        servers,
        starter,
    }
}

/// True while process `pid` exists (`kill -0`; it sends no signal).
fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn signal(sig: &str, target: &str) {
    let ok = Command::new("kill")
        .args([sig, "--", target])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {target}");
}

/// Waits until every server, watchdog and directory is gone.
fn assert_cleaned(servers: &[Started]) {
    let deadline = Instant::now() + CLEANUP;
    loop {
        let left: Vec<String> = servers
            .iter()
            .flat_map(|s| {
                [
                    alive(s.pid).then(|| format!("redis-server {}", s.pid)),
                    alive(s.watchdog).then(|| format!("watchdog {}", s.watchdog)),
                    s.dir.exists().then(|| format!("dir {}", s.dir.display())),
                ]
            })
            .flatten()
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still there {CLEANUP:?} after the process ended: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Tells the child to go on and end as it was told.
fn go(run: &mut Run) {
    use std::io::Write;
    run.child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
}

fn ended(mut run: Run) -> (ExitStatus, Vec<Started>) {
    let status = run.child.wait().unwrap();
    assert_cleaned(&run.servers);
    (status, run.servers)
}

/// True if this process ignores SIGINT (and so would its children: an ignored signal stays
/// ignored across `exec`). A shell without job control starts background commands so (`cmd &`
/// in a script); SIGINT then cannot end any process it starts, and the SIGINT cases are moot.
fn sigint_ignored() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let ignored = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (2 - 1)) != 0);
    if ignored {
        eprintln!(
            "SIGINT is ignored by this test process (inherited from whatever started it): \
             the SIGINT cases cannot run here; run the tests in the foreground"
        );
    }
    ignored
}

#[test]
fn sigint_to_the_process_alone() {
    if sigint_ignored() {
        return;
    }
    let run = run(child_command("server", "wait"));
    signal("-INT", &run.child.id().to_string());
    let (status, _) = ended(run);
    assert!(!status.success());
}

#[test]
fn ctrl_c_to_the_process_group() {
    // As a terminal's Ctrl-C: SIGINT to the whole foreground group of the child.
    if sigint_ignored() {
        return;
    }
    let mut cmd = child_command("server", "wait");
    cmd.process_group(0);
    let run = run(cmd);
    signal("-INT", &format!("-{}", run.child.id()));
    ended(run);
}

#[test]
fn sigterm() {
    let run = run(child_command("server", "wait"));
    signal("-TERM", &run.child.id().to_string());
    ended(run);
}

#[test]
fn sigkill() {
    let mut run = run(child_command("server", "wait"));
    run.child.kill().unwrap();
    ended(run);
}

#[test]
fn panic() {
    let (status, _) = {
        let mut run = run(child_command("server", "panic"));
        go(&mut run);
        ended(run)
    };
    assert_eq!(status.code(), Some(101));
}

#[test]
fn process_exit() {
    let (status, _) = {
        let mut run = run(child_command("server", "exit"));
        go(&mut run);
        ended(run)
    };
    assert_eq!(status.code(), Some(3));
}

#[test]
fn abort() {
    let (status, _) = {
        let mut run = run(child_command("server", "abort"));
        go(&mut run);
        ended(run)
    };
    assert!(status.code().is_none(), "killed by SIGABRT: {status:?}");
}

#[test]
fn return_from_main() {
    let (status, _) = {
        let mut run = run(child_command("server", "return"));
        go(&mut run);
        ended(run)
    };
    assert!(status.success());
}

#[test]
fn sigkill_of_a_parent_whose_child_started_the_server() {
    let mut run = run(child_command("server", "spawn"));
    let starter = run.starter.expect("the parent names its child");
    run.child.kill().unwrap();
    run.child.wait().unwrap();
    // The server belongs to the process that started it, which still runs.
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(starter));
    for s in &run.servers {
        assert!(
            alive(s.pid) && s.dir.is_dir(),
            "{s:?} lives with its starter"
        );
    }
    signal("-KILL", &starter.to_string());
    assert_cleaned(&run.servers);
}

#[test]
fn sigkill_of_a_process_running_a_cluster() {
    let mut run = run(child_command("cluster", "wait"));
    assert_eq!(run.servers.len(), 6);
    run.child.kill().unwrap();
    ended(run);
}
