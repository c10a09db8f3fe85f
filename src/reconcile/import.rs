//! `import`: turn existing Dashboard policies into Product and Plan manifests that adopt them.
//!
//! Pure: a policy listing in, manifest documents out. A policy is imported when it carries all of
//! the provider's `policyTags` (every partitioned policy when there are none), no manifest adopts
//! it yet and it does not carry this instance's ownership tag. Access-rights-only policies become
//! Products, limits-only policies become Plans (the Enterprise Portal's reading, see the Dashboard
//! contract); anything else is skipped with a note.
//!
//! Faithful: a manifest is written so that the fields portalctl will own are exactly the policy's
//! (access rights with their versions, paths and methods; rates and periods as exact decimals), so
//! that `import` then `plan` shows only the tag action. Each imported manifest is checked by
//! computing the policy it describes (`docs`) and comparing it with the policy read; where the
//! manifest format cannot say what the policy holds without changing it (a limit partition that is
//! on with an unlimited value), the fields the first apply would change are listed, and a policy
//! whose limits a manifest cannot hold at all is skipped with the reason.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::docs::{desired_policies, get_path, owner_tag, project};
use crate::desired::{Desired, Plan, Product, Source};
use crate::manifest::kinds::{
    AllowedUrl, Duration, KeyExpiry, Limit, Metadata, Name, PlanSpec, PolicyRef, ProductApi,
    ProductSpec, RateLimit, MAX_REQUESTS,
};
use crate::tyk::Policy;

/// One manifest to write.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    /// `products` or `plans`: the folder it goes in.
    pub folder: &'static str,
    /// The manifest name (also the file name).
    pub name: String,
    /// The YAML document, schema line included.
    pub yaml: String,
    /// Policy fields the first apply of this manifest would change (`path: before -> after`);
    /// empty when it changes only the tags.
    pub changes: Vec<String>,
}

/// What import found.
#[derive(Debug, Clone, Default)]
pub struct ImportResult {
    /// Manifests to write.
    pub manifests: Vec<Imported>,
    /// Policies passed over, and why.
    pub skipped: Vec<String>,
}

/// Builds manifests for the importable policies of `provider`.
pub fn import(
    desired: &Desired,
    provider: &str,
    policies: &[Policy],
    instance: &str,
    schema_prefix: &str,
) -> ImportResult {
    let mut out = ImportResult::default();
    let Some(p) = desired
        .providers
        .values()
        .find(|p| p.name.as_str() == provider)
    else {
        return out;
    };
    let owner = owner_tag(instance);
    let adopted: BTreeSet<&str> = desired
        .products
        .values()
        .filter_map(|x| x.spec.policy.as_ref()?.id.as_deref())
        .chain(
            desired
                .plans
                .values()
                .filter_map(|x| x.spec.policy.as_ref()?.id.as_deref()),
        )
        .collect();
    let mut taken: BTreeSet<String> = desired
        .products
        .keys()
        .chain(desired.plans.keys())
        .map(|n| n.to_string())
        .collect();
    for pol in policies {
        let tagged = p.spec.policy_tags.iter().all(|t| pol.tags.contains(t));
        if !tagged
            || pol.tags.contains(&owner)
            || adopted.contains(pol.id.as_str())
            || adopted.contains(pol.mid.as_str())
        {
            continue;
        }
        let id = if pol.id.is_empty() {
            pol.mid.clone()
        } else {
            pol.id.clone()
        };
        let parts = pol.partitions;
        let is_product = parts.acl && !parts.quota && !parts.rate_limit;
        if !is_product && (parts.acl || !(parts.quota || parts.rate_limit)) {
            out.skipped.push(format!(
                "policy {:?} ({id}): its partitions are neither access rights only (a product) nor limits only (a plan)",
                pol.name
            ));
            continue;
        }
        let name = unique_name(&slug(&pol.name, &id), &mut taken);
        let Ok(metadata) = Name::parse(&name).map(|name| Metadata {
            name,
            annotations: Default::default(),
        }) else {
            out.skipped.push(format!(
                "policy {:?} ({id}): no usable manifest name",
                pol.name
            ));
            continue;
        };
        let policy = Some(PolicyRef {
            id: Some(id.clone()),
            name: None,
        });
        // The one-object desired state the manifest describes, to compare with the policy.
        let mut alone = Desired::default();
        alone.providers.insert(p.name.clone(), p.clone());
        let source = Source {
            file: format!("{name}.yaml").into(),
            line: 1,
        };
        let (folder, kind, spec) = if is_product {
            let spec = product_spec(pol, p.name.clone(), policy);
            alone.products.insert(
                metadata.name.clone(),
                Product {
                    name: metadata.name.clone(),
                    spec: spec.clone(),
                    source,
                    content: None,
                    guides: Vec::new(),
                    openapi: BTreeMap::new(),
                    logo: None,
                },
            );
            ("products", "Product", serde_json::to_value(spec))
        } else {
            let spec = match plan_spec(pol, p.name.clone(), policy) {
                Ok(spec) => spec,
                Err(why) => {
                    out.skipped
                        .push(format!("policy {:?} ({id}): {why}", pol.name));
                    continue;
                }
            };
            alone.plans.insert(
                metadata.name.clone(),
                Plan {
                    name: metadata.name.clone(),
                    spec: spec.clone(),
                    source,
                },
            );
            ("plans", "Plan", serde_json::to_value(spec))
        };
        let Ok(spec) = spec else { continue };
        let changes = changes_on_apply(&alone, instance, pol);
        let doc = serde_json::json!({"apiVersion": crate::manifest::kinds::API_VERSION, "kind": kind, "metadata": metadata, "spec": spec});
        let yaml = serde_yaml::to_string(&doc).unwrap_or_default();
        let mut header = format!(
            "# yaml-language-server: $schema={schema_prefix}{}.schema.json\n# Imported from policy {:?} ({id}) of provider {provider}.\n",
            kind.to_lowercase(),
            pol.name
        );
        if !changes.is_empty() {
            header.push_str(
                "# The manifest format cannot say exactly what this policy holds: the first apply changes\n",
            );
            for c in &changes {
                header.push_str(&format!("#   {c}\n"));
            }
        }
        out.manifests.push(Imported {
            folder,
            name: name.clone(),
            yaml: format!("{header}{yaml}"),
            changes,
        });
    }
    out
}

