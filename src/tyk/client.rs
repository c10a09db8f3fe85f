//! PROVISIONAL interface of the client (replaced by the tyk branch at merge).

use std::time::Duration;

use serde_json::{Map, Value};

use super::wire::Policy;

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum TykError {
    /// Placeholder.
    #[error("not built")]
    NotBuilt,
}
impl TykError {
    /// Ambiguous.
    pub fn is_ambiguous(&self) -> bool {
        false
    }
    /// 404.
    pub fn is_not_found(&self) -> bool {
        false
    }
    /// Status.
    pub fn status(&self) -> Option<u16> {
        None
    }
}

/// Retry policy.
#[derive(Debug, Clone, Default)]
pub struct RetryPolicy {
    /// Retries.
    pub max_retries: u32,
    /// Base.
    pub base: Duration,
    /// Cap.
    pub cap: Duration,
}

/// Config.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Provider.
    pub provider: String,
}
impl ClientConfig {
    /// From a provider.
    pub fn from_provider(p: &crate::desired::Provider) -> Result<Self, TykError> {
        Ok(ClientConfig { provider: p.name.to_string() })
    }
}

/// A key request.
#[derive(Debug, Clone, Default)]
pub struct KeyRequest {
    /// Policies.
    pub apply_policies: Vec<String>,
    /// Meta.
    pub meta_data: Map<String, Value>,
    /// Alias.
    pub alias: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Expires.
    pub expires: i64,
    /// Org.
    pub org_id: Option<String>,
}

/// Client.
#[derive(Debug, Clone)]
pub struct DashboardClient {
    cfg: ClientConfig,
}
#[allow(missing_docs, clippy::unused_async)]
impl DashboardClient {
    pub fn new(cfg: ClientConfig) -> Result<Self, TykError> {
        Ok(DashboardClient { cfg })
    }
    pub fn provider(&self) -> &str {
        &self.cfg.provider
    }
    pub async fn list_policies(&self) -> Result<Vec<Policy>, TykError> {
        Err(TykError::NotBuilt)
    }
    pub async fn get_policy(&self, _id: &str) -> Result<Option<Policy>, TykError> {
        Err(TykError::NotBuilt)
    }
    pub async fn create_policy_once(&self, _p: &Policy) -> Result<String, TykError> {
        Err(TykError::NotBuilt)
    }
    pub async fn update_policy(&self, _id: &str, _p: &Policy) -> Result<(), TykError> {
        Err(TykError::NotBuilt)
    }
    pub async fn delete_policy(&self, _id: &str) -> Result<(), TykError> {
        Err(TykError::NotBuilt)
    }
    pub async fn delete_key(&self, _hash: &str) -> Result<(), TykError> {
        Err(TykError::NotBuilt)
    }
}
