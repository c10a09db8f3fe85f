//! The database (sqlx, SQLite or PostgreSQL): migrations, the snapshot the reconciler diffs,
//! the one transaction apply writes, the apply lock, and the portal's tables.
//!
//! No other module runs SQL. Both backends share one schema (TEXT, BIGINT and BOOLEAN only) and
//! one set of queries (`$N` placeholders work on both), so the same tests cover both.

mod lock;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::desired::Kind;
use crate::manifest::kinds::ALL_USERS;

pub use lock::{default_holder, LockGuard, LockHolder};

/// Errors of the store. Messages never contain a database password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL is not one we can open.
    #[error("unsupported database URL {0:?}: use sqlite://FILE or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot open database {url}: {source}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("cannot migrate database {url}: {source}")]
    Migrate {
        /// The URL with any password removed.
        url: String,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("database error while {doing}: {source}")]
    Query {
        /// What the store was doing.
        doing: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A stored document is not valid JSON (the database was edited by hand?).
    #[error("stored {kind} {name:?} is not valid JSON: {source}")]
    Corrupt {
        /// Kind of the row.
        kind: Kind,
        /// Name of the row.
        name: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Another apply holds the lock.
    #[error("the apply lock is held by {holder} (since {since_secs} s ago, lease ends in {expires_in_secs} s)")]
    LockHeld {
        /// Who holds it.
        holder: String,
        /// Seconds since it was taken.
        since_secs: i64,
        /// Seconds until its lease ends unless renewed.
        expires_in_secs: i64,
    },
    /// The lock was lost (lease expired and taken by someone else).
    #[error("the apply lock was lost: another run took it after our lease expired")]
    LockLost,
}

fn query_err(doing: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { doing, source }
}

/// Which database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A local file.
    Sqlite,
    /// A server, shared by replicas.
    Postgres,
}

/// Whether a product or plan can still be requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Listed and requestable.
    Active,
    /// Removed from the manifests but kept while credentials use it.
    Retired,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Retired => "retired",
        }
    }
}

/// A manifest object as stored: its canonical document and status.
#[derive(Debug, Clone, PartialEq)]
pub struct DbObject {
    /// The canonical JSON the reconciler compares, as stored: kept as text (parsed only when it
    /// differs from the desired document) because a snapshot holds every object.
    pub doc: String,
    /// Active unless retired (products and plans only).
    pub status: Status,
}

/// How portalctl came to own a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// portalctl created it (deleted on removal).
    Created,
    /// A manifest adopted it by `policy.id` (released on removal).
    Adopted,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Created => "created",
            Origin::Adopted => "adopted",
        }
    }
}

/// The Dashboard policy behind a product or plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRefRow {
    /// Provider name.
    pub provider: String,
    /// The policy `id`.
    pub policy_id: String,
    /// The Dashboard `_id`.
    pub policy_mid: String,
    /// Created or adopted.
    pub origin: Origin,
    /// The keys of shared maps (`meta_data.KEY` → value) portalctl last wrote on the policy, so
    /// a key later dropped from the manifest can be removed without touching others' keys.
    pub last_seen: Value,
}

/// An active credential, as the reconciler needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCredential {
    /// Credential id.
    pub id: String,
    /// Provider the key lives on.
    pub provider: String,
    /// The plan it was issued under.
    pub plan: String,
    /// The products it covers.
    pub products: Vec<String>,
    /// The Dashboard's key hash (the key itself is never needed here).
    pub key_hash: String,
}

/// Everything the reconciler reads from the database, in one consistent read.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Manifest objects by (kind, name); teams are named `org/team`.
    pub objects: BTreeMap<(Kind, String), DbObject>,
    /// Policy references by (kind, name).
    pub policy_refs: BTreeMap<(Kind, String), PolicyRefRow>,
    /// Active credentials.
    pub credentials: Vec<ActiveCredential>,
}

impl Snapshot {
    /// The active credentials that use a product or plan.
    pub fn credentials_of<'a>(
        &'a self,
        kind: Kind,
        name: &'a str,
    ) -> impl Iterator<Item = &'a ActiveCredential> + 'a {
        self.credentials.iter().filter(move |c| match kind {
            Kind::Plan => c.plan == name,
            Kind::Product => c.products.iter().any(|p| p == name),
            _ => false,
        })
    }
}

