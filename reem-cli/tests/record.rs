//! `reem record`, `reem play`, `reem info` against a private redis-server: nothing lost at
//! full publish rate, replay with the recorded timing, a killed recorder's file, bad output
//! paths, JSON channels, and the file read by another MCAP reader (Python's `mcap`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use reem::record::{Recording, JSON_ENCODING, JSON_SCHEMA_ENCODING, REEM_SCHEMA_ENCODING};
use reem::{Delivery, PublishSpace, RawSubscriber, RedisInterface, ReemMarshal};
use reem_server::RedisServer;

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Pose2")]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Status")]
struct Status {
    n: u64,
    mode: String,
    ranges: Vec<f32>,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Camera")]
struct Camera {
    n: u64,
    image: Vec<u8>,
}

fn pose(i: u64) -> Pose2 {
    Pose2 {
        x: i as f64,
        y: -(i as f64) / 4.0,
        theta: 0.001 * i as f64,
    }
}

fn status(i: u64) -> Status {
    Status {
        n: i,
        mode: format!("mode {}", i % 3),
        ranges: (0..64).map(|k| (i + k) as f32 / 8.0).collect(),
    }
}

/// A 1 MiB image that changes with `i` (compressible, as camera images of a still scene).
fn camera(i: u64) -> Camera {
    Camera {
        n: i,
        image: (0..1 << 20)
            .map(|k: u64| ((k / 64 + i) % 251) as u8)
            .collect(),
    }
}

fn file(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("record-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn reem(server: &RedisServer) -> StdCommand {
    let mut c = StdCommand::new(assert_cmd::cargo::cargo_bin("reem"));
    c.env("REEM_URL", server.url()).env_remove("NO_COLOR");
    c
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut StdCommand) -> Out {
    out(cmd.output().expect("run reem"))
}

/// A finished command's exit code and output (which must not tell of a panic).
fn out(o: std::process::Output) -> Out {
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    out
}

/// Starts `reem record ARGS` in the background.
fn record(server: &RedisServer, args: &[&str]) -> Child {
    let child = reem(server)
        .arg("record")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Time to connect and look at the topics.
    std::thread::sleep(Duration::from_millis(1500));
    child
}

fn signal(child: &Child, sig: &str) {
    let ok = StdCommand::new("kill")
        .arg(sig)
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

fn finish(child: Child) -> Out {
    out(child.wait_with_output().unwrap())
}

fn info_json(server: &RedisServer, path: &Path, code: i32) -> serde_json::Value {
    let out = run(reem(server).arg("info").arg("--json").arg(path));
    assert_eq!(out.code, code, "{}\n{}", out.stdout, out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn topic<'a>(info: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    info["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == name)
        .unwrap_or_else(|| panic!("no topic {name} in {info}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// 2,000 messages on 3 topics (one of 1 MiB images), published as fast as one thread
/// can: the recording holds every one (sequence numbers contiguous), and playing it makes
/// a subscriber see the same values, in the same order, at the recorded pace.
#[test]
fn every_message_is_recorded_at_full_rate_and_played_back_in_time() {
    let server = RedisServer::start().unwrap();
    let iface = RedisInterface::new(&server.url()).unwrap();
    let pubs = PublishSpace::new(&iface).with_history(2000);
    // The topics exist (with their history) before the recorder starts.
    pubs.publish("robot/pose", &pose(0)).unwrap();
    pubs.publish("robot/status", &status(0)).unwrap();
    pubs.publish("robot/camera", &camera(0)).unwrap();
    let path = file("full-rate.mcap");
    let path_s = path.to_str().unwrap();
    let recorder = record(
        &server,
        &["-o", path_s, "robot/pose", "robot/status", "robot/camera"],
    );
    let (mut poses, mut statuses, mut cameras) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    for i in 1..=2000u64 {
        match i % 10 {
            0 => {
                cameras += 1;
                pubs.publish("robot/camera", &camera(cameras)).unwrap();
            }
            1..=3 => {
                statuses += 1;
                pubs.publish("robot/status", &status(statuses)).unwrap();
            }
            _ => {
                poses += 1;
                pubs.publish("robot/pose", &pose(poses)).unwrap();
            }
        }
    }
    let publish_secs = started.elapsed().as_secs_f64();
    assert_eq!((poses, statuses, cameras), (1200, 600, 200));
    std::thread::sleep(Duration::from_secs(3));
    signal(&recorder, "-TERM");
    let out = finish(recorder);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("recorded 2000 messages"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("missed"), "{}", out.stderr);
    eprintln!(
        "published 2000 messages in {publish_secs:.2} s ({:.0}/s, {:.0} MB/s); {}",
        2000.0 / publish_secs,
        200.0 * 1.048576 / publish_secs,
        out.stderr.trim()
    );

    // `reem info`: all of them, no gap.
    let info = info_json(&server, &path, 0);
    assert_eq!(info["messages"], 2000, "{info}");
    for (name, count, label) in [
        ("robot/pose", 1200, "test.Pose2"),
        ("robot/status", 600, "test.Status"),
        ("robot/camera", 200, "test.Camera"),
    ] {
        let t = topic(&info, name);
        assert_eq!(t["count"], count, "{t}");
        assert_eq!(t["type"], label, "{t}");
        assert_eq!(t["sequence_gaps"], 0, "{t}");
    }
    let size = std::fs::metadata(&path).unwrap().len();
    eprintln!(
        "file {size} bytes: {:.0} bytes per 1 MiB camera message at most (zstd)",
        size as f64 / 200.0
    );
    assert!(size < 200 << 20, "compressed: {size}");

    // The library reads the same values, in order, with contiguous sequence numbers.
    let mut rec = Recording::open(&path).unwrap();
    let mut expected = 1;
    let mut log_times = Vec::new();
    for m in rec.messages::<Pose2>("robot/pose") {
        let (at, p) = m.unwrap();
        assert_eq!(p, pose(expected));
        assert_eq!(at.sequence as u64, expected + 1); // the publish of pose(0) was number 1
        assert_eq!(at.channel.schema_encoding, REEM_SCHEMA_ENCODING);
        log_times.push(at.log_time);
        expected += 1;
    }
    assert_eq!(expected, 1201);
    assert!(rec.damage().is_none());
    let cams: Vec<u64> = Recording::open(&path)
        .unwrap()
        .messages::<Camera>("robot/camera")
        .map(|m| {
            let (_, c) = m.unwrap();
            assert_eq!(c, camera(c.n));
            c.n
        })
        .collect();
    assert_eq!(cams, (1..=200).collect::<Vec<_>>());

    // Play: a subscriber sees the same poses, in order, at the recorded pace.
    let sub_iface = RedisInterface::new(&server.url()).unwrap();
    let mut sub =
        RawSubscriber::<Pose2>::with_delivery(&sub_iface, "robot/pose", Delivery::Queue(5000))
            .unwrap();
    sub.listen().unwrap();
    while sub.try_recv().is_some() {}
    let (tx, rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        while got.len() < 1200 {
            match sub.recv_timeout(Duration::from_secs(20)).unwrap() {
                Some(p) => got.push((Instant::now(), (*p).clone())),
                None => break,
            }
        }
        tx.send(got).unwrap();
    });
    let out = run(reem(&server).arg("play").arg(&path));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("played 2000 messages"),
        "{}",
        out.stderr
    );
    let got = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    receiver.join().unwrap();
    let values: Vec<Pose2> = got.iter().map(|(_, p)| p.clone()).collect();
    assert_eq!(values, (1..=1200).map(pose).collect::<Vec<_>>());
    // Inter-arrival times: recorded vs seen by the subscriber.
    let recorded: Vec<f64> = log_times
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1e6)
        .collect();
    let seen: Vec<f64> = got
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0).as_secs_f64() * 1e3)
        .collect();
    let diffs: Vec<f64> = recorded
        .iter()
        .zip(&seen)
        .map(|(r, s)| (r - s).abs())
        .collect();
    let off = median(diffs);
    eprintln!(
        "inter-arrival: recorded median {:.3} ms, replayed median {:.3} ms, median difference {off:.3} ms",
        median(recorded),
        median(seen)
    );
    assert!(off <= 5.0, "median inter-arrival difference {off} ms");
}

/// The recorder killed with SIGKILL: its file is read up to its last complete chunk.
#[test]
fn a_killed_recorder_leaves_a_file_read_up_to_its_last_chunk() {
    let server = RedisServer::start().unwrap();
    let iface = RedisInterface::new(&server.url()).unwrap();
    let pubs = PublishSpace::new(&iface).with_history(1000);
    pubs.publish("robot/pose", &pose(0)).unwrap();
    let path = file("killed.mcap");
    let recorder = record(&server, &["-o", path.to_str().unwrap(), "robot/pose"]);
    // About 5 s of 200 Hz: chunks are written out every 2 s.
    let mut i = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        i += 1;
        pubs.publish("robot/pose", &pose(i)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&recorder, "-KILL");
    let out = finish(recorder);
    assert_eq!(out.code, -1, "killed by a signal");
    let info = info_json(&server, &path, 8);
    let n = info["messages"].as_u64().unwrap();
    assert!(n >= 200 && n < i, "{n} of {i} messages read: {info}");
    assert!(info["damage"]["offset"].as_u64().unwrap() > 0, "{info}");
    // The table says where it stops, and the exit status says it is damaged.
    let out = run(reem(&server).arg("info").arg(&path));
    assert_eq!(out.code, 8);
    assert!(out.stdout.contains("Damage:    at byte"), "{}", out.stdout);
    assert!(out.stderr.contains("is damaged at byte"), "{}", out.stderr);
    // Every message before the damage is there, in order.
    let mut rec = Recording::open(&path).unwrap();
    let read: Vec<_> = rec.messages::<Pose2>("robot/pose").collect();
    let (last, ok) = read.split_last().unwrap();
    assert!(last.is_err(), "the damage is the last item");
    for (k, m) in ok.iter().enumerate() {
        assert_eq!(m.as_ref().unwrap().1, pose(k as u64 + 1));
    }
    // Play publishes what is there and says where it stops.
    let out = run(reem(&server).args(["play", "--rate", "100"]).arg(&path));
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("played {n} messages")),
        "{}",
        out.stderr
    );
}