/// A Product adopting an access-rights policy: every API with its versions, paths and methods as
/// the policy has them, so the manifest neither widens nor narrows access.
fn product_spec(pol: &Policy, provider: Name, policy: Option<PolicyRef>) -> ProductSpec {
    let apis = pol
        .access_rights
        .iter()
        .map(|(key, a)| ProductApi {
            // The map key is what the Gateway looks a request's API up by; the definition's
            // `api_id` repeats it (were they to differ, the first apply would say so).
            api_id: key.clone(),
            name: (!a.api_name.is_empty()).then(|| a.api_name.clone()),
            // `[Default]` is what a manifest means when it says nothing; anything else, an empty
            // list included, is written out.
            versions: (a.versions != ["Default"]).then(|| a.versions.clone()),
            allowed_urls: (!a.allowed_urls.is_empty()).then(|| {
                a.allowed_urls
                    .iter()
                    .map(|u| AllowedUrl {
                        url: u.url.clone(),
                        methods: u.methods.clone(),
                    })
                    .collect()
            }),
            openapi: None,
        })
        .collect();
    ProductSpec {
        provider: Some(provider),
        display_name: pol.name.clone(),
        description: None,
        content: None,
        featured: false,
        tags: vec![],
        logo: None,
        apis,
        guides: vec![],
        policy,
    }
}

