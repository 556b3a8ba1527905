//! Data to try the `reem` tool on: starts a private redis-server, stores a few messages
//! (and two keys of "another program"), and publishes a pose at 20 Hz.
//!
//! ```text
//! cargo run -p reem-cli --example cli_demo      # prints the REEM_URL to use, runs until Ctrl-C
//! REEM_URL=redis://127.0.0.1:PORT reem ls       # in another terminal
//! ```
//!
//! `--seconds N` stops after N seconds.

use std::time::{Duration, Instant};

use ndarray::Array3;
use reem::{KeyValueStore, PublishSpace, RedisInterface, ReemMarshal};
use reem_server::RedisServer;

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, Copy, PartialEq)]
enum Mode {
    Idle,
    Driving,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "robot.Status")]
struct Status {
    stamp: f64,
    frame_id: String,
    base: Pose2,
    mode: Mode,
    #[reem(rename = "batt")]
    battery: Option<f32>,
    ranges: Vec<f32>,
    path: Vec<Pose2>,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "robot.CameraFrame")]
struct CameraFrame {
    stamp: f64,
    seq: u64,
    frame_id: String,
    image: Array3<u8>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: Option<f64> = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok());
    let server = RedisServer::start()?;
    let iface = RedisInterface::new(&server.url())?;
    let kv = KeyValueStore::new(&iface);

    let pose = |t: f64| Pose2 {
        x: 1.5 + t.cos(),
        y: -0.25 + t.sin(),
        theta: t % std::f64::consts::TAU,
    };
    kv.set(
        "robot/status",
        &Status {
            stamp: 1732550400.25,
            frame_id: "map".into(),
            base: pose(0.0),
            mode: Mode::Driving,
            battery: Some(0.82),
            ranges: (0..360)
                .map(|i| 0.5 + (i as f32 / 40.0).sin().abs() * 4.0)
                .collect(),
            path: vec![pose(0.0), pose(0.5), pose(1.0)],
        },
    )?;
    let image = Array3::from_shape_fn((480, 640, 3), |(r, c, ch)| ((r + c + 85 * ch) % 256) as u8);
    kv.set(
        "camera/front",
        &CameraFrame {
            stamp: 1732550400.2,
            seq: 1201,
            frame_id: "camera_front".into(),
            image,
        },
    )?;
    // Keys of other programs: `reem ls` leaves them out, `reem ls --all` marks them.
    iface.raw_query(redis::cmd("SET").arg("legacy/counter").arg(42))?;
    iface.raw_query(
        redis::cmd("HSET")
            .arg("python/config")
            .arg("rate")
            .arg("20"),
    )?;

    println!("export REEM_URL={}", server.url());
    let pubs = PublishSpace::new(&iface);
    let start = Instant::now();
    let mut next = start;
    while seconds.is_none_or(|s| start.elapsed().as_secs_f64() < s) {
        pubs.publish("robot/pose", &pose(start.elapsed().as_secs_f64()))?;
        next += Duration::from_millis(50);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(())
}
