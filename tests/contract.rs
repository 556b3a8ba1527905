//! docs/DESIGN.md, "The contract": the user code of the design, compiled and run as written
//! (against a private server; `get_field` in reem's spelling; `mut` on the subscribers, whose
//! `listen` takes `&mut self` as the contract says).

mod common;

use std::sync::mpsc;
use std::time::Duration;

use nalgebra::Isometry3;
use ndarray::Array3;
use reem::Fields;
use reem::{
    CallbackSubscriber, KeyValueStore, PublishSpace, RawSubscriber, RedisInterface, ReemMarshal,
};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "robot.CameraFrame")] // optional; default label = type name
struct CameraFrame {
    stamp: f64,
    seq: u64,
    frame_id: String,
    base: Pose2,                 // nested struct: flattened into the same hash
    camera_pose: Isometry3<f64>, // nalgebra
    image: Array3<u8>,           // ndarray
    #[reem(rename = "depth")]
    depth_m: Option<ndarray::Array2<f32>>,
    #[reem(skip)]
    scratch: Vec<u8>, // not stored; Default on read
}

fn frame(seq: u64) -> CameraFrame {
    CameraFrame {
        stamp: 1.5,
        seq,
        frame_id: "cam".into(),
        base: Pose2 {
            x: 1.0,
            y: 2.0,
            theta: 0.5,
        },
        camera_pose: Isometry3::translation(0.1, 0.2, 0.3),
        image: Array3::from_shape_fn((48, 64, 3), |(i, j, k)| (i + j + k) as u8),
        depth_m: Some(ndarray::Array2::from_elem((48, 64), 1.5)),
        scratch: vec![],
    }
}

#[test]
fn the_design_card_example_compiles_and_works() -> reem::Result<()> {
    let server = reem_server::RedisServer::start().expect("a private redis-server");
    let frame = frame(7);

    let iface = RedisInterface::new(&server.url())?; // also unix:///path/redis.sock
    let kv = KeyValueStore::new(&iface);
    kv.set("robot/camera", &frame)?; // one atomic round trip
    let back: CameraFrame = kv.get("robot/camera")?; // one round trip; typed errors
    assert_eq!(back, frame);
    let stamp: f64 = kv.get_field("robot/camera", &CameraFrame::fields().stamp())?;
    assert_eq!(stamp, 1.5);

    let pubs = PublishSpace::new(&iface);
    pubs.publish("camera", &frame)?; // stores latest AND notifies, atomically
    let mut sub = RawSubscriber::<CameraFrame>::new(&iface, "camera")?;
    sub.listen()?; // background receive
    let latest: Option<CameraFrame> = sub.value(); // newest decoded message
    assert_eq!(
        latest.map(|f| f.seq),
        Some(7),
        "a late joiner sees the stored message"
    );
    let (tx, rx) = mpsc::channel();
    let mut cb = CallbackSubscriber::new(&iface, "camera", move |f: CameraFrame| {
        let _ = tx.send(f.seq);
    })?;
    cb.listen()?;
    pubs.publish("camera", &self::frame(8))?;
    let mut seen = Vec::new();
    while let Ok(seq) = rx.recv_timeout(Duration::from_secs(5)) {
        seen.push(seq);
        if seq == 8 {
            break;
        }
    }
    assert_eq!(seen.last(), Some(&8));
    Ok(())
}

#[test]
fn contract_types_are_what_the_card_promises() {
    fn clone_send_sync<T: Clone + Send + Sync>() {}
    fn error<E: std::error::Error + Send + Sync + 'static>() {}
    clone_send_sync::<RedisInterface>();
    error::<reem::Error>();
}
