//! The README's array example, as a user outside the workspace writes it.

use reem::{KeyValueStore, RedisInterface, ReemMarshal};

#[derive(ReemMarshal)]
#[reem(label = "robot.CameraFrame")]
pub struct CameraFrame {
    pub stamp: f64,
    pub seq: u64,
    pub frame_id: String,
    pub image: ndarray::Array3<u8>,     // 480 × 640 × 3
    pub pose: nalgebra::Isometry3<f64>, // pose.translation.arr, pose.rotation.arr
}

/// Stores `frame` and reads it back.
pub fn round_trip(url: &str, frame: &CameraFrame) -> reem::Result<CameraFrame> {
    let iface = RedisInterface::new(url)?;
    let kv = KeyValueStore::new(&iface);
    kv.set("robot/camera", frame)?;
    kv.get("robot/camera")
}
