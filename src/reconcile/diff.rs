//! The diff: desired state × actual state → change set. Pure: no IO, no clock, no logging,
//! cannot fail, deterministic (its caller, `Reconciler`, times it and logs).
//!
//! Problems (conflicts, a missing adopted policy) become plan errors, never panics. The rules are
//! SPEC §2 and §4: only policies carrying our ownership tag are changed, except those a manifest
//! adopts by `policy.id`; removed objects with active credentials are retired, not deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::docs::{
    self, desired_docs, desired_policies, get_path, normalize, owner_tag, project, DesiredPolicy,
};
use super::plan::{
    object_fields, Action, Change, ChangeSet, FieldChange, Impact, Op, PlanIssue, PolicyLabel,
    PolicyPatch, Target,
};
use super::widen;
use crate::desired::{Desired, Kind};
use crate::store::{DbWrite, Origin, PolicyRefRow, Snapshot, Status};
use crate::tyk::Policy;

/// What the reconciler read: one database snapshot and one policy listing per provider.
#[derive(Debug, Clone, Default)]
pub struct Actual {
    /// The database.
    pub db: Snapshot,
    /// Every policy of each desired provider, by provider name.
    pub dashboards: BTreeMap<String, Vec<Policy>>,
}

/// Settings of a diff.
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Ownership instance.
    pub instance: String,
    /// Revoke credentials of retired objects and delete them.
    pub revoke_retired: bool,
}

struct Listing<'a> {
    policies: &'a [Policy],
    by_id: HashMap<&'a str, usize>,
    by_mid: HashMap<&'a str, usize>,
    by_name: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Listing<'a> {
    fn new(policies: &'a [Policy]) -> Self {
        let mut l = Listing {
            policies,
            by_id: HashMap::new(),
            by_mid: HashMap::new(),
            by_name: HashMap::new(),
        };
        for (i, p) in policies.iter().enumerate() {
            if !p.id.is_empty() {
                l.by_id.entry(p.id.as_str()).or_insert(i);
            }
            if !p.mid.is_empty() {
                l.by_mid.entry(p.mid.as_str()).or_insert(i);
            }
            l.by_name.entry(p.name.as_str()).or_default().push(i);
        }
        l
    }
}

