//! The `reem` binary against a private redis-server: messages written by reem itself, keys
//! written by other programs, topics published from a thread. The tests taking an `Env` run
//! twice (`on_both!`): on a private redis-server, and on a local Redis Cluster (the binary
//! is given its seed nodes), where `ls` walks the keys of every master.

use std::io::Read;
use std::process::{Command as StdCommand, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use assert_cmd::Command;
use reem::{KeyValueStore, PublishSpace, RedisInterface, ReemMarshal};
use reem_server::{RedisCluster, RedisServer};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, Copy, PartialEq)]
enum Mode {
    Idle,
    Driving,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "robot.Status")]
struct Status {
    stamp: f64,
    seq: u64,
    frame_id: String,
    base: Pose2,
    mode: Mode,
    #[reem(rename = "batt")]
    battery: Option<f32>,
    goal: Option<Pose2>,
    ranges: Vec<f32>,
    path: Vec<Pose2>,
    tags: Vec<String>,
}

fn status() -> Status {
    Status {
        stamp: 12.5,
        seq: 7,
        frame_id: "map".into(),
        base: Pose2 {
            x: 1.5,
            y: -0.25,
            theta: 0.785,
        },
        mode: Mode::Driving,
        battery: Some(0.8),
        goal: None,
        ranges: vec![0.5, 1.0, 4.5],
        path: vec![
            Pose2 {
                x: 0.0,
                y: 0.0,
                theta: 0.0,
            },
            Pose2 {
                x: 2.0,
                y: 1.0,
                theta: 0.5,
            },
        ],
        tags: vec!["lidar".into(), "front".into()],
    }
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Scan {
    stamp: f64,
    ranges: Vec<f32>,
}

/// Generates, for each test function `fn name(env: Env)`, the tests `name::server` and
/// `name::cluster`.
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn server() {
                super::$name(super::Env::start())
            }

            #[test]
            fn cluster() {
                super::$name(super::Env::cluster())
            }
        }
    )+};
}

/// A private server (or the shared cluster), reem on it, and the `reem` binary pointed at it.
struct Env {
    backend: Backend,
    iface: RedisInterface,
    kv: KeyValueStore,
}

enum Backend {
    Server(RedisServer),
    /// The cluster of this test binary, for one test at a time.
    Cluster(
        &'static RedisCluster,
        #[allow(dead_code)] MutexGuard<'static, ()>,
    ),
}

static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

impl Env {
    fn start() -> Self {
        let server = RedisServer::start().expect("start a private redis-server");
        let iface = RedisInterface::new(&server.url()).expect("connect to it");
        let kv = KeyValueStore::new(&iface);
        Env {
            backend: Backend::Server(server),
            iface,
            kv,
        }
    }

    /// The binary's local Redis Cluster (started by the first test that asks), emptied.
    fn cluster() -> Self {
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let cluster =
            CLUSTER.get_or_init(|| RedisCluster::start().expect("start a local Redis Cluster"));
        for m in cluster.masters().unwrap() {
            let mut con = redis::Client::open(cluster.nodes()[m].url())
                .unwrap()
                .get_connection()
                .unwrap();
            redis::cmd("FLUSHALL").exec(&mut con).unwrap();
        }
        let iface = RedisInterface::cluster(&cluster.urls()).expect("connect to it");
        let kv = KeyValueStore::new(&iface);
        Env {
            backend: Backend::Cluster(cluster, turn),
            iface,
            kv,
        }
    }

    /// The URL to give the binary: the server's, or the cluster's seed nodes.
    fn url(&self) -> String {
        match &self.backend {
            Backend::Server(s) => s.url(),
            Backend::Cluster(c, _) => c.urls().join(","),
        }
    }

    /// The binary, talking to the private server (or cluster) only, without colours.
    fn reem(&self) -> Command {
        let mut c = Command::cargo_bin("reem").expect("the reem binary");
        c.env("REEM_URL", self.url())
            .env_remove("NO_COLOR")
            .timeout(Duration::from_secs(30));
        c
    }

    fn raw(&self, cmd: &mut redis::Cmd) {
        self.iface.raw_query(cmd).unwrap();
    }

    /// Writes `pairs` as the hash at `key`, as another program would.
    fn hash(&self, key: &str, pairs: &[(&str, &[u8])]) {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(key);
        for (f, v) in pairs {
            cmd.arg(*f).arg(*v);
        }
        self.raw(&mut cmd);
    }

