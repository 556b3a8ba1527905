//! The benchmark report: reem against hand-written raw `redis` code sending the same
//! commands, on a private redis-server, alternating round by round.
//!
//! ```text
//! cargo run --release -p reem-bench -- --out target/bench.json [--svg docs/bench.svg] [--quick] [--only W1,W4,C]
//! ```
//!
//! `C` is the cluster rows (`cluster.rs`): W1–W4 on a local Redis Cluster.

mod aio;
mod alloc;
mod cluster;
mod measure;
mod plot;
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
    only: Option<Vec<String>>,
}

fn args() -> Args {
    let mut a = Args {
        out: PathBuf::from("target/bench.json"),
        svg: None,
        quick: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => a.out = it.next().expect("--out PATH").into(),
            "--svg" => a.svg = Some(it.next().expect("--svg PATH").into()),
            "--quick" => a.quick = true,
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
                println!("usage: reem-bench [--out target/bench.json] [--svg PATH] [--quick] [--only W1,W3,...,C]");
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
    let (url, _server) = reem_server::url_or_start().expect("a redis-server to measure against");
    let mut bench = Bench::new(&url, args.quick);
    let wanted = |id: &str| args.only.as_ref().is_none_or(|o| o.iter().any(|w| w == id));
    type Workload = fn(&mut Bench) -> Vec<Row>;
    let all: [(&str, Workload); 7] = [
        ("W1", workloads::w1_w2),
        ("W3", workloads::w3),
        ("W4", workloads::w4),
        ("W5", workloads::w5),
        ("W6", workloads::w6),
        ("W7", workloads::w7),
        ("A", aio::rows),
    ];
    let mut rows = Vec::new();
    for (id, run) in all {
        if wanted(id) || (id == "W1" && wanted("W2")) {
            eprintln!("running {id}…");
            rows.extend(run(&mut bench));
        }
    }
    if wanted("C") {
        eprintln!("running C-W1–C-W4 on a local Redis Cluster…");
        rows.extend(cluster::rows(args.quick));
    }
    print_table(&rows);
    if wanted("A") {
        println!("  {}", aio::thread_count(&bench));
    }
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let report = serde_json::json!({ "measured": date.trim(), "redis": url_redacted(&url), "quick": args.quick, "rows": rows });
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

fn url_redacted(url: &str) -> String {
    reem::RedisInterface::new(url)
        .map(|i| i.url().to_owned())
        .unwrap_or_default()
}

fn print_table(rows: &[Row]) {
    println!(
        "| {:<9} | {:<44} | {:>11} | {:>11} | {:>10} | {:>10} | {:>10} | {:>10} | {:>9} | {:>9} | {:>6} | {:<8} |",
        "workload", "what", "reem median", "raw median", "reem p90", "raw p90", "reem p99", "raw p99", "reem op/s", "raw op/s", "ratio", "target"
    );
    println!(
        "|{}|",
        ["-"; 12]
            .iter()
            .zip([11, 46, 13, 13, 12, 12, 12, 12, 11, 11, 8, 10])
            .map(|(d, w)| d.repeat(w))
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let us = |v: f64| {
            if v.is_nan() {
                "-".to_owned()
            } else if v >= 1000.0 {
                format!("{:.2} ms", v / 1000.0)
            } else {
                format!("{v:.1} µs")
            }
        };
        println!(
            "| {:<9} | {:<44} | {:>11} | {:>11} | {:>10} | {:>10} | {:>10} | {:>10} | {:>9.0} | {:>9.0} | {:>6.2} | {:<8} |",
            r.id, r.what, us(r.reem.median_us), us(r.raw.median_us), us(r.reem.p90_us), us(r.raw.p90_us),
            us(r.reem.p99_us), us(r.raw.p99_us), r.reem.ops_per_s, r.raw.ops_per_s, r.ratio, r.target
        );
    }
    println!();
    println!("allocations per op (reem vs raw):");
    for r in rows.iter().filter(|r| !r.reem.allocs_per_op.is_nan()) {
        println!(
            "  {:<9} {:>7.1} allocs {:>12.0} bytes | raw {:>7.1} allocs {:>12.0} bytes",
            r.id,
            r.reem.allocs_per_op,
            r.reem.alloc_bytes_per_op,
            r.raw.allocs_per_op,
            r.raw.alloc_bytes_per_op
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
    for r in rows
        .iter()
        .filter(|r| ["W7", "A6", "D1"].contains(&r.id.as_str()))
    {
        println!("  {}: {}", r.id, r.note);
    }
}
