//! Large-value workloads with each side in a process of its own.
//!
//! Reading or writing megabytes allocates and frees megabytes, and what that costs depends
//! on the state of the process's heap: glibc returns large freed blocks to the system (and
//! the next allocation faults its pages in again, one fault per 4 KiB) or keeps them,
//! depending on what else the process allocated. Sides measured in one process change each
//! other's costs (in one process, the raw read of a 1 MiB array faulted ~480 pages per read,
//! alone ~0). So each side runs in a child process of its own (`reem-bench --side …`),
//! its own heap in its own steady state, while the parent still alternates them round by
//! round, so that machine noise hits all sides alike. A child also reports its peak
//! resident memory (`VmHWM`).
//!
//! Protocol on the child's stdin/stdout, one line each: the child prints `ready <VmHWM kB>`
//! once set up; `run N` runs N operations and prints `done <allocs> <bytes> <faults>
//! <ns> <ns> …`; `quit` prints `hwm <VmHWM kB>` and exits.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use ndarray::{ArrayD, IxDyn};
use redis::Value;

use crate::direct::Direct;
use crate::measure::{minor_faults, Stats};
use crate::workloads::{array_fields, raw_connection, take_field, Elem};

/// One side of a large-value workload, as the child's arguments spell it.
#[derive(Clone, Debug)]
pub struct Spec {
    /// `reem`, `raw`, `raw-warm` (the raw code in a process whose allocator keeps freed
    /// memory: see [`WARM_HEAP`]) or `direct`.
    pub side: &'static str,
    /// `get` or `set`.
    pub op: &'static str,
    /// `f64`, `f32`, `u16` or `u8`.
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    /// The key read (get), or the prefix of the key written (set: `<key><side>`).
    pub key: String,
}

impl Spec {
    fn args(&self, url: &str) -> Vec<String> {
        let shape: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        vec![
            "--side".into(),
            url.into(),
            self.side.into(),
            self.op.into(),
            self.dtype.into(),
            shape.join("x"),
            self.key.clone(),
        ]
    }
}

/// The glibc settings of the `raw-warm` side: freed memory stays with the process (no
/// trimming, blocks up to 32 MiB from the heap rather than fresh mappings), so that its
/// large reads reuse pages already touched, as reem's do by design. The raw code at its
/// best: the ratios of large reads are taken against the faster of `raw` and `raw-warm`.
pub const WARM_HEAP: [(&str, &str); 2] = [
    ("MALLOC_MMAP_THRESHOLD_", "33554432"),
    ("MALLOC_TRIM_THRESHOLD_", "4294967296"),
];

/// What a child measured, beside its latencies.
pub struct SideResult {
    pub stats: Stats,
    /// Peak resident memory before the first operation and at the end, in KiB.
    pub hwm_start_kib: u64,
    pub hwm_end_kib: u64,
}

struct Proc {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    times: Vec<Duration>,
    allocs: u64,
    bytes: u64,
    faults: u64,
    hwm_start: u64,
}

impl Proc {
    fn start(url: &str, spec: &Spec) -> Proc {
        let mut cmd = Command::new(std::env::current_exe().expect("this program"));
        if spec.side == "raw-warm" {
            cmd.envs(WARM_HEAP);
        }
        let mut child = cmd
            .args(spec.args(url))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a side");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        let mut p = Proc {
            child,
            input,
            output,
            times: Vec::new(),
            allocs: 0,
            bytes: 0,
            faults: 0,
            hwm_start: 0,
        };
        let ready = p.line();
        p.hwm_start = ready
            .strip_prefix("ready ")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("side {spec:?} said {ready:?}"));
        p
    }

    fn line(&mut self) -> String {
        let mut s = String::new();
        self.output.read_line(&mut s).expect("a line from a side");
        s.trim().to_owned()
    }

    fn run(&mut self, n: usize, keep: bool) {
        writeln!(self.input, "run {n}").unwrap();
        self.input.flush().unwrap();
        let done = self.line();
        let mut words = done.split(' ');
        assert_eq!(words.next(), Some("done"), "{done}");
        let mut num = || words.next().and_then(|w| w.parse::<u64>().ok()).unwrap();
        let (allocs, bytes, faults) = (num(), num(), num());
        let times: Vec<Duration> = (0..n).map(|_| Duration::from_nanos(num())).collect();
        if keep {
            self.allocs += allocs;
            self.bytes += bytes;
            self.faults += faults;
            self.times.extend(times);
        }
    }

    fn finish(mut self) -> SideResult {
        writeln!(self.input, "quit").unwrap();
        self.input.flush().unwrap();
        let hwm = self.line();
        let hwm_end = hwm
            .strip_prefix("hwm ")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let _ = self.child.wait();
        let n = self.times.len();
        SideResult {
            stats: Stats::of(self.times, self.allocs, self.bytes, self.faults, n),
            hwm_start_kib: self.hwm_start,
            hwm_end_kib: hwm_end,
        }
    }
}