    fn hget(&self, key: &str, field: &str) -> Option<String> {
        match self
            .iface
            .raw_query(redis::cmd("HGET").arg(key).arg(field))
            .unwrap()
        {
            redis::Value::BulkString(b) => Some(String::from_utf8(b).unwrap()),
            _ => None,
        }
    }

    /// A message whose schema claims one f64 array, with `fields` as its array fields.
    fn array_message(&self, key: &str, fields: &[(&str, &[u8])]) {
        self.kv
            .set(
                key,
                &Scan {
                    stamp: 1.0,
                    ranges: vec![],
                },
            )
            .unwrap();
        self.hash(key, fields);
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Out {
    let o = cmd.output().expect("run reem");
    let out = Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert!(
        !out.stderr.contains("panicked"),
        "reem panicked: {}",
        out.stderr
    );
    out
}

/// Runs `reem ARGS`, expecting exit status `code`.
fn reem(env: &Env, args: &[&str], code: i32) -> Out {
    let out = run(env.reem().args(args));
    assert_eq!(
        out.code, code,
        "reem {args:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout, out.stderr
    );
    out
}

/// The one error line of a failed command.
fn error_line(out: &Out) -> &str {
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        !out.stderr.contains('\x1b'),
        "no colour on a pipe: {:?}",
        out.stderr
    );
    assert_eq!(lines.len(), 1, "one line expected: {:?}", out.stderr);
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    lines[0]
}

/// Publishes `Scan`s on `topic` every `period` until dropped.
struct Publisher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Publisher {
    fn start(env: &Env, topic: &str, period: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let pubs = PublishSpace::new(&env.iface);
        let topic = topic.to_owned();
        let thread = thread::spawn(move || {
            let mut n = 0u64;
            while !flag.load(Ordering::Relaxed) {
                n += 1;
                let scan = Scan {
                    stamp: n as f64,
                    ranges: vec![n as f32, 2.0 * n as f32],
                };
                pubs.publish(&topic, &scan).unwrap();
                thread::sleep(period);
            }
            n
        });
        Publisher {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

on_both!(
    ls_lists_messages_and_topics_with_label_field_count_size_and_seq,
    ls_leaves_out_keys_of_other_programs_and_says_how_many,
    ls_lists_a_message_with_a_broken_schema_with_the_reason_and_keeps_going,
    a_hand_written_marshallers_hash_is_listed_as_custom_but_not_decoded,
    ls_takes_a_glob_pattern,
    ls_walks_many_keys_with_scan,
    ls_json_gives_one_object_per_key,
    ls_shows_hostile_key_names_escaped_on_one_line,
    get_prints_aligned_fields_with_arrays_summarised,
    get_json_nests_the_fields_for_scripts,
    get_field_prints_one_value_or_one_group,
    get_of_a_missing_key_exits_3,
    get_of_a_key_from_another_program_exits_4_naming_what_it_holds,
    get_of_broken_data_exits_4_with_one_line_naming_key_and_field,
    a_huge_array_is_summarised_in_one_line_unless_full,
    an_array_whose_shape_lies_about_its_size_is_an_error_not_an_allocation,
    set_changes_scalar_fields_atomically_and_the_typed_reader_still_reads_them,
    a_message_that_is_one_number_reads_and_sets_as_value,
    set_refuses_text_in_a_number_field_and_writes_nothing,
    set_refuses_values_that_do_not_fit_the_stored_type,
    set_refuses_keys_that_are_not_reem_messages,
    schema_prints_label_fingerprint_fields_and_types,
    echo_once_prints_the_stored_latest_message_at_once,
    echo_prints_messages_published_from_a_thread_as_they_arrive,
    echo_new_waits_for_the_next_publish_and_times_out_with_exit_7,
    echo_reports_messages_it_cannot_read_and_keeps_going,
    hz_reports_the_publish_rate,
    hz_says_no_new_messages_and_gives_up_after_its_timeout,
    control_characters_in_stored_data_never_reach_the_terminal,
    colour_only_when_asked_or_on_a_terminal,
);

// ---- ls ---------------------------------------------------------------------------------

fn ls_lists_messages_and_topics_with_label_field_count_size_and_seq(env: Env) {
    env.kv.set("robot/status", &status()).unwrap();
    env.kv
        .set(
            "robot/pose",
            &Pose2 {
                x: 1.0,
                y: 2.0,
                theta: 0.0,
            },
        )
        .unwrap();
    let pubs = PublishSpace::new(&env.iface);
    for i in 0..3 {
        pubs.publish(
            "scan",
            &Scan {
                stamp: f64::from(i),
                ranges: vec![1.0],
            },
        )
        .unwrap();
    }
    let out = reem(&env, &["ls"], 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    let words = |i: usize| lines[i].split_whitespace().collect::<Vec<_>>();
    assert_eq!(words(0), ["KEY", "KIND", "LABEL", "FIELDS", "BYTES", "SEQ"]);
    let pose = words(1);
    assert_eq!(&pose[..4], ["robot/pose", "message", "Pose2", "3"]);
    assert!(pose[4].parse::<u64>().unwrap() > 0);
    assert_eq!(pose[5], "-");
    // Stored fields as the schema lists them: base.x, base.y, … count one each.
    assert_eq!(
        &words(2)[..4],
        ["robot/status", "message", "robot.Status", "14"]
    );
    let scan = words(3);
    assert_eq!(&scan[..4], ["scan", "topic", "Scan", "2"]);
    assert_eq!(scan[5], "3", "the sequence number of the third publish");
    // The columns line up.
    let col = |l: &str| l.find("message").or_else(|| l.find("topic")).unwrap();
    assert_eq!(col(lines[1]), col(lines[3]));
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

fn ls_leaves_out_keys_of_other_programs_and_says_how_many(env: Env) {
    env.kv
        .set(
            "pose",
            &Pose2 {
                x: 1.0,
                y: 2.0,
                theta: 0.0,
            },
        )
        .unwrap();
    env.raw(redis::cmd("SET").arg("plain-string").arg("hello"));
    env.raw(redis::cmd("RPUSH").arg("a-list").arg("1").arg("2"));
    env.hash("python-hash", &[("x", b"1"), ("y", b"2")]);
    let out = reem(&env, &["ls"], 0);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(out.stdout.contains("pose"));
    assert!(
        out.stderr
            .contains("3 keys that are not reem messages left out"),
        "{}",
        out.stderr
    );

    let out = reem(&env, &["ls", "--all"], 0);
    let kinds: Vec<(String, String)> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[0].to_owned(), w[1].to_owned())
        })
        .collect();
    let expect = [
        ("a-list", "list"),
        ("plain-string", "string"),
        ("pose", "message"),
        ("python-hash", "hash"),
    ];
    assert_eq!(
        kinds,
        expect.map(|(k, t)| (k.to_owned(), t.to_owned())).to_vec()
    );
}

fn ls_lists_a_message_with_a_broken_schema_with_the_reason_and_keeps_going(env: Env) {
    env.hash(
        "bad/schema",
        &[("@label", b"Pose2"), ("@schema", b"{not json"), ("x", b"1")],
    );
    env.hash(
        "bad/fp",
        &[
            ("@label", b"Pose2"),
            ("@fp", b"0123456789abcdef"),
            ("@schema", br#"{"format":1,"label":"Pose2","fields":[]}"#),
        ],
    );
    env.kv
        .set(
            "good",
            &Pose2 {
                x: 1.0,
                y: 2.0,
                theta: 0.0,
            },
        )
        .unwrap();
    let out = reem(&env, &["ls"], 0);
    let line = |key: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} not listed: {}", out.stdout))
            .to_owned()
    };
    let schema = line("bad/schema");
    assert!(
        schema.contains("broken") && schema.contains("@schema"),
        "{schema}"
    );
    let fp = line("bad/fp");
    assert!(fp.contains("broken") && fp.contains("@fp"), "{fp}");
    assert!(line("good").contains("message"));
}

fn a_hand_written_marshallers_hash_is_listed_as_custom_but_not_decoded(env: Env) {
    // What a registered ship stores: its own fields, tagged with its label only.
    env.hash("cam", &[("@label", b"my.Camera"), ("jpeg", b"\xff\xd8")]);
    let out = reem(&env, &["ls"], 0);
    let row: Vec<&str> = out
        .stdout
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..4], ["cam", "custom", "my.Camera", "-"]);
    let out = reem(&env, &["get", "cam"], 4);
    let line = error_line(&out);
    assert!(
        line.contains("\"my.Camera\" written by a hand-written marshaller"),
        "{line}"
    );
}

