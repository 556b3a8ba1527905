//! RedisServer: a fresh private directory, only its own process taken for "started", kill and
//! restart, synchronous drop, clear errors, `url_or_start`.

#![cfg(unix)]

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use reem_server::RedisServer;

/// `PING` over `stream`: true on `+PONG`.
fn pong(mut s: impl Read + Write) -> bool {
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok() && s.read(&mut buf).is_ok_and(|n| buf[..n] == *b"+PONG\r\n")
}

fn tcp_pong(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(pong)
}

fn alive(pid: u32) -> bool {
    Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[test]
fn answers_on_tcp_and_on_its_unix_socket() {
    let server = RedisServer::start().unwrap();
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert!(tcp_pong(server.port()));
    assert!(pong(UnixStream::connect(server.socket()).unwrap()));
    assert_eq!(
        server.unix_url(),
        format!("unix://{}", server.socket().display())
    );
    let mut con = redis::Client::open(server.unix_url())
        .unwrap()
        .get_connection()
        .unwrap();
    let info: String = redis::cmd("INFO").arg("server").query(&mut con).unwrap();
    assert!(
        info.contains(&format!("process_id:{}", server.pid().unwrap())),
        "the PID it reports is the server's"
    );
}

#[test]
fn the_directory_is_fresh_and_private() {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    assert_ne!(a.dir(), b.dir());
    for s in [&a, &b] {
        let meta = std::fs::symlink_metadata(s.dir()).unwrap();
        assert!(meta.is_dir());
        assert_eq!(
            meta.permissions().mode() & 0o777,
            0o700,
            "{}",
            s.dir().display()
        );
        assert!(s.dir().starts_with(std::env::temp_dir()));
    }
}

#[test]
fn a_planted_directory_and_log_symlink_are_never_used() {
    // What the old predictable name (reem-redis-PID-SEQ) let another local user prepare: a
    // directory with redis.log pointing at a file of ours, to have the server append to it.
    let victim = tempfile::NamedTempFile::new().unwrap();
    let mut planted = Vec::new();
    for seq in 0..64 {
        let dir = std::env::temp_dir().join(format!("reem-redis-{}-{seq}", std::process::id()));
        if std::fs::create_dir(&dir).is_ok() {
            std::os::unix::fs::symlink(victim.path(), dir.join("redis.log")).unwrap();
            planted.push(dir);
        }
    }
    assert!(!planted.is_empty());
    let server = RedisServer::start().unwrap();
    assert!(!planted.iter().any(|p| p == server.dir()));
    assert!(std::fs::read_to_string(server.dir().join("redis.log"))
        .unwrap()
        .contains("Ready to accept connections"));
    drop(server);
    assert_eq!(
        std::fs::read(victim.path()).unwrap(),
        b"",
        "nothing was written through the symlink"
    );
    for p in planted {
        std::fs::remove_dir_all(p).unwrap();
    }
}

#[test]
fn another_server_on_the_port_is_not_taken_for_ours() {
    let other = RedisServer::start().unwrap();
    let err = RedisServer::builder()
        .port(other.port())
        .start()
        .expect_err("the port is taken: starting must fail, not adopt the other server");
    let text = err.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    assert!(
        text.contains("exited") || text.contains("another"),
        "{text}"
    );
    assert!(tcp_pong(other.port()), "the other server is untouched");
}

#[test]
fn kill_and_restart_keep_port_socket_and_directory() {
    let mut server = RedisServer::start().unwrap();
    let (port, dir, pid) = (
        server.port(),
        server.dir().to_owned(),
        server.pid().unwrap(),
    );
    assert!(server.is_running());
    server.kill();
    assert!(!server.is_running());
    assert_eq!(server.pid(), None);
    assert!(!alive(pid), "SIGKILLed and reaped at once");
    assert!(!tcp_pong(port));
    assert!(dir.is_dir(), "a crash keeps the directory");
    server.restart().unwrap();
    assert!(server.is_running());
    assert_ne!(server.pid(), Some(pid));
    assert_eq!((server.port(), server.dir()), (port, dir.as_path()));
    assert!(tcp_pong(port));
    assert!(pong(UnixStream::connect(server.socket()).unwrap()));
}

#[test]
fn a_server_that_dies_is_seen_as_not_running() {
    let mut server = RedisServer::start().unwrap();
    let pid = server.pid().unwrap().to_string();
    assert!(Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.is_running() {
        assert!(std::time::Instant::now() < deadline, "still running");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn drop_stops_the_server_and_removes_the_directory_before_returning() {
    let server = RedisServer::builder().tcp(false).start().unwrap();
    assert_eq!(server.port(), 0);
    let (pid, watchdog, dir) = (
        server.pid().unwrap(),
        server.watchdog_pid(),
        server.dir().to_owned(),
    );
    assert!(pong(UnixStream::connect(server.socket()).unwrap()));
    drop(server);
    assert!(!dir.exists());
    assert!(!alive(pid));
    assert!(!alive(watchdog), "the watchdog has exited and was reaped");
}

#[test]
fn a_password_does_not_prevent_the_start() {
    let server = RedisServer::builder()
        .args(["--requirepass", "secret"])
        .start()
        .unwrap();
    let mut con = redis::Client::open(format!("redis://:secret@127.0.0.1:{}", server.port()))
        .unwrap()
        .get_connection()
        .unwrap();
    let p: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(p, "PONG");
}

#[test]
fn a_bad_argument_is_a_clear_error_quickly() {
    let t = std::time::Instant::now();
    let err = RedisServer::builder()
        .args(["--no-such-option", "1"])
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("no-such-option"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
}

/// Runs `reem-server-child WHAT return` with `env`; returns (status, stdout, stderr).
fn child(what: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reem-server-child"));
    cmd.args([what, "return"])
        .stdin(Stdio::null())
        .env_remove("REEM_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_missing_redis_server_is_one_clear_line() {
    let (ok, _, stderr) = child(
        "server",
        &[("REEM_REDIS_SERVER", "/nonexistent/redis-server")],
    );
    assert!(!ok);
    let line = stderr
        .lines()
        .find(|l| l.contains("/nonexistent/redis-server"))
        .unwrap_or_else(|| panic!("no line names the program: {stderr}"));
    assert!(
        line.contains("cannot run") && line.contains("REEM_REDIS_SERVER"),
        "{line}"
    );
}

#[test]
fn a_missing_redis_cli_is_one_clear_line() {
    let (ok, out, stderr) = child("cluster", &[("REEM_REDIS_CLI", "no-such-redis-cli")]);
    assert!(!ok);
    assert!(!out.contains("server "), "no node was started: {out}");
    let line = stderr
        .lines()
        .find(|l| l.contains("no-such-redis-cli"))
        .unwrap_or_else(|| panic!("no line names the program: {stderr}"));
    assert!(
        line.contains("cannot run") && line.contains("redis-tools"),
        "{line}"
    );
}

#[test]
fn url_or_start_uses_reem_url_when_it_answers() {
    let server = RedisServer::start().unwrap();
    let (ok, out, _) = child("url", &[("REEM_URL", &server.url())]);
    assert!(ok);
    assert!(
        out.starts_with(&format!("url {} given\n", server.url())),
        "{out}"
    );
    assert!(!out.contains("server "), "nothing started: {out}");
}

#[test]
fn url_or_start_starts_a_private_server_when_reem_url_does_not_answer() {
    let dead = RedisServer::start().unwrap();
    let url = dead.url();
    drop(dead);
    let (ok, out, stderr) = child("url", &[("REEM_URL", &url)]);
    assert!(ok, "{stderr}");
    assert!(
        out.contains(" private\n") && out.contains("\nserver "),
        "{out}"
    );
    assert!(stderr.contains("is not reachable"), "{stderr}");
}