/// A Plan adopting a limits policy, with its limits exactly as Tyk holds them: `rate` may be
/// fractional and `per` any float of seconds (written as the shortest decimal that reads back as
/// the same float). Errs when a limit has no manifest form.
fn plan_spec(pol: &Policy, provider: Name, policy: Option<PolicyRef>) -> Result<PlanSpec, String> {
    let parts = pol.partitions;
    let rate_limit = if parts.rate_limit && pol.rate > 0.0 && pol.per > 0.0 {
        let per = Duration::from_secs_f64(pol.per)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                format!(
                    "its rate limit period of {} seconds has no manifest form (at most 100 years)",
                    pol.per
                )
            })?;
        if pol.rate > MAX_REQUESTS as f64 {
            return Err(format!(
                "its rate of {} requests is more than a manifest holds (2^53)",
                pol.rate
            ));
        }
        RateLimit::Every {
            requests: pol.rate,
            per,
        }
    } else {
        // An unlimited rate (`-1`), or a partition that is off.
        RateLimit::Unlimited
    };
    let quota = if parts.quota && pol.quota_max >= 0 {
        if pol.quota_max == 0 {
            return Err(
                "its quota of 0 requests (no request at all) has no manifest form: a quota allows at least 1 request"
                    .into(),
            );
        }
        let requests = u64::try_from(pol.quota_max)
            .ok()
            .filter(|r| *r <= MAX_REQUESTS)
            .ok_or_else(|| {
                format!(
                    "its quota of {} requests is more than a manifest holds (2^53)",
                    pol.quota_max
                )
            })?;
        let per = u64::try_from(pol.quota_renewal_rate)
            .ok()
            .filter(|s| *s > 0)
            .map(|s| Duration::from_std(std::time::Duration::from_secs(s)))
            .filter(|d| Duration::parse(&d.to_string()).is_ok())
            .ok_or_else(|| {
                format!(
                    "its quota renewal of {} seconds has no manifest form (1 second to 100 years)",
                    pol.quota_renewal_rate
                )
            })?;
        Limit::Every { requests, per }
    } else {
        Limit::Unlimited
    };
    let key_expiry = match u64::try_from(pol.key_expires_in) {
        Ok(0) | Err(_) => None,
        Ok(secs) => {
            let d = Duration::from_std(std::time::Duration::from_secs(secs));
            if Duration::parse(&d.to_string()).is_err() {
                return Err(format!(
                    "its key expiry of {secs} seconds is longer than a manifest holds (100 years)"
                ));
            }
            Some(KeyExpiry::After(d))
        }
    };
    Ok(PlanSpec {
        provider,
        display_name: pol.name.clone(),
        description: None,
        rate_limit,
        quota,
        key_expiry,
        auto_approve: false,
        access_request_frequency: None,
        credential_metadata: pol
            .meta_data
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect(),
        policy,
    })
}

/// The owned fields (other than tags) the desired state `alone` would change on `pol`, as
/// `path: before -> after`.
fn changes_on_apply(alone: &Desired, instance: &str, pol: &Policy) -> Vec<String> {
    let actual = serde_json::to_value(pol).unwrap_or(Value::Null);
    let mut changes = Vec::new();
    for dp in desired_policies(alone, instance) {
        for (path, want) in &dp.owned {
            let have = get_path(&actual, path).map(|h| project(h, want));
            if have.as_ref() != Some(want) {
                let before = have.map_or_else(|| "(none)".to_owned(), |h| h.to_string());
                changes.push(format!("{path}: {before} -> {want}"));
            }
        }
        // Entries of maps the manifest owns entirely that it does not name would be removed.
        for top in &dp.owned_maps {
            for key in actual
                .get(*top)
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(k, _)| k)
            {
                let path = format!("{top}.{key}");
                if !dp.owned.contains_key(&path) {
                    changes.push(format!("{path}: removed"));
                }
            }
        }
    }
    changes
}

/// A manifest name from a policy name: letters transliterated to ASCII where possible (`Über` is
/// `uber`), lowercase, `-` for anything else, at most 55 characters (room for a `-N` suffix).
fn slug(name: &str, fallback: &str) -> String {
    let mut s = String::new();
    let push = |c: char, s: &mut String| {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    };
    for c in name.chars() {
        if c.is_ascii() || !c.is_alphanumeric() {
            // Symbols (`✓`, `★`) and punctuation separate words; they are not spelled out.
            push(if c.is_ascii() { c } else { ' ' }, &mut s);
        } else {
            match deunicode::deunicode_char(c) {
                Some(ascii) => ascii.chars().for_each(|a| push(a, &mut s)),
                None => push(' ', &mut s),
            }
        }
    }
    let s: String = s.trim_matches('-').chars().take(55).collect();
    let s = s.trim_end_matches('-').to_owned();
    if s.is_empty() && fallback != name {
        slug(fallback, "policy")
    } else if s.is_empty() {
        "policy".into()
    } else {
        s
    }
}