fn ls_takes_a_glob_pattern(env: Env) {
    let p = Pose2 {
        x: 0.0,
        y: 0.0,
        theta: 0.0,
    };
    for k in ["robot/a", "robot/b", "other/c"] {
        env.kv.set(k, &p).unwrap();
    }
    let out = reem(&env, &["ls", "robot/*"], 0);
    assert!(out.stdout.contains("robot/a") && out.stdout.contains("robot/b"));
    assert!(!out.stdout.contains("other/c"), "{}", out.stdout);
    let none = reem(&env, &["ls", "nothing*"], 0);
    assert!(none.stdout.is_empty());
    assert!(
        none.stderr.contains("no reem message matches"),
        "{}",
        none.stderr
    );
}

fn ls_walks_many_keys_with_scan(env: Env) {
    let p = Pose2 {
        x: 0.0,
        y: 0.0,
        theta: 0.0,
    };
    for i in 0..1200 {
        env.kv.set(&format!("k/{i:04}"), &p).unwrap();
    }
    let out = reem(&env, &["ls"], 0);
    assert_eq!(out.stdout.lines().count(), 1201);
    let keys: Vec<&str> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(keys, sorted, "each key once, sorted");
}

fn ls_json_gives_one_object_per_key(env: Env) {
    env.kv.set("robot/status", &status()).unwrap();
    env.raw(redis::cmd("SET").arg("plain").arg("x"));
    let out = reem(&env, &["ls", "--json", "--all"], 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let items = v.as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["key"], "plain");
    assert_eq!(items[0]["kind"], "string");
    assert_eq!(items[1]["key"], "robot/status");
    assert_eq!(items[1]["label"], "robot.Status");
    assert_eq!(items[1]["fields"], 14);
    assert!(items[1]["bytes"].as_u64().unwrap() > 0);
}

