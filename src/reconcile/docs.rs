//! Pure conversions from the desired model to what the reconciler compares: the canonical
//! database document of each object, and the Dashboard policy fields portalctl owns (SPEC §2).
//!
//! No IO. Paths into a policy are dotted: `rate`, `partitions.acl`, `access_rights.<api id>`,
//! `meta_data.<key>` (at most two levels; the second part may itself contain dots).

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::desired::{Desired, Kind, Plan, Product, Provider};
use crate::manifest::kinds::{KeyExpiry, Limit, ProviderSpec, RateLimit, SecretRef};
use crate::manifest::limits::float_json;

/// The ownership tag of an instance.
pub fn owner_tag(instance: &str) -> String {
    format!("portalctl:{instance}")
}

/// The deterministic id of a policy portalctl creates.
pub fn policy_id(instance: &str, kind: Kind, name: &str) -> String {
    format!("portalctl-{instance}-{}-{name}", kind.lower())
}

/// Parses a deterministic id back into (kind, name), for policies found without a database row.
pub fn parse_policy_id(instance: &str, id: &str) -> Option<(Kind, String)> {
    let rest = id.strip_prefix(&format!("portalctl-{instance}-"))?;
    if let Some(name) = rest.strip_prefix("product-") {
        Some((Kind::Product, name.to_owned()))
    } else {
        rest.strip_prefix("plan-")
            .map(|name| (Kind::Plan, name.to_owned()))
    }
}

/// The policy a product or plan should have on its Dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredPolicy {
    /// Product or Plan.
    pub kind: Kind,
    /// Manifest name.
    pub name: String,
    /// Provider name.
    pub provider: String,
    /// `policy.id` when the manifest adopts an existing policy.
    pub adopt: Option<String>,
    /// The policy `id`: the adopted one or the deterministic one.
    pub id: String,
    /// The policy name to create with (ignored for adopted policies).
    pub policy_name: String,
    /// Owned fields by dotted path, numbers normalised.
    pub owned: Map<String, Value>,
    /// Top-level objects owned entirely: keys found there but not in `owned` are removed. Other
    /// maps (`meta_data`) are shared: only keys portalctl wrote before (`last_seen`) are removed.
    pub owned_maps: Vec<&'static str>,
    /// Tags every owned policy carries: the provider's `policyTags` and the ownership tag.
    pub tags: Vec<String>,
    /// The Dashboard org id to create in.
    pub org_id: Option<String>,
}

impl DesiredPolicy {
    /// The full body to create the policy with.
    pub fn create_body(&self) -> Value {
        let mut body = json!({
            "id": self.id,
            "name": self.policy_name,
            "org_id": self.org_id.clone().unwrap_or_default(),
            "rate": -1, "per": -1, "quota_max": -1, "quota_renewal_rate": -1,
            "throttle_interval": -1, "throttle_retry_limit": -1, "max_query_depth": -1,
            "access_rights": {},
            "partitions": {"acl": false, "quota": false, "rate_limit": false, "complexity": false, "per_api": false},
            "tags": self.tags,
            "meta_data": {},
            "key_expires_in": 0,
            "active": true,
            "is_inactive": false,
            "state": "active",
            "hmac_enabled": false,
        });
        for (path, v) in &self.owned {
            set_path(&mut body, path, v.clone());
        }
        body
    }
}

/// Every policy the desired state needs, products first, sorted by name.
pub fn desired_policies(desired: &Desired, instance: &str) -> Vec<DesiredPolicy> {
    let mut out = Vec::new();
    for p in desired.products.values() {
        if let Some(dp) = product_policy(desired, p, instance) {
            out.push(dp);
        }
    }
    for p in desired.plans.values() {
        if let Some(dp) = plan_policy(desired, p, instance) {
            out.push(dp);
        }
    }
    out
}

fn tags_for(provider: Option<&Provider>, instance: &str) -> Vec<String> {
    let mut tags: Vec<String> = provider
        .map(|p| p.spec.policy_tags.clone())
        .unwrap_or_default();
    let owner = owner_tag(instance);
    if !tags.contains(&owner) {
        tags.push(owner);
    }
    tags
}

