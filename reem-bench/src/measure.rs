//! Timing: reem and raw run alternately, round after round, so machine noise hits both.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::alloc;

/// Latency statistics of one side of a workload.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub n: usize,
    pub median_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub ops_per_s: f64,
    pub allocs_per_op: f64,
    pub alloc_bytes_per_op: f64,
    /// Page faults of the whole process per operation (minor faults, counted per round
    /// from `/proc/self/stat`: fresh memory touched for the first time).
    pub faults_per_op: f64,
    /// Throughput rows: how many messages the subscriber received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<u64>,
}

/// One workload measured for reem and raw (and the direct-RESP floor for large values).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub what: String,
    pub reem: Stats,
    pub raw: Stats,
    /// The direct-RESP floor (see `direct.rs`), where measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct: Option<Stats>,
    /// The raw code in a process whose allocator keeps freed memory (`sides::WARM_HEAP`),
    /// for large values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_warm: Option<Stats>,
    /// Peak resident memory each side's process added while measured (reem, raw, raw-warm,
    /// direct), KiB, for workloads whose sides run in processes of their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hwm_kib: Option<[u64; 4]>,
    /// reem median / raw median (for throughput rows: reem rate / raw rate).
    pub ratio: f64,
    pub target: String,
    pub note: String,
}

impl Row {
    /// The faster raw side: `raw`, or `raw_warm` if measured and faster.
    pub fn raw_best(&self) -> &Stats {
        match &self.raw_warm {
            Some(w) if w.median_us < self.raw.median_us => w,
            _ => &self.raw,
        }
    }
}

/// Runs `rounds` rounds of `per_round` operations of each side, alternating which goes
/// first, timing every operation.
pub fn compare(
    rounds: usize,
    per_round: usize,
    mut reem: impl FnMut(),
    mut raw: impl FnMut(),
) -> (Stats, Stats) {
    let mut stats = compare_sides(rounds, per_round, &mut [&mut reem, &mut raw]).into_iter();
    (stats.next().unwrap(), stats.next().unwrap())
}

/// `rounds` rounds of `per_round` operations of every side, the order rotating (and
/// reversing) from round to round so that no side always follows the same one; a warm-up
/// of up to 20 operations each first.
pub fn compare_sides(
    rounds: usize,
    per_round: usize,
    sides: &mut [&mut dyn FnMut()],
) -> Vec<Stats> {
    let n = sides.len();
    let mut timed: Vec<Side> = (0..n).map(|_| Side::default()).collect();
    for _ in 0..per_round.min(20) {
        sides.iter_mut().for_each(|f| f());
    }
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..n).map(|i| (i + round / 2) % n).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            timed[i].run(per_round, &mut *sides[i]);
        }
    }
    timed.into_iter().map(Side::stats).collect()
}

#[derive(Default)]
struct Side {
    times: Vec<Duration>,
    allocs: u64,
    bytes: u64,
    faults: u64,
}

/// Minor page faults of this process so far (0 where `/proc` is not there).
pub fn minor_faults() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces): state is field 3,
            // minflt field 10.
            let rest = &s[s.rfind(')')? + 2..];
            rest.split(' ').nth(7)?.parse().ok()
        })
        .unwrap_or(0)
}

impl Side {
    fn run(&mut self, n: usize, f: &mut dyn FnMut()) {
        let faults = minor_faults();
        for _ in 0..n {
            let (c0, b0) = alloc::snapshot();
            let t = Instant::now();
            f();
            self.times.push(t.elapsed());
            let (c1, b1) = alloc::snapshot();
            self.allocs += c1 - c0;
            self.bytes += b1 - b0;
        }
        self.faults += minor_faults() - faults;
    }

    fn stats(self) -> Stats {
        let n = self.times.len();
        Stats::of(self.times, self.allocs, self.bytes, self.faults, n)
    }
}

impl Stats {
    /// The statistics of `times`, with the counts of `n` operations.
    pub fn of(mut times: Vec<Duration>, allocs: u64, bytes: u64, faults: u64, n: usize) -> Stats {
        times.sort();
        let at =
            |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
        let total: f64 = times.iter().map(Duration::as_secs_f64).sum();
        Stats {
            n,
            median_us: at(0.5),
            p90_us: at(0.9),
            p99_us: at(0.99),
            ops_per_s: n as f64 / total,
            allocs_per_op: allocs as f64 / n as f64,
            alloc_bytes_per_op: bytes as f64 / n as f64,
            faults_per_op: faults as f64 / n as f64,
            received: None,
        }
    }
}

/// Stats for a throughput run: `count` messages in `elapsed`.
pub fn throughput(count: u64, elapsed: Duration, received: u64) -> Stats {
    Stats {
        n: count as usize,
        median_us: elapsed.as_secs_f64() * 1e6 / count.max(1) as f64,
        p90_us: f64::NAN,
        p99_us: f64::NAN,
        ops_per_s: count as f64 / elapsed.as_secs_f64(),
        allocs_per_op: f64::NAN,
        alloc_bytes_per_op: f64::NAN,
        faults_per_op: f64::NAN,
        received: Some(received),
    }
}