fn ls_shows_hostile_key_names_escaped_on_one_line(env: Env) {
    let p = Pose2 {
        x: 0.0,
        y: 0.0,
        theta: 0.0,
    };
    env.kv.set("two\nlines", &p).unwrap();
    env.raw(redis::cmd("SET").arg(&b"caf\xe9"[..]).arg("x"));
    let out = reem(&env, &["ls", "--all"], 0);
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().take(2).collect())
        .collect();
    assert_eq!(
        rows,
        [[r#""caf\xe9""#, "string"], [r#""two\nlines""#, "message"]],
        "{}",
        out.stdout
    );
}

// ---- get --------------------------------------------------------------------------------

fn get_prints_aligned_fields_with_arrays_summarised(env: Env) {
    env.kv.set("robot/status", &status()).unwrap();
    let out = reem(&env, &["get", "robot/status"], 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("robot/status  robot.Status  schema "),
        "{}",
        lines[0]
    );
    let field = |name: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name}: {}", out.stdout))
            .to_owned()
    };
    let value = |name: &str| field(name).trim_start()[name.len()..].trim().to_owned();
    assert_eq!(value("stamp"), "12.5");
    assert_eq!(value("seq"), "7");
    assert_eq!(value("frame_id"), "\"map\"");
    assert_eq!(value("base.x"), "1.5");
    assert_eq!(value("base.theta"), "0.785");
    assert_eq!(value("mode"), "Driving");
    assert_eq!(value("batt"), "0.8");
    assert_eq!(value("goal"), "None");
    assert_eq!(value("ranges"), "float32 (3,)  min 0.5  max 4.5  mean 2.0");
    assert_eq!(value("path"), "[2 elements]");
    assert_eq!(value("path.1.x"), "2.0");
    assert_eq!(value("tags.0"), "\"lidar\"");
    // Values start in one column.
    let col = |name: &str| field(name).find(&value(name)).unwrap();
    assert_eq!(col("stamp"), col("base.theta"));
    assert_eq!(col("stamp"), col("path.1.theta"));
}

fn get_json_nests_the_fields_for_scripts(env: Env) {
    env.kv.set("robot/status", &status()).unwrap();
    let out = reem(&env, &["get", "robot/status", "--json"], 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["base"]["y"], -0.25);
    assert_eq!(v["batt"], 0.8);
    assert_eq!(v["goal"], serde_json::Value::Null);
    assert_eq!(v["path"][1]["theta"], 0.5);
    assert_eq!(v["tags"], serde_json::json!(["lidar", "front"]));
    assert_eq!(
        v["ranges"],
        serde_json::json!({"dtype": "float32", "shape": [3], "min": 0.5, "max": 4.5, "mean": 2.0})
    );
    let full = reem(&env, &["get", "robot/status", "--json", "--full"], 0);
    let v: serde_json::Value = serde_json::from_str(&full.stdout).unwrap();
    assert_eq!(v["ranges"], serde_json::json!([0.5, 1.0, 4.5]));
}

