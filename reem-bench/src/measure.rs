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
    /// Throughput rows: how many messages the subscriber received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<u64>,
}

/// One workload measured for reem and raw.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: String,
    pub what: String,
    pub reem: Stats,
    pub raw: Stats,
    /// reem median / raw median (for throughput rows: reem rate / raw rate).
    pub ratio: f64,
    pub target: String,
    pub note: String,
}

/// Runs `rounds` rounds of `per_round` operations of each side, alternating which goes
/// first, timing every operation.
pub fn compare(
    rounds: usize,
    per_round: usize,
    mut reem: impl FnMut(),
    mut raw: impl FnMut(),
) -> (Stats, Stats) {
    let (mut a, mut b) = (Side::default(), Side::default());
    for _ in 0..per_round.min(20) {
        reem();
        raw();
    }
    for round in 0..rounds {
        if round % 2 == 0 {
            a.run(per_round, &mut reem);
            b.run(per_round, &mut raw);
        } else {
            b.run(per_round, &mut raw);
            a.run(per_round, &mut reem);
        }
    }
    (a.stats(), b.stats())
}

#[derive(Default)]
struct Side {
    times: Vec<Duration>,
    allocs: u64,
    bytes: u64,
}

impl Side {
    fn run(&mut self, n: usize, f: &mut impl FnMut()) {
        for _ in 0..n {
            let (c0, b0) = alloc::snapshot();
            let t = Instant::now();
            f();
            self.times.push(t.elapsed());
            let (c1, b1) = alloc::snapshot();
            self.allocs += c1 - c0;
            self.bytes += b1 - b0;
        }
    }

    fn stats(mut self) -> Stats {
        self.times.sort();
        let n = self.times.len();
        let at = |q: f64| self.times[((n as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1e6;
        let total: f64 = self.times.iter().map(Duration::as_secs_f64).sum();
        Stats {
            n,
            median_us: at(0.5),
            p90_us: at(0.9),
            p99_us: at(0.99),
            ops_per_s: n as f64 / total,
            allocs_per_op: self.allocs as f64 / n as f64,
            alloc_bytes_per_op: self.bytes as f64 / n as f64,
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
        received: Some(received),
    }
}
