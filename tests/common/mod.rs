//! Shared harness: a private redis-server per test, and raw `redis` access to it.
#![allow(dead_code)]

pub mod faces;

use reem::{KeyValueStore, RedisInterface};
use reem_server::RedisServer;

/// A private server, an interface and a store on it; the server stops when this drops.
pub struct Harness {
    pub server: RedisServer,
    pub iface: RedisInterface,
    pub kv: KeyValueStore,
}

impl Harness {
    pub fn start() -> Self {
        let server = RedisServer::start().expect("start a private redis-server");
        let iface =
            RedisInterface::new(&server.url()).expect("connect to the private redis-server");
        let kv = KeyValueStore::new(&iface);
        Harness { server, iface, kv }
    }

    /// A plain `redis` connection to the same server, for writing and checking raw data.
    pub fn raw(&self) -> redis::Connection {
        redis::Client::open(self.server.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    /// `HGET key field` through the raw connection.
    pub fn hget(&self, key: &str, field: &str) -> Option<Vec<u8>> {
        redis::cmd("HGET")
            .arg(key)
            .arg(field)
            .query(&mut self.raw())
            .unwrap()
    }

    /// The stored field names of `key`, sorted.
    pub fn hkeys(&self, key: &str) -> Vec<String> {
        let mut k: Vec<String> = redis::cmd("HKEYS").arg(key).query(&mut self.raw()).unwrap();
        k.sort();
        k
    }

    /// Writes raw `field value` pairs as the hash at `key` (replacing it).
    pub fn write_raw(&self, key: &str, pairs: &[(&str, &[u8])]) {
        let mut con = self.raw();
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("DEL").arg(key).ignore();
        pipe.cmd("HSET").arg(key);
        for (f, v) in pairs {
            pipe.arg(*f).arg(*v);
        }
        pipe.ignore();
        pipe.query::<()>(&mut con).unwrap();
    }

    /// Sets one field of an existing hash.
    pub fn hset(&self, key: &str, field: &str, value: &[u8]) {
        redis::cmd("HSET")
            .arg(key)
            .arg(field)
            .arg(value)
            .exec(&mut self.raw())
            .unwrap();
    }
}
