//! The seed's story, in Rust: a hand-written marshaller for a type of your own, registered
//! on the interface as a "ship", then used through the key-value store.
//!
//! `cargo run --example custom_marshaller` (uses `REEM_URL` if set, else a private server).
//!
//! The seed's `SpecialDatatypeMarshaller` has six methods; so does [`reem::Marshaller`].
//! Like the seed's, they never talk to Redis themselves: `write`, `read` and `delete`
//! queue commands on a pipeline that reem runs (in one MULTI/EXEC for writes), and
//! `interpret_read` turns the one reply into a value.

use std::any::Any;
use std::borrow::Cow;

use redis::{Pipeline, Value};
use reem::{Error, KeyValueStore, Marshaller, RedisInterface};

/// A reading from a thermometer: not derived, stored by hand.
#[derive(Debug, Clone, PartialEq)]
struct Temperature {
    celsius: f64,
    sensor: String,
}

/// Stores a `Temperature` as a hash with two fields, `celsius` and `sensor`.
struct TemperatureMarshaller;

impl Marshaller for TemperatureMarshaller {
    fn check_fit(&self, value: &dyn Any) -> bool {
        value.is::<Temperature>()
    }

    fn get_label(&self) -> Cow<'_, str> {
        Cow::Borrowed("example.Temperature")
    }

    fn write(&self, key: &str, value: &dyn Any, pipe: &mut Pipeline) -> reem::Result<()> {
        let t = value
            .downcast_ref::<Temperature>()
            .expect("check_fit accepted it");
        pipe.cmd("DEL").arg(key).ignore();
        pipe.cmd("HSET")
            .arg(key)
            .arg("celsius")
            .arg(t.celsius.to_string())
            .arg("sensor")
            .arg(&t.sensor)
            .ignore();
        Ok(())
    }

    fn read(&self, key: &str, pipe: &mut Pipeline) {
        pipe.cmd("HMGET").arg(key).arg("celsius").arg("sensor");
    }

    fn delete(&self, key: &str, pipe: &mut Pipeline) {
        pipe.cmd("DEL").arg(key).ignore();
    }

    fn interpret_read(&self, key: &str, reply: Value) -> reem::Result<Box<dyn Any + Send>> {
        let invalid = |what: &str| Error::InvalidField {
            key: key.to_owned(),
            field: what.to_owned(),
            expected: "a stored Temperature".to_owned(),
            found: format!("{reply:?}"),
        };
        let (celsius, sensor): (Option<String>, Option<String>) =
            redis::from_redis_value_ref(&reply).map_err(|_| invalid("celsius, sensor"))?;
        let celsius = celsius
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| invalid("celsius"))?;
        let sensor = sensor.ok_or_else(|| invalid("sensor"))?;
        Ok(Box::new(Temperature { celsius, sensor }))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _server) = reem_server::url_or_start()?;
    // As in the seed: RedisInterface(host, ships=[CustomMarshaller()]).
    let iface = RedisInterface::builder(&url)
        .ship(TemperatureMarshaller)
        .connect()?;
    let kv = KeyValueStore::new(&iface);

    let reading = Temperature {
        celsius: 21.5,
        sensor: "lab-3".into(),
    };
    kv.set_dyn("lab/temperature", &reading)?;
    println!(
        "wrote lab/temperature with the ship {:?}",
        TemperatureMarshaller.get_label()
    );

    let back = kv.get_dyn("lab/temperature")?;
    let back = back
        .downcast::<Temperature>()
        .expect("the stored label picks the Temperature ship");
    println!("read  lab/temperature = {back:?}");
    assert_eq!(*back, reading);

    let fields: Vec<(String, String)> =
        iface.with_connection(|c| redis::cmd("HGETALL").arg("lab/temperature").query(c))?;
    println!("stored as {fields:?}");
    Ok(())
}
