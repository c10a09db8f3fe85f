//! The database (sqlx, SQLite or PostgreSQL): the one module that runs SQL.
//!
//! This file owns opening and migrating the database, the error type and the engine; the roles
//! live beside it: `snapshot.rs` (what the reconciler reads), `write.rs` (the apply transaction
//! and its batching), `lease.rs` (named leases and fencing), `credentials.rs`, `memberships.rs`,
//! `providers.rs` (the Dashboard connections `serve` uses), `runs.rs` (state version and
//! reconcile runs) and `testing.rs` (helpers for tests only).
//!
//! Both backends share one schema (TEXT, BIGINT and BOOLEAN only; `migrations/`, never edited
//! once released) and one set of queries (`$N` placeholders work on both; the database's clock
//! is the one fragment spelled per engine), so the same tests cover both. Nothing here knows
//! about Dashboards.

mod credentials;
mod lease;
mod memberships;
mod providers;
mod runs;
mod snapshot;
mod testing;
mod write;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyConnection, AnyPool, Connection, Executor};

use crate::desired::Kind;

pub use credentials::NewCredential;
pub use lease::{
    default_holder, Lease, LeaseHolder, LeaseState, LostReason, APPLY_LEASE, LEADER_LEASE,
};
pub use runs::{ReconcileRun, RunResult, RUNS_KEPT};
pub use snapshot::{ActiveCredential, DbObject, Origin, PolicyRefRow, Snapshot, Status};
pub use write::DbWrite;

/// Errors of the store. Messages never contain a database password. A driver's error is part
/// of the message, not chained as a source, so that it is printed once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is not one we can open.
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// The database server could not be reached (refused, no answer, unknown host).
    #[error("cannot open database {url}: {reason}")]
    Unreachable {
        /// The URL with any password removed.
        url: String,
        /// What happened and where, e.g. `connection refused at 127.0.0.1:1`.
        reason: String,
    },
    /// Connecting failed otherwise (authentication, unknown database, unreadable file).
    #[error("cannot open database {url}: {cause}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        /// The driver's error.
        cause: sqlx::Error,
    },
    /// Migrations failed.
    #[error("cannot migrate database {url}: {cause}")]
    Migrate {
        /// The URL with any password removed.
        url: String,
        /// The migrator's error.
        cause: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("database error while {doing}: {cause}")]
    Query {
        /// What the store was doing.
        doing: &'static str,
        /// The driver's error.
        cause: sqlx::Error,
    },
    /// A stored document is not valid JSON (the database was edited by hand?).
    #[error("stored {kind} {name:?} is not valid: {cause}")]
    Corrupt {
        /// Kind of the row.
        kind: Kind,
        /// Name of the row.
        name: String,
        /// The parse error.
        cause: serde_json::Error,
    },
    /// Another row cannot be read back (the database was edited by hand?).
    #[error("stored {table} row {key:?} is not valid: {detail}")]
    CorruptRow {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Someone else holds the lease (for the apply lease: another apply is running).
    #[error("the {} is held by {holder} (since {since_secs} s ago, lease ends in {expires_in_secs} s)", lease::title(.name))]
    LeaseHeld {
        /// The lease's name.
        name: String,
        /// Who holds it, e.g. `alice@ci-runner-3 (pid 4242)`.
        holder: String,
        /// Seconds since it was taken, by the database's clock.
        since_secs: u64,
        /// Seconds until it ends unless renewed, by the database's clock.
        expires_in_secs: u64,
    },
    /// A lease we held is no longer ours; the write it was to protect was not made.
    #[error("the {} was lost: {reason}", lease::title(.name))]
    LeaseLost {
        /// The lease's name.
        name: String,
        /// Why.
        reason: LostReason,
    },
    /// A provider row holds no connection: it was written by an older portalctl.
    #[error("provider {provider:?} has no stored Dashboard connection (it was written by an older portalctl); run `portalctl apply` once to store it")]
    NoConnection {
        /// Provider name.
        provider: String,
    },
}

fn query_err(doing: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |cause| StoreError::Query { doing, cause }
}

/// Which database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A local file.
    Sqlite,
    /// A server, shared by replicas.
    Postgres,
}

impl Backend {
    /// The database's clock in Unix milliseconds, as SQL, constant within one statement (so an
    /// expiry is exactly "now + lifetime"). PostgreSQL's `statement_timestamp()` is the server's
    /// time when the statement arrived (`now()` would be the start of the transaction, stale in
    /// a long apply transaction); SQLite's `'now'` is the machine's clock, the only clock a
    /// single file has.
    fn now_ms_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS BIGINT)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000 AS BIGINT)",
        }
    }
}

/// A connection pool to the portal database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

/// Milliseconds since the Unix epoch, by this machine's clock: for timestamps that are only
/// recorded (`updated_at`), never for leases.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The URL with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The schema, in order. A released migration is never edited: changes are new files.
fn migrator() -> Migrator {
    let migration = |version: i64, name: &str, sql: &'static str| {
        Migration::new(
            version,
            name.to_owned().into(),
            MigrationType::Simple,
            sql.into(),
            false,
        )
    };
    Migrator {
        migrations: std::borrow::Cow::Owned(vec![
            migration(1, "init", include_str!("migrations/0001_init.sql")),
            migration(
                2,
                "leases state version",
                include_str!("migrations/0002_leases_state_version.sql"),
            ),
        ]),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}

