//! The change set (what `portalctl plan` shows and saves): a typed value listing every change,
//! and the operations that carry it out.
//!
//! `plan` renders it, `plan --out` saves it as JSON (the plan file), `apply` executes exactly its
//! operations. A [`Change`] is one object's effect on one target (a Dashboard or the database);
//! a reviewer counts manifest objects, so [`ChangeSet::objects`] groups the changes of one object
//! and gives it one action ([`object_action`]). It holds no secret: policy bodies and documents
//! only.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::docs::{remove_path, set_path};
use crate::desired::Kind;
use crate::manifest::kinds::ProviderSpec;
use crate::store::DbWrite;

/// The version of the JSON plan format.
pub const FORMAT_VERSION: u32 = 1;

/// What a change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Create a policy or a row.
    Create,
    /// Change fields of a policy or a row.
    Update,
    /// Adopt an existing policy: add the ownership tags and own its fields.
    Tag,
    /// Delete a policy or a row.
    Delete,
    /// Hide a product or plan that still has credentials; its policy goes to `draft`.
    Retire,
    /// Give an adopted policy back: remove the ownership tag.
    Release,
}

impl Action {
    /// The one-character marker of text and markdown output (the legend).
    pub fn marker(self) -> char {
        match self {
            Action::Create => '+',
            Action::Update => '~',
            Action::Tag => '#',
            Action::Delete => '-',
            Action::Retire => '!',
            Action::Release => '/',
        }
    }

    /// Every action, in the order of the summary line and the legend.
    pub const ALL: [Action; 6] = [
        Action::Create,
        Action::Update,
        Action::Tag,
        Action::Delete,
        Action::Retire,
        Action::Release,
    ];

    /// Verb for reports.
    pub fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Tag => "tag",
            Action::Delete => "delete",
            Action::Retire => "retire",
            Action::Release => "release",
        }
    }
}

/// Where a change happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A Tyk Dashboard's policies.
    Dashboard,
    /// The portal database.
    Database,
}

/// One changed field: absent `before` means added, absent `after` means removed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Dotted path, e.g. `rate`, `access_rights.payments-api`, `content`.
    pub path: String,
    /// The value now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// The effect of a change on developers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Impact {
    /// Active credentials that use the object.
    pub active_credentials: u64,
    /// Credentials this change revokes (`--revoke-retired`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revoked_credentials: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What to do to a Dashboard policy, field by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPatch {
    /// Dotted paths to set (`rate`, `partitions.acl`, `access_rights.API`, `meta_data.KEY`).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub set: Map<String, Value>,
    /// Dotted paths to remove (`access_rights.API`, `meta_data.KEY`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Tags to add when missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<String>,
    /// Tags to remove.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_tags: Vec<String>,
}

impl PolicyPatch {
    /// True when the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.remove.is_empty()
            && self.add_tags.is_empty()
            && self.remove_tags.is_empty()
    }
}

impl PolicyPatch {
    /// Applies the patch to a policy's JSON: what `apply` does after reading the policy, and what
    /// the diff does to see which changes widen access.
    pub fn apply_to(&self, v: &mut Value) {
        for (path, val) in &self.set {
            set_path(v, path, val.clone());
        }
        for path in &self.remove {
            remove_path(v, path);
        }
        if !self.add_tags.is_empty() || !self.remove_tags.is_empty() {
            let mut tags: Vec<Value> = v
                .get("tags")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            tags.retain(|t| !self.remove_tags.iter().any(|r| t.as_str() == Some(r)));
            for t in &self.add_tags {
                if !tags.iter().any(|x| x.as_str() == Some(t)) {
                    tags.push(Value::String(t.clone()));
                }
            }
            if let Some(obj) = v.as_object_mut() {
                obj.insert("tags".into(), Value::Array(tags));
            }
        }
    }
}

/// Which Dashboard policy a change is about, for people (a created policy shows its body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyLabel {
    /// The policy `id`.
    pub id: String,
    /// The policy name.
    pub name: String,
}

/// A change that lets keys do more than before (see `reconcile::widen` for the rules). Every
/// output format shows it where a reviewer cannot miss it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Widening {
    /// What widens.
    pub what: Widens,
    /// Active credentials issued by this portal that the widened policy applies to.
    pub active_credentials: u64,
    /// The warning for people (without the credential count).
    pub message: String,
}

