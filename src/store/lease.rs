//! Named leases on the database's clock: the apply lock (`apply`) and the leader lease of `serve`
//! replicas (`leader`).
//!
//! A lease is one row of `leases`. Taking it is one conditional upsert, so two processes racing
//! for it cannot both win, on SQLite or PostgreSQL. Every time in that row is computed and
//! compared by the database itself (`statement_timestamp()` on PostgreSQL, `julianday('now')` on
//! SQLite), so machines whose clocks disagree still agree on who holds a lease; this module never
//! reads the machine's wall clock. Each acquisition bumps the row's `epoch`, the fencing
//! generation, and draws a fresh random token: the apply transaction (`Store::write`) checks,
//! inside the transaction, that the row still carries its token and has not expired, so a paused
//! holder whose lease was taken over cannot write.
//!
//! The holder renews its lease in the background every third of its lifetime. Locally it trusts
//! the lease only until the send time of its last confirmed renewal plus the lifetime (a
//! monotonic `Instant`, never compared with the database's times), so a holder cut off from the
//! database stops believing it leads before the database lets anyone else take over.
//!
//! This module must not decide what a lease protects: callers (apply, the reconcile loop) do.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use sqlx::Row;
use tokio::sync::watch;

use super::{query_err, Store, StoreError};

/// The lease every apply (CLI or reconcile loop) holds while it runs: SPEC §4's lock.
pub const APPLY_LEASE: &str = "apply";

/// The lease whose holder runs the reconcile loop among `serve` replicas.
pub const LEADER_LEASE: &str = "leader";

/// How a lease is named in messages: the apply lease is "the apply lock" as users know it.
pub(crate) fn title(name: &str) -> String {
    if name == APPLY_LEASE {
        "apply lock".to_owned()
    } else {
        format!("{name} lease")
    }
}

/// Who holds a lease, as the database sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The lease's name.
    pub name: String,
    /// e.g. `alice@ci-runner-3 (pid 4242)`.
    pub holder: String,
    /// The fencing generation of this holder's acquisition.
    pub epoch: i64,
    /// How long it has been held, by the database's clock.
    pub held_for: Duration,
    /// How long until it ends unless renewed, by the database's clock (zero once expired).
    pub expires_in: Duration,
    /// True when its holder stopped renewing it (died, paused, cut off): anyone may take it.
    pub expired: bool,
}

/// Why a lease is no longer held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostReason {
    /// It expired (by the database's clock) and another holder took it.
    TakenOver {
        /// The new holder.
        holder: String,
    },
    /// It expired by the database's clock before it was renewed; nobody has taken it yet.
    Expired,
    /// The database did not confirm a renewal before the lease would have ended.
    NotRenewed {
        /// The last error seen while renewing, if any.
        error: Option<String>,
    },
    /// It was released (by us, or by hand in the database).
    Released,
}

impl std::fmt::Display for LostReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LostReason::TakenOver { holder } => {
                write!(f, "{holder} took it over after our lease expired")
            }
            LostReason::Expired => write!(f, "our lease expired before it was renewed"),
            LostReason::NotRenewed { error: None } => {
                write!(f, "the database did not confirm a renewal in time")
            }
            LostReason::NotRenewed { error: Some(e) } => {
                write!(f, "the database did not confirm a renewal in time ({e})")
            }
            LostReason::Released => write!(f, "it was released"),
        }
    }
}

/// Whether a lease is still ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// Held and renewed.
    Held,
    /// Lost for good: take it again to hold it.
    Lost(LostReason),
}

/// A held lease. Renewed in the background until released or dropped (dropping releases it in
/// the background; [`Lease::release`] waits for the release).
#[derive(Debug)]
pub struct Lease {
    shared: Arc<Shared>,
    heartbeat: tokio::task::JoinHandle<()>,
    released: bool,
}

#[derive(Debug)]
struct Shared {
    store: Store,
    name: String,
    holder: String,
    token: String,
    epoch: i64,
    lifetime: Duration,
    /// Until when the lease is surely ours: the send time of the last confirmed renewal plus the
    /// lifetime. The database computed its expiry from a later instant, so it never ends first.
    valid_until: Mutex<Instant>,
    state: watch::Sender<LeaseState>,
}