fn get_field_prints_one_value_or_one_group(env: Env) {
    env.kv.set("robot/status", &status()).unwrap();
    assert_eq!(
        reem(&env, &["get", "robot/status", "--field", "base.x"], 0).stdout,
        "1.5\n"
    );
    assert_eq!(
        reem(&env, &["get", "robot/status", "--field", "frame_id"], 0).stdout,
        "map\n"
    );
    assert_eq!(
        reem(&env, &["get", "robot/status", "--field", "path.1.y"], 0).stdout,
        "1.0\n"
    );
    let group = reem(&env, &["get", "robot/status", "--field", "base"], 0).stdout;
    assert_eq!(
        group,
        "base.x      1.5\nbase.y      -0.25\nbase.theta  0.785\n"
    );
    let json = reem(
        &env,
        &["get", "robot/status", "--field", "base", "--json"],
        0,
    )
    .stdout;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v, serde_json::json!({"x": 1.5, "y": -0.25, "theta": 0.785}));
    let out = reem(&env, &["get", "robot/status", "--field", "base.z"], 3);
    let line = error_line(&out);
    assert!(
        line.contains("robot/status") && line.contains("base.z"),
        "{line}"
    );
}

fn get_of_a_missing_key_exits_3(env: Env) {
    let out = reem(&env, &["get", "nobody/here"], 3);
    assert!(error_line(&out).contains("\"nobody/here\" not found"));
}

fn get_of_a_key_from_another_program_exits_4_naming_what_it_holds(env: Env) {
    env.raw(redis::cmd("SET").arg("plain").arg("hello"));
    env.raw(redis::cmd("RPUSH").arg("queue").arg("a"));
    env.hash("python", &[("x", b"1")]);
    let out = reem(&env, &["get", "plain"], 4);
    assert_eq!(
        error_line(&out),
        "error: key \"plain\" is a Redis string, not a reem message (a hash)"
    );
    let out = reem(&env, &["get", "queue"], 4);
    assert!(error_line(&out).contains("is a Redis list"));
    let out = reem(&env, &["get", "python"], 4);
    assert!(error_line(&out).contains("a hash without @schema"));
}

fn get_of_broken_data_exits_4_with_one_line_naming_key_and_field(env: Env) {
    env.hash(
        "bad/schema",
        &[("@label", b"P"), ("@schema", b"[1, 2"), ("x", b"1")],
    );
    let out = reem(&env, &["get", "bad/schema"], 4);
    let line = error_line(&out);
    assert!(
        line.contains("bad/schema") && line.contains("@schema"),
        "{line}"
    );

    env.kv.set("bad/field", &status()).unwrap();
    env.hash("bad/field", &[("base.x", b"fast")]);
    let out = reem(&env, &["get", "bad/field"], 4);
    let line = error_line(&out);
    assert!(
        line.contains("bad/field") && line.contains("base.x") && line.contains("fast"),
        "{line}"
    );
}

fn a_huge_array_is_summarised_in_one_line_unless_full(env: Env) {
    let n = 1_000_000usize;
    let ranges: Vec<f32> = (0..n).map(|i| i as f32).collect();
    env.kv.set("big", &Scan { stamp: 1.0, ranges }).unwrap();
    let out = reem(&env, &["get", "big"], 0);
    assert!(out.stdout.len() < 300, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("float32 (1000000,)  min 0.0  max 999999.0  mean 499999.5"),
        "{}",
        out.stdout
    );
    let full = reem(&env, &["get", "big", "--full", "--json"], 0);
    let v: serde_json::Value = serde_json::from_str(&full.stdout).unwrap();
    assert_eq!(v["ranges"].as_array().unwrap().len(), n);
}

fn an_array_whose_shape_lies_about_its_size_is_an_error_not_an_allocation(env: Env) {
    env.array_message(
        "liar",
        &[
            ("ranges.shape", b"(1000000000000,)"),
            ("ranges.arr", &[0u8; 16]),
        ],
    );
    for args in [&["get", "liar"][..], &["get", "liar", "--full"]] {
        let out = reem(&env, args, 4);
        let line = error_line(&out);
        assert!(line.contains("liar") && line.contains("ranges"), "{line}");
    }
}