/// The ways a policy change can widen access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Widens {
    /// An API added to a product.
    ApiAdded {
        /// The API id.
        api_id: String,
    },
    /// A version of an API added to a product.
    VersionAdded {
        /// The API id.
        api_id: String,
        /// The version name.
        version: String,
    },
    /// A path restriction removed: an empty `allowed_urls` allows every path.
    AllPathsAllowed {
        /// The API id.
        api_id: String,
    },
    /// Paths or methods added to an API restricted to some paths.
    PathsAdded {
        /// The API id.
        api_id: String,
        /// `METHOD URL` of each added permission.
        paths: Vec<String>,
    },
    /// More requests, a shorter `per`, or no rate limit any more.
    RateLimitRaised {
        /// `{requests, per}` (seconds) or `"unlimited"`.
        before: Value,
        /// Same shape.
        after: Value,
    },
    /// More requests, a shorter renewal, or no quota any more.
    QuotaRaised {
        /// `{requests, per}` (seconds; no `per` when it never renews) or `"unlimited"`.
        before: Value,
        /// Same shape.
        after: Value,
    },
    /// Keys issued from now on expire later, or never.
    KeyExpiryLonger {
        /// Seconds; 0 is never.
        before: Value,
        /// Seconds; 0 is never.
        after: Value,
    },
    /// Adopting a foreign policy replaces its access rights with the manifest's, and that gives
    /// its keys (issued outside portalctl) access they did not have.
    AccessRightsReplaced {
        /// APIs the policy gains.
        added: Vec<String>,
        /// APIs the policy keeps with more versions or paths.
        widened: Vec<String>,
        /// APIs the policy loses.
        removed: Vec<String>,
    },
}

/// An operation `apply` performs. Operations are data, so a saved plan applies exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Op {
    /// Create a policy (found again by id first, so never twice).
    CreatePolicy {
        /// Provider name.
        provider: String,
        /// The complete policy body, with its deterministic `id`.
        policy: Value,
    },
    /// Read a policy, patch the fields portalctl owns, write it back.
    PatchPolicy {
        /// Provider name.
        provider: String,
        /// The Dashboard `_id`.
        mid: String,
        /// The policy `id`.
        id: String,
        /// What to change.
        patch: PolicyPatch,
    },
    /// Delete a policy.
    DeletePolicy {
        /// Provider name.
        provider: String,
        /// The Dashboard `_id`.
        mid: String,
    },
    /// Delete a key on the Dashboard (revocation), then mark the credential revoked.
    RevokeKey {
        /// Provider name.
        provider: String,
        /// Credential id.
        credential: String,
        /// The key hash.
        key_hash: String,
    },
    /// A database write, part of the one apply transaction.
    Db(DbWrite),
}

/// One object's effect on one target (a Dashboard's policy, or the database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// What happens.
    pub action: Action,
    /// Kind of the object.
    pub kind: Kind,
    /// Name of the object (`org/team` for teams).
    pub name: String,
    /// Provider, for products and plans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Dashboard or database.
    pub target: Target,
    /// The changed fields only.
    #[serde(default)]
    pub fields: Vec<FieldChange>,
    /// The effect on developers, when any credential is involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Impact>,
    /// The existing Dashboard policy concerned (not set for a creation, whose body names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyLabel>,
    /// How this change widens access, if it does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub widens: Vec<Widening>,
    /// How apply carries it out.
    pub ops: Vec<Op>,
}

impl Change {
    /// The fields to show: the stored changed fields, or for a creation every field of the new
    /// policy or row (derived here rather than stored, since a first apply creates thousands).
    pub fn shown_fields(&self) -> std::borrow::Cow<'_, [FieldChange]> {
        if self.action != Action::Create || !self.fields.is_empty() {
            return std::borrow::Cow::Borrowed(&self.fields);
        }
        let mut out = Vec::new();
        for op in &self.ops {
            match op {
                Op::CreatePolicy { policy, .. } => out.extend(created_fields(policy)),
                Op::Db(DbWrite::Upsert { doc, .. }) => out.extend(object_fields(None, doc)),
                Op::Db(DbWrite::PutPolicyRef { policy, .. }) => out.push(FieldChange {
                    path: "policy".into(),
                    before: None,
                    after: Some(
                        serde_json::json!({"id": policy.policy_id, "_id": policy.policy_mid}),
                    ),
                }),
                _ => {}
            }
        }
        std::borrow::Cow::Owned(out)
    }
}

