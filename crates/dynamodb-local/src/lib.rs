//! DynamoDB on this machine: [dynoxide](https://crates.io/crates/dynoxide-rs), a
//! SQLite-backed implementation of DynamoDB's HTTP API whose conformance suite runs
//! against DynamoDB itself, embedded in the process and served on a loopback port.
//!
//! Why not moto's DynamoDB, which the local stack used first: its
//! `TransactWriteItems` copies the whole table once per action (0.1 transactions a
//! second at 20,000 rows, out of memory at 24 GB), and it serves concurrent requests
//! without a lock, so counter `ADD`s and conditional writes race (measured: 20 to 50 of
//! 4,000 increments lost in 3 of 4 runs; 4 of 50 concurrent cancels of one job all won
//! the one terminal claim). dynoxide serves each request under one lock: counters and
//! conditions are exact.
//!
//! The server runs on a thread and runtime of its own, so it outlives the runtime of
//! whichever test or command started it; dropping the handle stops it. The SDK talks
//! to it over HTTP, so the DynamoDB adapter under test is the production one.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::thread::JoinHandle;

use thiserror::Error;
use tokio::sync::oneshot;

/// Where the tables are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// In memory, gone when the server stops: tests.
    Memory,
    /// In an SQLite file (created if absent), written without waiting for the disk:
    /// less resident memory for large jobs, and no slowdown as the tables grow (an
    /// in-memory SQLite database walks its whole page cache on each statement's
    /// rollback, so it slows down in proportion to its size).
    File(PathBuf),
}

#[derive(Debug, Error)]
pub enum LocalDynamoDbError {
    #[error("the local DynamoDB cannot open its storage {storage:?}: {reason}")]
    Open { storage: Storage, reason: String },
    #[error("the local DynamoDB cannot listen on 127.0.0.1: {0}")]
    Listen(std::io::Error),
    #[error("the local DynamoDB's thread cannot start: {0}")]
    Thread(std::io::Error),
    #[error("the local DynamoDB stopped before it served: {0}")]
    Stopped(String),
}

/// A running local DynamoDB; stopped when dropped.
pub struct LocalDynamoDb {
    /// `http://127.0.0.1:PORT`, for the SDK's endpoint.
    pub endpoint: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl LocalDynamoDb {
    /// An in-memory DynamoDB on a free loopback port.
    pub fn start() -> Result<Self, LocalDynamoDbError> {
        Self::start_with(Storage::Memory)
    }

    pub fn start_with(storage: Storage) -> Result<Self, LocalDynamoDbError> {
        let db = match &storage {
            Storage::Memory => dynoxide::Database::memory(),
            // A local run's store is thrown away after it: no fsync per commit (SQLite's
            // `synchronous = OFF`), which otherwise makes every write wait on the disk.
            Storage::File(path) => dynoxide::Database::new(&path.to_string_lossy())
                .and_then(|db| db.enable_bulk_loading().map(|()| db)),
        }
        .map_err(|e| LocalDynamoDbError::Open {
            storage: storage.clone(),
            reason: e.to_string(),
        })?;
        let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(LocalDynamoDbError::Listen)?;
        let address = listener.local_addr().map_err(LocalDynamoDbError::Listen)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, started) = std::sync::mpsc::channel::<Result<(), String>>();
        let thread = std::thread::Builder::new()
            .name("local-dynamodb".into())
            .spawn(move || {
                // One thread is enough: dynoxide serves one request at a time.
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready.send(Err(e.to_string()));
                        return Err(e.to_string());
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready.send(Err(e.to_string()));
                            return Err(e.to_string());
                        }
                    };
                    let _ = ready.send(Ok(()));
                    dynoxide::server::serve_with_shutdown(listener, db, async move {
                        let _ = stopped.await;
                    })
                    .await
                })
            })
            .map_err(LocalDynamoDbError::Thread)?;
        match started.recv() {
            Ok(Ok(())) => Ok(Self {
                endpoint: format!("http://{address}"),
                stop: Some(stop),
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(LocalDynamoDbError::Stopped(e)),
            Err(_) => Err(LocalDynamoDbError::Stopped(
                "its thread ended before it started serving".into(),
            )),
        }
    }
}

impl Drop for LocalDynamoDb {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