impl Shared {
    fn valid_until(&self) -> Instant {
        *self.valid_until.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn extend(&self, until: Instant) {
        let mut v = self.valid_until.lock().unwrap_or_else(|e| e.into_inner());
        if until > *v {
            *v = until;
        }
    }

    /// Marks the lease lost (once; the first reason wins).
    fn lose(&self, reason: LostReason) {
        let changed = self.state.send_if_modified(|s| {
            if *s == LeaseState::Held {
                *s = LeaseState::Lost(reason.clone());
                true
            } else {
                false
            }
        });
        if changed && reason != LostReason::Released {
            tracing::error!(lease = %self.name, %reason, "lost the {}", title(&self.name));
        }
    }

    /// One renewal: true when the row still carried our token and had not expired.
    async fn renew(&self) -> Result<bool, StoreError> {
        let store = &self.store;
        let done = sqlx::query(&store.clock_sql(
            "UPDATE leases SET expires_at = {now} + $1, renewed_at = {now} \
             WHERE name = $2 AND token = $3 AND expires_at > {now}",
        ))
        .bind(millis(self.lifetime))
        .bind(self.name.as_str())
        .bind(self.token.as_str())
        .execute(store.pool())
        .await
        .map_err(query_err("renewing a lease"))?;
        Ok(done.rows_affected() == 1)
    }
}

/// A lifetime in whole milliseconds for the database (at least 1).
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

fn duration_ms(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Lease {
    /// The lease's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Who holds it (us), as shown to others.
    pub fn holder(&self) -> &str {
        &self.shared.holder
    }

    /// The fencing generation of this acquisition: greater than every earlier holder's.
    pub fn epoch(&self) -> i64 {
        self.shared.epoch
    }

    /// The random token that identifies this acquisition in the database.
    pub(crate) fn token(&self) -> &str {
        &self.shared.token
    }

    /// How long the lease lasts unless renewed.
    pub fn lifetime(&self) -> Duration {
        self.shared.lifetime
    }

    /// True while the lease is ours: not lost, and renewed recently enough that the database
    /// cannot have let anyone else take it.
    pub fn is_held(&self) -> bool {
        *self.shared.state.borrow() == LeaseState::Held
            && Instant::now() < self.shared.valid_until()
    }

    /// The current state (`Lost` also once the last renewal is too old).
    pub fn state(&self) -> LeaseState {
        match &*self.shared.state.borrow() {
            LeaseState::Lost(r) => LeaseState::Lost(r.clone()),
            LeaseState::Held if Instant::now() < self.shared.valid_until() => LeaseState::Held,
            LeaseState::Held => LeaseState::Lost(LostReason::NotRenewed { error: None }),
        }
    }

    /// Errors when the lease is no longer held, so a writer can stop before writing more.
    pub fn check(&self) -> Result<(), StoreError> {
        match self.state() {
            LeaseState::Held => Ok(()),
            LeaseState::Lost(reason) => Err(StoreError::LeaseLost {
                name: self.name().to_owned(),
                reason,
            }),
        }
    }

    /// Completes when the lease is lost, with the reason: for `tokio::select!` in a loop that
    /// must stop leading at once.
    pub async fn lost(&self) -> LostReason {
        let mut rx = self.shared.state.subscribe();
        loop {
            if let LeaseState::Lost(r) = &*rx.borrow_and_update() {
                return r.clone();
            }
            let until = self.shared.valid_until();
            if Instant::now() >= until {
                return LostReason::NotRenewed { error: None };
            }
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return LostReason::Released;
                    }
                }
                // Renewals move the deadline: look again when it passes.
                _ = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }

    /// A receiver of the lease's state, for a task that does not own the lease. It turns `Lost`
    /// when the heartbeat finds the lease gone or cannot renew it in time.
    pub fn subscribe(&self) -> watch::Receiver<LeaseState> {
        self.shared.state.subscribe()
    }

    /// Extends the local deadline after the database confirmed (in a committed transaction)
    /// that the lease was renewed at `sent` or later.
    pub(crate) fn confirmed_at(&self, sent: Instant) {
        self.shared.extend(sent + self.shared.lifetime);
    }

    /// Releases the lease (only if the database still shows it as ours) so that the next
    /// holder need not wait for it to expire.
    pub async fn release(mut self) -> Result<(), StoreError> {
        self.released = true;
        self.heartbeat.abort();
        self.shared.lose(LostReason::Released);
        release_row(&self.shared).await
    }

    /// Stops renewing without releasing, as if the process had died (tests of expiry).
    #[doc(hidden)]
    pub fn abandon_for_tests(mut self) {
        self.released = true;
        self.heartbeat.abort();
    }
}

async fn release_row(shared: &Shared) -> Result<(), StoreError> {
    sqlx::query(&shared.store.clock_sql(
        "UPDATE leases SET token = '', expires_at = {now} WHERE name = $1 AND token = $2",
    ))
    .bind(shared.name.as_str())
    .bind(shared.token.as_str())
    .execute(shared.store.pool())
    .await
    .map_err(query_err("releasing a lease"))?;
    Ok(())
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.heartbeat.abort();
        if self.released {
            return;
        }
        self.shared.lose(LostReason::Released);
        // Best effort: without a runtime (or if the process exits first) the lease expires.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let shared = self.shared.clone();
            rt.spawn(async move {
                if let Err(e) = release_row(&shared).await {
                    tracing::debug!(error = %e, "cannot release a dropped lease; it expires by itself");
                }
            });
        }
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

/// Renews every third of the lifetime; retries sooner after an error; gives the lease up when
/// the database has not confirmed a renewal before the local deadline.
async fn heartbeat(shared: Arc<Shared>) {
    let every = (shared.lifetime / 3).max(Duration::from_millis(50));
    let retry = (every / 3).max(Duration::from_millis(50));
    let mut next = Instant::now() + every;
    let mut last_error: Option<String> = None;
    loop {
        tokio::time::sleep_until(next.into()).await;
        let sent = Instant::now();
        let until = shared.valid_until();
        match tokio::time::timeout_at(until.into(), shared.renew()).await {
            Ok(Ok(true)) => {
                shared.extend(sent + shared.lifetime);
                last_error = None;
                next = sent + every;
            }
            Ok(Ok(false)) => {
                let reason = match shared.store.lease_row(&shared.name).await {
                    Ok(Some(row)) if row.token != shared.token && !row.token.is_empty() => {
                        LostReason::TakenOver { holder: row.holder }
                    }
                    Ok(Some(row)) if row.token == shared.token => LostReason::Expired,
                    Ok(_) => LostReason::Released,
                    Err(e) => LostReason::NotRenewed {
                        error: Some(e.to_string()),
                    },
                };
                shared.lose(reason);
                return;
            }
            Ok(Err(e)) => {
                tracing::warn!(lease = %shared.name, error = %e, "cannot renew the {}; retrying", title(&shared.name));
                last_error = Some(e.to_string());
                next = Instant::now() + retry;
            }
            // The apply transaction may have renewed it meanwhile (it holds the row until it
            // commits): only a deadline that is still past means the lease is gone.
            Err(_) if Instant::now() < shared.valid_until() => next = Instant::now(),
            Err(_) => {
                shared.lose(LostReason::NotRenewed { error: last_error });
                return;
            }
        }
    }
}

/// A lease row as stored, with the database's clock at the time of reading.
#[derive(Debug)]
pub(crate) struct LeaseRow {
    pub(crate) holder: String,
    pub(crate) token: String,
    pub(crate) epoch: i64,
    pub(crate) acquired_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) now: i64,
}