#[test]
fn an_unwritable_output_is_a_clear_error() {
    let server = RedisServer::start().unwrap();
    let out = run(reem(&server).args([
        "record",
        "-o",
        "/nonexistent-dir/run.mcap",
        "robot/pose",
        "--duration",
        "1",
    ]));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("creating /nonexistent-dir/run.mcap")
            && out.stderr.contains("No such file or directory"),
        "{}",
        out.stderr
    );
    // A full disk: /dev/full refuses every write.
    let iface = RedisInterface::new(&server.url()).unwrap();
    let pubs = PublishSpace::new(&iface).with_history(100);
    pubs.publish("robot/pose", &pose(0)).unwrap();
    let mut recorder = reem(&server)
        .args(["record", "-o", "/dev/full", "robot/pose", "--duration", "3"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for i in 1..=200 {
        pubs.publish("robot/pose", &pose(i)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = recorder.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(recorder.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn json_channels_carry_the_fields_and_a_json_schema() {
    let server = RedisServer::start().unwrap();
    let iface = RedisInterface::new(&server.url()).unwrap();
    let pubs = PublishSpace::new(&iface);
    let path = file("json.mcap");
    let recorder = record(
        &server,
        &[
            "-o",
            path.to_str().unwrap(),
            "--encoding",
            "json",
            "robot/status",
            "robot/camera",
        ],
    );
    for i in 1..=20 {
        pubs.publish("robot/status", &status(i)).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let small = Camera {
        n: 1,
        image: vec![0, 1, 2, 255],
    };
    pubs.publish("robot/camera", &small).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    signal(&recorder, "-INT");
    let out = finish(recorder);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut rec = Recording::open(&path).unwrap();
    let (mut n, mut cameras) = (0, 0);
    while let Some(m) = rec.next_message() {
        assert_eq!(m.channel.message_encoding, JSON_ENCODING);
        assert_eq!(m.channel.schema_encoding, JSON_SCHEMA_ENCODING);
        let v: serde_json::Value = serde_json::from_slice(&m.data).unwrap();
        let schema: serde_json::Value = serde_json::from_slice(&m.channel.schema).unwrap();
        if m.channel.topic == "robot/camera" {
            cameras += 1;
            assert_eq!(v["n"], 1);
            assert_eq!(v["image"], "AAEC/w==", "bytes as base64: {v}");
            assert_eq!(schema["properties"]["image"]["contentEncoding"], "base64");
        } else {
            n += 1;
            assert_eq!(v["n"], n);
            assert_eq!(v["mode"], format!("mode {}", n % 3));
            assert_eq!(v["ranges"].as_array().unwrap().len(), 64);
            assert_eq!(v["ranges"][3], (n + 3) as f64 / 8.0);
            assert_eq!(schema["properties"]["ranges"]["type"], "array");
            assert_eq!(schema["title"], "test.Status");
        }
    }
    assert_eq!((n, cameras), (20, 1));
    // A JSON channel does not decode as a Rust type.
    let mut rec = Recording::open(&path).unwrap();
    let first = rec.messages::<Status>("robot/status").next().unwrap();
    assert!(
        matches!(first, Err(reem::Error::SchemaMismatch { .. })),
        "{first:?}"
    );
}

/// Python's `mcap` package (from PyPI, in a venv made by `scripts/mcap-env.sh`) reads the
/// file: channel names, schema records, message counts and one decoded message match.
#[test]
fn python_mcap_reads_the_recording() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let env = StdCommand::new(root.join("scripts/mcap-env.sh"))
        .output()
        .expect("run scripts/mcap-env.sh");
    assert!(
        env.status.success(),
        "Python with the mcap package could not be set up: {}",
        String::from_utf8_lossy(&env.stderr).trim()
    );
    let python = String::from_utf8(env.stdout).unwrap().trim().to_owned();

    let server = RedisServer::start().unwrap();
    let iface = RedisInterface::new(&server.url()).unwrap();
    let pubs = PublishSpace::new(&iface).with_history(100);
    pubs.publish("robot/pose", &pose(0)).unwrap();
    pubs.publish("robot/status", &status(0)).unwrap();
    let path = file("python.mcap");
    let recorder = record(
        &server,
        &["-o", path.to_str().unwrap(), "robot/pose", "robot/status"],
    );
    for i in 1..=30 {
        pubs.publish("robot/pose", &pose(i)).unwrap();
        if i.is_multiple_of(3) {
            pubs.publish("robot/status", &status(i)).unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(&recorder, "-TERM");
    assert_eq!(finish(recorder).code, 0);

    let out = run(StdCommand::new(&python)
        .arg(root.join("scripts/mcap_check.py"))
        .arg(&path));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let seen: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(seen["counts"]["robot/pose"], 30, "{seen}");
    assert_eq!(seen["counts"]["robot/status"], 10, "{seen}");
    assert_eq!(seen["encodings"]["robot/pose"], "reem-hash");
    assert_eq!(seen["schemas"]["test.Pose2"]["encoding"], "reem-schema");
    let schema: serde_json::Value =
        serde_json::from_str(seen["schemas"]["test.Pose2"]["data"].as_str().unwrap()).unwrap();
    assert_eq!(schema["label"], "test.Pose2");
    assert_eq!(schema["fields"][2]["name"], "theta");
    // The first pose, decoded by Python from the payload alone.
    let first = &seen["first"]["robot/pose"];
    assert_eq!(first["@label"], "test.Pose2");
    assert_eq!(first["x"], "1.0");
    assert_eq!(first["y"], "-0.25");
    assert_eq!(first["@seq"], "2");
}

/// Messages published at an uneven pace (2–30 ms apart) are played back at that pace:
/// the median difference between recorded and replayed intervals is within 5 ms, and
/// `--rate 2` plays twice as fast; `--topics`, `--remap` and `--start` choose what is played.
#[test]
fn play_keeps_the_recorded_pace() {
    let server = RedisServer::start().unwrap();
    let iface = RedisInterface::new(&server.url()).unwrap();
    let pubs = PublishSpace::new(&iface).with_history(1000);
    pubs.publish("robot/pose", &pose(0)).unwrap();
    pubs.publish("robot/other", &pose(0)).unwrap();
    let path = file("paced.mcap");
    let recorder = record(
        &server,
        &["-o", path.to_str().unwrap(), "robot/pose", "robot/other"],
    );
    let mut rng = 12345u64;
    for i in 1..=100 {
        pubs.publish("robot/pose", &pose(i)).unwrap();
        pubs.publish("robot/other", &pose(i)).unwrap();
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(2 + (rng >> 33) % 29));
    }
    std::thread::sleep(Duration::from_millis(500));
    signal(&recorder, "-TERM");
    assert_eq!(finish(recorder).code, 0);
    let recorded: Vec<u64> = Recording::open(&path)
        .unwrap()
        .messages::<Pose2>("robot/pose")
        .map(|m| m.unwrap().0.log_time)
        .collect();
    assert_eq!(recorded.len(), 100);

    let play = |rate: &str, extra: &[&str]| {
        let sub_iface = RedisInterface::new(&server.url()).unwrap();
        let mut sub =
            RawSubscriber::<Pose2>::with_delivery(&sub_iface, "replay/pose", Delivery::Queue(500))
                .unwrap();
        sub.listen().unwrap();
        while sub.try_recv().is_some() {}
        let mut other =
            RawSubscriber::<Pose2>::with_delivery(&sub_iface, "robot/other", Delivery::Queue(500))
                .unwrap();
        other.listen().unwrap();
        while other.try_recv().is_some() {}
        let receiver = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(p) = sub.recv_timeout(Duration::from_secs(5)).unwrap() {
                got.push((Instant::now(), p.x as u64));
            }
            got
        });
        let out = run(reem(&server)
            .args(["play", "--rate", rate, "--topics", "robot/pose", "--remap"])
            .arg("robot/pose:=replay/pose")
            .args(extra)
            .arg(&path));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let got = receiver.join().unwrap();
        assert!(other.try_recv().is_none(), "--topics left robot/other out");
        got
    };
    let rate: f64 = 1.0;
    let got = play("1", &[]);
    assert_eq!(
        got.iter().map(|g| g.1).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<_>>()
    );
    let diffs: Vec<f64> = recorded
        .windows(2)
        .zip(got.windows(2))
        .map(|(r, g)| {
            let r = (r[1] - r[0]) as f64 / 1e6 / rate;
            let g = g[1].0.duration_since(g[0].0).as_secs_f64() * 1e3;
            (r - g).abs()
        })
        .collect();
    let off = median(diffs);
    eprintln!("paced replay: median inter-arrival difference {off:.3} ms");
    assert!(off <= 5.0, "{off} ms");
    let span = |g: &[(Instant, u64)]| g.last().unwrap().0.duration_since(g[0].0).as_secs_f64();
    let recorded_span = (recorded[99] - recorded[0]) as f64 / 1e9;
    let twice = play("2", &[]);
    assert_eq!(twice.len(), 100);
    let ratio = span(&twice) / recorded_span;
    assert!(
        (0.4..0.65).contains(&ratio),
        "--rate 2 took {ratio} of the time"
    );
    // --start skips the first part of the recording.
    let later = play("4", &["--start", &format!("{}", recorded_span / 2.0)]);
    assert!(!later.is_empty() && later.len() < 80, "{}", later.len());
    assert_eq!(later.last().unwrap().1, 100);
}

/// `--all` records the topics stored at start and the ones that appear later, with or
/// without history; `--duration` stops the recorder by itself.
#[test]
fn all_records_every_topic_including_new_ones() {
    let server = RedisServer::start().unwrap();
    let iface = RedisInterface::new(&server.url()).unwrap();
    let with = PublishSpace::new(&iface).with_history(500);
    let without = PublishSpace::new(&iface);
    with.publish("robot/a", &pose(0)).unwrap();
    without.publish("robot/b", &pose(0)).unwrap();
    // Not topics: a plain hash and a string.
    iface
        .raw_query(redis::cmd("HSET").arg("plain").arg("f").arg("v"))
        .unwrap();
    iface
        .raw_query(redis::cmd("SET").arg("s").arg("v"))
        .unwrap();
    let path = file("all.mcap");
    let recorder = record(
        &server,
        &["-o", path.to_str().unwrap(), "--all", "--duration", "5"],
    );
    for i in 1..=50 {
        with.publish("robot/a", &pose(i)).unwrap();
        without.publish("robot/b", &pose(i)).unwrap();
        // A topic that appears after the start, with history: all of it is recorded.
        with.publish("robot/c", &status(i)).unwrap();
        std::thread::sleep(Duration::from_millis(4));
    }
    let out = finish(recorder);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("stopped by --duration"),
        "{}",
        out.stderr
    );
    let info = info_json(&server, &path, 0);
    assert_eq!(topic(&info, "robot/a")["count"], 50, "{info}");
    assert_eq!(topic(&info, "robot/b")["count"], 50, "{info}");
    assert_eq!(topic(&info, "robot/c")["count"], 50, "{info}");
    assert_eq!(info["topics"].as_array().unwrap().len(), 3, "{info}");
}

/// `--max-size` stops the recording once the file is that large (within one chunk).
#[test]
fn max_size_stops_the_recording() {
    let server = RedisServer::start().unwrap();
    let iface = RedisInterface::new(&server.url()).unwrap();
    let pubs = PublishSpace::new(&iface).with_history(100);
    pubs.publish("robot/camera", &camera(0)).unwrap();
    let path = file("max-size.mcap");
    let mut recorder = reem(&server)
        .args(["record", "--max-size", "2", "--no-compression", "-o"])
        .arg(&path)
        .arg("robot/camera")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut i = 0;
    let started = Instant::now();
    while recorder.try_wait().unwrap().is_none() && started.elapsed() < Duration::from_secs(20) {
        i += 1;
        pubs.publish("robot/camera", &camera(i)).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = finish(recorder);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("stopped by --max-size"),
        "{}",
        out.stderr
    );
    let size = std::fs::metadata(&path).unwrap().len();
    // 2 MB, plus at most one chunk (4 MiB) and the summary.
    assert!((2_000_000..2_000_000 + (5 << 20)).contains(&size), "{size}");
    let info = info_json(&server, &path, 0);
    assert!(info["messages"].as_u64().unwrap() >= 2, "{info}");
}

/// On a Redis Cluster: the history streams are read on each topic's master.
#[test]
fn records_from_a_cluster() {
    let cluster = reem_server::RedisCluster::start().unwrap();
    let url = cluster.urls().join(",");
    let iface = RedisInterface::cluster(&cluster.urls()).unwrap();
    let pubs = PublishSpace::new(&iface).with_history(1000);
    let topics = ["robot/pose", "robot/scan", "{fleet}/pose"];
    for t in topics {
        pubs.publish(t, &pose(0)).unwrap();
    }
    let path = file("cluster.mcap");
    let recorder = StdCommand::new(assert_cmd::cargo::cargo_bin("reem"))
        .args(["--url", &url, "record", "-o"])
        .arg(&path)
        .args(topics)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    for i in 1..=300 {
        for t in topics {
            pubs.publish(t, &pose(i)).unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(1000));
    signal(&recorder, "-TERM");
    assert_eq!(finish(recorder).code, 0);
    let mut rec = Recording::open(&path).unwrap();
    let info_counts: Vec<u64> = {
        let info = Recording::open(&path).unwrap().info();
        topics
            .iter()
            .map(|t| {
                info.topics
                    .iter()
                    .find(|x| x.topic == *t)
                    .map_or(0, |x| x.messages)
            })
            .collect()
    };
    assert_eq!(info_counts, vec![300, 300, 300]);
    let poses: Vec<Pose2> = rec
        .messages::<Pose2>("{fleet}/pose")
        .map(|m| m.unwrap().1)
        .collect();
    assert_eq!(poses, (1..=300).map(pose).collect::<Vec<_>>());
}

/// A topic named on the command line that has no history yet is subscribed; when its
/// history appears the recorder reads it, and what the subscriber missed (large messages
/// replaced at the key before they were read) is recorded from it: nothing lost, nothing
/// twice.
#[test]
fn a_history_that_appears_later_is_used_and_nothing_is_lost() {
    let server = RedisServer::start().unwrap();
    let iface = RedisInterface::new(&server.url()).unwrap();
    let path = file("appears.mcap");
    let recorder = record(&server, &["-o", path.to_str().unwrap(), "robot/camera"]);
    let pubs = PublishSpace::new(&iface).with_history(1000);
    for i in 1..=150 {
        pubs.publish("robot/camera", &camera(i)).unwrap();
    }
    std::thread::sleep(Duration::from_secs(3));
    signal(&recorder, "-TERM");
    let out = finish(recorder);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("missed"), "{}", out.stderr);
    let mut ns: Vec<u64> = Recording::open(&path)
        .unwrap()
        .messages::<Camera>("robot/camera")
        .map(|m| m.unwrap().1.n)
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, (1..=150).collect::<Vec<_>>());
}

/// Redis going away ends the recording with an error, and the file is finished: `info`
/// reads it to the end.
#[test]
fn a_redis_failure_ends_the_recording_with_a_finished_file() {
    let mut server = RedisServer::start().unwrap();
    let iface = RedisInterface::new(&server.url()).unwrap();
    let pubs = PublishSpace::new(&iface).with_history(1000);
    pubs.publish("robot/pose", &pose(0)).unwrap();
    let path = file("redis-gone.mcap");
    let recorder = record(&server, &["-o", path.to_str().unwrap(), "robot/pose"]);
    for i in 1..=100 {
        pubs.publish("robot/pose", &pose(i)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    server.kill();
    let out = finish(recorder);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("recording stopped by an error")
            && out.stderr.contains("holds what was recorded before it"),
        "{}",
        out.stderr
    );
    let info = Recording::open(&path).unwrap().info();
    assert!(info.damage.is_none(), "{:?}", info.damage);
    assert_eq!(info.messages, 100);
}