// ---- set --------------------------------------------------------------------------------

fn set_changes_scalar_fields_atomically_and_the_typed_reader_still_reads_them(env: Env) {
    env.kv.set("robot/status", &status()).unwrap();
    let fp = env.hget("robot/status", "@fp");
    let out = reem(
        &env,
        &[
            "set",
            "robot/status",
            "base.x=2.5",
            "mode=Idle",
            "frame_id=odom",
            "batt=0.5",
            "path.1.theta=-1",
            "tags.0=rear",
            "seq=8",
        ],
        0,
    );
    assert!(out.stdout.contains("base.x"), "{}", out.stdout);
    assert!(out.stdout.contains("1.5 → 2.5"), "{}", out.stdout);
    let back: Status = env.kv.get("robot/status").unwrap();
    let mut want = status();
    want.base.x = 2.5;
    want.mode = Mode::Idle;
    want.frame_id = "odom".into();
    want.battery = Some(0.5);
    want.path[1].theta = -1.0;
    want.tags[0] = "rear".into();
    want.seq = 8;
    assert_eq!(back, want);
    assert_eq!(
        env.hget("robot/status", "@fp"),
        fp,
        "the fingerprint is unchanged"
    );
    assert_eq!(
        env.hget("robot/status", "path.1.theta").as_deref(),
        Some("-1.0")
    );
}

fn a_message_that_is_one_number_reads_and_sets_as_value(env: Env) {
    env.kv.set("speed", &2.5f64).unwrap();
    let out = reem(&env, &["get", "speed"], 0);
    assert_eq!(
        out.stdout.lines().nth(1),
        Some("  value  2.5"),
        "{}",
        out.stdout
    );
    assert_eq!(
        reem(&env, &["get", "speed", "--field", "value"], 0).stdout,
        "2.5\n"
    );
    reem(&env, &["set", "speed", "value=-3"], 0);
    assert_eq!(env.kv.get::<f64>("speed").unwrap(), -3.0);
}

fn set_refuses_text_in_a_number_field_and_writes_nothing(env: Env) {
    env.kv.set("robot/status", &status()).unwrap();
    let out = reem(&env, &["set", "robot/status", "base.y=3", "base.x=fast"], 5);
    let line = error_line(&out);
    assert!(
        line.contains("robot/status") && line.contains("base.x") && line.contains("f64"),
        "{line}"
    );
    assert!(line.contains("nothing was written"), "{line}");
    assert_eq!(env.kv.get::<Status>("robot/status").unwrap(), status());
}

fn set_refuses_values_that_do_not_fit_the_stored_type(env: Env) {
    env.kv.set("robot/status", &status()).unwrap();
    for (assignment, why) in [
        ("seq=-1", "fits u64"),
        ("seq=1.5", "fits u64"),
        ("mode=Flying", "Idle"),
        ("batt=1e40", "range of f32"),
        ("nothing=1", "has no field \"nothing\""),
        ("ranges=1", "not a scalar"),
        ("path=1", "not a scalar"),
        ("goal.x=1", "not stored"),
        ("path.5.x=1", "not stored"),
    ] {
        let out = reem(&env, &["set", "robot/status", assignment], 5);
        let line = error_line(&out);
        assert!(line.contains(why), "{assignment}: {line}");
    }
    let out = reem(&env, &["set", "robot/status", "no-equals-sign"], 2);
    assert!(error_line(&out).contains("FIELD=VALUE"));
    assert_eq!(env.kv.get::<Status>("robot/status").unwrap(), status());
}

fn set_refuses_keys_that_are_not_reem_messages(env: Env) {
    env.hash("python", &[("x", b"1")]);
    let out = reem(&env, &["set", "python", "x=2"], 4);
    assert!(error_line(&out).contains("without @schema"));
    assert_eq!(env.hget("python", "x").as_deref(), Some("1"));
    reem(&env, &["set", "missing", "x=2"], 3);
}

// ---- schema -----------------------------------------------------------------------------