/// Computes the plan. See the module documentation for the rules.
pub fn diff(desired: &Desired, actual: &Actual, opts: &DiffOptions) -> ChangeSet {
    let owner = owner_tag(&opts.instance);
    let mut errors: Vec<PlanIssue> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut dash_changes: Vec<Change> = Vec::new();
    let mut removal_dash: Vec<Change> = Vec::new();
    let mut db_changes: Vec<Change> = Vec::new();
    let mut db_removals: Vec<Change> = Vec::new();
    // Policy references the database should hold after apply, where they differ from it.
    let mut ref_writes: BTreeMap<(Kind, String), (Option<PolicyRefRow>, PolicyRefRow)> =
        BTreeMap::new();

    let listings: BTreeMap<&str, Listing<'_>> = actual
        .dashboards
        .iter()
        .map(|(p, pols)| (p.as_str(), Listing::new(pols)))
        .collect();
    let mut claimed: BTreeSet<(String, String)> = BTreeSet::new(); // (provider, _id)
    let mut watch: Watch = Watch::new(); // ids and names the plan depends on, for the fingerprint

    let dps = desired_policies(desired, &opts.instance);
    for dp in &dps {
        let w = watch.entry(dp.provider.clone()).or_default();
        w.insert(dp.id.clone());
        w.insert(dp.policy_name.clone());
        let Some(listing) = listings.get(dp.provider.as_str()) else {
            continue;
        };
        let credentials = actual.db.credentials_of(dp.kind, &dp.name).count() as u64;
        let impact = (credentials > 0).then_some(Impact {
            active_credentials: credentials,
            revoked_credentials: 0,
        });
        let found = listing
            .by_id
            .get(dp.id.as_str())
            .or_else(|| {
                dp.adopt
                    .as_ref()
                    .and_then(|_| listing.by_mid.get(dp.id.as_str()))
            })
            .copied();
        match found {
            Some(i) => {
                let pol = &listing.policies[i];
                claimed.insert((dp.provider.clone(), pol.mid.clone()));
                let owned = pol.tags.contains(&owner);
                if dp.adopt.is_none() && !owned {
                    errors.push(PlanIssue {
                        kind: Some(dp.kind),
                        name: Some(dp.name.clone()),
                        message: format!(
                            "provider {}: policy id {:?} exists but does not carry the tag {owner:?}, so portalctl did not create it and will not change it; adopt it with `policy: {{id: {}}}` or remove it from the Dashboard",
                            dp.provider, dp.id, dp.id
                        ),
                    });
                    continue;
                }
                let have = actual.db.policy_refs.get(&(dp.kind, dp.name.clone()));
                let last_seen = have.map(|h| &h.last_seen);
                // The policy as JSON, only for the ones compared (a listing holds thousands).
                let as_json = serde_json::to_value(pol).unwrap_or(Value::Null);
                let (patch, fields) = policy_patch(dp, &as_json, pol, last_seen);
                let want = PolicyRefRow {
                    provider: dp.provider.clone(),
                    policy_id: pol.id.clone(),
                    policy_mid: pol.mid.clone(),
                    origin: if dp.adopt.is_some() { Origin::Adopted } else { Origin::Created },
                    last_seen: shared_keys_written(&dp.owned),
                };
                if !patch.is_empty() {
                    let mut after = as_json.clone();
                    patch.apply_to(&mut after);
                    let widens = widen::widenings(dp.kind, &as_json, &after, !owned, credentials);
                    dash_changes.push(Change {
                        action: if owned { Action::Update } else { Action::Tag },
                        kind: dp.kind,
                        name: dp.name.clone(),
                        provider: Some(dp.provider.clone()),
                        target: Target::Dashboard,
                        fields,
                        impact,
                        policy: Some(label(pol)),
                        widens,
                        ops: vec![
                            Op::PatchPolicy { provider: dp.provider.clone(), mid: pol.mid.clone(), id: pol.id.clone(), patch },
                            // Remember what we own now, so keys dropped later can be removed.
                            Op::Db(DbWrite::PutPolicyRef { kind: dp.kind, name: dp.name.clone(), policy: want.clone() }),
                        ],
                    });
                }
                if have.is_none_or(|h| !same_ref(h, &want)) {
                    ref_writes.insert((dp.kind, dp.name.clone()), (have.cloned(), want));
                }
            }
            None if dp.adopt.is_some() => errors.push(PlanIssue {
                kind: Some(dp.kind),
                name: Some(dp.name.clone()),
                message: format!(
                    "{} {:?} adopts policy {:?}, which does not exist on provider {}; check `policy.id` (the policy `id` or its 24-character `_id`)",
                    dp.kind, dp.name, dp.id, dp.provider
                ),
            }),
            None => {
                let clash = listing
                    .by_name
                    .get(dp.policy_name.as_str())
                    .and_then(|v| v.iter().find(|&&i| listing.policies[i].id != dp.id))
                    .copied();
                if let Some(i) = clash {
                        let other = &listing.policies[i];
                    let whose = if other.tags.contains(&owner) {
                        "another object of this portal"
                    } else {
                        "a policy portalctl does not manage"
                    };
                    errors.push(PlanIssue {
                        kind: Some(dp.kind),
                        name: Some(dp.name.clone()),
                        message: format!(
                            "provider {}: cannot create policy {:?} for {} {:?}: the name is already used by {whose} (id {:?}); policy names are unique per Dashboard: set `policy.name`, or adopt the existing one with `policy: {{id: {}}}`",
                            dp.provider, dp.policy_name, dp.kind, dp.name, other.id, other.id
                        ),
                    });
                    continue;
                }
                let body = dp.create_body();
                dash_changes.push(Change {
                    action: Action::Create,
                    kind: dp.kind,
                    name: dp.name.clone(),
                    provider: Some(dp.provider.clone()),
                    target: Target::Dashboard,
                    // The fields of a new policy are shown from its body (`Change::shown_fields`).
                    fields: vec![],
                    impact,
                    policy: None,
                    widens: vec![],
                    ops: vec![Op::CreatePolicy { provider: dp.provider.clone(), policy: body }],
                });
            }
        }
    }

    drop(dps);
    // Desired database objects.
    let docs = desired_docs(desired);
    let desired_keys: BTreeSet<(Kind, String)> =
        docs.iter().map(|(k, n, _, _)| (*k, n.clone())).collect();
    for (kind, name, doc, logo) in docs {
        let key = (kind, name.clone());
        let mut ops = vec![];
        let mut fields = vec![];
        let action = match actual.db.objects.get(&key) {
            None => {
                // The fields of a new object are shown from its document (`Change::shown_fields`).
                ops.push(Op::Db(DbWrite::Upsert {
                    kind,
                    name: name.clone(),
                    doc,
                    logo,
                }));
                Some(Action::Create)
            }
            Some(have) => {
                // Same text, same document: the common case costs no parsing.
                let text = doc.to_string();
                if have.doc != text {
                    let before: Value = serde_json::from_str(&have.doc).unwrap_or(Value::Null);
                    fields = object_fields(Some(&before), &doc);
                }
                if have.status == Status::Retired {
                    fields.push(FieldChange {
                        path: "status".into(),
                        before: Some(json!("retired")),
                        after: Some(json!("active")),
                    });
                }
                if !fields.is_empty() {
                    ops.push(Op::Db(DbWrite::Upsert {
                        kind,
                        name: name.clone(),
                        doc,
                        logo,
                    }));
                    Some(Action::Update)
                } else {
                    None
                }
            }
        };
        let reference = ref_writes.remove(&key);
        if let Some((before, after)) = reference {
            // A new row shows its reference among its fields already (`Change::shown_fields`).
            if action != Some(Action::Create) {
                fields.push(FieldChange {
                    path: "policy".into(),
                    before: before.map(|b| json!({"id": b.policy_id, "_id": b.policy_mid})),
                    after: Some(json!({"id": after.policy_id, "_id": after.policy_mid})),
                });
            }
            ops.push(Op::Db(DbWrite::PutPolicyRef {
                kind,
                name: name.clone(),
                policy: after,
            }));
        }
        if !ops.is_empty() {
            db_changes.push(Change {
                action: action.unwrap_or(Action::Update),
                kind,
                name,
                provider: None,
                target: Target::Database,
                fields,
                impact: None,
                policy: None,
                widens: vec![],
                ops,
            });
        }
    }

    // Owned policies no manifest wants any more: retire, delete or release.
    let mut removed_handled: BTreeSet<(Kind, String)> = BTreeSet::new();
    for (provider, listing) in &listings {
        for pol in listing.policies {
            if !pol.tags.contains(&owner)
                || claimed.contains(&(provider.to_string(), pol.mid.clone()))
            {
                continue;
            }
            let known = actual.db.policy_refs.iter().find(|(_, r)| {
                r.provider == *provider
                    && (r.policy_mid == pol.mid || (!pol.id.is_empty() && r.policy_id == pol.id))
            });
            let (kind, name, origin) = match known {
                Some(((k, n), r)) => (*k, n.clone(), r.origin),
                None => match docs::parse_policy_id(&opts.instance, &pol.id) {
                    Some((k, n)) => (k, n, Origin::Created),
                    None => {
                        let k = if pol.partitions.acl {
                            Kind::Product
                        } else {
                            Kind::Plan
                        };
                        (
                            k,
                            if pol.id.is_empty() {
                                pol.mid.clone()
                            } else {
                                pol.id.clone()
                            },
                            Origin::Adopted,
                        )
                    }
                },
            };
            let still_desired = desired_keys.contains(&(kind, name.clone()));
            let creds: Vec<_> = actual
                .db
                .credentials_of(kind, &name)
                .filter(|c| c.provider == *provider)
                .cloned()
                .collect();
            let n = creds.len() as u64;
            if !still_desired {
                removed_handled.insert((kind, name.clone()));
            }
            if n > 0 && !opts.revoke_retired {
                if pol.state != "draft" {
                    let mut patch = PolicyPatch::default();
                    patch.set.insert("state".into(), json!("draft"));
                    removal_dash.push(Change {
                        action: Action::Retire,
                        kind,
                        name: name.clone(),
                        provider: Some(provider.to_string()),
                        target: Target::Dashboard,
                        fields: vec![FieldChange {
                            path: "state".into(),
                            before: Some(json!(pol.state)),
                            after: Some(json!("draft")),
                        }],
                        impact: Some(Impact {
                            active_credentials: n,
                            revoked_credentials: 0,
                        }),
                        policy: Some(label(pol)),
                        widens: vec![],
                        ops: vec![Op::PatchPolicy {
                            provider: provider.to_string(),
                            mid: pol.mid.clone(),
                            id: pol.id.clone(),
                            patch,
                        }],
                    });
                }
                if !still_desired {
                    retire_row(actual, kind, &name, n, &mut db_removals);
                }
                continue;
            }
            let mut ops: Vec<Op> = creds
                .iter()
                .map(|c| Op::RevokeKey {
                    provider: c.provider.clone(),
                    credential: c.id.clone(),
                    key_hash: c.key_hash.clone(),
                })
                .collect();
            // A deleted policy needs no fields (the effect line names it); a released one shows
            // what changes on it: the ownership tag, and the state a retirement had set.
            let mut fields = Vec::new();
            let action = match origin {
                Origin::Created => {
                    ops.push(Op::DeletePolicy {
                        provider: provider.to_string(),
                        mid: pol.mid.clone(),
                    });
                    Action::Delete
                }
                Origin::Adopted => {
                    let mut patch = PolicyPatch {
                        remove_tags: vec![owner.clone()],
                        ..PolicyPatch::default()
                    };
                    let kept: Vec<&String> = pol.tags.iter().filter(|t| **t != owner).collect();
                    fields.push(FieldChange {
                        path: "tags".into(),
                        before: Some(json!(pol.tags)),
                        after: Some(json!(kept)),
                    });
                    if pol.state == "draft" {
                        patch.set.insert("state".into(), json!("active"));
                        fields.push(FieldChange {
                            path: "state".into(),
                            before: Some(json!("draft")),
                            after: Some(json!("active")),
                        });
                    }
                    ops.push(Op::PatchPolicy {
                        provider: provider.to_string(),
                        mid: pol.mid.clone(),
                        id: pol.id.clone(),
                        patch,
                    });
                    Action::Release
                }
            };
            let has_row = actual.db.objects.contains_key(&(kind, name.clone()));
            if !still_desired
                && !has_row
                && actual.db.policy_refs.contains_key(&(kind, name.clone()))
            {
                ops.push(Op::Db(DbWrite::DeletePolicyRef {
                    kind,
                    name: name.clone(),
                }));
            }
            removal_dash.push(Change {
                action,
                kind,
                name: name.clone(),
                provider: Some(provider.to_string()),
                target: Target::Dashboard,
                fields,
                impact: (n > 0).then_some(Impact {
                    active_credentials: n,
                    revoked_credentials: n,
                }),
                policy: Some(label(pol)),
                widens: vec![],
                ops,
            });
            if !still_desired && has_row {
                db_removals.push(delete_row(kind, &name, n));
            }
        }
    }

    // Database objects no manifest wants any more (and not handled with their policy above).
    for ((kind, name), obj) in actual.db.objects.iter().rev() {
        if desired_keys.contains(&(*kind, name.clone()))
            || removed_handled.contains(&(*kind, name.clone()))
        {
            continue;
        }
        let creds: Vec<_> = actual.db.credentials_of(*kind, name).cloned().collect();
        let n = creds.len() as u64;
        if matches!(kind, Kind::Product | Kind::Plan) && n > 0 && !opts.revoke_retired {
            if obj.status != Status::Retired {
                retire_row(actual, *kind, name, n, &mut db_removals);
            }
            continue;
        }
        let mut change = delete_row(*kind, name, n);
        for c in &creds {
            change.ops.insert(
                0,
                Op::RevokeKey {
                    provider: c.provider.clone(),
                    credential: c.id.clone(),
                    key_hash: c.key_hash.clone(),
                },
            );
        }
        if *kind == Kind::Provider {
            let orphans: Vec<String> = actual
                .db
                .policy_refs
                .iter()
                .filter(|((k, n), r)| {
                    r.provider == *name && !desired_keys.contains(&(*k, n.clone()))
                })
                .map(|((k, n), _)| format!("{} {n}", k.lower()))
                .collect();
            if !orphans.is_empty() {
                errors.push(PlanIssue {
                    kind: Some(Kind::Provider),
                    name: Some(name.clone()),
                    message: format!(
                        "provider {name:?} is removed from the manifests, but its policies for {} are still managed; keep the Provider until an apply has removed them, then remove it",
                        orphans.join(", ")
                    ),
                });
                continue;
            }
        }
        db_removals.push(change);
    }

    if desired.providers.is_empty() && !desired.products.is_empty() {
        warnings.push("no Provider is declared: products have no Dashboard to publish to".into());
    }

    // Execution order (the dependency table): Dashboard creates/updates/tags, products before
    // plans; database creates and updates top-down; database removals bottom-up; then Dashboard
    // retirements, deletions and releases.
    dash_changes.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    db_changes.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    db_removals.sort_by(|a, b| {
        (std::cmp::Reverse(a.kind), &a.name).cmp(&(std::cmp::Reverse(b.kind), &b.name))
    });
    removal_dash.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    let mut changes = dash_changes;
    changes.extend(db_changes);
    changes.extend(db_removals);
    changes.extend(removal_dash);

    let fingerprint = fingerprint(actual, &opts.instance, &watch);
    let mut plan = ChangeSet::new(&opts.instance, fingerprint, changes, warnings, errors);
    plan.watch = watch;
    plan
}