/// Tyk's `rate` and `per`, floats: exactly the values written (1500ms is `per: 1.5`), `-1` when
/// unlimited. Whole values are JSON integers.
fn rate_fields(l: &RateLimit) -> (Value, Value) {
    match l {
        RateLimit::Unlimited => (json!(-1), json!(-1)),
        RateLimit::Every { requests, per } => {
            (float_json(*requests), float_json(per.as_secs_f64()))
        }
    }
}

/// Tyk's `quota_max` and `quota_renewal_rate`, integers (`-1` when unlimited). Validation admits
/// only a whole number of seconds for `per`; were it not, the renewal would be rounded up, never
/// down to a shorter period.
fn limit_fields(l: &Limit) -> (i64, i64) {
    match l {
        Limit::Unlimited => (-1, -1),
        Limit::Every { requests, per } => {
            let seconds = per
                .whole_seconds()
                .unwrap_or_else(|| per.as_std().as_secs() + 1);
            (
                i64::try_from(*requests).unwrap_or(i64::MAX),
                i64::try_from(seconds).unwrap_or(i64::MAX),
            )
        }
    }
}

fn product_policy(desired: &Desired, p: &Product, instance: &str) -> Option<DesiredPolicy> {
    let adopt = p.spec.policy.as_ref().and_then(|r| r.id.clone());
    if p.spec.apis.is_empty() && adopt.is_none() {
        return None; // documentation-only
    }
    let provider_name = p.spec.provider.as_ref()?.to_string();
    let provider = desired
        .providers
        .values()
        .find(|x| x.name.as_str() == provider_name);
    let mut owned = Map::new();
    for api in &p.spec.apis {
        let mut def = Map::new();
        def.insert("api_id".into(), json!(api.api_id));
        if let Some(n) = &api.name {
            def.insert("api_name".into(), json!(n));
        }
        def.insert(
            "versions".into(),
            json!(api
                .versions
                .clone()
                .unwrap_or_else(|| vec!["Default".into()])),
        );
        let urls: Vec<Value> = api
            .allowed_urls
            .iter()
            .flatten()
            .map(|u| json!({"url": u.url, "methods": u.methods}))
            .collect();
        def.insert("allowed_urls".into(), Value::Array(urls));
        owned.insert(format!("access_rights.{}", api.api_id), Value::Object(def));
    }
    owned.insert("state".into(), json!("active"));
    if adopt.is_none() {
        owned.insert(
            "name".into(),
            json!(policy_name(&p.spec.display_name, p.spec.policy.as_ref())),
        );
        for (k, v) in [
            ("acl", true),
            ("quota", false),
            ("rate_limit", false),
            ("complexity", false),
            ("per_api", false),
        ] {
            owned.insert(format!("partitions.{k}"), json!(v));
        }
        for k in [
            "rate",
            "per",
            "quota_max",
            "quota_renewal_rate",
            "throttle_interval",
            "throttle_retry_limit",
        ] {
            owned.insert(k.into(), json!(-1));
        }
        owned.insert("active".into(), json!(true));
    }
    Some(DesiredPolicy {
        kind: Kind::Product,
        name: p.name.to_string(),
        provider: provider_name,
        id: adopt
            .clone()
            .unwrap_or_else(|| policy_id(instance, Kind::Product, p.name.as_str())),
        policy_name: policy_name(&p.spec.display_name, p.spec.policy.as_ref()),
        adopt,
        owned,
        owned_maps: vec!["access_rights"],
        tags: tags_for(provider, instance),
        org_id: provider.and_then(|x| x.spec.org_id.clone()),
    })
}