fn schema_prints_label_fingerprint_fields_and_types(env: Env) {
    env.kv.set("robot/status", &status()).unwrap();
    let fp = env.hget("robot/status", "@fp").unwrap();
    let out = reem(&env, &["schema", "robot/status"], 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!("robot/status  robot.Status  schema {fp}, format 1, 14 fields")
    );
    let rows: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert!(rows.contains(&vec!["base.theta", "f64"]));
    assert!(rows.contains(&vec!["mode", "enum", "(Idle", "|", "Driving)"]));
    assert!(rows.contains(&vec!["batt", "f32", "optional"]));
    assert!(rows.contains(&vec!["goal.x", "f64", "optional"]));
    assert!(rows.contains(&vec!["ranges", "array", "float32,", "1-D"]));
    assert!(rows.contains(&vec!["path", "list"]));
    assert!(rows.contains(&vec!["path.*.theta", "f64"]));
    assert!(rows.contains(&vec!["tags.*", "string"]));

    let json = reem(&env, &["schema", "robot/status", "--json"], 0).stdout;
    let stored = env.hget("robot/status", "@schema").unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&json).unwrap(),
        serde_json::from_str::<serde_json::Value>(&stored).unwrap()
    );
}

// ---- echo and hz ------------------------------------------------------------------------

fn echo_once_prints_the_stored_latest_message_at_once(env: Env) {
    PublishSpace::new(&env.iface)
        .publish(
            "scan",
            &Scan {
                stamp: 3.0,
                ranges: vec![1.0, 2.0],
            },
        )
        .unwrap();
    let out = reem(&env, &["echo", "scan", "--once", "--timeout", "5"], 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "--- scan  Scan  seq 1");
    assert_eq!(lines[1], "  stamp   3.0");
    assert_eq!(
        lines[2],
        "  ranges  float32 (2,)  min 1.0  max 2.0  mean 1.5"
    );
}

fn echo_prints_messages_published_from_a_thread_as_they_arrive(env: Env) {
    let publisher = Publisher::start(&env, "scan", Duration::from_millis(20));
    let out = reem(
        &env,
        &[
            "echo",
            "scan",
            "--json",
            "--new",
            "--count",
            "5",
            "--timeout",
            "10",
        ],
        0,
    );
    publisher.stop();
    let stamps: Vec<f64> = out
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["ranges"]["dtype"], "float32");
            v["stamp"].as_f64().unwrap()
        })
        .collect();
    assert_eq!(stamps.len(), 5, "{}", out.stdout);
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "in publish order: {stamps:?}"
    );
}

fn echo_new_waits_for_the_next_publish_and_times_out_with_exit_7(env: Env) {
    PublishSpace::new(&env.iface)
        .publish(
            "scan",
            &Scan {
                stamp: 1.0,
                ranges: vec![],
            },
        )
        .unwrap();
    let out = reem(
        &env,
        &["echo", "scan", "--new", "--once", "--timeout", "0.3"],
        7,
    );
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(error_line(&out).contains("topic \"scan\": no message for 0.3 s"));
}

fn echo_reports_messages_it_cannot_read_and_keeps_going(env: Env) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let iface = env.iface.clone();
    let noise = thread::spawn(move || {
        let pubs = PublishSpace::new(&iface);
        let mut n = 0.0;
        while !flag.load(Ordering::Relaxed) {
            n += 1.0;
            let scan = Scan {
                stamp: n,
                ranges: vec![],
            };
            pubs.publish("scan", &scan).unwrap();
            // Sharded on a cluster, like reem's own notifications.
            let publish = if iface.is_cluster() {
                "SPUBLISH"
            } else {
                "PUBLISH"
            };
            iface
                .raw_query(
                    redis::cmd(publish)
                        .arg("scan")
                        .arg("\x1b[2J not a reem notification"),
                )
                .unwrap();
            thread::sleep(Duration::from_millis(20));
        }
    });
    let out = reem(
        &env,
        &[
            "echo",
            "scan",
            "--new",
            "--json",
            "--count",
            "3",
            "--timeout",
            "10",
        ],
        0,
    );
    stop.store(true, Ordering::Relaxed);
    noise.join().unwrap();
    assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);
    assert!(out.stderr.contains("could not be read"), "{}", out.stderr);
    assert!(
        out.stderr.contains("malformed notification"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains('\x1b'), "{}", out.stderr);
}

