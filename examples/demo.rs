//! The reem demo: a robot's status written as a typed message, read back whole and field by
//! field, and shown as Redis stores it.
//!
//! ```text
//! cargo run --example demo                      # starts a private redis-server
//! REEM_URL=redis://127.0.0.1:6379 cargo run --example demo
//! ```

use reem::Fields;
use reem::{KeyValueStore, RedisInterface, ReemMarshal};

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
    seq: u64,
    frame_id: String,
    mode: Mode,
    base: Pose2,
    #[reem(rename = "batt")]
    battery: Option<f32>,
    ranges: Vec<f32>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, server) = reem_server::url_or_start()?;
    let iface = RedisInterface::new(&url)?;
    match &server {
        Some(s) => println!("started a private redis-server at {}", s.url()),
        None => println!("using REEM_URL = {}", iface.url()),
    }
    let kv = KeyValueStore::new(&iface);

    let status = Status {
        stamp: 1712.25,
        seq: 42,
        frame_id: "map".into(),
        mode: Mode::Driving,
        base: Pose2 {
            x: 1.5,
            y: -0.25,
            theta: 0.785,
        },
        battery: Some(0.82),
        ranges: vec![0.5, 1.25, 4.0],
    };
    kv.set("demo/status", &status)?;
    println!("wrote   demo/status = {status:?}");

    let back: Status = kv.get("demo/status")?;
    println!("read    demo/status = {back:?}");
    assert_eq!(back, status);

    let theta = kv.get_field(
        "demo/status",
        &Status::fields().base().then(Pose2::fields().theta()),
    )?;
    println!("read    demo/status base.theta = {theta}");
    kv.set_field("demo/status", &Status::fields().mode(), &Mode::Idle)?;
    println!("set     demo/status mode = Idle (one field, atomically)");

    println!("\nwhat Redis holds (HGETALL demo/status):");
    let raw = iface.raw_query(redis::cmd("HGETALL").arg("demo/status"))?;
    let mut raw: Vec<(String, Vec<u8>)> =
        redis::from_redis_value(raw).expect("HGETALL gives field/value pairs");
    raw.sort();
    for (field, value) in raw {
        let shown = match std::str::from_utf8(&value) {
            Ok(text) if text.len() <= 60 => text.to_owned(),
            Ok(text) => format!(
                "{}…",
                &text[..text.char_indices().nth(57).map_or(text.len(), |(i, _)| i)]
            ),
            Err(_) => format!("<{} bytes>", value.len()),
        };
        println!("  {field:<14} {shown}");
    }
    Ok(())
}
