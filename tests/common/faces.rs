//! One test body, both faces: the blocking [`KeyValueStore`] and `reem::aio`'s store.
//!
//! A test body is written once, generic over [`Kv`]; `faces!(name)` runs it on each face
//! as the tests `name::sync` and `name::aio`, each on its own private server, and on both
//! faces on the test binary's Redis Cluster as `name::cluster` and `name::aio_cluster`.

use reem::{FieldHandle, KeyValueStore, RedisInterface, ReemField, ReemMarshal, Result};

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

/// The [`Kv`] trait and its two implementations, from one list of methods: the blocking
/// store calls its method, the async one awaits its own on the runtime.
macro_rules! kv {
    ($($name:ident<$($g:ident: $b:ident),*>($($a:ident: $t:ty),*) -> $r:ty;)*) => {
        /// What a key-value test body does with a store; both faces implement it.
        pub trait Kv {
            $(fn $name<$($g: $b),*>(&self, $($a: $t),*) -> Result<$r>;)*
        }

        impl Kv for KeyValueStore {
            $(fn $name<$($g: $b),*>(&self, $($a: $t),*) -> Result<$r> {
                KeyValueStore::$name(self, $($a),*)
            })*
        }

        impl Kv for Aio {
            $(fn $name<$($g: $b),*>(&self, $($a: $t),*) -> Result<$r> {
                self.rt.block_on(self.kv.$name($($a),*))
            })*
        }
    };
}

kv! {
    set<T: ReemMarshal>(key: &str, value: &T) -> ();
    get<T: ReemMarshal>(key: &str) -> T;
    get_field<R: ReemField, T: ReemField>(key: &str, field: &FieldHandle<R, T>) -> T;
    set_field<R: ReemField, T: ReemField>(key: &str, field: &FieldHandle<R, T>, value: &T) -> ();
    delete<>(key: &str) -> bool;
    exists<>(key: &str) -> bool;
}

/// `faces!(a, b)`: runs the test bodies `fn a<K: Kv>(h: &Harness, kv: &K)` (and `b`) on the
/// blocking store (`a::sync`) and on the async one (`a::aio`) of a private server, and on the
/// blocking and async stores of the cluster (`a::cluster`, `a::aio_cluster`).
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

            $crate::cluster_faces!(@tests $name);
        }
    )*};
}

/// `cluster_faces!(a)`: runs the test body `fn a<K: Kv>(h: &Harness, kv: &K)` on the
/// cluster only, on the blocking store (`a::cluster`) and on the async one
/// (`a::aio_cluster`).
#[macro_export]
macro_rules! cluster_faces {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            $crate::cluster_faces!(@tests $name);
        }
    )*};
    (@tests $name:ident) => {
        #[test]
        fn cluster() {
            let h = $crate::common::Harness::cluster();
            super::$name(&h, &h.kv);
        }

        #[test]
        fn aio_cluster() {
            let h = $crate::common::Harness::cluster();
            let kv = $crate::common::faces::Aio::new(&h.iface);
            super::$name(&h, &kv);
        }
    };
}