/// One write of the apply transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum DbWrite {
    /// Insert or replace an object.
    Upsert {
        /// Kind.
        kind: Kind,
        /// Name (`org/team` for teams).
        name: String,
        /// Canonical document.
        doc: Value,
        /// Base64 of the logo, for products that have one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        logo: Option<String>,
    },
    /// Mark a product or plan retired (or active again).
    SetStatus {
        /// Kind.
        kind: Kind,
        /// Name.
        name: String,
        /// New status.
        status: Status,
    },
    /// Delete an object (and its links).
    Delete {
        /// Kind.
        kind: Kind,
        /// Name.
        name: String,
    },
    /// Record the policy behind a product or plan.
    PutPolicyRef {
        /// Kind.
        kind: Kind,
        /// Name.
        name: String,
        /// The reference.
        #[serde(rename = "ref")]
        policy: PolicyRefRow,
    },
    /// Forget the policy behind a product or plan.
    DeletePolicyRef {
        /// Kind.
        kind: Kind,
        /// Name.
        name: String,
    },
    /// Mark a credential revoked (after its key was deleted on the Dashboard).
    RevokeCredential {
        /// Credential id.
        id: String,
    },
}

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

/// A connection pool to the portal database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
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

fn migrator() -> Migrator {
    Migrator {
        migrations: std::borrow::Cow::Owned(vec![Migration::new(
            1,
            "init".into(),
            MigrationType::Simple,
            include_str!("migrations/0001_init.sql").into(),
            false,
        )]),
        ignore_missing: false,
        locking: true,
        no_tx: false,
    }
}

