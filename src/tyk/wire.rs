//! PROVISIONAL copy of the wire types (replaced by the tyk branch at merge).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A Dashboard policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Policy {
    /// `_id`.
    #[serde(rename = "_id", default, skip_serializing_if = "String::is_empty")]
    pub mid: String,
    /// `id`.
    #[serde(default)]
    pub id: String,
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `org_id`.
    #[serde(default)]
    pub org_id: String,
    /// rate.
    #[serde(default)]
    pub rate: f64,
    /// per.
    #[serde(default)]
    pub per: f64,
    /// quota_max.
    #[serde(default)]
    pub quota_max: i64,
    /// quota_renewal_rate.
    #[serde(default)]
    pub quota_renewal_rate: i64,
    /// throttle_interval.
    #[serde(default)]
    pub throttle_interval: f64,
    /// throttle_retry_limit.
    #[serde(default)]
    pub throttle_retry_limit: f64,
    /// max_query_depth.
    #[serde(default)]
    pub max_query_depth: i64,
    /// access_rights.
    #[serde(default)]
    pub access_rights: BTreeMap<String, AccessDefinition>,
    /// partitions.
    #[serde(default)]
    pub partitions: Partitions,
    /// tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// meta_data.
    #[serde(default)]
    pub meta_data: Map<String, Value>,
    /// key_expires_in.
    #[serde(default)]
    pub key_expires_in: i64,
    /// active.
    #[serde(default)]
    pub active: bool,
    /// is_inactive.
    #[serde(default)]
    pub is_inactive: bool,
    /// state.
    #[serde(default)]
    pub state: String,
    /// everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// AccessDefinition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct AccessDefinition {
    /// api_id.
    #[serde(default)]
    pub api_id: String,
    /// api_name.
    #[serde(default)]
    pub api_name: String,
    /// versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// allowed_urls.
    #[serde(default)]
    pub allowed_urls: Vec<AllowedUrl>,
    /// extra.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// AllowedUrl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AllowedUrl {
    /// url.
    pub url: String,
    /// methods.
    pub methods: Vec<String>,
}

/// Partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Partitions {
    /// acl.
    pub acl: bool,
    /// quota.
    pub quota: bool,
    /// rate_limit.
    pub rate_limit: bool,
    /// complexity.
    pub complexity: bool,
    /// per_api.
    pub per_api: bool,
}