fn unique_name(base: &str, taken: &mut BTreeSet<String>) -> String {
    let mut name = base.to_owned();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_valid_names() {
        assert_eq!(slug("Gold Plan (2024)!", "x"), "gold-plan-2024");
        assert_eq!(slug("***", "ZGVmYXVsdA"), "zgvmyxvsda");
        assert!(Name::parse(&slug(&"a".repeat(100), "x")).is_ok());
        let mut taken = BTreeSet::from(["gold".to_string()]);
        assert_eq!(unique_name("gold", &mut taken), "gold-2");
        assert_eq!(unique_name("gold", &mut taken), "gold-3");
    }

    fn provider() -> Desired {
        use crate::manifest::kinds::{ProviderSpec, ProviderType, SecretRef};
        let mut d = Desired::default();
        let name: Name = "tyk".to_owned().try_into().unwrap();
        d.providers.insert(
            name.clone(),
            crate::desired::Provider {
                name,
                spec: ProviderSpec {
                    provider_type: ProviderType::TykPro,
                    url: "http://localhost:3000".into(),
                    secret: SecretRef::FromEnv("S".into()),
                    org_id: None,
                    gateway_url: None,
                    policy_tags: vec![],
                    insecure_skip_verify: false,
                    timeout: None,
                    max_in_flight: None,
                },
                source: Source {
                    file: "p.yaml".into(),
                    line: 1,
                },
            },
        );
        d
    }

    fn policy(v: serde_json::Value) -> Policy {
        serde_json::from_value(v).unwrap()
    }

    fn plan(name: &str, limits: serde_json::Value) -> Policy {
        let mut v = serde_json::json!({"name": name, "id": name, "state": "active", "active": true,
            "partitions": {"acl": false, "quota": true, "rate_limit": true}});
        for (k, x) in limits.as_object().unwrap() {
            v[k] = x.clone();
        }
        policy(v)
    }

    #[test]
    fn what_a_manifest_cannot_hold_is_said_or_skipped() {
        let policies = [
            plan(
                "exact",
                serde_json::json!({"rate": 2.5, "per": 7, "quota_max": 10, "quota_renewal_rate": 60}),
            ),
            plan(
                "rate-on-unlimited",
                serde_json::json!({"rate": -1, "per": -1, "quota_max": 10, "quota_renewal_rate": 60}),
            ),
            plan(
                "draft",
                serde_json::json!({"rate": 1, "per": 1, "quota_max": 10, "quota_renewal_rate": 60, "state": "draft", "key_expires_in": -1}),
            ),
            plan(
                "too-fast",
                serde_json::json!({"rate": 1e17, "per": 1, "quota_max": 10, "quota_renewal_rate": 60}),
            ),
            plan(
                "too-slow",
                serde_json::json!({"rate": 1, "per": 4e9, "quota_max": 10, "quota_renewal_rate": 60}),
            ),
            plan(
                "too-long",
                serde_json::json!({"rate": 1, "per": 1, "quota_max": 10, "quota_renewal_rate": 4_000_000_000_i64}),
            ),
            policy(
                serde_json::json!({"name": "mismatch", "id": "mismatch", "state": "active",
                "partitions": {"acl": true},
                "access_rights": {"a": {"api_id": "b", "versions": ["Default"]}}}),
            ),
        ];
        let out = import(&provider(), "tyk", &policies, "default", "");
        let changes: Vec<(&str, &[String])> = out
            .manifests
            .iter()
            .map(|m| (m.name.as_str(), m.changes.as_slice()))
            .collect();
        assert_eq!(
            changes,
            [
                ("exact", &[][..]),
                (
                    "rate-on-unlimited",
                    &["partitions.rate_limit: true -> false".to_owned()][..]
                ),
                (
                    "draft",
                    &[
                        "key_expires_in: -1 -> 0".to_owned(),
                        "state: \"draft\" -> \"active\"".to_owned()
                    ][..]
                ),
                (
                    "mismatch",
                    &["access_rights.a: {\"api_id\":\"b\",\"versions\":[\"Default\"],\"allowed_urls\":[]} -> {\"api_id\":\"a\",\"versions\":[\"Default\"],\"allowed_urls\":[]}".to_owned()][..]
                ),
            ]
        );
        assert!(out.manifests[1]
            .yaml
            .contains("#   partitions.rate_limit: true -> false"));
        assert_eq!(out.skipped.len(), 3, "{:?}", out.skipped);
        assert!(out.skipped[0].contains(
            "its rate of 100000000000000000 requests is more than a manifest holds (2^53)"
        ));
        assert!(
            out.skipped[1].contains("rate limit period of 4000000000 seconds has no manifest form")
        );
        assert!(out.skipped[2].contains("quota renewal of 4000000000 seconds has no manifest form"));
    }

    #[test]
    fn slugs_transliterate_letters_and_drop_symbols() {
        assert_eq!(slug("Über Plan ✓", "x"), "uber-plan");
        assert_eq!(slug("Straße für Café", "x"), "strasse-fur-cafe");
        assert_eq!(slug("Ærø Øst", "x"), "aero-ost");
        assert_eq!(slug("Тариф Базовый", "x"), "tarif-bazovyi");
        assert_eq!(slug("★★★", "p1"), "p1");
        assert!(Name::parse(&slug("東京 API", "x")).is_ok());
    }
}
