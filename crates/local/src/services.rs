//! The servers the local stack calls: moto for S3, SNS and SQS, and the embedded local
//! DynamoDB (see `gbr-dynamodb-local` for why DynamoDB is not moto's).

use gbr_dynamodb_local::{LocalDynamoDb, LocalDynamoDbError, Storage};
use gbr_moto::{Moto, MotoError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServicesError {
    #[error(transparent)]
    Moto(#[from] MotoError),
    #[error(transparent)]
    DynamoDb(#[from] LocalDynamoDbError),
}

/// Where each service answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEndpoints {
    /// moto: S3, SNS and SQS.
    pub moto: String,
    pub dynamodb: String,
}

/// Running servers; stopped when dropped.
pub struct LocalServices {
    pub moto: Moto,
    pub dynamodb: LocalDynamoDb,
}

impl LocalServices {
    /// moto, and an in-memory DynamoDB.
    pub fn start() -> Result<Self, ServicesError> {
        Self::start_with(Storage::Memory)
    }

    pub fn start_with(dynamodb: Storage) -> Result<Self, ServicesError> {
        Ok(Self {
            dynamodb: LocalDynamoDb::start_with(dynamodb)?,
            moto: Moto::start()?,
        })
    }

    pub fn endpoints(&self) -> ServiceEndpoints {
        ServiceEndpoints {
            moto: self.moto.endpoint.clone(),
            dynamodb: self.dynamodb.endpoint.clone(),
        }
    }
}