/// Takes a lease if it is free or expired: one statement, so racing acquirers cannot both win.
/// Returns the new epoch when we won.
const ACQUIRE: &str =
    "INSERT INTO leases (name, holder, token, epoch, acquired_at, renewed_at, expires_at) \
     VALUES ($1, $2, $3, 1, {now}, {now}, {now} + $4) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token, \
     epoch = leases.epoch + 1, acquired_at = excluded.acquired_at, \
     renewed_at = excluded.renewed_at, expires_at = excluded.expires_at \
     WHERE leases.expires_at <= excluded.acquired_at \
     RETURNING epoch";

impl Store {
    /// Takes the lease `name` for `holder`, waiting up to `wait` for its current holder to
    /// release it or let it expire; fails with [`StoreError::LeaseHeld`] naming the holder. The
    /// lease lasts `lifetime` and is renewed every third of it until released or dropped.
    pub async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        lifetime: Duration,
        wait: Duration,
    ) -> Result<Lease, StoreError> {
        let started = Instant::now();
        loop {
            let current = match self.attempt(name, holder, lifetime).await? {
                Ok(lease) => return Ok(lease),
                Err(current) => current,
            };
            let left = wait.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(StoreError::LeaseHeld {
                    name: name.to_owned(),
                    holder: current.holder,
                    since_secs: current.held_for.as_secs(),
                    expires_in_secs: current.expires_in.as_secs(),
                });
            }
            // Look again when the holder's lease would end, and at least every 250 ms in case
            // it is released earlier.
            let pause = left
                .min(Duration::from_millis(250))
                .min(current.expires_in.max(Duration::from_millis(10)));
            tokio::time::sleep(pause).await;
        }
    }

    /// Takes the lease `name` if it is free or expired; `None` when someone else holds it.
    pub async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        lifetime: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        Ok(self.attempt(name, holder, lifetime).await?.ok())
    }

    /// The apply lock: [`APPLY_LEASE`] taken for `holder` with a `lifetime` lease, waiting up to
    /// `wait` for another apply.
    pub async fn lock(
        &self,
        holder: &str,
        lifetime: Duration,
        wait: Duration,
    ) -> Result<Lease, StoreError> {
        self.acquire_lease(APPLY_LEASE, holder, lifetime, wait)
            .await
    }

    /// Who holds the lease `name` now, expired leases included (their holder stopped renewing
    /// them, e.g. it died); `None` when free or released.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<LeaseHolder>, StoreError> {
        Ok(self
            .lease_row(name)
            .await?
            .filter(|r| !r.token.is_empty())
            .map(|r| LeaseHolder {
                name: name.to_owned(),
                holder: r.holder,
                epoch: r.epoch,
                held_for: duration_ms(r.now - r.acquired_at),
                expires_in: duration_ms(r.expires_at - r.now),
                expired: r.expires_at <= r.now,
            }))
    }

    pub(crate) async fn lease_row(&self, name: &str) -> Result<Option<LeaseRow>, StoreError> {
        const DOING: &str = "reading a lease";
        let row = sqlx::query(&self.clock_sql(
            "SELECT holder, token, epoch, acquired_at, expires_at, {now} FROM leases WHERE name = $1",
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await
        .map_err(query_err(DOING))?;
        row.map(|r| {
            Ok(LeaseRow {
                holder: r.try_get(0)?,
                token: r.try_get(1)?,
                epoch: r.try_get(2)?,
                acquired_at: r.try_get(3)?,
                expires_at: r.try_get(4)?,
                now: r.try_get(5)?,
            })
        })
        .transpose()
        .map_err(query_err(DOING))
    }

    /// One attempt: the lease, or who holds it.
    async fn attempt(
        &self,
        name: &str,
        holder: &str,
        lifetime: Duration,
    ) -> Result<Result<Lease, LeaseHolder>, StoreError> {
        let token = format!("{:032x}", rand::thread_rng().gen::<u128>());
        let acquire = self.clock_sql(ACQUIRE);
        // A lease that expires or is released between our upsert and our read is tried again;
        // a few rounds at most, since each one finds it taken or takes it.
        let mut rounds = 0;
        loop {
            let sent = Instant::now();
            let won = sqlx::query(&acquire)
                .bind(name)
                .bind(holder)
                .bind(token.as_str())
                .bind(millis(lifetime))
                .fetch_optional(self.pool())
                .await
                .map_err(query_err("taking a lease"))?;
            if let Some(row) = won {
                let epoch: i64 = row.try_get(0).map_err(query_err("taking a lease"))?;
                return Ok(Ok(
                    self.start_lease(name, holder, token, epoch, lifetime, sent)
                ));
            }
            rounds += 1;
            match self.lease_holder(name).await? {
                Some(current) if !current.expired || rounds >= 3 => return Ok(Err(current)),
                _ => continue,
            }
        }
    }

    fn start_lease(
        &self,
        name: &str,
        holder: &str,
        token: String,
        epoch: i64,
        lifetime: Duration,
        sent: Instant,
    ) -> Lease {
        let (state, _) = watch::channel(LeaseState::Held);
        let shared = Arc::new(Shared {
            store: self.clone(),
            name: name.to_owned(),
            holder: holder.to_owned(),
            token,
            epoch,
            lifetime,
            valid_until: Mutex::new(sent + lifetime),
            state,
        });
        tracing::debug!(lease = name, epoch, "took the {}", title(name));
        Lease {
            heartbeat: tokio::spawn(heartbeat(shared.clone())),
            shared,
            released: false,
        }
    }
}
