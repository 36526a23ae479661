//! Shared by the test binaries: a moto server on a free loopback port, one per test
//! binary, and SDK configuration pointing at it.
//!
//! moto is found by `gbr-moto` (`GBR_MOTO_SERVER`, else the virtualenv
//! `scripts/moto.sh` creates). Without it the tests fail, saying how to install it:
//! they never pass without having run.

#![allow(dead_code)] // each test binary uses part of this module

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_config::SdkConfig;
use gbr_aws::{SdkSettings, load_sdk_config};
use gbr_dynamodb_local::LocalDynamoDb;
use gbr_moto::Moto;

/// The server this test binary shares.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| Moto::start().unwrap_or_else(|e| panic!("{e}")))
}

/// moto's S3, SNS and SQS.
pub async fn sdk_config() -> SdkConfig {
    load_sdk_config(&SdkSettings::local(&moto().endpoint)).await
}

/// The local DynamoDB this test binary shares: DynamoDB is not moto's (see
/// `gbr-dynamodb-local`).
pub async fn dynamodb_config() -> SdkConfig {
    static DYNAMODB: OnceLock<LocalDynamoDb> = OnceLock::new();
    let server = DYNAMODB.get_or_init(|| LocalDynamoDb::start().unwrap_or_else(|e| panic!("{e}")));
    load_sdk_config(&SdkSettings::local(&server.endpoint)).await
}

/// A name no other test of this run uses (lowercase, so it also suits buckets).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// POSTs JSON to moto's own API (`/moto-api/...`), e.g. to slow down a state
/// transition; panics unless moto answers 2xx.
pub fn moto_api_post(path: &str, body: &str) {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let address = moto().endpoint.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&address).expect("connect to moto");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send to moto");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read moto's answer");
    let status = response.split_whitespace().nth(1).unwrap_or_default();
    assert!(status.starts_with('2'), "moto answered {response}");
}
