//! The Rust side of the Python package's cross-language tests (`reem-py/tests`): writes
//! every message kind of the interop tests, reads back what Python wrote as the Rust types,
//! and publishes or subscribes on a topic.
//!
//! ```text
//! python_interop URL write                 # the messages at rs/<name>
//! python_interop URL check                 # reads py/<name> as the Rust types; prints "ok"
//! python_interop URL publish TOPIC N       # N Pose2 messages, x = 1..=N
//! python_interop URL subscribe TOPIC N     # prints "ready", then the x of N messages
//! ```

#[path = "camera.rs"]
#[allow(dead_code)]
mod camera;

use std::io::Write as _;
use std::time::Duration;

use nalgebra::{DVector, Isometry3, Matrix2x3, Translation3, UnitQuaternion};
use ndarray::{arr0, array, Array0, Array1, Array2, Array3};
use reem::{
    Delivery, Json, KeyValueStore, PublishSpace, RawSubscriber, RedisInterface, ReemMarshal,
};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Pose2")]
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
#[reem(label = "test.Status")]
struct Status {
    stamp: f64,
    seq: u64,
    frame_id: String,
    ok: bool,
    mode: Mode,
    base: Pose2,
    battery: Option<f32>,
    tags: Vec<String>,
    path: Vec<Pose2>,
    meta: Json<Vec<i32>>,
}

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Sensors")]
struct Sensors {
    seq: u64,
    image: Array3<u8>,
    depth: Option<Array2<f32>>,
    ranges: Vec<f64>,
    counts: Array1<i16>,
    calib: Matrix2x3<f64>,
    pose: Isometry3<f64>,
}

/// Integer widths and `f32` that Python says with numpy scalars.
#[derive(ReemMarshal, Debug, Clone, PartialEq)]
#[reem(label = "test.Imu")]
struct Imu {
    id: u8,
    temp: i16,
    count: u32,
    scale: f32,
    ok: bool,
    t: i32,
}

fn imu() -> Imu {
    Imu {
        id: 7,
        temp: -40,
        count: 100_000,
        scale: 0.5,
        ok: true,
        t: -5,
    }
}

fn pose2() -> Pose2 {
    Pose2 {
        x: 1.5,
        y: -0.25,
        theta: 0.785,
    }
}

/// `written_by_python`: what Python writes differs where a Python value cannot say it (see
/// the test).
fn status(written_by_python: bool) -> Status {
    Status {
        stamp: 1_712_000_000.25,
        seq: if written_by_python { 43 } else { 42 },
        frame_id: "map".into(),
        ok: true,
        mode: if written_by_python {
            Mode::Idle
        } else {
            Mode::Driving
        },
        base: Pose2 {
            x: 1.0,
            y: 2.0,
            theta: 0.5,
        },
        battery: if written_by_python { None } else { Some(0.75) },
        tags: vec!["a".into(), "b".into()],
        path: vec![
            Pose2 {
                x: 0.0,
                y: 0.0,
                theta: 0.0,
            },
            Pose2 {
                x: 1.0,
                y: 1.0,
                theta: 1.5,
            },
        ],
        meta: Json(vec![1, 2, 3]),
    }
}

