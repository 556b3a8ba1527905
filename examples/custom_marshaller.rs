//! The seed's story, in Rust: a hand-written marshaller for a type of your own, registered
//! on the interface as a "ship", then used through the key-value store.
//!
//! `cargo run --example custom_marshaller` (uses `REEM_URL` if set, else a private server).
//!
//! The seed's `SpecialDatatypeMarshaller` has six methods; so does [`reem::ReemMarshal`].
//! Like the seed's, they never talk to Redis themselves: `write`, `read` and `delete`
//! queue commands that reem runs (in one MULTI/EXEC for writes), and `interpret_read` turns
//! the one reply into a value.

use std::borrow::Cow;

use redis::Value;
use reem::marshal::Commands;
use reem::{ship, Error, KeyValueStore, RedisInterface, ReemMarshal};

/// A reading from a thermometer: not derived, stored by hand.
#[derive(Debug, Clone, PartialEq)]
struct Temperature {
    celsius: f64,
    sensor: String,
}

/// Stored as a hash with two fields, `celsius` and `sensor`, and nothing else.
impl ReemMarshal for Temperature {
    fn get_label() -> Cow<'static, str> {
        Cow::Borrowed("example.Temperature")
    }

    // `check_fit` keeps its default: a value fits if it is a `Temperature`.

    fn write<'a>(&'a self, key: &str, out: &mut Commands<'a>) -> reem::Result<()> {
        out.cmd("DEL").arg(key);
        out.cmd("HSET")
            .arg(key)
            .arg("celsius")
            .arg(self.celsius.to_string())
            .arg("sensor")
            .arg(&self.sensor);
        Ok(())
    }

    fn read(key: &str, out: &mut Commands<'_>) {
        out.cmd("HMGET").arg(key).arg("celsius").arg("sensor");
    }

    fn delete(key: &str, out: &mut Commands<'_>) {
        out.cmd("DEL").arg(key);
    }

    fn interpret_read(key: &str, reply: Value) -> reem::Result<Self> {
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
        Ok(Temperature { celsius, sensor })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, _server) = reem_server::url_or_start()?;
    // As in the seed: RedisInterface(host, ships=[CustomMarshaller()]).
    let iface = RedisInterface::builder(&url)
        .ship(ship::<Temperature>())
        .connect()?;
    let kv = KeyValueStore::new(&iface);

    let reading = Temperature {
        celsius: 21.5,
        sensor: "lab-3".into(),
    };
    // Typed: the marshaller of `Temperature` writes it.
    kv.set("lab/typed", &reading)?;
    assert_eq!(kv.get::<Temperature>("lab/typed")?, reading);

    // Dynamic, as in the seed: the first ship whose `check_fit` accepts the value writes it
    // (with its label), and the stored label picks the ship that reads it back.
    kv.set_dyn("lab/temperature", &reading)?;
    println!(
        "wrote lab/temperature with the ship {:?}",
        Temperature::get_label()
    );
    let back = kv.get_dyn("lab/temperature")?;
    let back = back
        .downcast::<Temperature>()
        .expect("the stored label picks the Temperature ship");
    println!("read  lab/temperature = {back:?}");
    assert_eq!(*back, reading);

    let fields = iface.raw_query(redis::cmd("HGETALL").arg("lab/temperature"))?;
    let fields: Vec<(String, String)> = redis::from_redis_value(fields).map_err(|e| Error::Io {
        context: "HGETALL lab/temperature".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    println!("stored as {fields:?}");
    Ok(())
}