/// Counts of objects per action, for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Creations.
    pub create: usize,
    /// Updates.
    pub update: usize,
    /// Adoptions.
    pub tag: usize,
    /// Deletions.
    pub delete: usize,
    /// Retirements.
    pub retire: usize,
    /// Releases.
    pub release: usize,
}

impl Summary {
    /// Total number of changes.
    pub fn total(&self) -> usize {
        self.create + self.update + self.tag + self.delete + self.retire + self.release
    }

    /// `Plan: 2 to create, 1 to update, 1 to tag, 0 to delete, 1 to retire.`
    pub fn line(&self) -> String {
        let mut s = format!(
            "Plan: {} to create, {} to update, {} to tag, {} to delete, {} to retire",
            self.create, self.update, self.tag, self.delete, self.retire
        );
        if self.release > 0 {
            s.push_str(&format!(", {} to release", self.release));
        }
        s.push('.');
        s
    }
}

/// A problem that stops the plan from being applied (a conflict, a missing adopted policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanIssue {
    /// Kind of the object concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Kind>,
    /// Name of the object concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

/// The whole change set: what `plan` shows and saves, and `apply` carries out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSet {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Hash of the state the plan was computed from; `apply PLANFILE` refuses when it changed.
    pub fingerprint: String,
    /// The ownership instance (`portalctl:<instance>` tag).
    pub instance: String,
    /// Counts of objects per action (an object changed on the Dashboard and in the database
    /// counts once).
    pub summary: Summary,
    /// Changes in execution order.
    pub changes: Vec<Change>,
    /// Things worth knowing that do not stop apply.
    pub warnings: Vec<String>,
    /// Things that stop apply.
    pub errors: Vec<PlanIssue>,
    /// Policy ids and names per provider the plan depends on (for the fingerprint).
    #[serde(default)]
    pub watch: BTreeMap<String, BTreeSet<String>>,
    /// How to reach each provider (URLs and secret references, never secret values), so a saved
    /// plan can be applied without the manifests.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderSpec>,
}

impl ChangeSet {
    /// Builds a plan, computing its summary.
    pub fn new(
        instance: &str,
        fingerprint: String,
        changes: Vec<Change>,
        warnings: Vec<String>,
        errors: Vec<PlanIssue>,
    ) -> ChangeSet {
        let summary = summarize(&changes);
        ChangeSet {
            format_version: FORMAT_VERSION,
            fingerprint,
            instance: instance.to_owned(),
            summary,
            changes,
            warnings,
            errors,
            watch: BTreeMap::new(),
            providers: BTreeMap::new(),
        }
    }

    /// The changes grouped by manifest object (what the summary counts and people read).
    pub fn objects(&self) -> Vec<ObjectChange<'_>> {
        group(&self.changes)
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// True when the plan deletes, retires or releases something.
    pub fn is_destructive(&self) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c.action, Action::Delete | Action::Retire | Action::Release))
    }

    /// Keeps only the changes of the given `(kind, name)` targets.
    pub fn retain_targets(&mut self, targets: &[(Kind, String)]) {
        if targets.is_empty() {
            return;
        }
        self.changes
            .retain(|c| targets.iter().any(|(k, n)| *k == c.kind && *n == c.name));
        self.summary = summarize(&self.changes);
    }
}

fn summarize(changes: &[Change]) -> Summary {
    let mut s = Summary::default();
    for o in group(changes) {
        match o.action {
            Action::Create => s.create += 1,
            Action::Update => s.update += 1,
            Action::Tag => s.tag += 1,
            Action::Delete => s.delete += 1,
            Action::Retire => s.retire += 1,
            Action::Release => s.release += 1,
        }
    }
    s
}

/// One manifest object and its changes on each target: the unit a reviewer counts.
#[derive(Debug, Clone)]
pub struct ObjectChange<'a> {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: &'a str,
    /// The one action it is counted and shown under ([`object_action`]).
    pub action: Action,
    /// Its changes, in execution order.
    pub changes: Vec<&'a Change>,
}