fn sensors() -> Sensors {
    Sensors {
        seq: 3,
        image: Array3::from_shape_fn((4, 5, 3), |(r, c, k)| (r * 15 + c * 3 + k) as u8),
        depth: Some(array![[0.5, 1.0, 1.5], [2.0, 2.5, 3.0]]),
        ranges: vec![0.5, 0.25, 1e-300],
        counts: array![-7, 0, 7, 300],
        calib: Matrix2x3::new(1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
        pose: Isometry3::from_parts(Translation3::new(1.0, 2.0, 3.0), UnitQuaternion::identity()),
    }
}

fn u8_3d() -> Array3<u8> {
    Array3::from_shape_fn((2, 3, 4), |(i, j, k)| (i * 12 + j * 4 + k) as u8)
}

fn f32_2d() -> Array2<f32> {
    array![[1.5, -2.0], [0.0, 3.25]]
}

fn i16_2d() -> Array2<i16> {
    array![[-1, 2], [300, -400]]
}

fn big() -> Array1<f64> {
    Array1::from_shape_fn(1 << 20, |i| i as f64)
}

fn write(kv: &KeyValueStore) -> reem::Result<()> {
    kv.set("rs/pose2", &pose2())?;
    kv.set("rs/imu", &imu())?;
    kv.set("rs/status", &status(false))?;
    kv.set("rs/sensors", &sensors())?;
    kv.set("rs/camera", &camera::sample_frame())?;
    kv.set("rs/u8_3d", &u8_3d())?;
    kv.set("rs/f32_2d", &f32_2d())?;
    kv.set("rs/f64_vec", &vec![0.5f64, 1.5, -2.0])?;
    kv.set("rs/i16_2d", &i16_2d())?;
    kv.set("rs/f64_0d", &arr0(-0.75f64))?;
    kv.set(
        "rs/matrix",
        &Matrix2x3::new(1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0),
    )?;
    kv.set("rs/dvector", &DVector::from_vec(vec![1.0f64, 2.0, 3.0]))?;
    kv.set("rs/big", &big())?;
    Ok(())
}

fn check(kv: &KeyValueStore) -> reem::Result<()> {
    fn same<T: PartialEq + std::fmt::Debug>(key: &str, got: T, want: T) {
        assert_eq!(got, want, "{key}");
    }
    same("py/pose2", kv.get("py/pose2")?, pose2());
    same("py/status", kv.get("py/status")?, status(true));
    same("py/imu", kv.get("py/imu")?, imu());
    same("py/sensors", kv.get("py/sensors")?, sensors());
    same("py/camera", kv.get("py/camera")?, camera::sample_frame());
    same("py/u8_3d", kv.get("py/u8_3d")?, u8_3d());
    same("py/f32_2d", kv.get("py/f32_2d")?, f32_2d());
    same::<Vec<f64>>("py/f64_vec", kv.get("py/f64_vec")?, vec![0.5, 1.5, -2.0]);
    same("py/i16_2d", kv.get("py/i16_2d")?, i16_2d());
    same::<Array0<f64>>("py/f64_0d", kv.get("py/f64_0d")?, arr0(-0.75));
    same(
        "py/matrix",
        kv.get("py/matrix")?,
        Matrix2x3::new(1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0),
    );
    same(
        "py/dvector",
        kv.get("py/dvector")?,
        DVector::from_vec(vec![1.0f64, 2.0, 3.0]),
    );
    // A message of another type: the same SchemaMismatch as between Rust types.
    match kv.get::<Pose2>("py/not_a_pose") {
        Err(reem::Error::SchemaMismatch { .. }) => {}
        other => panic!("py/not_a_pose: {other:?}"),
    }
    println!("ok");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let iface = RedisInterface::new(arg(0))?;
    let kv = KeyValueStore::new(&iface);
    match arg(1) {
        "write" => write(&kv)?,
        "check" => check(&kv)?,
        "publish" => {
            let pubs = PublishSpace::new(&iface);
            for i in 1..=arg(3).parse::<u32>()? {
                let x = f64::from(i);
                pubs.publish(
                    arg(2),
                    &Pose2 {
                        x,
                        y: -x,
                        theta: 0.5,
                    },
                )?;
            }
        }
        "subscribe" => {
            let n: usize = arg(3).parse()?;
            let mut sub =
                RawSubscriber::<Pose2>::with_delivery(&iface, arg(2), Delivery::Queue(n + 1))?;
            sub.listen()?;
            println!("ready");
            std::io::stdout().flush()?;
            for _ in 0..n {
                match sub.recv_timeout(Duration::from_secs(10))? {
                    Some(p) => println!("{} {} {}", p.x, p.y, p.theta),
                    None => return Err("no message within 10 s".into()),
                }
            }
            let c = sub.counters();
            println!("decode_errors {}", c.decode_errors);
        }
        other => return Err(format!("unknown command {other:?}").into()),
    }
    Ok(())
}
