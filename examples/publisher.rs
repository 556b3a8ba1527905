//! Publishes a robot's pose on a topic, 10 times a second, and a camera frame (the
//! `CameraFrame` of `examples/camera.rs`: a 480 × 640 RGB image and the camera's pose) on
//! `TOPIC/camera` twice a second; `examples/subscriber.rs` in a second terminal watches the
//! pose, `examples/python/camera_and_pose.py` reads both from Python.
//!
//! ```text
//! # terminal 1: uses $REEM_URL, or starts a private redis-server and prints its URL
//! cargo run --example publisher
//! # terminal 2: with the URL the publisher printed
//! REEM_URL=redis://127.0.0.1:PORT cargo run --example subscriber
//! ```
//!
//! Arguments: `publisher [TOPIC] [HZ] [SECONDS]` (default `demo/pose`, 10 Hz, until
//! Ctrl-C). Stop and restart Redis while both run: the publisher reports the failed
//! publishes and carries on, the subscriber reconnects by itself.

use std::time::{Duration, Instant};

use reem::{PublishSpace, RedisInterface, ReemMarshal};

#[path = "camera.rs"]
#[allow(dead_code)]
mod camera;

/// The message: the same type (same label and fields) as in `examples/subscriber.rs`.
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let topic = args.next().unwrap_or_else(|| "demo/pose".to_owned());
    let hz: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let seconds: Option<f64> = args.next().and_then(|a| a.parse().ok());

    let (url, server) = reem_server::url_or_start()?;
    if server.is_some() {
        println!("started a private redis-server at {url}; in another terminal run:");
    } else {
        println!("publishing on {url}; in another terminal run:");
    }
    println!("  REEM_URL={url} cargo run --example subscriber {topic}\n");

    let iface = RedisInterface::new(&url)?;
    let pubs = PublishSpace::new(&iface);
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / hz.max(0.1));
    let mut next = Instant::now();
    let camera_topic = format!("{topic}/camera");
    let mut frame = camera::sample_frame();
    let every = (hz / 2.0).round().max(1.0) as u64;
    for n in 1.. {
        let t = start.elapsed().as_secs_f64();
        let pose = Pose {
            stamp: t,
            n,
            x: 2.0 * (0.5 * t).cos(),
            y: 2.0 * (0.5 * t).sin(),
            theta: 0.5 * t + std::f64::consts::FRAC_PI_2,
            frame_id: "map".into(),
        };
        match pubs.publish(&topic, &pose) {
            Ok(()) if n % hz.max(1.0) as u64 == 0 => {
                println!(
                    "published #{n} on {topic:?}: x {:+.2} y {:+.2}",
                    pose.x, pose.y
                )
            }
            Ok(()) => {}
            Err(e) => eprintln!("publish #{n} failed: {e}"),
        }
        if (n - 1) % every == 0 {
            frame.stamp = t;
            frame.seq += 1;
            if let Err(e) = pubs.publish(&camera_topic, &frame) {
                eprintln!("publish of frame {} failed: {e}", frame.seq);
            }
        }
        if seconds.is_some_and(|s| t >= s) {
            break;
        }
        next += period;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(())
}