fn plan_policy(desired: &Desired, p: &Plan, instance: &str) -> Option<DesiredPolicy> {
    let adopt = p.spec.policy.as_ref().and_then(|r| r.id.clone());
    let provider_name = p.spec.provider.to_string();
    let provider = desired
        .providers
        .values()
        .find(|x| x.name.as_str() == provider_name);
    let (rate, per) = rate_fields(&p.spec.rate_limit);
    let (quota_max, quota_per) = limit_fields(&p.spec.quota);
    let mut owned = Map::new();
    owned.insert(
        "partitions.quota".into(),
        json!(p.spec.quota != Limit::Unlimited),
    );
    owned.insert(
        "partitions.rate_limit".into(),
        json!(p.spec.rate_limit != RateLimit::Unlimited),
    );
    owned.insert("rate".into(), rate);
    owned.insert("per".into(), per);
    owned.insert("quota_max".into(), json!(quota_max));
    owned.insert("quota_renewal_rate".into(), json!(quota_per));
    owned.insert(
        "key_expires_in".into(),
        json!(p
            .spec
            .key_expiry
            .unwrap_or(KeyExpiry::Never)
            .as_tyk_seconds()),
    );
    for (k, v) in &p.spec.credential_metadata {
        owned.insert(format!("meta_data.{k}"), json!(v));
    }
    owned.insert("state".into(), json!("active"));
    let mut owned_maps = vec![];
    if adopt.is_none() {
        owned.insert(
            "name".into(),
            json!(policy_name(&p.spec.display_name, p.spec.policy.as_ref())),
        );
        for k in ["acl", "complexity", "per_api"] {
            owned.insert(format!("partitions.{k}"), json!(false));
        }
        owned.insert("throttle_interval".into(), json!(-1));
        owned.insert("throttle_retry_limit".into(), json!(-1));
        owned.insert("active".into(), json!(true));
        owned_maps = vec!["access_rights"];
    }
    Some(DesiredPolicy {
        kind: Kind::Plan,
        name: p.name.to_string(),
        provider: provider_name,
        id: adopt
            .clone()
            .unwrap_or_else(|| policy_id(instance, Kind::Plan, p.name.as_str())),
        policy_name: policy_name(&p.spec.display_name, p.spec.policy.as_ref()),
        adopt,
        owned,
        owned_maps,
        tags: tags_for(provider, instance),
        org_id: provider.and_then(|x| x.spec.org_id.clone()),
    })
}

fn policy_name(display: &str, r: Option<&crate::manifest::kinds::PolicyRef>) -> String {
    r.and_then(|r| r.name.clone())
        .unwrap_or_else(|| display.to_owned())
}

/// Reads a dotted path from a policy's JSON.
pub fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    match path.split_once('.') {
        Some((top, sub)) => v.get(top)?.get(sub),
        None => v.get(path),
    }
}

/// Sets a dotted path; two objects are merged key by key so fields we do not own survive.
pub fn set_path(v: &mut Value, path: &str, new: Value) {
    let Some(obj) = v.as_object_mut() else { return };
    let slot = match path.split_once('.') {
        Some((top, sub)) => {
            let parent = obj.entry(top).or_insert_with(|| Value::Object(Map::new()));
            if !parent.is_object() {
                *parent = Value::Object(Map::new());
            }
            let Some(parent) = parent.as_object_mut() else {
                return;
            };
            parent.entry(sub).or_insert(Value::Null)
        }
        None => obj.entry(path).or_insert(Value::Null),
    };
    match (slot.as_object_mut(), new) {
        (Some(existing), Value::Object(fields)) => {
            for (k, f) in fields {
                existing.insert(k, f);
            }
        }
        (_, new) => *slot = new,
    }
}

/// Removes a dotted path.
pub fn remove_path(v: &mut Value, path: &str) {
    match path.split_once('.') {
        Some((top, sub)) => {
            if let Some(parent) = v.get_mut(top).and_then(Value::as_object_mut) {
                parent.remove(sub);
            }
        }
        None => {
            if let Some(obj) = v.as_object_mut() {
                obj.remove(path);
            }
        }
    }
}

