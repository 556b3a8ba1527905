//! `reem hz`: how often a topic is published, like `ros2 topic hz`.
//!
//! Arrival times are taken when reem's subscriber receives each notification (before any
//! decoding: the messages are not decoded at all), over a sliding window of the most recent
//! intervals; a report is printed once a second.

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

use reem::RedisInterface;

use crate::args::HzArgs;
use crate::fail::{Code, Failure, Result};
use crate::listen::{seconds, subscribe, Tick};
use crate::out::Palette;

/// Time between two reports.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// Statistics over the intervals between arrivals.
#[derive(Debug, PartialEq)]
pub struct Rates {
    /// Messages per second.
    pub rate: f64,
    pub min: f64,
    pub max: f64,
    pub std_dev: f64,
    /// Intervals the numbers are computed over.
    pub window: usize,
}

/// The statistics of the arrival times `times` (oldest first); `None` with fewer than two.
pub fn rates(times: &VecDeque<Instant>) -> Option<Rates> {
    let intervals: Vec<f64> = times
        .iter()
        .zip(times.iter().skip(1))
        .map(|(a, b)| b.duration_since(*a).as_secs_f64())
        .collect();
    if intervals.is_empty() {
        return None;
    }
    let n = intervals.len() as f64;
    let mean = intervals.iter().sum::<f64>() / n;
    let var = intervals.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n;
    Some(Rates {
        rate: if mean > 0.0 {
            1.0 / mean
        } else {
            f64::INFINITY
        },
        min: intervals.iter().copied().fold(f64::INFINITY, f64::min),
        max: intervals.iter().copied().fold(0.0, f64::max),
        std_dev: var.sqrt(),
        window: intervals.len(),
    })
}

pub fn run(iface: &RedisInterface, args: &HzArgs, out: &mut impl Write, p: Palette) -> Result {
    let timeout = seconds(args.timeout)?;
    // Only publishes from now on: the stored message is not an arrival.
    let sub = subscribe::<Tick>(iface, &args.topic, true)?;
    let window = args.window as usize;
    let mut times: VecDeque<Instant> = VecDeque::with_capacity(window.min(1 << 16) + 1);
    let mut last_arrival = Instant::now();
    let mut next_report = Instant::now() + REPORT_EVERY;
    let mut reports = 0u64;
    let mut fresh = 0u64;
    loop {
        let wait = next_report.saturating_duration_since(Instant::now());
        if let Some(tick) = sub.recv_timeout(wait)? {
            times.push_back(tick.at);
            if times.len() > window + 1 {
                times.pop_front();
            }
            last_arrival = tick.at;
            fresh += 1;
            continue;
        }
        if Instant::now() < next_report {
            continue;
        }
        next_report += REPORT_EVERY;
        if let Some(t) = timeout {
            if last_arrival.elapsed() >= t {
                return Err(Failure::new(
                    Code::Timeout,
                    format!(
                        "topic {:?}: no message for {} s",
                        args.topic,
                        t.as_secs_f64()
                    ),
                ));
            }
        }
        match rates(&times).filter(|_| fresh > 0) {
            Some(r) => {
                let c = sub.counters();
                writeln!(out, "{} {:.3}", p.strong("average rate:"), r.rate)?;
                let mut line = format!(
                    "\tmin: {:.3}s max: {:.3}s std dev: {:.5}s window: {}",
                    r.min, r.max, r.std_dev, r.window
                );
                if c.skipped + c.dropped > 0 {
                    line.push_str(&format!(" missed: {}", c.skipped + c.dropped));
                }
                writeln!(out, "{line}")?;
            }
            None => writeln!(out, "{}", p.dim("no new messages"))?,
        }
        out.flush()?;
        fresh = 0;
        reports += 1;
        if args.count.is_some_and(|n| reports >= n) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_arrivals_give_their_rate_and_no_spread() {
        let t0 = Instant::now();
        let times: VecDeque<Instant> = (0..11)
            .map(|i| t0 + Duration::from_millis(100 * i))
            .collect();
        let r = rates(&times).unwrap();
        assert!((r.rate - 10.0).abs() < 1e-9, "{r:?}");
        assert!((r.min - 0.1).abs() < 1e-9 && (r.max - 0.1).abs() < 1e-9);
        assert!(r.std_dev < 1e-9);
        assert_eq!(r.window, 10);
        assert_eq!(rates(&times.iter().take(1).copied().collect()), None);
    }
}
