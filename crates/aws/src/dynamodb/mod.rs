//! DynamoDB: the jobs table and the objects table, behind one store.
//!
//! One struct implements both [`JobStore`](gbr_core::ports::JobStore) and
//! [`ObjectStore`](gbr_core::ports::ObjectStore) because marking an object restored
//! writes both tables in one transaction (the row, and its job's counter shard).
//! [`schema`] documents and creates the tables.

mod backoff;
pub mod capacity;
mod item;
mod jobs;
mod objects;
pub mod schema;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;

pub use backoff::Backoff;

/// The names of the two tables (they differ per deployment and per test).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub jobs: String,
    pub objects: String,
}

/// Jobs and objects tables on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: TableNames,
    backoff: Backoff,
}

impl DynamoStore {
    pub fn new(config: &SdkConfig, tables: TableNames) -> Self {
        Self::from_client(Client::new(config), tables)
    }

    /// A store on an existing client (tests pass a mocked one).
    pub fn from_client(client: Client, tables: TableNames) -> Self {
        Self {
            client,
            tables,
            backoff: Backoff::default(),
        }
    }

    /// Replaces the retry policy for unprocessed items, throttled or conflicting
    /// transactions.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }
}