/// Measures every side in its own process: a warm-up of `per_round.min(5)` operations each,
/// then `rounds` rounds of `per_round` operations, the order rotating as in
/// [`crate::measure::compare_sides`].
pub fn compare_procs(
    url: &str,
    rounds: usize,
    per_round: usize,
    specs: &[Spec],
) -> Vec<SideResult> {
    let mut procs: Vec<Proc> = specs.iter().map(|s| Proc::start(url, s)).collect();
    let n = procs.len();
    for p in &mut procs {
        p.run(per_round.min(5), false);
    }
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..n).map(|i| (i + round / 2) % n).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            procs[i].run(per_round, true);
        }
    }
    procs.into_iter().map(Proc::finish).collect()
}

/// The peak resident memory a fresh process of `spec` adds for `ops` operations (no
/// warm-up), KiB.
pub fn peak_added(url: &str, spec: &Spec, ops: usize) -> u64 {
    let mut p = Proc::start(url, spec);
    p.run(ops, true);
    let r = p.finish();
    r.hwm_end_kib.saturating_sub(r.hwm_start_kib)
}

/// Peak resident memory of this process, KiB (`VmHWM`; 0 where `/proc` is not there).
pub fn hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The array a side writes (and the parent stores for reads): the same contents everywhere.
pub fn array<A: Elem>(shape: &[usize]) -> ArrayD<A> {
    let n: usize = shape.iter().product();
    let bytes: Vec<u8> = (0..n * A::SIZE).map(|i| (i % 251) as u8).collect();
    let mut v: Vec<A> = bytemuck::pod_collect_to_vec(&bytes);
    if A::KIND == b'b' {
        v.iter_mut().for_each(|x| *x = A::default());
    }
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

/// The child: `--side URL SIDE OP DTYPE SHAPE KEY`, then the protocol on stdin/stdout.
pub fn child(args: &[String]) {
    let [url, side, op, dtype, shape, key] = args else {
        panic!("--side URL SIDE OP DTYPE SHAPE KEY");
    };
    let shape: Vec<usize> = shape.split('x').map(|d| d.parse().unwrap()).collect();
    match dtype.as_str() {
        "f64" => child_of::<f64>(url, side, op, &shape, key),
        "f32" => child_of::<f32>(url, side, op, &shape, key),
        "u16" => child_of::<u16>(url, side, op, &shape, key),
        "u8" => child_of::<u8>(url, side, op, &shape, key),
        other => panic!("dtype {other}"),
    }
}

/// Runs `op` for a side, typed by the array's dimension count as reem users would type it.
fn child_of<A: Elem>(url: &str, side: &str, op: &str, shape: &[usize], key: &str) {
    match shape.len() {
        1 => serve::<A, ndarray::Ix1>(url, side, op, shape, key),
        2 => serve::<A, ndarray::Ix2>(url, side, op, shape, key),
        _ => serve::<A, ndarray::IxDyn>(url, side, op, shape, key),
    }
}

fn serve<A: Elem, D: ndarray::Dimension + 'static>(
    url: &str,
    side: &str,
    op: &str,
    shape: &[usize],
    key: &str,
) {
    let n: usize = shape.iter().product();
    let dim = D::from_dimension(&IxDyn(shape)).expect("the shape's dimensions");
    let value: ndarray::Array<A, D> = if op == "set" {
        array::<A>(shape).into_dimensionality::<D>().unwrap()
    } else {
        ndarray::Array::from_elem(D::zeros(shape.len()), A::default())
    };
    let write_key = format!("{key}{side}");
    let side = if side == "raw-warm" { "raw" } else { side };
    let mut f: Box<dyn FnMut()> = match (side, op) {
        ("reem", "get") => {
            let kv = reem::KeyValueStore::new(&reem::RedisInterface::new(url).unwrap());
            let key = key.to_owned();
            Box::new(move || assert_eq!(kv.get::<ndarray::Array<A, D>>(&key).unwrap().len(), n))
        }
        ("reem", "set") => {
            let kv = reem::KeyValueStore::new(&reem::RedisInterface::new(url).unwrap());
            Box::new(move || kv.set(&write_key, &value).unwrap())
        }
        ("raw", "get") => {
            let mut raw = raw_connection(url);
            let key = key.to_owned();
            Box::new(move || {
                let v: Value = redis::cmd("HGETALL").arg(&key).query(&mut raw).unwrap();
                let bytes = take_field(v, b"arr");
                let elems: Vec<A> = match bytemuck::allocation::try_cast_vec(bytes) {
                    Ok(v) => v,
                    Err((_, bytes)) => bytemuck::pod_collect_to_vec(&bytes),
                };
                let arr = ndarray::Array::from_shape_vec(dim.clone(), elems).unwrap();
                assert_eq!(arr.len(), n);
            })
        }
        ("raw", "set") => {
            let mut raw = raw_connection(url);
            let small = array_fields(&value);
            Box::new(move || {
                let bytes: &[u8] = bytemuck::cast_slice(value.as_slice().unwrap());
                let mut p = redis::pipe();
                p.atomic().cmd("UNLINK").arg(&write_key).ignore();
                p.cmd("HSET").arg(&write_key);
                for (k, v) in &small {
                    p.arg(*k).arg(v.as_slice());
                }
                p.ignore();
                p.cmd("HSET").arg(&write_key).arg("arr").arg(bytes).ignore();
                p.exec(&mut raw).unwrap();
            })
        }
        ("direct", "get") => {
            let mut direct = Direct::connect(url);
            let mut floor = vec![A::default(); n];
            let key = key.to_owned();
            Box::new(move || direct.read_large(&key, "arr", bytemuck::cast_slice_mut(&mut floor)))
        }
        ("direct", "set") => {
            let mut direct = Direct::connect(url);
            let small = array_fields(&value);
            Box::new(move || {
                let refs: Vec<(&str, &[u8])> =
                    small.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                direct.write_large(
                    &write_key,
                    &refs,
                    "arr",
                    bytemuck::cast_slice(value.as_slice().unwrap()),
                )
            })
        }
        other => panic!("side {other:?}"),
    };
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {}", hwm_kib()).unwrap();
    out.flush().unwrap();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        if let Some(k) = line.strip_prefix("run ") {
            let k: usize = k.parse().unwrap();
            let mut times = Vec::with_capacity(k);
            let (c0, b0) = crate::alloc::snapshot();
            let f0 = minor_faults();
            for _ in 0..k {
                let t = Instant::now();
                f();
                times.push(t.elapsed().as_nanos() as u64);
            }
            let (c1, b1) = crate::alloc::snapshot();
            let faults = minor_faults() - f0;
            let times: Vec<String> = times.iter().map(|t| t.to_string()).collect();
            // The line itself allocates: counted before it is made.
            writeln!(
                out,
                "done {} {} {faults} {}",
                c1 - c0,
                b1 - b0,
                times.join(" ")
            )
            .unwrap();
            out.flush().unwrap();
        } else {
            writeln!(out, "hwm {}", hwm_kib()).unwrap();
            out.flush().unwrap();
            return;
        }
    }
}

/// Stores `a` at `key` through reem (what the get sides read).
pub fn store<A: Elem>(kv: &reem::KeyValueStore, key: &str, shape: &[usize]) {
    let a = array::<A>(shape);
    match shape.len() {
        1 => kv.set(key, &a.into_dimensionality::<ndarray::Ix1>().unwrap()),
        2 => kv.set(key, &a.into_dimensionality::<ndarray::Ix2>().unwrap()),
        _ => kv.set(key, &a),
    }
    .unwrap();
}
