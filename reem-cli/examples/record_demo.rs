//! Data to record: starts a private redis-server and publishes, as fast as one thread can
//! (or at `--hz N` per topic round), a pose, a laser scan and a 1 MiB camera image (a
//! gradient with sensor noise: compresses as a real image does, not as a test pattern),
//! each topic with a history of 1,000 messages, so that `reem record` loses nothing.
//!
//! ```text
//! cargo run -p reem-cli --example record_demo -- --seconds 20   # prints the REEM_URL to use
//! reem record -o run.mcap robot/pose robot/scan robot/camera     # in another terminal
//! ```
//!
//! At the end it prints how many messages it published on each topic.

use std::time::{Duration, Instant};

use reem::{PublishSpace, RedisInterface, ReemMarshal};
use reem_server::RedisServer;

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "robot.Pose2")]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "robot.Scan")]
struct Scan {
    stamp: f64,
    ranges: Vec<f32>,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "robot.Camera")]
struct Camera {
    stamp: f64,
    width: u32,
    height: u32,
    image: Vec<u8>,
}

fn arg(name: &str) -> Option<f64> {
    std::env::args()
        .skip_while(|a| a != name)
        .nth(1)
        .and_then(|s| s.parse().ok())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds = arg("--seconds").unwrap_or(20.0);
    let hz = arg("--hz");
    let server = RedisServer::start()?;
    let iface = RedisInterface::new(&server.url())?;
    let pubs = PublishSpace::new(&iface).with_history(1000);
    println!("export REEM_URL={}", server.url());
    // Give the recorder time to start.
    std::thread::sleep(Duration::from_secs_f64(arg("--wait").unwrap_or(3.0)));
    let (w, h) = (1024u32, 1024u32);
    let mut noise = 0x2545_f491_4f6c_dd1du64;
    let mut image = vec![0u8; (w * h) as usize];
    let start = Instant::now();
    let mut n = [0u64; 3];
    let mut i = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        i += 1;
        let t = start.elapsed().as_secs_f64();
        let x = i as f64 * 0.01;
        pubs.publish(
            "robot/pose",
            &Pose2 {
                x,
                y: x.sin(),
                theta: x.cos(),
            },
        )?;
        n[0] += 1;
        if i.is_multiple_of(2) {
            let ranges = (0..1080)
                .map(|k| 2.0 + ((k as f64 + x) * 0.05).sin() as f32)
                .collect();
            pubs.publish("robot/scan", &Scan { stamp: t, ranges })?;
            n[1] += 1;
        }
        if i.is_multiple_of(10) {
            for (k, px) in image.iter_mut().enumerate() {
                noise ^= noise << 13;
                noise ^= noise >> 7;
                noise ^= noise << 17;
                let (r, c) = (k as u32 / w, k as u32 % w);
                let base = ((r + c + i as u32) / 8) % 200;
                *px = (base + (noise & 7) as u32) as u8;
            }
            let frame = Camera {
                stamp: t,
                width: w,
                height: h,
                image: image.clone(),
            };
            pubs.publish("robot/camera", &frame)?;
            n[2] += 1;
        }
        if let Some(hz) = hz {
            std::thread::sleep(Duration::from_secs_f64(1.0 / hz));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "published in {secs:.1} s: robot/pose {} robot/scan {} robot/camera {} ({:.0} messages/s, {:.1} MB/s)",
        n[0],
        n[1],
        n[2],
        (n[0] + n[1] + n[2]) as f64 / secs,
        n[2] as f64 * f64::from(w * h) / 1e6 / secs,
    );
    // Keep the server for `reem info` / `reem play` until Enter or --linger seconds.
    std::thread::sleep(Duration::from_secs_f64(arg("--linger").unwrap_or(0.0)));
    Ok(())
}