fn label(p: &Policy) -> PolicyLabel {
    PolicyLabel {
        id: if p.id.is_empty() {
            p.mid.clone()
        } else {
            p.id.clone()
        },
        name: p.name.clone(),
    }
}

fn same_ref(a: &PolicyRefRow, b: &PolicyRefRow) -> bool {
    a.provider == b.provider
        && a.policy_id == b.policy_id
        && a.policy_mid == b.policy_mid
        && a.origin == b.origin
}

fn retire_row(actual: &Actual, kind: Kind, name: &str, n: u64, out: &mut Vec<Change>) {
    let Some(obj) = actual.db.objects.get(&(kind, name.to_owned())) else {
        return;
    };
    if obj.status == Status::Retired {
        return;
    }
    out.push(Change {
        action: Action::Retire,
        kind,
        name: name.to_owned(),
        provider: None,
        target: Target::Database,
        fields: vec![FieldChange {
            path: "status".into(),
            before: Some(json!("active")),
            after: Some(json!("retired")),
        }],
        impact: Some(Impact {
            active_credentials: n,
            revoked_credentials: 0,
        }),
        policy: None,
        widens: vec![],
        ops: vec![Op::Db(DbWrite::SetStatus {
            kind,
            name: name.to_owned(),
            status: Status::Retired,
        })],
    });
}

