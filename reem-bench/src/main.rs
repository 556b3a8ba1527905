//! The benchmark report: reem against hand-written raw `redis` code sending the same
//! commands, on a private redis-server, alternating round by round.
//!
//! ```text
//! cargo run --release -p reem-bench -- --out target/bench.json [--svg docs/bench.svg] [--quick] [--only W1,W4,sizes,fanout,rss,C,A] [--no-pin]
//! ```
//!
//! Besides the table of workloads W1–W7 it measures how cost grows (`sizes`: get and set
//! from 1 KiB to 64 MiB; `fanout`: CPU per delivered message with 1 to 1,000 subscribers;
//! `rss`: peak resident memory of large gets) and draws `bench.svg`, `bench-sizes.svg` and
//! `bench-fanout.svg` next to the JSON (or the `--svg` path).
//!
//! On a machine with at least two CPUs the report pins the redis-server it starts to the
//! last CPU and itself to the others (`taskset`), as an independent measurement would.
//!
//! `C` is the cluster rows (`cluster.rs`): W1–W4 on a local Redis Cluster; `A` the async rows
//! (`aio.rs`): W1–W4, publish → `Stream` item and 64 concurrent tasks through `reem::aio`.

mod aio;
mod alloc;
mod cluster;
mod cpu;
mod direct;
mod measure;
mod plot;
mod profile;
mod sides;
mod sweep;
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
                let secs = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--profile WHAT SECONDS");
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
                println!("usage: reem-bench [--out target/bench.json] [--svg PATH] [--quick] [--no-pin] [--only W1,W3,...,sizes,fanout,rss,C,A] [--profile WHAT SECONDS]");
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
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--side") {
        sides::child(&argv[2..]);
        return;
    }
    if argv.get(1).map(String::as_str) == Some("--plot") {
        let json = argv.get(2).expect("--plot REPORT.json");
        replot(std::path::Path::new(json));
        return;
    }
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
    let sizes = wanted("sizes").then(|| {
        eprintln!("running sizes…");
        sweep::sizes_sweep(&mut bench)
    });
    let fanout = wanted("fanout").then(|| {
        eprintln!("running fanout…");
        sweep::fanout(&mut bench)
    });
    let rss = wanted("rss").then(|| {
        eprintln!("running rss…");
        sweep::peak_rss(&mut bench)
    });
    print_growth(sizes.as_deref(), fanout.as_deref(), rss.as_deref());
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let report = serde_json::json!({
        "measured": date.trim(), "redis": url_redacted(&url), "quick": args.quick,
        "pinned": pinned, "rows": rows, "sizes": sizes, "fanout": fanout, "peak_rss": rss,
    });
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report).unwrap())
        .expect("write the JSON report");
    eprintln!("wrote {}", args.out.display());
    let svg = args.svg.unwrap_or_else(|| args.out.with_extension("svg"));
    let sibling = |suffix: &str| {
        let stem = svg.file_stem().and_then(|s| s.to_str()).unwrap_or("bench");
        svg.with_file_name(format!("{stem}-{suffix}.svg"))
    };
    let title = date.trim();
    let mut drawn: Vec<(std::path::PathBuf, plot::Draw)> = Vec::new();
    if !rows.is_empty() {
        let bars: Vec<plot::Bar> = rows.iter().map(plot::Bar::from).collect();
        drawn.push((
            svg.clone(),
            plot::svg(&bars, &svg, &format!("reem / raw redis, {title}")),
        ));
    }
    if let Some(sizes) = &sizes {
        let path = sibling("sizes");
        drawn.push((path.clone(), plot::sizes(sizes, &path, title)));
    }
    if let Some(fanout) = &fanout {
        let path = sibling("fanout");
        drawn.push((path.clone(), plot::fanout(fanout, &path, title)));
    }
    for (path, result) in drawn {
        match result {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => eprintln!("could not draw {}: {e}", path.display()),
        }
    }
}

