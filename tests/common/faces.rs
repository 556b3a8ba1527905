//! One test body, both faces: the blocking [`KeyValueStore`] and `reem::aio`'s store.
//!
//! A test body is written once, generic over [`Kv`]; `faces!(name)` runs it on each face
//! as the tests `name::sync` and `name::aio`, each on its own private server.

use reem::{FieldHandle, KeyValueStore, RedisInterface, ReemField, ReemMarshal, Result};

/// What a key-value test body does with a store; both faces implement it.
pub trait Kv {
    fn set<T: ReemMarshal>(&self, key: &str, value: &T) -> Result<()>;
    fn get<T: ReemMarshal>(&self, key: &str) -> Result<T>;
    fn get_field<R: ReemField, T: ReemField>(
        &self,
        key: &str,
        field: &FieldHandle<R, T>,
    ) -> Result<T>;
    fn set_field<R: ReemField, T: ReemField>(
        &self,
        key: &str,
        field: &FieldHandle<R, T>,
        value: &T,
    ) -> Result<()>;
    fn delete(&self, key: &str) -> Result<bool>;
    fn exists(&self, key: &str) -> Result<bool>;
}

impl Kv for KeyValueStore {
    fn set<T: ReemMarshal>(&self, key: &str, value: &T) -> Result<()> {
        KeyValueStore::set(self, key, value)
    }
    fn get<T: ReemMarshal>(&self, key: &str) -> Result<T> {
        KeyValueStore::get(self, key)
    }
    fn get_field<R: ReemField, T: ReemField>(
        &self,
        key: &str,
        field: &FieldHandle<R, T>,
    ) -> Result<T> {
        KeyValueStore::get_field(self, key, field)
    }
    fn set_field<R: ReemField, T: ReemField>(
        &self,
        key: &str,
        field: &FieldHandle<R, T>,
        value: &T,
    ) -> Result<()> {
        KeyValueStore::set_field(self, key, field, value)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        KeyValueStore::delete(self, key)
    }
    fn exists(&self, key: &str) -> Result<bool> {
        KeyValueStore::exists(self, key)
    }
}

/// `reem::aio::KeyValueStore`, each call awaited on a runtime of its own.
pub struct Aio {
    rt: tokio::runtime::Runtime,
    kv: reem::aio::KeyValueStore,
}

impl Aio {
    pub fn new(iface: &RedisInterface) -> Self {
        Aio {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
            kv: reem::aio::KeyValueStore::new(iface),
        }
    }
}

impl Kv for Aio {
    fn set<T: ReemMarshal>(&self, key: &str, value: &T) -> Result<()> {
        self.rt.block_on(self.kv.set(key, value))
    }
    fn get<T: ReemMarshal>(&self, key: &str) -> Result<T> {
        self.rt.block_on(self.kv.get(key))
    }
    fn get_field<R: ReemField, T: ReemField>(
        &self,
        key: &str,
        field: &FieldHandle<R, T>,
    ) -> Result<T> {
        self.rt.block_on(self.kv.get_field(key, field))
    }
    fn set_field<R: ReemField, T: ReemField>(
        &self,
        key: &str,
        field: &FieldHandle<R, T>,
        value: &T,
    ) -> Result<()> {
        self.rt.block_on(self.kv.set_field(key, field, value))
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.rt.block_on(self.kv.delete(key))
    }
    fn exists(&self, key: &str) -> Result<bool> {
        self.rt.block_on(self.kv.exists(key))
    }
}

/// `faces!(a, b)`: runs the test bodies `fn a<K: Kv>(h: &Harness, kv: &K)` (and `b`) on the
/// blocking store (`a::sync`) and on the async one (`a::aio`).
#[macro_export]
macro_rules! faces {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sync() {
                let h = $crate::common::Harness::start();
                super::$name(&h, &h.kv);
            }

            #[test]
            fn aio() {
                let h = $crate::common::Harness::start();
                let kv = $crate::common::faces::Aio::new(&h.iface);
                super::$name(&h, &kv);
            }
        }
    )*};
}
