//! A tokio publisher and a `Stream` subscriber (`reem::aio`, feature `tokio`).
//!
//! ```sh
//! cargo run --example async_pubsub      # uses $REEM_URL if set and reachable, else a private redis-server
//! ```
//!
//! The publisher task sends a pose every 50 ms for a second; the subscriber takes them with
//! `tokio::select!`, gives up after 500 ms without a message, and prints its counters.

use std::time::Duration;

use reem::{aio, RedisInterface, ReemMarshal};

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _server) = reem_server::url_or_start()?;
    // Opening the interface checks the server once (a blocking connect, at start-up).
    let iface = RedisInterface::new(&url)?;

    // Subscribe first: the stream starts with the stored latest pose, if any.
    let mut poses = aio::Subscriber::<Pose2>::new(&iface, "robot/pose").await?;

    let pubs = aio::PublishSpace::new(&iface);
    let publisher = tokio::spawn(async move {
        for i in 0..20 {
            let t = f64::from(i) * 0.05;
            let pose = Pose2 {
                x: t.cos(),
                y: t.sin(),
                theta: t,
            };
            pubs.publish("robot/pose", &pose).await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok::<(), reem::Error>(())
    });

    loop {
        tokio::select! {
            item = poses.recv() => match item {
                Ok(pose) => println!("pose  x {:+.3}  y {:+.3}  theta {:.2}", pose.x, pose.y, pose.theta),
                // A message that did not decode, or a lost connection: the stream goes on.
                Err(e) => eprintln!("skipped: {e}"),
            },
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                println!("no pose for 500 ms: done");
                break;
            }
        }
    }
    publisher.await??;

    let kv = aio::KeyValueStore::new(&iface);
    let last: Pose2 = kv.get("robot/pose").await?;
    println!("stored latest: {last:?}");
    println!("counters: {:?}", poses.counters());
    Ok(())
}