impl Store {
    /// Opens (creating a SQLite file on first use) and migrates the database at `url`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let redacted = redact_url(url);
        let (backend, url) = if let Some(rest) = url.strip_prefix("sqlite:") {
            // `sqlite://portal.db`, `sqlite:portal.db` and `sqlite::memory:` all work; create the
            // file on first use and wait for other writers instead of failing at once.
            let mut u = format!("sqlite:{rest}");
            if !rest.contains(":memory:") && !rest.contains("mode=") {
                u.push_str(if rest.contains('?') {
                    "&mode=rwc"
                } else {
                    "?mode=rwc"
                });
            }
            (Backend::Sqlite, u)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl(redacted));
        };
        if backend == Backend::Sqlite {
            // Validate the options early so a typo is reported with the URL.
            sqlx::sqlite::SqliteConnectOptions::from_str(&url).map_err(|source| {
                StoreError::Connect {
                    url: redacted.clone(),
                    source,
                }
            })?;
        }
        let mut options = AnyPoolOptions::new().max_connections(match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => 8,
        });
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    conn.execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536;")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redacted.clone(),
                source,
            })?;
        // Two processes opening a new SQLite file at once can both decide to run a migration
        // (SQLite has no migration lock); the loser fails with "already exists" and, on a second
        // look, finds the migration applied.
        let mut attempt = 0;
        loop {
            match migrator().run(&pool).await {
                Ok(()) => break,
                Err(_) if backend == Backend::Sqlite && attempt < 3 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await;
                }
                Err(source) => {
                    return Err(StoreError::Migrate {
                        url: redacted.clone(),
                        source,
                    })
                }
            }
        }
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

    /// The pool, for the portal's queries in this module's submodules.
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Reads every manifest object, policy reference and active credential in one transaction.
    pub async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting the snapshot"))?;
        let mut snap = Snapshot::default();
        let queries: [(Kind, &str); 6] = [
            (
                Kind::Provider,
                "SELECT name, 'active' AS status, doc FROM providers",
            ),
            (
                Kind::Organisation,
                "SELECT name, 'active' AS status, doc FROM organisations",
            ),
            (
                Kind::Team,
                "SELECT organisation || '/' || name AS name, 'active' AS status, doc FROM teams",
            ),
            (Kind::Product, "SELECT name, status, doc FROM products"),
            (Kind::Plan, "SELECT name, status, doc FROM plans"),
            (
                Kind::Catalog,
                "SELECT name, 'active' AS status, doc FROM catalogs",
            ),
        ];
        for (kind, sql) in queries {
            let rows = sqlx::query(sql)
                .fetch_all(&mut *tx)
                .await
                .map_err(query_err("reading manifest objects"))?;
            for row in rows {
                let name: String = row.try_get(0).map_err(query_err("reading a name"))?;
                let status: String = row.try_get(1).map_err(query_err("reading a status"))?;
                let doc: String = row.try_get(2).map_err(query_err("reading a document"))?;
                if let Err(source) = serde_json::from_str::<serde::de::IgnoredAny>(&doc) {
                    return Err(StoreError::Corrupt { kind, name, source });
                }
                let status = if status == "retired" {
                    Status::Retired
                } else {
                    Status::Active
                };
                snap.objects.insert((kind, name), DbObject { doc, status });
            }
        }
        let rows = sqlx::query(
            "SELECT kind, name, provider, policy_id, policy_mid, origin, last_seen FROM policy_refs",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(query_err("reading policy references"))?;
        for row in rows {
            let (kind, name, r) = policy_ref_from_row(&row)?;
            snap.policy_refs.insert((kind, name), r);
        }
        let rows = sqlx::query(
            "SELECT id, provider, plan, products, key_hash FROM credentials WHERE status = 'active' ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(query_err("reading credentials"))?;
        for row in rows {
            let products: String = row.try_get(3).map_err(query_err("reading credentials"))?;
            snap.credentials.push(ActiveCredential {
                id: row.try_get(0).map_err(query_err("reading credentials"))?,
                provider: row.try_get(1).map_err(query_err("reading credentials"))?,
                plan: row.try_get(2).map_err(query_err("reading credentials"))?,
                products: serde_json::from_str(&products).unwrap_or_default(),
                key_hash: row.try_get(4).map_err(query_err("reading credentials"))?,
            });
        }
        tx.commit()
            .await
            .map_err(query_err("ending the snapshot"))?;
        Ok(snap)
    }

    /// Applies all writes in one transaction: all of them or none.
    pub async fn write(&self, writes: &[DbWrite]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting the apply transaction"))?;
        let now = now_ms();
        let mut touched_orgs = BTreeSet::new();
        // Group upserts by kind so they can be written in batches.
        let mut upserts: BTreeMap<Kind, Vec<UpsertRow<'_>>> = BTreeMap::new();
        for w in writes {
            match w {
                DbWrite::Upsert {
                    kind,
                    name,
                    doc,
                    logo,
                } => {
                    upserts
                        .entry(*kind)
                        .or_default()
                        .push((name, doc, logo.as_deref()));
                    match kind {
                        Kind::Organisation => {
                            touched_orgs.insert(name.clone());
                        }
                        Kind::Team => {
                            touched_orgs.insert(team_org(name).to_owned());
                        }
                        _ => {}
                    }
                }
                DbWrite::Delete {
                    kind: Kind::Organisation,
                    name,
                } => {
                    touched_orgs.insert(name.clone());
                }
                DbWrite::Delete {
                    kind: Kind::Team,
                    name,
                } => {
                    touched_orgs.insert(team_org(name).to_owned());
                }
                _ => {}
            }
        }
        let t = std::time::Instant::now();
        for (kind, rows) in &upserts {
            upsert_batch(&mut tx, *kind, rows, now).await?;
            tracing::trace!(elapsed = ?t.elapsed(), %kind, rows = rows.len(), "store: upserted");
        }
        let mut refs: BTreeMap<(&str, &str), Vec<Arg>> = BTreeMap::new();
        for w in writes {
            match w {
                DbWrite::Upsert { .. } => {}
                DbWrite::SetStatus { kind, name, status } => {
                    let table = match kind {
                        Kind::Product => "products",
                        Kind::Plan => "plans",
                        _ => continue,
                    };
                    sqlx::query(&format!(
                        "UPDATE {table} SET status = $1, updated_at = $2 WHERE name = $3"
                    ))
                    .bind(status.as_str())
                    .bind(now)
                    .bind(name.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err("changing a status"))?;
                }
                DbWrite::Delete { kind, name } => delete_object(&mut tx, *kind, name).await?,
                DbWrite::PutPolicyRef { kind, name, policy } => {
                    refs.insert(
                        (kind.as_str(), name.as_str()),
                        vec![
                            Arg::Text(kind.as_str().to_owned()),
                            Arg::Text(name.clone()),
                            Arg::Text(policy.provider.clone()),
                            Arg::Text(policy.policy_id.clone()),
                            Arg::Text(policy.policy_mid.clone()),
                            Arg::Text(policy.origin.as_str().to_owned()),
                            Arg::Text(policy.last_seen.to_string()),
                            Arg::Int(now),
                        ],
                    );
                }
                DbWrite::DeletePolicyRef { kind, name } => {
                    sqlx::query("DELETE FROM policy_refs WHERE kind = $1 AND name = $2")
                        .bind(kind.as_str())
                        .bind(name.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(query_err("forgetting a policy reference"))?;
                }
                DbWrite::RevokeCredential { id } => {
                    sqlx::query(
                        "UPDATE credentials SET status = 'revoked', revoked_at = $1, key_sealed = NULL WHERE id = $2",
                    )
                    .bind(now)
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(query_err("revoking a credential"))?;
                }
            }
        }
        // The last write of a reference wins, as if written one by one.
        insert_rows(
            &mut tx,
            "policy_refs",
            &["kind", "name", "provider", "policy_id", "policy_mid", "origin", "last_seen", "updated_at"],
            refs.into_values().collect(),
            "ON CONFLICT (kind, name) DO UPDATE SET provider = excluded.provider, policy_id = excluded.policy_id, \
             policy_mid = excluded.policy_mid, origin = excluded.origin, last_seen = excluded.last_seen, \
             updated_at = excluded.updated_at",
            "recording policy references",
        )
        .await?;
        tracing::trace!(elapsed = ?t.elapsed(), "store: references written");
        if !touched_orgs.is_empty() {
            rebuild_memberships(&mut tx, &touched_orgs).await?;
        }
        tracing::trace!(elapsed = ?t.elapsed(), "store: memberships written");
        tx.commit()
            .await
            .map_err(query_err("committing the apply transaction"))?;
        Ok(())
    }

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

    /// Counts rows of a table (for tests and status pages). Only known table names are accepted.
    pub async fn count(&self, table: &str) -> Result<i64, StoreError> {
        const TABLES: [&str; 12] = [
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
        ];
        if !TABLES.contains(&table) {
            return Ok(0);
        }
        let row = sqlx::query(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .map_err(query_err("counting rows"))?;
        row.try_get::<i64, _>(0).map_err(query_err("counting rows"))
    }

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

    /// Deletes every row of every table (tests only: a fresh PostgreSQL schema per test is
    /// costly, so tests share a database and wipe it).
    #[doc(hidden)]
    pub async fn wipe_for_tests(&self) -> Result<(), StoreError> {
        for t in [
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
            "apply_lock",
            "developers",
            "apps",
            "access_requests",
            "credentials",
            "credential_products",
            "sessions",
            "reconcile_runs",
        ] {
            sqlx::query(&format!("DELETE FROM {t}"))
                .execute(&self.pool)
                .await
                .map_err(query_err("wiping the database"))?;
        }
        Ok(())
    }
}

fn team_org(name: &str) -> &str {
    name.split_once('/').map_or(name, |(org, _)| org)
}

fn policy_ref_from_row(row: &AnyRow) -> Result<(Kind, String, PolicyRefRow), StoreError> {
    let get = |i: usize| -> Result<String, StoreError> {
        row.try_get::<String, _>(i)
            .map_err(query_err("reading policy references"))
    };
    let kind_s = get(0)?;
    let name = get(1)?;
    let kind = Kind::parse(&kind_s).unwrap_or(Kind::Product);
    let origin = if get(5)? == "adopted" {
        Origin::Adopted
    } else {
        Origin::Created
    };
    let last_seen = serde_json::from_str(&get(6)?).map_err(|source| StoreError::Corrupt {
        kind,
        name: name.clone(),
        source,
    })?;
    Ok((
        kind,
        name,
        PolicyRefRow {
            provider: get(2)?,
            policy_id: get(3)?,
            policy_mid: get(4)?,
            origin,
            last_seen,
        },
    ))
}

/// (name, document, logo) of one row to upsert.
type UpsertRow<'a> = (&'a str, &'a Value, Option<&'a str>);

/// One bind value of a batched statement.
#[derive(Debug, Clone)]
enum Arg {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    Bool(bool),
}

fn str_field(doc: &Value, key: &str) -> Option<String> {
    doc.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// At most this many bind parameters per statement: under SQLite's and PostgreSQL's limits.
const MAX_BINDS: usize = 6000;

/// SQLite looks a named parameter (`$7`) up by a linear scan, so a statement with thousands of
/// `$N` parameters costs quadratic time there; anonymous `?` parameters, bound in order, do not.
fn anonymous_placeholders(tx: &Transaction<'static, Any>) -> bool {
    tx.backend_name().eq_ignore_ascii_case("sqlite")
}

fn placeholder(anonymous: bool, n: usize) -> String {
    if anonymous {
        "?".to_owned()
    } else {
        format!("${n}")
    }
}

/// Inserts rows with multi-row `INSERT … VALUES (…), (…)` statements; `tail` follows the values
/// (an `ON CONFLICT` clause).
async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    columns: &[&str],
    rows: Vec<Vec<Arg>>,
    tail: &str,
    doing: &'static str,
) -> Result<(), StoreError> {
    let per = (MAX_BINDS / columns.len()).max(1);
    let anonymous = anonymous_placeholders(tx);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Arg>> = rows.by_ref().take(per).collect();
        let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
        let mut n = 0;
        for (i, row) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for c in 0..row.len() {
                n += 1;
                sql.push_str(if c == 0 { "" } else { ", " });
                sql.push_str(&placeholder(anonymous, n));
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(tail);
        let mut q = sqlx::query(&sql);
        for a in chunk.into_iter().flatten() {
            q = match a {
                Arg::Text(s) => q.bind(s),
                Arg::OptText(s) => q.bind(s),
                Arg::Int(i) => q.bind(i),
                Arg::Bool(b) => q.bind(b),
            };
        }
        q.execute(&mut **tx).await.map_err(query_err(doing))?;
    }
    Ok(())
}

/// Runs `DELETE FROM table WHERE column IN (…)` in chunks.
async fn delete_in(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    column: &str,
    values: &[String],
    doing: &'static str,
) -> Result<(), StoreError> {
    for chunk in values.chunks(MAX_BINDS) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "DELETE FROM {table} WHERE {column} IN ({})",
            marks.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for v in chunk {
            q = q.bind(v.clone());
        }
        q.execute(&mut **tx).await.map_err(query_err(doing))?;
    }
    Ok(())
}

