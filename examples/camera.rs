//! A camera frame: an `Array3<u8>` image and an `Isometry3<f64>` pose in one derived struct,
//! written and read back through the key-value store, then checked byte for byte.
//!
//! ```text
//! cargo run --release --example camera                       # starts a private redis-server
//! REEM_URL=redis://127.0.0.1:6379 cargo run --example camera  # or uses yours
//! ```
//!
//! The frame is one hash at `robot/camera`: `stamp`, `seq`, `frame_id`, the image as
//! `image.arr` (480 × 640 × 3 bytes), `image.dtype`, `image.shape`, `image.strides`, and the
//! pose as `pose.translation.*` (x, y, z) and `pose.rotation.*` (quaternion x, y, z, w).
//! Python reads it with redis-py and numpy (nothing is `eval`ed):
//!
//! ```python
//! import numpy as np, redis
//! h = redis.Redis.from_url("redis://127.0.0.1:6379").hgetall("robot/camera")
//! def array(name):  # one array field of a reem message
//!     dims = h[f"{name}.shape".encode()].decode()[1:-1].split(",")
//!     dtype = np.dtype(h[f"{name}.dtype".encode()].decode())
//!     return np.frombuffer(h[f"{name}.arr".encode()], dtype).reshape([int(d) for d in dims if d.strip()])
//! image = array("image")                                        # (480, 640, 3) uint8
//! t, q = array("pose.translation"), array("pose.rotation")      # x y z, quaternion x y z w
//! print(image.shape, image.dtype, image[10, 20], t, q)
//! ```

use std::time::Instant;

use nalgebra::{Isometry3, Translation3, UnitQuaternion};
use ndarray::Array3;
use reem::{KeyValueStore, RedisInterface, ReemMarshal};

/// One camera frame, as a camera driver would publish it.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "robot.CameraFrame")]
pub struct CameraFrame {
    /// Seconds since the epoch.
    pub stamp: f64,
    /// Frame counter.
    pub seq: u64,
    /// Coordinate frame of the pose.
    pub frame_id: String,
    /// The camera's pose in `frame_id`.
    pub pose: Isometry3<f64>,
    /// Rows × columns × RGB.
    pub image: Array3<u8>,
}

/// The key the example writes.
pub const KEY: &str = "robot/camera";

/// A 480 × 640 RGB frame with a recognisable pattern (pixel `[r, c]` is `[r, c, r ^ c]`
/// modulo 256) and a pose rotated 90° about z.
pub fn sample_frame() -> CameraFrame {
    CameraFrame {
        stamp: 1_712_000_000.25,
        seq: 42,
        frame_id: "map".into(),
        pose: Isometry3::from_parts(
            Translation3::new(1.0, 2.0, 0.5),
            UnitQuaternion::from_euler_angles(0.0, 0.0, std::f64::consts::FRAC_PI_2),
        ),
        image: Array3::from_shape_fn((480, 640, 3), |(r, c, ch)| match ch {
            0 => r as u8,
            1 => c as u8,
            _ => (r ^ c) as u8,
        }),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, server) = reem_server::url_or_start()?;
    let iface = RedisInterface::new(&url)?;
    match &server {
        Some(s) => println!("started a private redis-server at {}", s.url()),
        None => println!("using REEM_URL = {}", iface.url()),
    }
    let kv = KeyValueStore::new(&iface);

    let frame = sample_frame();
    let t = Instant::now();
    kv.set(KEY, &frame)?;
    let wrote = t.elapsed();
    let t = Instant::now();
    let back: CameraFrame = kv.get(KEY)?;
    let read = t.elapsed();
    assert_eq!(back, frame, "the frame read back differs");

    let q = back.pose.rotation;
    println!(
        "wrote and read back {KEY}: image {:?} ({} bytes) in {wrote:.2?} / {read:.2?}",
        back.image.dim(),
        back.image.len(),
    );
    println!(
        "pose: translation {:?}, rotation (x, y, z, w) = ({:.3}, {:.3}, {:.3}, {:.3})",
        back.pose.translation.vector.as_slice(),
        q.i,
        q.j,
        q.k,
        q.w
    );
    println!(
        "pixel [10, 20] = {:?}",
        back.image.slice(ndarray::s![10, 20, ..]).to_vec()
    );
    if server.is_none() {
        println!("read it from Python with the snippet in this example's docs");
    }
    Ok(())
}
