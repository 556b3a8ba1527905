//! Watches a topic that `examples/publisher.rs` publishes: a callback prints every pose as
//! it arrives, and once a second the newest value, the counters and the connection state
//! are shown.
//!
//! ```text
//! # terminal 1: uses $REEM_URL, or starts a private redis-server and prints its URL
//! cargo run --example publisher
//! # terminal 2: with the URL the publisher printed
//! REEM_URL=redis://127.0.0.1:PORT cargo run --example subscriber
//! ```
//!
//! Arguments: `subscriber [TOPIC] [SECONDS]` (default `demo/pose`, until Ctrl-C). Start it
//! after the publisher stopped: it still shows the last pose at once (the stored latest
//! value). Restart Redis: the state turns `Reconnecting`, then `Connected`, and poses flow
//! again with no action.

use std::time::{Duration, Instant};

use reem::{CallbackSubscriber, RawSubscriber, RedisInterface, ReemMarshal};

/// The message: the same type (same label and fields) as in `examples/publisher.rs`.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "demo.Pose")]
struct Pose {
    stamp: f64,
    n: u64,
    x: f64,
    y: f64,
    theta: f64,
    frame_id: String,
}

fn main() -> reem::Result<()> {
    let mut args = std::env::args().skip(1);
    let topic = args.next().unwrap_or_else(|| "demo/pose".to_owned());
    let seconds: Option<f64> = args.next().and_then(|a| a.parse().ok());
    let Ok(url) = std::env::var("REEM_URL") else {
        eprintln!("set REEM_URL to the Redis the publisher uses: the URL that");
        eprintln!("`cargo run --example publisher` prints, as in");
        eprintln!("  REEM_URL=redis://127.0.0.1:PORT cargo run --example subscriber");
        std::process::exit(2);
    };
    let iface = RedisInterface::new(&url)?;

    let mut printer = CallbackSubscriber::new(&iface, &topic, |p: Pose| {
        println!(
            "#{:<6} t {:>7.2} s  x {:+.2}  y {:+.2}  theta {:+.2}  ({})",
            p.n, p.stamp, p.x, p.y, p.theta, p.frame_id
        )
    })?;
    printer.listen()?;
    let mut newest = RawSubscriber::<Pose>::new(&iface, &topic)?;
    newest.listen()?;
    println!("listening to {topic:?} on {url}");

    let start = Instant::now();
    while seconds.is_none_or(|s| start.elapsed().as_secs_f64() < s) {
        std::thread::sleep(Duration::from_secs(1));
        let status = newest.status();
        let c = newest.counters();
        println!(
            "-- newest #{}, received {}, skipped {}, decode errors {}; {:?}{}",
            newest.latest().map_or(0, |p| p.n),
            c.received,
            c.skipped,
            c.decode_errors,
            status.state,
            status
                .last_error
                .map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
