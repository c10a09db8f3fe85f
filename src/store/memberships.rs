//! Who belongs where: the memberships the apply transaction derives from organisations and
//! teams, read by email (the portal's visibility rules, and tests).

use sqlx::Row;

use super::{query_err, Store, StoreError};

impl Store {
    /// The memberships of an email: (organisation, team) pairs, `all-users` included.
    pub async fn memberships(&self, email: &str) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT organisation, team FROM memberships WHERE email = $1 ORDER BY organisation, team",
        )
        .bind(email.to_lowercase())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err("reading memberships"))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(query_err("reading memberships"))
    }
}