/// Draws the pictures of a saved report again (`--plot target/bench.json`): next to it,
/// with the date it was measured.
fn replot(json: &std::path::Path) {
    let text = std::fs::read_to_string(json).expect("the report");
    let v: serde_json::Value = serde_json::from_str(&text).expect("a JSON report");
    let title = v["measured"].as_str().unwrap_or_default().to_owned();
    let bars: Vec<plot::Bar> = v["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| plot::Bar {
                    id: r["id"].as_str().unwrap_or_default().to_owned(),
                    ratio: r["ratio"].as_f64().unwrap_or(f64::NAN),
                    target: r["target"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let svg = json.with_extension("svg");
    let stem = svg
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("bench")
        .to_owned();
    let sibling = |suffix: &str| svg.with_file_name(format!("{stem}-{suffix}.svg"));
    let mut drawn: Vec<(std::path::PathBuf, plot::Draw)> = Vec::new();
    if !bars.is_empty() {
        drawn.push((
            svg.clone(),
            plot::svg(&bars, &svg, &format!("reem / raw redis, {title}")),
        ));
    }
    if let Ok(sizes) = serde_json::from_value::<Vec<sweep::SizePoint>>(v["sizes"].clone()) {
        let path = sibling("sizes");
        drawn.push((path.clone(), plot::sizes(&sizes, &path, &title)));
    }
    if let Ok(fanout) = serde_json::from_value::<Vec<sweep::FanoutPoint>>(v["fanout"].clone()) {
        let path = sibling("fanout");
        drawn.push((path.clone(), plot::fanout(&fanout, &path, &title)));
    }
    for (path, result) in drawn {
        match result {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => eprintln!("could not draw {}: {e}", path.display()),
        }
    }
}

fn print_growth(
    sizes: Option<&[sweep::SizePoint]>,
    fanout: Option<&[sweep::FanoutPoint]>,
    rss: Option<&[sweep::PeakRss]>,
) {
    if let Some(sizes) = sizes {
        println!();
        println!("latency by size, Array1<f64> (medians; each side in its own process):");
        println!(
            "| {:>8} | {:<3} | {:>10} | {:>10} | {:>10} | {:>10} | {:>6} | {:>7} | {:>12} |",
            "size", "op", "reem", "raw", "raw warm", "direct", "ratio", "/direct", "faults r/raw"
        );
        for p in sizes {
            let best = p.raw_us.min(p.raw_warm_us);
            println!(
                "| {:>8} | {:<3} | {:>10} | {:>10} | {:>10} | {:>10} | {:>6.2} | {:>7.2} | {:>5.0} / {:<4.0} |",
                size_name(p.bytes),
                p.op,
                us(p.reem_us),
                us(p.raw_us),
                us(p.raw_warm_us),
                us(p.direct_us),
                p.reem_us / best,
                p.reem_us / p.direct_us,
                p.reem_faults,
                p.raw_faults
            );
        }
    }
    if let Some(fanout) = fanout {
        println!();
        println!("CPU of the receiving thread per delivered message, one topic, 10-field message:");
        println!(
            "| {:>11} | {:>8} | {:>10} | {:>10} | {:>6} | {:>21} |",
            "subscribers", "messages", "reem", "raw", "ratio", "delivered reem / raw"
        );
        for p in fanout {
            println!(
                "| {:>11} | {:>8} | {:>10} | {:>10} | {:>6.2} | {:>10} / {:<10} |",
                p.subscribers,
                p.messages,
                us(p.reem_cpu_us),
                us(p.raw_cpu_us),
                p.reem_cpu_us / p.raw_cpu_us,
                p.reem_delivered,
                p.raw_delivered
            );
        }
    }
    if let Some(rss) = rss {
        println!();
        println!("peak resident memory a fresh process adds (VmHWM):");
        println!(
            "| {:<24} | {:>4} | {:>9} | {:>9} | {:>9} | {:>9} |",
            "workload", "gets", "reem", "raw", "raw warm", "direct"
        );
        for p in rss {
            let mib = |k: u64| format!("{:.1} MiB", k as f64 / 1024.0);
            println!(
                "| {:<24} | {:>4} | {:>9} | {:>9} | {:>9} | {:>9} |",
                p.what,
                p.ops,
                mib(p.reem_kib),
                mib(p.raw_kib),
                mib(p.raw_warm_kib),
                mib(p.direct_kib)
            );
        }
    }
}

fn size_name(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
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
        "| {:<9} | {:<41} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>6} | {:>7} | {:<8} |",
        "workload", "what", "reem", "raw", "raw warm", "direct", "reem p90", "raw p90", "reem p99", "raw p99", "ratio", "/direct", "target"
    );
    println!(
        "|{}|",
        [11, 43, 12, 12, 12, 12, 12, 12, 12, 12, 8, 9, 10]
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let (direct, floor) = match &r.direct {
            Some(d) => (
                us(d.median_us),
                format!("{:.2}", r.reem.median_us / d.median_us),
            ),
            None => ("-".to_owned(), "-".to_owned()),
        };
        let warm = r
            .raw_warm
            .as_ref()
            .map_or("-".to_owned(), |w| us(w.median_us));
        let best = r.raw_best();
        println!(
            "| {:<9} | {:<41} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>10} | {:>6.2} | {:>7} | {:<8} |",
            r.id, r.what, us(r.reem.median_us), us(r.raw.median_us), warm, direct, us(r.reem.p90_us), us(best.p90_us),
            us(r.reem.p99_us), us(best.p99_us), r.ratio, floor, r.target
        );
    }
    println!();
    println!("medians (throughput rows: time per publish); ratio = reem / the faster raw (rates for W6); raw p90/p99 of the faster raw");
    println!();
    println!("allocations and page faults per op (reem | raw | raw warm | direct):");
    for r in rows.iter().filter(|r| !r.reem.allocs_per_op.is_nan()) {
        let side = |s: &measure::Stats| {
            format!(
                "{:>6.1} allocs {:>9.0} B {:>6.1} faults",
                s.allocs_per_op, s.alloc_bytes_per_op, s.faults_per_op
            )
        };
        let more = [&r.raw_warm, &r.direct]
            .iter()
            .filter_map(|s| s.as_ref())
            .map(|s| format!(" | {}", side(s)))
            .collect::<String>();
        println!("  {:<9} {} | {}{more}", r.id, side(&r.reem), side(&r.raw));
    }
    for r in rows.iter().filter(|r| r.hwm_kib.is_some()) {
        let [a, b, c, d] = r.hwm_kib.unwrap_or_default();
        let mib = |k: u64| k as f64 / 1024.0;
        println!(
            "  {}: peak resident memory added while measured: reem {:.1} MiB, raw {:.1} MiB, raw warm {:.1} MiB, direct {:.1} MiB",
            r.id,
            mib(a),
            mib(b),
            mib(c),
            mib(d)
        );
    }
    for r in rows.iter().filter(|r| r.reem.received.is_some()) {
        println!(
            "  {}: {:.0} vs {:.0} publishes/s; reem subscriber received {} of {}; raw subscriber received {} of {}",
            r.id,
            r.reem.ops_per_s,
            r.raw.ops_per_s,
            r.reem.received.unwrap_or(0),
            r.reem.n,
            r.raw.received.unwrap_or(0),
            r.raw.n
        );
    }
    for r in rows
        .iter()
        .filter(|r| ["W6", "W7", "A6", "D1"].contains(&r.id.as_str()))
    {
        println!("  {}: {}", r.id, r.note);
    }
}