async fn upsert_batch(
    tx: &mut Transaction<'static, Any>,
    kind: Kind,
    rows: &[UpsertRow<'_>],
    now: i64,
) -> Result<(), StoreError> {
    let (table, columns, conflict, update): (&str, &[&str], &str, &[&str]) = match kind {
        Kind::Provider => (
            "providers",
            &["name", "url", "gateway_url", "doc", "updated_at"],
            "name",
            &["url", "gateway_url", "doc", "updated_at"],
        ),
        Kind::Product => (
            "products",
            &[
                "name",
                "provider",
                "display_name",
                "featured",
                "status",
                "doc",
                "logo",
                "updated_at",
            ],
            "name",
            // An upsert of a product in the manifests makes it active again.
            &[
                "provider",
                "display_name",
                "featured",
                "status",
                "doc",
                "logo",
                "updated_at",
            ],
        ),
        Kind::Plan => (
            "plans",
            &[
                "name",
                "provider",
                "display_name",
                "auto_approve",
                "status",
                "doc",
                "updated_at",
            ],
            "name",
            &[
                "provider",
                "display_name",
                "auto_approve",
                "status",
                "doc",
                "updated_at",
            ],
        ),
        Kind::Catalog => (
            "catalogs",
            &["name", "display_name", "visibility", "doc", "updated_at"],
            "name",
            &["display_name", "visibility", "doc", "updated_at"],
        ),
        Kind::Organisation => (
            "organisations",
            &["name", "display_name", "doc", "updated_at"],
            "name",
            &["display_name", "doc", "updated_at"],
        ),
        Kind::Team => (
            "teams",
            &["organisation", "name", "display_name", "doc", "updated_at"],
            "organisation, name",
            &["display_name", "doc", "updated_at"],
        ),
    };
    let values: Vec<Vec<Arg>> = rows
        .iter()
        .map(|(name, doc, logo)| {
            let name = (*name).to_owned();
            let display = Arg::Text(str_field(doc, "displayName").unwrap_or_default());
            let mut row = match kind {
                Kind::Provider => vec![
                    Arg::Text(name),
                    Arg::Text(str_field(doc, "url").unwrap_or_default()),
                    Arg::OptText(str_field(doc, "gatewayUrl")),
                ],
                Kind::Product => vec![
                    Arg::Text(name),
                    Arg::OptText(str_field(doc, "provider")),
                    display,
                    Arg::Bool(
                        doc.get("featured")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    ),
                    Arg::Text("active".into()),
                ],
                Kind::Plan => vec![
                    Arg::Text(name),
                    Arg::Text(str_field(doc, "provider").unwrap_or_default()),
                    display,
                    Arg::Bool(
                        doc.get("autoApprove")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    ),
                    Arg::Text("active".into()),
                ],
                Kind::Catalog => vec![
                    Arg::Text(name),
                    display,
                    Arg::Text(str_field(doc, "visibility").unwrap_or_default()),
                ],
                Kind::Organisation => vec![Arg::Text(name), display],
                Kind::Team => {
                    let (org, team) = name.split_once('/').unwrap_or(("default", name.as_str()));
                    vec![
                        Arg::Text(org.to_owned()),
                        Arg::Text(team.to_owned()),
                        display,
                    ]
                }
            };
            row.push(Arg::Text(doc.to_string()));
            if kind == Kind::Product {
                row.push(Arg::OptText(logo.map(str::to_owned)));
            }
            row.push(Arg::Int(now));
            row
        })
        .collect();
    let set: Vec<String> = update
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let tail = format!("ON CONFLICT ({conflict}) DO UPDATE SET {}", set.join(", "));
    insert_rows(
        tx,
        table,
        columns,
        values,
        &tail,
        "writing manifest objects",
    )
    .await?;
    if kind == Kind::Catalog {
        rewrite_catalog_links(tx, rows).await?;
    }
    Ok(())
}

fn string_list(doc: &Value, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces the product, plan and audience links of the given catalogs.
async fn rewrite_catalog_links(
    tx: &mut Transaction<'static, Any>,
    catalogs: &[UpsertRow<'_>],
) -> Result<(), StoreError> {
    let names: Vec<String> = catalogs.iter().map(|(n, _, _)| (*n).to_owned()).collect();
    for t in ["catalog_products", "catalog_plans", "catalog_audiences"] {
        delete_in(tx, t, "catalog", &names, "rewriting catalog links").await?;
    }
    let mut products = Vec::new();
    let mut plans = Vec::new();
    let mut audiences = BTreeSet::new();
    for (name, doc, _) in catalogs {
        for p in string_list(doc, "products")
            .into_iter()
            .collect::<BTreeSet<_>>()
        {
            products.push(vec![Arg::Text((*name).to_owned()), Arg::Text(p)]);
        }
        for p in string_list(doc, "plans")
            .into_iter()
            .collect::<BTreeSet<_>>()
        {
            plans.push(vec![Arg::Text((*name).to_owned()), Arg::Text(p)]);
        }
        for a in string_list(doc, "audiences") {
            let (org, team) = a.split_once('/').unwrap_or((a.as_str(), ALL_USERS));
            audiences.insert(((*name).to_owned(), org.to_owned(), team.to_owned()));
        }
    }
    let audiences = audiences
        .into_iter()
        .map(|(c, o, t)| vec![Arg::Text(c), Arg::Text(o), Arg::Text(t)])
        .collect();
    insert_rows(
        tx,
        "catalog_products",
        &["catalog", "product"],
        products,
        "",
        "rewriting catalog links",
    )
    .await?;
    insert_rows(
        tx,
        "catalog_plans",
        &["catalog", "plan"],
        plans,
        "",
        "rewriting catalog links",
    )
    .await?;
    insert_rows(
        tx,
        "catalog_audiences",
        &["catalog", "organisation", "team"],
        audiences,
        "",
        "rewriting catalog links",
    )
    .await
}

async fn delete_object(
    tx: &mut Transaction<'static, Any>,
    kind: Kind,
    name: &str,
) -> Result<(), StoreError> {
    const DOING: &str = "deleting an object";
    if kind == Kind::Team {
        let (org, team) = name.split_once('/').unwrap_or(("default", name));
        for table in ["teams", "catalog_audiences"] {
            let column = if table == "teams" { "name" } else { "team" };
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE organisation = $1 AND {column} = $2"
            ))
            .bind(org.to_owned())
            .bind(team.to_owned())
            .execute(&mut **tx)
            .await
            .map_err(query_err(DOING))?;
        }
        return Ok(());
    }
    // The object's row, then every row that refers to it by name.
    let rows: &[(&str, &str)] = match kind {
        Kind::Provider => &[("providers", "name")],
        Kind::Product => &[("products", "name"), ("catalog_products", "product")],
        Kind::Plan => &[("plans", "name"), ("catalog_plans", "plan")],
        Kind::Catalog => &[
            ("catalogs", "name"),
            ("catalog_products", "catalog"),
            ("catalog_plans", "catalog"),
            ("catalog_audiences", "catalog"),
        ],
        Kind::Organisation => &[
            ("organisations", "name"),
            ("catalog_audiences", "organisation"),
        ],
        Kind::Team => &[],
    };
    let name = [name.to_owned()];
    for (table, column) in rows {
        delete_in(tx, table, column, &name, DOING).await?;
    }
    if matches!(kind, Kind::Product | Kind::Plan) {
        sqlx::query("DELETE FROM policy_refs WHERE kind = $1 AND name = $2")
            .bind(kind.as_str())
            .bind(name[0].clone())
            .execute(&mut **tx)
            .await
            .map_err(query_err(DOING))?;
    }
    Ok(())
}

/// Rewrites the memberships of the given organisations from their documents and their teams'.
async fn rebuild_memberships(
    tx: &mut Transaction<'static, Any>,
    orgs: &BTreeSet<String>,
) -> Result<(), StoreError> {
    let orgs: Vec<String> = orgs.iter().cloned().collect();
    delete_in(
        tx,
        "memberships",
        "organisation",
        &orgs,
        "rebuilding memberships",
    )
    .await?;
    let members = |doc: &str| -> Vec<String> {
        serde_json::from_str::<Value>(doc)
            .map(|d| string_list(&d, "members"))
            .unwrap_or_default()
    };
    let mut rows: BTreeSet<(String, String, String)> = BTreeSet::new();
    let anonymous = anonymous_placeholders(tx);
    for chunk in orgs.chunks(MAX_BINDS) {
        let marks: Vec<String> = (1..=chunk.len())
            .map(|i| placeholder(anonymous, i))
            .collect();
        let marks = marks.join(", ");
        let sql = format!("SELECT name, doc FROM organisations WHERE name IN ({marks})");
        let mut q = sqlx::query(&sql);
        for o in chunk {
            q = q.bind(o.clone());
        }
        let declared: BTreeSet<String> = {
            let found = q
                .fetch_all(&mut **tx)
                .await
                .map_err(query_err("rebuilding memberships"))?;
            let mut declared = BTreeSet::new();
            for r in found {
                let org: String = r.try_get(0).map_err(query_err("rebuilding memberships"))?;
                let doc: String = r.try_get(1).map_err(query_err("rebuilding memberships"))?;
                for m in members(&doc) {
                    rows.insert((m, org.clone(), ALL_USERS.to_owned()));
                }
                declared.insert(org);
            }
            declared
        };
        let sql =
            format!("SELECT organisation, name, doc FROM teams WHERE organisation IN ({marks})");
        let mut q = sqlx::query(&sql);
        for o in chunk {
            q = q.bind(o.clone());
        }
        for r in q
            .fetch_all(&mut **tx)
            .await
            .map_err(query_err("rebuilding memberships"))?
        {
            let org: String = r.try_get(0).map_err(query_err("rebuilding memberships"))?;
            let team: String = r.try_get(1).map_err(query_err("rebuilding memberships"))?;
            let doc: String = r.try_get(2).map_err(query_err("rebuilding memberships"))?;
            if !declared.contains(&org) {
                continue; // teams of a removed organisation grant nothing
            }
            for m in members(&doc) {
                rows.insert((m.clone(), org.clone(), ALL_USERS.to_owned()));
                rows.insert((m, org.clone(), team.clone()));
            }
        }
    }
    let rows = rows
        .into_iter()
        .map(|(e, o, t)| vec![Arg::Text(e), Arg::Text(o), Arg::Text(t)])
        .collect();
    insert_rows(
        tx,
        "memberships",
        &["email", "organisation", "team"],
        rows,
        "",
        "rebuilding memberships",
    )
    .await
}
