//! The apply lock: one row in `apply_lock`, held as a lease that its holder renews while it lives.
//!
//! A holder that dies (SIGKILL, lost machine) stops renewing; once its lease has expired the next
//! `apply` takes the lock over. Taking the lock is one conditional upsert, so two applies racing
//! for it cannot both win, on SQLite or PostgreSQL.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use sqlx::Row;

use super::{now_ms, query_err, Store, StoreError};

const LOCK_NAME: &str = "apply";

/// Who holds the lock, as shown to a second apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// e.g. `alice@ci-runner-3 (pid 4242)`.
    pub holder: String,
    /// When it was taken (Unix ms).
    pub acquired_at: i64,
    /// When its lease ends unless renewed (Unix ms).
    pub expires_at: i64,
}

/// A held lock. Renewed in the background; call [`LockGuard::release`] when done.
#[derive(Debug)]
pub struct LockGuard {
    store: Store,
    token: String,
    lost: Arc<AtomicBool>,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl LockGuard {
    /// True when the lease was lost (it expired and another run took the lock).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Errors when the lock was lost, so a writer can stop before writing more.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.is_lost() {
            Err(StoreError::LockLost)
        } else {
            Ok(())
        }
    }

    /// Releases the lock (only if we still hold it).
    pub async fn release(self) -> Result<(), StoreError> {
        self.heartbeat.abort();
        sqlx::query("DELETE FROM apply_lock WHERE name = $1 AND token = $2")
            .bind(LOCK_NAME)
            .bind(self.token.clone())
            .execute(self.store.pool())
            .await
            .map_err(query_err("releasing the apply lock"))?;
        Ok(())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// A name for this process: `user@host (pid N)`.
pub fn default_holder() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{user}@{host} (pid {})", std::process::id())
}

impl Store {
    /// Takes the apply lock for `holder`, waiting up to `wait` for another holder to finish.
    /// The lease lasts `lease` and is renewed every third of it until the guard is released.
    pub async fn lock(
        &self,
        holder: &str,
        lease: Duration,
        wait: Duration,
    ) -> Result<LockGuard, StoreError> {
        let token = format!("{:032x}", rand::thread_rng().gen::<u128>());
        let lease_ms = lease.as_millis().max(1) as i64;
        let started = Instant::now();
        loop {
            let now = now_ms();
            sqlx::query(
                "INSERT INTO apply_lock (name, holder, token, acquired_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, \
                 acquired_at = excluded.acquired_at, expires_at = excluded.expires_at \
                 WHERE apply_lock.expires_at < $6",
            )
            .bind(LOCK_NAME)
            .bind(holder.to_owned())
            .bind(token.clone())
            .bind(now)
            .bind(now + lease_ms)
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(query_err("taking the apply lock"))?;
            let current = self.lock_holder_with_token().await?;
            match current {
                Some((_, t)) if t == token => break,
                Some((h, _)) => {
                    if started.elapsed() >= wait {
                        let now = now_ms();
                        return Err(StoreError::LockHeld {
                            holder: h.holder,
                            since_secs: (now - h.acquired_at).max(0) / 1000,
                            expires_in_secs: (h.expires_at - now).max(0) / 1000,
                        });
                    }
                    let left = wait.saturating_sub(started.elapsed());
                    tokio::time::sleep(left.min(Duration::from_millis(250))).await;
                }
                // Released between our insert and our read: try again at once.
                None => continue,
            }
        }
        let lost = Arc::new(AtomicBool::new(false));
        let heartbeat = {
            let store = self.clone();
            let token = token.clone();
            let lost = lost.clone();
            tokio::spawn(async move {
                let every = Duration::from_millis((lease_ms / 3).max(50) as u64);
                loop {
                    tokio::time::sleep(every).await;
                    let now = now_ms();
                    let renewed = sqlx::query(
                        "UPDATE apply_lock SET expires_at = $1 WHERE name = $2 AND token = $3",
                    )
                    .bind(now + lease_ms)
                    .bind(LOCK_NAME)
                    .bind(token.clone())
                    .execute(store.pool())
                    .await;
                    match renewed {
                        Ok(r) if r.rows_affected() == 0 => {
                            tracing::error!("the apply lock was taken over by another run");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot renew the apply lock; retrying")
                        }
                    }
                }
            })
        };
        Ok(LockGuard {
            store: self.clone(),
            token,
            lost,
            heartbeat,
        })
    }

    /// Who holds the apply lock now, if anyone (expired leases included).
    pub async fn lock_holder(&self) -> Result<Option<LockHolder>, StoreError> {
        Ok(self.lock_holder_with_token().await?.map(|(h, _)| h))
    }

    async fn lock_holder_with_token(&self) -> Result<Option<(LockHolder, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT holder, token, acquired_at, expires_at FROM apply_lock WHERE name = $1",
        )
        .bind(LOCK_NAME)
        .fetch_optional(self.pool())
        .await
        .map_err(query_err("reading the apply lock"))?;
        row.map(|r| {
            Ok((
                LockHolder {
                    holder: r.try_get(0)?,
                    acquired_at: r.try_get(2)?,
                    expires_at: r.try_get(3)?,
                },
                r.try_get(1)?,
            ))
        })
        .transpose()
        .map_err(query_err("reading the apply lock"))
    }
}
