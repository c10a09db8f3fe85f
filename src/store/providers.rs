//! The Dashboard connections `apply` stored: what `serve` builds its Dashboard clients from,
//! without manifests.
//!
//! The Provider document (`reconcile::docs::desired_docs`) keeps the connection settings and the
//! secret *reference* (`{fromEnv}` or an absolute `{fromFile}`), never a secret value: resolving
//! it is the client's job (`tyk::ClientConfig`), in the process that needs it.

use sqlx::Row;

use super::{query_err, Store, StoreError};
use crate::desired::Kind;
use crate::manifest::kinds::ProviderSpec;

impl Store {
    /// Every stored provider's connection (url, secret reference, org id, timeout, requests in
    /// flight, TLS, policy tags, gateway URL), by name.
    ///
    /// Fails with [`StoreError::NoConnection`] for a provider written by a portalctl that did not
    /// store the connection yet; the next `apply` stores it (the provider shows as an update).
    pub async fn provider_connections(&self) -> Result<Vec<(String, ProviderSpec)>, StoreError> {
        const DOING: &str = "reading the providers";
        let rows = sqlx::query("SELECT name, doc FROM providers ORDER BY name")
            .fetch_all(self.pool())
            .await
            .map_err(query_err(DOING))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let name: String = row.try_get(0).map_err(query_err(DOING))?;
            let doc: String = row.try_get(1).map_err(query_err(DOING))?;
            let doc: serde_json::Value =
                serde_json::from_str(&doc).map_err(|cause| StoreError::Corrupt {
                    kind: Kind::Provider,
                    name: name.clone(),
                    cause,
                })?;
            if doc.get("secret").is_none() {
                return Err(StoreError::NoConnection { provider: name });
            }
            let spec: ProviderSpec =
                serde_json::from_value(doc).map_err(|cause| StoreError::Corrupt {
                    kind: Kind::Provider,
                    name: name.clone(),
                    cause,
                })?;
            out.push((name, spec));
        }
        Ok(out)
    }
}