/// Numbers as integers when they are whole, so `100.0` from a Dashboard equals `100`.
pub fn normalize(v: Value) -> Value {
    match v {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => json!(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

/// The part of an actual value that corresponds to a desired one: for objects, only the keys
/// the desired value has (an access definition's other fields are not ours).
pub fn project(actual: &Value, like: &Value) -> Value {
    match (actual, like) {
        (Value::Object(a), Value::Object(l)) => Value::Object(
            l.keys()
                .filter_map(|k| a.get(k).map(|v| (k.clone(), normalize(v.clone()))))
                .collect(),
        ),
        (a, _) => normalize(a.clone()),
    }
}

/// The Provider document: the whole connection `serve` needs to build a Dashboard client
/// without manifests (url, org id, timeout, requests in flight, TLS, policy tags, gateway URL)
/// and the secret *reference*, never its value.
///
/// The loader resolves `fromFile` against the manifest's folder, which is relative when the
/// manifests were named by a relative path; the stored path is made absolute so that `serve`,
/// started from another folder, reads the same file. That is the one thing here that depends on
/// the process (its working directory, fixed for its lifetime), and it touches no file.
fn provider_connection(spec: &ProviderSpec) -> ProviderSpec {
    let mut spec = spec.clone();
    if let SecretRef::FromFile(path) = &spec.secret {
        if path.is_relative() {
            if let Ok(absolute) = std::path::absolute(path) {
                spec.secret = SecretRef::FromFile(absolute);
            }
        }
    }
    spec
}

/// The canonical database document of every desired object, by (kind, name).
pub fn desired_docs(desired: &Desired) -> Vec<(Kind, String, Value, Option<String>)> {
    let mut out = Vec::new();
    for p in desired.providers.values() {
        out.push((
            Kind::Provider,
            p.name.to_string(),
            Value::Object(to_object(&provider_connection(&p.spec))),
            None,
        ));
    }
    for o in desired.organisations.values() {
        out.push((
            Kind::Organisation,
            o.name.to_string(),
            Value::Object(to_object(&o.spec)),
            None,
        ));
    }
    for t in desired.teams.values() {
        out.push((
            Kind::Team,
            t.reference.to_string(),
            Value::Object(to_object(&t.spec)),
            None,
        ));
    }
    for p in desired.products.values() {
        let (doc, logo) = product_doc(p);
        out.push((Kind::Product, p.name.to_string(), doc, logo));
    }
    for p in desired.plans.values() {
        let mut doc = to_object(&p.spec);
        doc.remove("policy");
        if let Some(r) = &p.spec.policy {
            if let Some(id) = &r.id {
                doc.insert("policyId".into(), json!(id));
            }
        }
        doc.insert(
            "policyName".into(),
            json!(policy_name(&p.spec.display_name, p.spec.policy.as_ref())),
        );
        out.push((Kind::Plan, p.name.to_string(), Value::Object(doc), None));
    }
    for c in desired.catalogs.values() {
        out.push((
            Kind::Catalog,
            c.name.to_string(),
            Value::Object(to_object(&c.spec)),
            None,
        ));
    }
    out
}

fn product_doc(p: &Product) -> (Value, Option<String>) {
    let s = &p.spec;
    let mut doc = Map::new();
    doc.insert("provider".into(), json!(s.provider));
    doc.insert("displayName".into(), json!(s.display_name));
    doc.insert("description".into(), json!(s.description));
    doc.insert("featured".into(), json!(s.featured));
    doc.insert("tags".into(), json!(s.tags));
    doc.insert("content".into(), json!(p.content));
    let apis: Vec<Value> = s
        .apis
        .iter()
        .map(|a| {
            json!({
                "apiId": a.api_id,
                "name": a.name,
                "versions": a.versions.clone().unwrap_or_else(|| vec!["Default".into()]),
                "allowedUrls": a.allowed_urls.clone().unwrap_or_default(),
                "openapi": p.openapi.get(&a.api_id),
            })
        })
        .collect();
    doc.insert("apis".into(), Value::Array(apis));
    let guides: Vec<Value> = p
        .guides
        .iter()
        .map(|g| json!({"title": g.title, "markdown": g.markdown}))
        .collect();
    doc.insert("guides".into(), Value::Array(guides));
    let logo = p.logo.as_ref().map(|l| {
        use base64::Engine;
        let data = base64::engine::general_purpose::STANDARD.encode(&l.bytes);
        (
            json!({"mime": l.mime, "sha256": hex::encode(Sha256::digest(&l.bytes))}),
            data,
        )
    });
    doc.insert(
        "logo".into(),
        logo.as_ref().map(|(d, _)| d.clone()).unwrap_or(Value::Null),
    );
    if let Some(r) = &s.policy {
        if let Some(id) = &r.id {
            doc.insert("policyId".into(), json!(id));
        }
    }
    let has_policy = !s.apis.is_empty() || s.policy.as_ref().is_some_and(|r| r.id.is_some());
    doc.insert(
        "policyName".into(),
        if has_policy {
            json!(policy_name(&s.display_name, s.policy.as_ref()))
        } else {
            Value::Null
        },
    );
    (Value::Object(doc), logo.map(|(_, data)| data))
}

fn to_object<T: serde::Serialize>(v: &T) -> Map<String, Value> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_path_merges_objects_and_keeps_foreign_fields() {
        let mut v = json!({"access_rights": {"a": {"api_id": "a", "restricted_types": [1]}}});
        set_path(
            &mut v,
            "access_rights.a",
            json!({"api_id": "a", "versions": ["Default"]}),
        );
        assert_eq!(v["access_rights"]["a"]["restricted_types"], json!([1]));
        assert_eq!(v["access_rights"]["a"]["versions"], json!(["Default"]));
        set_path(&mut v, "partitions.acl", json!(true));
        assert_eq!(get_path(&v, "partitions.acl"), Some(&json!(true)));
        remove_path(&mut v, "access_rights.a");
        assert_eq!(v["access_rights"], json!({}));
    }

    #[test]
    fn normalize_makes_whole_floats_integers() {
        assert_eq!(normalize(json!(100.0)), json!(100));
        assert_eq!(normalize(json!(-1.0)), json!(-1));
        assert_eq!(normalize(json!(0.5)), json!(0.5));
    }

    #[test]
    fn plan_limits_are_exact_and_integer_fields_stay_integers() {
        use crate::manifest::kinds::{Duration, KeyExpiry, Limit, PlanSpec, RateLimit};
        let d = |s: &str| Duration::parse(s).unwrap();
        let plan = |rate_limit, quota, key_expiry| Plan {
            name: "p".to_owned().try_into().unwrap(),
            spec: PlanSpec {
                provider: "tyk".to_owned().try_into().unwrap(),
                display_name: "P".into(),
                description: None,
                rate_limit,
                quota,
                key_expiry,
                auto_approve: false,
                access_request_frequency: None,
                credential_metadata: Default::default(),
                policy: None,
            },
            source: crate::desired::Source {
                file: "p.yaml".into(),
                line: 1,
            },
        };
        let owned = |p: &Plan| {
            plan_policy(&Desired::default(), p, "default")
                .unwrap()
                .owned
        };
        let exact = owned(&plan(
            RateLimit::Every {
                requests: 3.0,
                per: d("1500ms"),
            },
            Limit::Every {
                requests: 1000,
                per: d("30d"),
            },
            Some(KeyExpiry::After(d("12h"))),
        ));
        assert_eq!(exact["rate"], json!(3));
        assert_eq!(exact["per"], json!(1.5));
        assert_eq!(exact["quota_max"], json!(1000));
        assert_eq!(exact["quota_renewal_rate"], json!(2_592_000));
        assert_eq!(exact["key_expires_in"], json!(43_200));
        let third = owned(&plan(
            RateLimit::Every {
                requests: 2.5,
                per: d("0.3333s"),
            },
            Limit::Unlimited,
            None,
        ));
        assert_eq!(third["rate"], json!(2.5));
        assert_eq!(third["per"], json!(0.3333));
        // Tyk decodes integer fields strictly: -1 and 0, never -1.0.
        let unlimited = owned(&plan(RateLimit::Unlimited, Limit::Unlimited, None));
        for k in [
            "rate",
            "per",
            "quota_max",
            "quota_renewal_rate",
            "key_expires_in",
        ] {
            assert!(unlimited[k].is_i64(), "{k}: {}", unlimited[k]);
        }
        assert_eq!(unlimited["quota_max"].to_string(), "-1");
        assert_eq!(unlimited["key_expires_in"].to_string(), "0");
    }

    #[test]
    fn policy_ids_round_trip() {
        let id = policy_id("default", Kind::Plan, "free");
        assert_eq!(id, "portalctl-default-plan-free");
        assert_eq!(
            parse_policy_id("default", &id),
            Some((Kind::Plan, "free".into()))
        );
        assert_eq!(parse_policy_id("other", &id), None);
    }
}
