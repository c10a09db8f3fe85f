//! What the portal and the reconcile loop need to know about reconciliation: the state version
//! (a cheap change marker bumped by every apply transaction) and the record of reconcile runs
//! (the admin status page's "last reconcile").

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use super::{query_err, Store, StoreError};

/// How many runs are kept: enough for a status page's history, bounded for a loop that runs
/// every few seconds for months.
pub const RUNS_KEPT: i64 = 1000;

/// How a reconcile run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    /// Every change was carried out (or there was nothing to do).
    Success,
    /// Some changes failed or were blocked; the others were carried out.
    Partial,
    /// Nothing could be done (a Dashboard or the database unreachable, a plan with errors).
    Failed,
    /// The manifests were invalid: nothing was changed and the last good state stays live.
    Invalid,
}

impl RunResult {
    fn as_str(self) -> &'static str {
        match self {
            RunResult::Success => "success",
            RunResult::Partial => "partial",
            RunResult::Failed => "failed",
            RunResult::Invalid => "invalid",
        }
    }

    fn parse(s: &str) -> Option<RunResult> {
        [
            RunResult::Success,
            RunResult::Partial,
            RunResult::Failed,
            RunResult::Invalid,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// One reconcile run, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileRun {
    /// Run id (also in the run's log lines).
    pub id: String,
    /// When it started, Unix milliseconds.
    pub started_at_ms: i64,
    /// When it finished, Unix milliseconds.
    pub finished_at_ms: i64,
    /// How it ended.
    pub result: RunResult,
    /// Changes carried out.
    pub changes: i64,
    /// Out-of-band Dashboard edits put back.
    pub drift_repaired: i64,
    /// What went wrong, as JSON (e.g. a list of `{object, message}`); `[]` when nothing did.
    pub errors: Value,
}

impl Store {
    /// The state version: bumped by every committed apply transaction, in any process. Read it
    /// *before* reading what it covers, so that a change committed in between is seen again.
    pub async fn state_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT version FROM state_version WHERE id = 1")
            .fetch_one(self.pool())
            .await
            .map_err(query_err("reading the state version"))?;
        row.try_get(0)
            .map_err(query_err("reading the state version"))
    }

    /// Records a finished run, keeping the latest [`RUNS_KEPT`].
    pub async fn record_run(&self, run: &ReconcileRun) -> Result<(), StoreError> {
        const DOING: &str = "recording a reconcile run";
        let mut tx = self.pool().begin().await.map_err(query_err(DOING))?;
        sqlx::query(
            "INSERT INTO reconcile_runs (id, started_at, finished_at, result, changes, drift_repaired, errors) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(run.id.as_str())
        .bind(run.started_at_ms)
        .bind(run.finished_at_ms)
        .bind(run.result.as_str())
        .bind(run.changes)
        .bind(run.drift_repaired)
        .bind(run.errors.to_string())
        .execute(&mut *tx)
        .await
        .map_err(query_err(DOING))?;
        sqlx::query(
            "DELETE FROM reconcile_runs WHERE started_at < \
             (SELECT started_at FROM reconcile_runs ORDER BY started_at DESC LIMIT 1 OFFSET $1)",
        )
        .bind(RUNS_KEPT - 1)
        .execute(&mut *tx)
        .await
        .map_err(query_err(DOING))?;
        tx.commit().await.map_err(query_err(DOING))
    }

    /// The latest run, if any.
    pub async fn last_run(&self) -> Result<Option<ReconcileRun>, StoreError> {
        Ok(self.recent_runs(1).await?.pop())
    }

    /// The latest `limit` runs, newest first.
    pub async fn recent_runs(&self, limit: i64) -> Result<Vec<ReconcileRun>, StoreError> {
        const DOING: &str = "reading reconcile runs";
        let rows = sqlx::query(
            "SELECT id, started_at, finished_at, result, changes, drift_repaired, errors \
             FROM reconcile_runs ORDER BY started_at DESC, id DESC LIMIT $1",
        )
        .bind(limit.max(0))
        .fetch_all(self.pool())
        .await
        .map_err(query_err(DOING))?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0).map_err(query_err(DOING))?;
                let result: String = r.try_get(3).map_err(query_err(DOING))?;
                let errors: String = r.try_get(6).map_err(query_err(DOING))?;
                let corrupt = |detail: String| StoreError::CorruptRow {
                    table: "reconcile_runs",
                    key: id.clone(),
                    detail,
                };
                Ok(ReconcileRun {
                    started_at_ms: r.try_get(1).map_err(query_err(DOING))?,
                    finished_at_ms: r.try_get(2).map_err(query_err(DOING))?,
                    result: RunResult::parse(&result)
                        .ok_or_else(|| corrupt(format!("unknown result {result:?}")))?,
                    changes: r.try_get(4).map_err(query_err(DOING))?,
                    drift_repaired: r.try_get(5).map_err(query_err(DOING))?,
                    errors: serde_json::from_str(&errors)
                        .map_err(|e| corrupt(format!("errors are not JSON: {e}")))?,
                    id,
                })
            })
            .collect()
    }
}
