//! Helpers for tests, and only for tests (hidden from the docs): counting rows, expiring a
//! lease at once. Nothing in `src/` may call them.

use sqlx::Row;

use super::{query_err, Store, StoreError};

impl Store {
    /// Counts rows of a table. Only known table names are accepted.
    #[doc(hidden)]
    pub async fn count(&self, table: &str) -> Result<i64, StoreError> {
        const TABLES: [&str; 15] = [
            "providers",
            "products",
            "plans",
            "catalogs",
            "catalog_products",
            "catalog_plans",
            "catalog_audiences",
            "organisations",
            "teams",
            "memberships",
            "policy_refs",
            "credentials",
            "credential_products",
            "leases",
            "reconcile_runs",
        ];
        assert!(TABLES.contains(&table), "count: unknown table {table:?}");
        let row = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .map_err(query_err("counting rows"))?;
        row.try_get::<i64, _>(0).map_err(query_err("counting rows"))
    }

    /// Makes the lease `name` expire now, by the database's clock, as if its holder had
    /// stopped renewing it long ago (tests of takeover and fencing).
    #[doc(hidden)]
    pub async fn expire_lease_for_tests(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query(&self.clock_sql("UPDATE leases SET expires_at = {now} - 1 WHERE name = $1"))
            .bind(name)
            .execute(self.pool())
            .await
            .map_err(query_err("expiring a lease"))?;
        Ok(())
    }
}