impl ObjectChange<'_> {
    /// The credentials involved: the largest impact of any of its changes.
    pub fn impact(&self) -> Option<Impact> {
        self.changes
            .iter()
            .filter_map(|c| c.impact)
            .reduce(|a, b| Impact {
                active_credentials: a.active_credentials.max(b.active_credentials),
                revoked_credentials: a.revoked_credentials.max(b.revoked_credentials),
            })
    }

    /// How its changes widen access.
    pub fn widens(&self) -> impl Iterator<Item = &Widening> {
        self.changes.iter().flat_map(|c| c.widens.iter())
    }
}

/// The action an object is counted and shown under, from the actions of its changes (one per
/// target). The rule (ARCHITECTURE.md "Counting by object"):
/// - an object that stays in the manifests (some change creates, updates or tags) is **tag**
///   when a policy is adopted, else **create** when its database row is new or all its changes
///   are creations (a policy deleted out of band and recreated), else **update**; retiring or
///   deleting its policy on another provider (a move) is shown under it;
/// - an object removed from the manifests is **retire** when anything of it is retired (keys
///   keep working), else **release** when its adopted policy is given back, else **delete**.
pub fn object_action(changes: &[&Change]) -> Action {
    let has = |a: Action| changes.iter().any(|c| c.action == a);
    let db_create = changes
        .iter()
        .any(|c| c.action == Action::Create && c.target == Target::Database);
    let stays = changes
        .iter()
        .any(|c| matches!(c.action, Action::Create | Action::Update | Action::Tag));
    if stays {
        if has(Action::Tag) {
            Action::Tag
        } else if db_create || changes.iter().all(|c| c.action == Action::Create) {
            Action::Create
        } else {
            Action::Update
        }
    } else if has(Action::Retire) {
        Action::Retire
    } else if has(Action::Release) {
        Action::Release
    } else {
        Action::Delete
    }
}

/// Groups changes by object, objects in dependency order of their kind, then by name.
fn group(changes: &[Change]) -> Vec<ObjectChange<'_>> {
    let mut by_object: BTreeMap<(Kind, &str), Vec<&Change>> = BTreeMap::new();
    for c in changes {
        by_object
            .entry((c.kind, c.name.as_str()))
            .or_default()
            .push(c);
    }
    by_object
        .into_iter()
        .map(|((kind, name), changes)| ObjectChange {
            kind,
            name,
            action: object_action(&changes),
            changes,
        })
        .collect()
}

/// The fields shown for a policy about to be created.
pub(crate) fn created_fields(body: &Value) -> Vec<FieldChange> {
    let mut out = Vec::new();
    if let Some(obj) = body.as_object() {
        for key in [
            "id",
            "name",
            "partitions",
            "rate",
            "per",
            "quota_max",
            "quota_renewal_rate",
            "key_expires_in",
            "access_rights",
            "meta_data",
            "tags",
        ] {
            if let Some(v) = obj.get(key) {
                let empty = v.as_object().is_some_and(Map::is_empty);
                if !empty {
                    out.push(FieldChange {
                        path: key.into(),
                        before: None,
                        after: Some(v.clone()),
                    });
                }
            }
        }
    }
    out
}

/// Top-level fields of a document that differ (all of them for a new object).
pub(crate) fn object_fields(before: Option<&Value>, after: &Value) -> Vec<FieldChange> {
    let empty = Map::new();
    let b = before.and_then(Value::as_object).unwrap_or(&empty);
    let a = after.as_object().unwrap_or(&empty);
    let mut out = Vec::new();
    for (k, v) in a {
        let old = b.get(k);
        let absent = |x: Option<&Value>| x.is_none_or(is_blank);
        if old != Some(v) && !(absent(old) && is_blank(v)) {
            out.push(FieldChange {
                path: k.clone(),
                before: old.cloned(),
                after: Some(v.clone()),
            });
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) && !is_blank(v) {
            out.push(FieldChange {
                path: k.clone(),
                before: Some(v.clone()),
                after: None,
            });
        }
    }
    out
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        Value::Number(_) => false,
    }
}
