//! `import`: turn existing Dashboard policies into Product and Plan manifests that adopt them.
//!
//! Pure: a policy listing in, manifest documents out. A policy is imported when it carries all of
//! the provider's `policyTags` (every partitioned policy when there are none), no manifest adopts
//! it yet and it does not carry this instance's ownership tag. Access-rights-only policies become
//! Products, limits-only policies become Plans (the Enterprise Portal's reading, see the Dashboard
//! contract); anything else is skipped with a note.

use std::collections::BTreeSet;

use super::docs::owner_tag;
use crate::desired::Desired;
use crate::manifest::kinds::{
    AllowedUrl, Duration, KeyExpiry, Limit, Metadata, Name, PlanSpec, PolicyRef, ProductApi,
    ProductSpec,
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
        let (folder, kind) = if parts.acl && !parts.quota && !parts.rate_limit {
            ("products", "Product")
        } else if !parts.acl && (parts.quota || parts.rate_limit) {
            ("plans", "Plan")
        } else {
            out.skipped.push(format!(
                "policy {:?} ({id}): its partitions are neither access rights only (a product) nor limits only (a plan)",
                pol.name
            ));
            continue;
        };
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
        let provider_name = p.name.clone();
        let policy = Some(PolicyRef {
            id: Some(id.clone()),
            name: None,
        });
        let spec = if kind == "Product" {
            let apis = pol
                .access_rights
                .values()
                .map(|a| ProductApi {
                    api_id: a.api_id.clone(),
                    name: (!a.api_name.is_empty()).then(|| a.api_name.clone()),
                    versions: (a.versions != ["Default"] && !a.versions.is_empty())
                        .then(|| a.versions.clone()),
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
            serde_json::to_value(ProductSpec {
                provider: Some(provider_name),
                display_name: pol.name.clone(),
                description: None,
                content: None,
                featured: false,
                tags: vec![],
                logo: None,
                apis,
                guides: vec![],
                policy,
            })
        } else {
            let limit = |on: bool, n: f64, per: f64| {
                if on && n >= 0.0 && per > 0.0 {
                    Limit::Every {
                        requests: n as u64,
                        per: Duration::from_std(std::time::Duration::from_millis(
                            (per * 1000.0).round() as u64,
                        )),
                    }
                } else {
                    Limit::Unlimited
                }
            };
            serde_json::to_value(PlanSpec {
                provider: provider_name,
                display_name: pol.name.clone(),
                description: None,
                rate_limit: limit(parts.rate_limit, pol.rate, pol.per),
                quota: limit(
                    parts.quota,
                    pol.quota_max as f64,
                    pol.quota_renewal_rate as f64,
                ),
                key_expiry: (pol.key_expires_in > 0).then(|| {
                    KeyExpiry::After(Duration::from_std(std::time::Duration::from_secs(
                        pol.key_expires_in as u64,
                    )))
                }),
                auto_approve: false,
                access_request_frequency: None,
                credential_metadata: pol
                    .meta_data
                    .iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                    .collect(),
                policy,
            })
        };
        let Ok(spec) = spec else { continue };
        let doc = serde_json::json!({"apiVersion": crate::manifest::kinds::API_VERSION, "kind": kind, "metadata": metadata, "spec": spec});
        let yaml = serde_yaml::to_string(&doc).unwrap_or_default();
        out.manifests.push(Imported {
            folder,
            name: name.clone(),
            yaml: format!(
                "# yaml-language-server: $schema={schema_prefix}{}.schema.json\n# Imported from policy {:?} ({id}) of provider {provider}.\n{yaml}",
                kind.to_lowercase(),
                pol.name
            ),
        });
    }
    out
}

/// A manifest name from a policy name: lowercase, `-` for anything else, at most 63 characters.
fn slug(name: &str, fallback: &str) -> String {
    let mut s = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
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
}