fn delete_row(kind: Kind, name: &str, revoked: u64) -> Change {
    Change {
        action: Action::Delete,
        kind,
        name: name.to_owned(),
        provider: None,
        target: Target::Database,
        fields: vec![],
        impact: (revoked > 0).then_some(Impact {
            active_credentials: revoked,
            revoked_credentials: revoked,
        }),
        policy: None,
        widens: vec![],
        ops: vec![Op::Db(DbWrite::Delete {
            kind,
            name: name.to_owned(),
        })],
    }
}

/// The owned fields that differ between the desired policy and the actual one.
fn policy_patch(
    dp: &DesiredPolicy,
    actual: &Value,
    pol: &Policy,
    last_seen: Option<&Value>,
) -> (PolicyPatch, Vec<FieldChange>) {
    let mut patch = PolicyPatch::default();
    let mut fields = Vec::new();
    for (path, want) in &dp.owned {
        let have = get_path(actual, path).map(|h| project(h, want));
        if have.as_ref() != Some(want) {
            patch.set.insert(path.clone(), want.clone());
            fields.push(FieldChange {
                path: path.clone(),
                before: have,
                after: Some(want.clone()),
            });
        }
    }
    for top in &dp.owned_maps {
        if let Some(obj) = actual.get(*top).and_then(Value::as_object) {
            for (k, v) in obj {
                let path = format!("{top}.{k}");
                if !dp.owned.contains_key(&path) {
                    let shown = if *top == "access_rights" {
                        project(
                            v,
                            &json!({"api_id": 0, "api_name": 0, "versions": 0, "allowed_urls": 0}),
                        )
                    } else {
                        normalize(v.clone())
                    };
                    fields.push(FieldChange {
                        path: path.clone(),
                        before: Some(shown),
                        after: None,
                    });
                    patch.remove.push(path);
                }
            }
        }
    }
    // Keys of shared maps that portalctl wrote before and the manifest no longer has.
    for path in last_seen
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.keys())
    {
        let shared = path.starts_with("meta_data.");
        if shared && !dp.owned.contains_key(path) {
            if let Some(v) = get_path(actual, path) {
                fields.push(FieldChange {
                    path: path.clone(),
                    before: Some(normalize(v.clone())),
                    after: None,
                });
                patch.remove.push(path.clone());
            }
        }
    }
    let missing: Vec<String> = dp
        .tags
        .iter()
        .filter(|t| !pol.tags.contains(t))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let mut after = pol.tags.clone();
        after.extend(missing.iter().cloned());
        fields.push(FieldChange {
            path: "tags".into(),
            before: Some(json!(pol.tags)),
            after: Some(json!(after)),
        });
        patch.add_tags = missing;
    }
    (patch, fields)
}