/// How long the first connection may take before the database counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings every SQLite connection gets: wait for other writers instead of failing at once,
/// write-ahead logging, and a larger page cache for the batched writes.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;";

/// Opens one connection with a deadline and says plainly why it failed: refused, unknown host,
/// no answer (the pool would retry a refused connection for 30 s and say "pool timed out").
async fn first_connection(
    url: &str,
    redacted: &str,
    address: &str,
) -> Result<AnyConnection, StoreError> {
    let unreachable = |reason: String| StoreError::Unreachable {
        url: redacted.to_owned(),
        reason,
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, AnyConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(sqlx::Error::Io(e))) => Err(unreachable(match e.kind() {
            std::io::ErrorKind::ConnectionRefused => format!("connection refused at {address}"),
            std::io::ErrorKind::TimedOut => format!("connection timed out at {address}"),
            _ => format!("{address}: {e}"),
        })),
        Ok(Err(cause)) => Err(StoreError::Connect {
            url: redacted.to_owned(),
            cause,
        }),
        Err(_) => Err(unreachable(format!(
            "no answer within {} s from {address}",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

impl Store {
    /// Opens (creating a SQLite file on first use) and migrates the database at `url`.
    ///
    /// On PostgreSQL one connection is opened first, with a deadline, and its error reported as
    /// is (`first_connection`); migrations run on it, and the pool opens its own connections
    /// when first used.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let redacted = redact_url(url);
        let (backend, url, address) = if let Some(rest) = url.strip_prefix("sqlite:") {
            // `sqlite://portal.db`, `sqlite:portal.db` and `sqlite::memory:` all work (the pool
            // never closes an in-memory database's one connection, which would lose it);
            // create the file on first use.
            let mut u = format!("sqlite:{rest}");
            if !rest.contains(":memory:") && !rest.contains("mode=") {
                u.push_str(if rest.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
            // Validate the options early so a typo is reported with the URL.
            sqlx::sqlite::SqliteConnectOptions::from_str(&u).map_err(|cause| {
                StoreError::Connect {
                    url: redacted.clone(),
                    cause,
                }
            })?;
            (Backend::Sqlite, u, String::new())
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = sqlx::postgres::PgConnectOptions::from_str(url).map_err(|cause| {
                StoreError::Connect {
                    url: redacted.clone(),
                    cause,
                }
            })?;
            let host = options.get_host();
            let address = if host.starts_with('/') {
                format!("{host}/.s.PGSQL.{}", options.get_port())
            } else {
                format!("{host}:{}", options.get_port())
            };
            (Backend::Postgres, url.to_owned(), address)
        } else {
            return Err(StoreError::UnsupportedUrl(redacted));
        };

        let mut options = AnyPoolOptions::new().max_connections(match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 8,
        });
        let pool = match backend {
            Backend::Sqlite => {
                if url.contains(":memory:") {
                    options = options
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None);
                }
                options = options.after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute(SQLITE_PRAGMAS).await?;
                        Ok(())
                    })
                });
                // Opening a file fails at once, so the pool's first connection says why; it stays
                // open (closing the last connection would checkpoint the whole write-ahead log
                // before the command even starts).
                let pool = options
                    .connect(&url)
                    .await
                    .map_err(|cause| StoreError::Connect {
                        url: redacted.clone(),
                        cause,
                    })?;
                // Two processes opening a new SQLite file at once can both decide to run a
                // migration (SQLite has no migration lock); the loser fails with "already
                // exists" and, on a second look, finds the migration applied.
                let mut attempt = 0;
                loop {
                    match migrator().run(&pool).await {
                        Ok(()) => break,
                        Err(_) if attempt < 3 => {
                            attempt += 1;
                            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                        }
                        Err(cause) => {
                            return Err(StoreError::Migrate {
                                url: redacted.clone(),
                                cause,
                            })
                        }
                    }
                }
                pool
            }
            Backend::Postgres => {
                let mut conn = first_connection(&url, &redacted, &address).await?;
                migrator()
                    .run(&mut conn)
                    .await
                    .map_err(|cause| StoreError::Migrate {
                        url: redacted.clone(),
                        cause,
                    })?;
                let _ = conn.close().await;
                options
                    .connect_lazy(&url)
                    .map_err(|cause| StoreError::Connect {
                        url: redacted.clone(),
                        cause,
                    })?
            }
        };
        Ok(Store {
            pool,
            backend,
            url: redacted,
        })
    }

    /// The engine behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The database URL without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The pool, for the queries of this module's submodules.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// `sql` with every `{now}` replaced by this engine's clock (Unix milliseconds).
    pub(crate) fn clock_sql(&self, sql: &str) -> String {
        sql.replace("{now}", self.backend.now_ms_sql())
    }
}
