//! TLS: `rediss://` with a private CA and client certificates (mutual TLS) against a real
//! redis-server serving TLS, certificates made in the test with `rcgen`.

mod common;

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use reem::Fields;
use reem::{KeyValueStore, RedisInterface, ReemMarshal};
use reem_server::RedisServer;

#[derive(ReemMarshal, Debug, Clone, PartialEq)]
struct Pose2 {
    x: f64,
    y: f64,
    theta: f64,
}

/// Writes ca.pem, server.pem/server.key and client.pem/client.key into `dir`.
fn make_certs(dir: &Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "reem test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    for name in ["server", "client"] {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        params
            .distinguished_name
            .push(DnType::CommonName, format!("reem test {name}"));
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    }
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
}

fn tls_server(dir: &Path) -> RedisServer {
    make_certs(dir);
    RedisServer::builder()
        .tls(
            &dir.join("server.pem"),
            &dir.join("server.key"),
            &dir.join("ca.pem"),
        )
        .start()
        .expect("the Debian redis-server is built with TLS")
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("reem-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn rediss_with_ca_and_client_certificate_round_trips() {
    let dir = temp_dir("ok");
    let server = tls_server(&dir);
    assert!(server.url().starts_with("rediss://"));
    let iface = RedisInterface::builder(&server.url())
        .tls_ca_file(dir.join("ca.pem"))
        .tls_client_cert(dir.join("client.pem"), dir.join("client.key"))
        .connect()
        .unwrap();
    let kv = KeyValueStore::new(&iface);
    let p = Pose2 {
        x: 1.0,
        y: 2.0,
        theta: 3.0,
    };
    kv.set("secure/pose", &p).unwrap();
    assert_eq!(kv.get::<Pose2>("secure/pose").unwrap(), p);
    assert_eq!(
        kv.get_field("secure/pose", &Pose2::fields().theta())
            .unwrap(),
        3.0
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn missing_client_certificate_is_refused() {
    let dir = temp_dir("nocert");
    let server = tls_server(&dir);
    let result = RedisInterface::builder(&server.url())
        .tls_ca_file(dir.join("ca.pem"))
        .connect();
    assert!(result.is_err(), "the server requires a client certificate");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn untrusted_server_certificate_is_refused() {
    let dir = temp_dir("untrusted");
    let server = tls_server(&dir);
    let other = temp_dir("other-ca");
    make_certs(&other);
    let err = RedisInterface::builder(&server.url())
        .tls_ca_file(other.join("ca.pem"))
        .tls_client_cert(dir.join("client.pem"), dir.join("client.key"))
        .connect()
        .unwrap_err();
    assert!(
        err.is_connection() && err.to_string().contains("certificate"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
    std::fs::remove_dir_all(other).ok();
}

#[test]
fn the_async_faces_use_the_same_tls_settings() {
    let dir = temp_dir("aio");
    let server = tls_server(&dir);
    let iface = RedisInterface::builder(&server.url())
        .tls_ca_file(dir.join("ca.pem"))
        .tls_client_cert(dir.join("client.pem"), dir.join("client.key"))
        .connect()
        .unwrap();
    let p = Pose2 {
        x: 1.0,
        y: 2.0,
        theta: 3.0,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let kv = reem::aio::KeyValueStore::new(&iface);
        kv.set("secure/pose", &p).await.unwrap();
        assert_eq!(kv.get::<Pose2>("secure/pose").await.unwrap(), p);
        let mut sub = reem::aio::Subscriber::<Pose2>::new(&iface, "secure/pose")
            .await
            .unwrap();
        assert_eq!(sub.recv().await.unwrap(), p, "the stored pose, over TLS");
    });
    std::fs::remove_dir_all(dir).ok();
}