/// What `last_seen` of a policy reference records: the keys of shared maps (`meta_data`) that
/// portalctl wrote, so that a key dropped from the manifest can be removed later while keys
/// others wrote are kept.
pub fn shared_keys_written(owned: &Map<String, Value>) -> Value {
    Value::Object(
        owned
            .iter()
            .filter(|(k, _)| k.starts_with("meta_data."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Policy ids and names per provider that a plan depends on.
pub type Watch = BTreeMap<String, BTreeSet<String>>;

/// A hash of everything a plan is computed from: the database snapshot, every policy carrying the
/// ownership tag, and the policies whose id or name the plan depends on (adopted ones, name
/// clashes). Foreign policies that play no part do not make a saved plan stale.
pub fn fingerprint(actual: &Actual, instance: &str, watch: &Watch) -> String {
    let owner = owner_tag(instance);
    let mut h = Sha256::new();
    for ((kind, name), obj) in &actual.db.objects {
        h.update(format!("o\0{kind}\0{name}\0{:?}\0", obj.status));
        h.update(obj.doc.as_bytes());
    }
    for ((kind, name), r) in &actual.db.policy_refs {
        h.update(format!(
            "r\0{kind}\0{name}\0{}\0{}\0{}\0{:?}\0",
            r.provider, r.policy_id, r.policy_mid, r.origin
        ));
    }
    for c in &actual.db.credentials {
        h.update(format!("c\0{}\0{}\0{}\0", c.id, c.plan, c.key_hash));
    }
    let empty = BTreeSet::new();
    for (provider, policies) in &actual.dashboards {
        let watched = watch.get(provider).unwrap_or(&empty);
        let mut relevant: Vec<&Policy> = policies
            .iter()
            .filter(|p| {
                p.tags.contains(&owner)
                    || watched.contains(&p.id)
                    || watched.contains(&p.mid)
                    || watched.contains(&p.name)
            })
            .collect();
        relevant.sort_by(|a, b| (&a.mid, &a.id).cmp(&(&b.mid, &b.id)));
        h.update(format!("p\0{provider}\0"));
        // Streamed into the hash: no copy of thousands of policies as text.
        let mut w = HashWriter(&mut h);
        for p in relevant {
            let _ = serde_json::to_writer(&mut w, p);
        }
    }
    hex::encode(h.finalize())
}

/// Lets serde_json write straight into a hash.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
