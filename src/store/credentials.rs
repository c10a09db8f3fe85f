//! Credentials as the store keeps them: recording one (the portal, when a key is issued; tests
//! of retirement). Active credentials are read by the snapshot; revocation by the reconciler
//! goes through the apply transaction (`DbWrite::RevokeCredential`).

use super::{now_ms, query_err, Store, StoreError};

/// A credential to record (the portal, and tests of retirement).
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// Credential id.
    pub id: String,
    /// The app it belongs to.
    pub app_id: String,
    /// Provider name.
    pub provider: String,
    /// Plan name.
    pub plan: String,
    /// Product names.
    pub products: Vec<String>,
    /// The Dashboard's key hash.
    pub key_hash: String,
}

impl Store {
    /// Records a credential (used by the portal when a key is issued, and by tests).
    pub async fn insert_credential(&self, c: &NewCredential) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("recording a credential"))?;
        sqlx::query(
            "INSERT INTO credentials (id, app_id, provider, plan, products, key_hash, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'active', $7)",
        )
        .bind(c.id.as_str())
        .bind(c.app_id.as_str())
        .bind(c.provider.as_str())
        .bind(c.plan.as_str())
        .bind(serde_json::to_string(&c.products).unwrap_or_else(|_| "[]".into()))
        .bind(c.key_hash.as_str())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(query_err("recording a credential"))?;
        for p in &c.products {
            sqlx::query("INSERT INTO credential_products (credential_id, product) VALUES ($1, $2)")
                .bind(c.id.as_str())
                .bind(p.as_str())
                .execute(&mut *tx)
                .await
                .map_err(query_err("recording a credential"))?;
        }
        tx.commit()
            .await
            .map_err(query_err("recording a credential"))?;
        Ok(())
    }
}
