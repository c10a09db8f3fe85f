//! The snapshot: everything the reconciler reads from the database, in one consistent read, and
//! the row types it is made of.
//!
//! Reading only: the apply transaction that changes these rows lives in `write.rs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{query_err, Store, StoreError};
use crate::desired::Kind;

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
    pub(crate) fn as_str(self) -> &'static str {
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
    pub(crate) fn as_str(self) -> &'static str {
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

impl Store {
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
                    return Err(StoreError::Corrupt {
                        kind,
                        name,
                        cause: source,
                    });
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
        cause: source,
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
