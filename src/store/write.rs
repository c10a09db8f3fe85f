//! The apply transaction: every database change of a plan in one transaction, fenced by the
//! apply lease and written in batches.
//!
//! Batching matters at scale: a first apply of 20,000 objects is a few multi-row statements per
//! table, not 20,000 round trips (BENCHMARKS.md). Nothing here decides what to write: the plan
//! (`reconcile`) does.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{Any, Row, Transaction};

use super::lease::{millis, Lease, LostReason};
use super::snapshot::{PolicyRefRow, Status};
use super::{now_ms, query_err, Store, StoreError};
use crate::desired::Kind;
use crate::manifest::kinds::ALL_USERS;

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

impl Store {
    /// Applies all writes in one transaction: all of them or none, and only while `lease`
    /// (normally the apply lease, [`super::APPLY_LEASE`]) is still ours.
    ///
    /// The transaction's first statement renews the lease row on condition that it carries our
    /// token and has not expired by the database's clock; otherwise the transaction rolls back
    /// with [`StoreError::LeaseLost`] before writing anything. That statement also locks the row
    /// until commit (a row lock on PostgreSQL, the database's one write lock on SQLite), so
    /// nobody can take the lease over between the check and the commit. A committed transaction
    /// bumps the state version that `serve` replicas poll.
    pub async fn write(&self, writes: &[DbWrite], lease: &Lease) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(query_err("starting the apply transaction"))?;
        let fenced_at = Instant::now();
        self.fence(&mut tx, lease).await?;
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
        sqlx::query("UPDATE state_version SET version = version + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(query_err("bumping the state version"))?;
        tx.commit()
            .await
            .map_err(query_err("committing the apply transaction"))?;
        lease.confirmed_at(fenced_at);
        Ok(())
    }

    /// The fence: renews `lease` inside the transaction if it is still ours, or says why not.
    async fn fence(
        &self,
        tx: &mut Transaction<'static, Any>,
        lease: &Lease,
    ) -> Result<(), StoreError> {
        const DOING: &str = "checking the apply lease";
        let renewed = sqlx::query(&self.clock_sql(
            "UPDATE leases SET expires_at = {now} + $1, renewed_at = {now} \
             WHERE name = $2 AND token = $3 AND expires_at > {now}",
        ))
        .bind(millis(lease.lifetime()))
        .bind(lease.name())
        .bind(lease.token())
        .execute(&mut **tx)
        .await
        .map_err(query_err(DOING))?;
        if renewed.rows_affected() == 1 {
            return Ok(());
        }
        let row = sqlx::query("SELECT holder, token FROM leases WHERE name = $1")
            .bind(lease.name())
            .fetch_optional(&mut **tx)
            .await
            .map_err(query_err(DOING))?;
        let reason = match row {
            Some(r) => {
                let holder: String = r.try_get(0).map_err(query_err(DOING))?;
                let token: String = r.try_get(1).map_err(query_err(DOING))?;
                if token == lease.token() {
                    LostReason::Expired
                } else if token.is_empty() {
                    LostReason::Released
                } else {
                    LostReason::TakenOver { holder }
                }
            }
            None => LostReason::Released,
        };
        tracing::error!(lease = lease.name(), %reason, "refused the apply transaction: the lease is lost");
        Err(StoreError::LeaseLost {
            name: lease.name().to_owned(),
            reason,
        })
    }
}

fn team_org(name: &str) -> &str {
    name.split_once('/').map_or(name, |(org, _)| org)
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
