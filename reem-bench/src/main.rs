//! The benchmark report: reem against hand-written raw `redis` code sending the same
//! commands, on a private redis-server, alternating round by round.
//!
//! ```text
//! cargo run --release -p reem-bench -- --out target/bench.json [--svg docs/bench.svg] [--quick] [--only W1,W4] [--no-pin]
//! ```
//!
//! On a machine with at least two CPUs the report pins the redis-server it starts to the
//! last CPU and itself to the others (`taskset`), as an independent measurement would.

mod alloc;
mod direct;
mod measure;
mod plot;
mod profile;
mod workloads;

use std::path::PathBuf;

use measure::Row;
use workloads::Bench;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

struct Args {
    out: PathBuf,
    svg: Option<PathBuf>,
    quick: bool,
    pin: bool,
    only: Option<Vec<String>>,
    profile: Option<(String, f64)>,
}

fn args() -> Args {
    let mut a = Args {
        out: PathBuf::from("target/bench.json"),
        svg: None,
        quick: false,
        pin: true,
        only: None,
        profile: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => a.out = it.next().expect("--out PATH").into(),
            "--svg" => a.svg = Some(it.next().expect("--svg PATH").into()),
            "--quick" => a.quick = true,
            "--no-pin" => a.pin = false,
            "--profile" => {
                let what = it.next().expect("--profile WHAT SECONDS");
                let secs = it.next().and_then(|s| s.parse().ok()).expect("--profile WHAT SECONDS");
                a.profile = Some((what, secs));
            }
            "--only" => {
                a.only = Some(
                    it.next()
                        .expect("--only W1,W2")
                        .split(',')
                        .map(str::to_owned)
                        .collect(),
                )
            }
            "-h" | "--help" => {
                println!("usage: reem-bench [--out target/bench.json] [--svg PATH] [--quick] [--no-pin] [--only W1,W3,...]");
                std::process::exit(0);
            }
            other => {
                eprintln!("unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    a
}

fn main() {
    let args = args();
    let (url, server) = reem_server::url_or_start().expect("a redis-server to measure against");
    let pinned = if args.pin {
        pin(server.as_ref().and_then(|s| s.pid()))
    } else {
        None
    };
    if let Some(p) = &pinned {
        eprintln!("pinned: {p}");
    }
    let mut bench = Bench::new(&url, args.quick);
    if let Some((what, secs)) = &args.profile {
        profile::run(&mut bench, what, *secs);
        return;
    }
    let wanted = |id: &str| args.only.as_ref().is_none_or(|o| o.iter().any(|w| w == id));
    type Workload = fn(&mut Bench) -> Vec<Row>;
    let all: [(&str, Workload); 6] = [
        ("W1", workloads::w1_w2),
        ("W3", workloads::w3),
        ("W4", workloads::w4),
        ("W5", workloads::w5),
        ("W6", workloads::w6),
        ("W7", workloads::w7),
    ];
    let mut rows = Vec::new();
    for (id, run) in all {
        if wanted(id) || (id == "W1" && wanted("W2")) {
            eprintln!("running {id}…");
            rows.extend(run(&mut bench));
        }
    }
    print_table(&rows);
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let report = serde_json::json!({ "measured": date.trim(), "redis": url_redacted(&url), "quick": args.quick, "pinned": pinned, "rows": rows });
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report).unwrap())
        .expect("write the JSON report");
    eprintln!("wrote {}", args.out.display());
    let svg = args.svg.unwrap_or_else(|| args.out.with_extension("svg"));
    match plot::svg(&rows, &svg, &format!("reem / raw redis, {}", date.trim())) {
        Ok(()) => eprintln!("wrote {}", svg.display()),
        Err(e) => eprintln!("could not draw {}: {e}", svg.display()),
    }
}

/// Pins the server (`pid`) to the last CPU and this process to the others; a description of
/// what was done, `None` if nothing was (one CPU, no server of ours, no `taskset`).
fn pin(pid: Option<u32>) -> Option<String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pid = pid?;
    if cpus < 2 {
        return None;
    }
    let last = cpus - 1;
    let me = if last == 1 {
        "0".to_owned()
    } else {
        format!("0-{}", last - 1)
    };
    let run = |cpus: &str, pid: u32| {
        std::process::Command::new("taskset")
            .args(["-a", "-p", "-c", cpus, &pid.to_string()])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    (run(&last.to_string(), pid) && run(&me, std::process::id()))
        .then(|| format!("redis-server on CPU {last}, the report on CPU {me}"))
}

fn url_redacted(url: &str) -> String {
    reem::RedisInterface::new(url)
        .map(|i| i.url().to_owned())
        .unwrap_or_default()
}

fn us(v: f64) -> String {
    if v.is_nan() {
        "-".to_owned()
    } else if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.1} µs")
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "| {:<9} | {:<44} | {:>11} | {:>11} | {:>11} | {:>10} | {:>10} | {:>10} | {:>10} | {:>9} | {:>9} | {:>6} | {:>7} | {:<8} |",
        "workload", "what", "reem median", "raw median", "direct", "reem p90", "raw p90", "reem p99", "raw p99", "reem op/s", "raw op/s", "ratio", "/direct", "target"
    );
    println!(
        "|{}|",
        [11, 46, 13, 13, 13, 12, 12, 12, 12, 11, 11, 8, 9, 10]
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let (direct, floor) = match &r.direct {
            Some(d) => (us(d.median_us), format!("{:.2}", r.reem.median_us / d.median_us)),
            None => ("-".to_owned(), "-".to_owned()),
        };
        println!(
            "| {:<9} | {:<44} | {:>11} | {:>11} | {:>11} | {:>10} | {:>10} | {:>10} | {:>10} | {:>9.0} | {:>9.0} | {:>6.2} | {:>7} | {:<8} |",
            r.id, r.what, us(r.reem.median_us), us(r.raw.median_us), direct, us(r.reem.p90_us), us(r.raw.p90_us),
            us(r.reem.p99_us), us(r.raw.p99_us), r.reem.ops_per_s, r.raw.ops_per_s, r.ratio, floor, r.target
        );
    }
    println!();
    println!("allocations and page faults per op (reem | raw | direct):");
    for r in rows.iter().filter(|r| !r.reem.allocs_per_op.is_nan()) {
        let side = |s: &measure::Stats| {
            format!(
                "{:>7.1} allocs {:>10.0} bytes {:>7.1} faults",
                s.allocs_per_op, s.alloc_bytes_per_op, s.faults_per_op
            )
        };
        let direct = r
            .direct
            .as_ref()
            .map_or(String::new(), |d| format!(" | {}", side(d)));
        println!(
            "  {:<9} {} | {}{direct}",
            r.id,
            side(&r.reem),
            side(&r.raw)
        );
    }
    for r in rows.iter().filter(|r| r.reem.received.is_some()) {
        println!(
            "  {}: reem subscriber received {} of {}; raw subscriber received {} of {}",
            r.id,
            r.reem.received.unwrap_or(0),
            r.reem.n,
            r.raw.received.unwrap_or(0),
            r.raw.n
        );
    }
    for r in rows.iter().filter(|r| r.id == "W7") {
        println!("  W7: {}", r.note);
    }
}