fn hz_reports_the_publish_rate(env: Env) {
    let publisher = Publisher::start(&env, "scan", Duration::from_millis(20));
    let out = reem(&env, &["hz", "scan", "--count", "2", "--timeout", "5"], 0);
    publisher.stop();
    let rates: Vec<f64> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("average rate: "))
        .map(|r| r.parse().unwrap())
        .collect();
    assert_eq!(rates.len(), 2, "{}", out.stdout);
    // 20 ms between publishes, plus the time a publish takes: ~40–50 Hz.
    assert!(rates.iter().all(|r| (15.0..60.0).contains(r)), "{rates:?}");
    let stats = out.stdout.lines().nth(1).unwrap();
    assert!(
        stats.starts_with("\tmin: 0.0") && stats.contains("std dev:") && stats.contains("window:"),
        "{stats}"
    );
}

fn hz_says_no_new_messages_and_gives_up_after_its_timeout(env: Env) {
    let out = reem(&env, &["hz", "quiet", "--timeout", "1.5"], 7);
    assert!(
        out.stdout.starts_with("no new messages\n"),
        "{}",
        out.stdout
    );
    assert!(error_line(&out).contains("topic \"quiet\": no message for 1.5 s"));
}

// ---- the command line itself ------------------------------------------------------------

fn control_characters_in_stored_data_never_reach_the_terminal(env: Env) {
    let mut s = status();
    s.frame_id = "\x1b[2Jgotcha".into();
    s.tags[0] = "bell\x07".into();
    env.kv.set("robot/status", &s).unwrap();
    let schema = reem::schema::Schema::new(
        "evil\x1b[31m".into(),
        vec![reem::schema::FieldSchema {
            name: "x\x1b[1m".into(),
            ty: reem::schema::FieldType::enum_of(&["A\x1b[5m"]),
            optional: false,
        }],
    );
    env.hash(
        "evil",
        &[
            ("@label", schema.label.as_bytes()),
            ("@fp", schema.fingerprint_hex.as_bytes()),
            ("@schema", schema.json.as_bytes()),
            ("x\x1b[1m", "A\x1b[5m".as_bytes()),
        ],
    );
    for args in [
        &["get", "robot/status"][..],
        &["get", "evil"],
        &["schema", "evil"],
        &["ls"],
        &["set", "evil", "nothing=1"],
    ] {
        let out = run(env.reem().args(args));
        assert!(
            !out.stdout.contains('\x1b') && !out.stdout.contains('\x07'),
            "{args:?}: {:?}",
            out.stdout
        );
        assert!(!out.stderr.contains('\x1b'), "{args:?}: {:?}", out.stderr);
    }
    let get = reem(&env, &["get", "evil"], 0);
    assert!(
        get.stdout.contains(r"x\u{1b}[1m  A\u{1b}[5m"),
        "{}",
        get.stdout
    );
}

fn colour_only_when_asked_or_on_a_terminal(env: Env) {
    env.kv.set("robot/status", &status()).unwrap();
    let piped = reem(&env, &["get", "robot/status"], 0);
    assert!(!piped.stdout.contains('\x1b'));
    let always = reem(&env, &["get", "robot/status", "--color", "always"], 0);
    assert!(
        always.stdout.contains("\x1b[36mbase.x\x1b[0m"),
        "{}",
        always.stdout
    );
    let out = reem(&env, &["get", "nothing", "--color", "always"], 3);
    assert!(
        out.stderr.starts_with("\x1b[31merror:\x1b[0m "),
        "{:?}",
        out.stderr
    );
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let env = Env::start();
    let ranges: Vec<f32> = (0..200_000).map(|i| i as f32).collect();
    env.kv.set("big", &Scan { stamp: 1.0, ranges }).unwrap();
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("reem"))
        .args(["get", "big", "--full"])
        .env("REEM_URL", env.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take()); // like `| head -c 16`
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn an_unreachable_redis_is_exit_1_with_one_line() {
    let env = Env::start();
    let url = env.url();
    drop(env);
    let out = run(Command::cargo_bin("reem")
        .unwrap()
        .args(["--url", &url, "get", "k"]));
    assert_eq!(out.code, 1);
    let line = error_line(&out);
    assert!(
        line.contains("cannot reach Redis at redis://127.0.0.1:"),
        "{line}"
    );
}

#[test]
fn help_documents_the_exit_statuses() {
    let out = run(Command::cargo_bin("reem").unwrap().arg("--help"));
    assert_eq!(out.code, 0);
    for code in [
        "0  success",
        "3  the key",
        "4  the key does not hold",
        "5  `set` refused",
        "7  `echo` or `hz`",
    ] {
        assert!(out.stdout.contains(code), "{code}: {}", out.stdout);
    }
}
