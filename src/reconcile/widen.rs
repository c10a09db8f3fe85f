//! Which policy changes widen access: what a key can do after apply that it could not before.
//!
//! Pure, like the diff that calls it: it compares a policy as read from the Dashboard with the
//! same policy after the change set's patch, both as JSON. A reviewer must not miss these, so they
//! are a typed part of each change ([`Widening`]) and every output format shows them.
//!
//! Product policies (access rights): an API added, a version added, a path restriction removed
//! (an empty `allowed_urls` allows every path) or paths and methods added to a restricted API.
//! Plan policies (limits): a rate limit raised (more requests, a shorter `per`, or unlimited), a
//! quota raised (more requests, a shorter renewal, or unlimited), a longer or removed key expiry.
//! Adopting a foreign policy that widens its access rights is one [`Widens::AccessRightsReplaced`]
//! listing what is added and removed, since the policy's existing keys were issued elsewhere.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::plan::{Widening, Widens};
use crate::desired::Kind;

/// The widenings of changing a policy from `before` to `after`, for `credentials` active
/// credentials of this portal. `adopting` is true when the change adopts a foreign policy.
pub fn widenings(
    kind: Kind,
    before: &Value,
    after: &Value,
    adopting: bool,
    credentials: u64,
) -> Vec<Widening> {
    let mut out = Vec::new();
    match kind {
        Kind::Product => out.extend(access_widenings(before, after, adopting)),
        Kind::Plan => out.extend(limit_widenings(before, after)),
        _ => {}
    }
    out.into_iter()
        .map(|what| Widening {
            message: what.message(),
            what,
            active_credentials: credentials,
        })
        .collect()
}

fn access_widenings(before: &Value, after: &Value, adopting: bool) -> Vec<Widens> {
    let empty = serde_json::Map::new();
    let had = before
        .get("access_rights")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let has = after
        .get("access_rights")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut out = Vec::new();
    let mut added = Vec::new();
    let mut widened = Vec::new();
    for (api, def) in has {
        let Some(old) = had.get(api) else {
            added.push(api.clone());
            out.push(Widens::ApiAdded {
                api_id: api.clone(),
            });
            continue;
        };
        let before_len = out.len();
        let old_versions = strings(old.get("versions"));
        for v in strings(def.get("versions")) {
            if !old_versions.contains(&v) {
                out.push(Widens::VersionAdded {
                    api_id: api.clone(),
                    version: v,
                });
            }
        }
        let old_paths = paths(old.get("allowed_urls"));
        let new_paths = paths(def.get("allowed_urls"));
        if !old_paths.is_empty() {
            if new_paths.is_empty() {
                out.push(Widens::AllPathsAllowed {
                    api_id: api.clone(),
                });
            } else {
                let more: Vec<String> = new_paths.difference(&old_paths).cloned().collect();
                if !more.is_empty() {
                    out.push(Widens::PathsAdded {
                        api_id: api.clone(),
                        paths: more,
                    });
                }
            }
        }
        if out.len() > before_len {
            widened.push(api.clone());
        }
    }
    if adopting && !out.is_empty() {
        // Keys issued elsewhere under the adopted policy get the manifest's access rights: one
        // warning that says what is replaced, rather than a list of details.
        let removed: Vec<String> = had
            .keys()
            .filter(|k| !has.contains_key(*k))
            .cloned()
            .collect();
        return vec![Widens::AccessRightsReplaced {
            added,
            widened,
            removed,
        }];
    }
    out
}

/// `"METHOD URL"` for each allowed method of each allowed URL.
fn paths(v: Option<&Value>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in v.and_then(Value::as_array).into_iter().flatten() {
        let url = entry.get("url").and_then(Value::as_str).unwrap_or_default();
        let methods = strings(entry.get("methods"));
        if methods.is_empty() {
            out.insert(url.to_owned());
        }
        for m in methods {
            out.insert(format!("{m} {url}"));
        }
    }
    out
}

fn strings(v: Option<&Value>) -> BTreeSet<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// A limit as it acts on a key: `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    requests: f64,
    /// Seconds; infinite for a quota that never renews.
    per: f64,
}

fn number(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(-1.0)
}

/// True when a policy declares partitions, so that only the partitioned parts apply.
fn partitioned(v: &Value) -> bool {
    v.get("partitions")
        .and_then(Value::as_object)
        .is_some_and(|p| p.values().any(|x| x.as_bool() == Some(true)))
}

fn applies(v: &Value, partition: &str) -> bool {
    !partitioned(v)
        || v.get("partitions")
            .and_then(|p| p.get(partition))
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

fn rate(v: &Value) -> Option<Window> {
    let (requests, per) = (number(v, "rate"), number(v, "per"));
    (applies(v, "rate_limit") && requests >= 0.0 && per > 0.0).then_some(Window { requests, per })
}

fn quota(v: &Value) -> Option<Window> {
    let (requests, renewal) = (number(v, "quota_max"), number(v, "quota_renewal_rate"));
    let per = if renewal > 0.0 {
        renewal
    } else {
        f64::INFINITY
    };
    (applies(v, "quota") && requests >= 0.0).then_some(Window { requests, per })
}

/// More requests, or the same window renewing sooner, or no limit any more.
fn raised(before: Option<Window>, after: Option<Window>) -> bool {
    match (before, after) {
        (Some(_), None) => true,
        (Some(b), Some(a)) => a.requests > b.requests || a.per < b.per,
        (None, _) => false,
    }
}

fn limit_widenings(before: &Value, after: &Value) -> Vec<Widens> {
    let mut out = Vec::new();
    let (rb, ra) = (rate(before), rate(after));
    if raised(rb, ra) {
        out.push(Widens::RateLimitRaised {
            before: show_window(rb),
            after: show_window(ra),
        });
    }
    let (qb, qa) = (quota(before), quota(after));
    if raised(qb, qa) {
        out.push(Widens::QuotaRaised {
            before: show_window(qb),
            after: show_window(qa),
        });
    }
    // Seconds; 0 (or less) is never.
    let expiry = |v: &Value| {
        let s = number(v, "key_expires_in");
        if s > 0.0 {
            s
        } else {
            f64::INFINITY
        }
    };
    if expiry(after) > expiry(before) {
        let show = |v: &Value| {
            super::docs::normalize(v.get("key_expires_in").cloned().unwrap_or(json!(0)))
        };
        out.push(Widens::KeyExpiryLonger {
            before: show(before),
            after: show(after),
        });
    }
    out
}

/// `{"requests": N, "per": SECONDS}`, or `"unlimited"`; a quota that never renews has no `per`.
fn show_window(w: Option<Window>) -> Value {
    match w {
        None => json!("unlimited"),
        Some(w) => {
            let mut v = json!({"requests": super::docs::normalize(json!(w.requests))});
            if w.per.is_finite() {
                v["per"] = super::docs::normalize(json!(w.per));
            }
            v
        }
    }
}

impl Widens {
    /// The warning for people, without the credential count.
    pub fn message(&self) -> String {
        match self {
            Widens::ApiAdded { api_id } => {
                format!("API {api_id} added: keys of this product can call it")
            }
            Widens::VersionAdded { api_id, version } => {
                format!("version {version:?} of API {api_id} added")
            }
            Widens::AllPathsAllowed { api_id } => format!(
                "path restriction removed on API {api_id}: keys can call every path (an empty allowedUrls allows all)"
            ),
            Widens::PathsAdded { api_id, paths } => {
                format!("API {api_id} allows more: {}", paths.join(", "))
            }
            Widens::RateLimitRaised { before, after } => {
                format!("rate limit raised: {} -> {}", show_limit(before), show_limit(after))
            }
            Widens::QuotaRaised { before, after } => {
                format!("quota raised: {} -> {}", show_limit(before), show_limit(after))
            }
            Widens::KeyExpiryLonger { before, after } => format!(
                "key expiry longer: {} -> {} (for keys issued from now on)",
                show_expiry(before),
                show_expiry(after)
            ),
            Widens::AccessRightsReplaced {
                added,
                widened,
                removed,
            } => {
                let mut parts = Vec::new();
                if !added.is_empty() {
                    parts.push(format!("adds APIs {}", added.join(", ")));
                }
                if !widened.is_empty() {
                    parts.push(format!("widens APIs {}", widened.join(", ")));
                }
                if !removed.is_empty() {
                    parts.push(format!("removes APIs {}", removed.join(", ")));
                }
                format!(
                    "adopting replaces the policy's access rights with the manifest's: {}; keys issued outside portalctl under this policy get them too",
                    parts.join("; ")
                )
            }
        }
    }
}

fn show_limit(v: &Value) -> String {
    match (v.get("requests"), v.get("per")) {
        (Some(r), Some(p)) => format!("{r} per {}", show_seconds(p)),
        (Some(r), None) => format!("{r}, never renewed"),
        _ => "unlimited".into(),
    }
}

fn show_expiry(v: &Value) -> String {
    if v.as_f64().is_some_and(|s| s > 0.0) {
        show_seconds(v)
    } else {
        "never".into()
    }
}

/// Seconds as the manifests write durations: `1s`, `90s`, `1m`, `12h`, `30d`.
fn show_seconds(v: &Value) -> String {
    let Some(s) = v.as_f64() else {
        return v.to_string();
    };
    for (unit, size) in [("d", 86_400.0), ("h", 3_600.0), ("m", 60.0)] {
        if s >= size && (s / size).fract() == 0.0 {
            return format!("{}{unit}", s / size);
        }
    }
    if s.fract() == 0.0 {
        format!("{s}s")
    } else {
        format!("{}ms", (s * 1000.0).round())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_policy(rate: f64, per: f64, quota_max: i64, renewal: i64, expires: i64) -> Value {
        json!({
            "rate": rate, "per": per, "quota_max": quota_max, "quota_renewal_rate": renewal,
            "key_expires_in": expires,
            "partitions": {"acl": false, "quota": quota_max >= 0, "rate_limit": rate >= 0.0},
        })
    }

    fn kinds(ws: &[Widening]) -> Vec<&Widens> {
        ws.iter().map(|w| &w.what).collect()
    }

    #[test]
    fn raising_a_limit_widens_and_lowering_does_not() {
        let base = plan_policy(10.0, 1.0, 1000, 2_592_000, 86_400);
        for (after, expected) in [
            (
                plan_policy(20.0, 1.0, 1000, 2_592_000, 86_400),
                "rate limit raised: 10 per 1s -> 20 per 1s",
            ),
            (
                plan_policy(10.0, 0.5, 1000, 2_592_000, 86_400),
                "rate limit raised: 10 per 1s -> 10 per 500ms",
            ),
            (
                plan_policy(-1.0, -1.0, 1000, 2_592_000, 86_400),
                "rate limit raised: 10 per 1s -> unlimited",
            ),
            (
                plan_policy(10.0, 1.0, 2000, 2_592_000, 86_400),
                "quota raised: 1000 per 30d -> 2000 per 30d",
            ),
            (
                plan_policy(10.0, 1.0, 1000, 86_400, 86_400),
                "quota raised: 1000 per 30d -> 1000 per 1d",
            ),
            (
                plan_policy(10.0, 1.0, -1, -1, 86_400),
                "quota raised: 1000 per 30d -> unlimited",
            ),
            (
                plan_policy(10.0, 1.0, 1000, 2_592_000, 0),
                "key expiry longer: 1d -> never (for keys issued from now on)",
            ),
            (
                plan_policy(10.0, 1.0, 1000, 2_592_000, 172_800),
                "key expiry longer: 1d -> 2d (for keys issued from now on)",
            ),
        ] {
            let ws = widenings(Kind::Plan, &base, &after, false, 3);
            assert_eq!(ws.len(), 1, "{after}: {ws:?}");
            assert_eq!(ws[0].message, expected);
            assert_eq!(ws[0].active_credentials, 3);
        }
        for after in [
            plan_policy(5.0, 1.0, 1000, 2_592_000, 86_400),
            plan_policy(10.0, 2.0, 500, 2_592_000, 3_600),
            plan_policy(10.0, 1.0, 1000, -1, 86_400),
            base.clone(),
        ] {
            assert!(
                widenings(Kind::Plan, &base, &after, false, 0).is_empty(),
                "{after}"
            );
        }
        // A rate limit that the policy's partitions do not apply is no limit.
        let mut off = base.clone();
        off["partitions"]["rate_limit"] = json!(false);
        assert!(widenings(
            Kind::Plan,
            &off,
            &plan_policy(-1.0, -1.0, 1000, 2_592_000, 86_400),
            false,
            0
        )
        .is_empty());
    }

    fn product(apis: Value) -> Value {
        json!({"access_rights": apis, "partitions": {"acl": true}})
    }

    #[test]
    fn access_added_widens_access_removed_does_not() {
        let before = product(json!({
            "a": {"api_id": "a", "versions": ["Default"], "allowed_urls": [{"url": "/x", "methods": ["GET"]}]},
            "b": {"api_id": "b", "versions": ["Default"], "allowed_urls": []},
        }));
        let after = product(json!({
            "a": {"api_id": "a", "versions": ["Default", "v2"], "allowed_urls": [{"url": "/x", "methods": ["GET", "POST"]}]},
            "c": {"api_id": "c", "versions": ["Default"], "allowed_urls": []},
        }));
        let ws = widenings(Kind::Product, &before, &after, false, 1);
        assert_eq!(
            kinds(&ws),
            vec![
                &Widens::VersionAdded {
                    api_id: "a".into(),
                    version: "v2".into()
                },
                &Widens::PathsAdded {
                    api_id: "a".into(),
                    paths: vec!["POST /x".into()]
                },
                &Widens::ApiAdded { api_id: "c".into() },
            ]
        );
        let open =
            product(json!({"a": {"api_id": "a", "versions": ["Default"], "allowed_urls": []}}));
        assert_eq!(
            kinds(&widenings(Kind::Product, &before, &open, false, 0)),
            vec![&Widens::AllPathsAllowed { api_id: "a".into() }]
        );
        // Narrowing is not flagged: fewer APIs, fewer versions, a path restriction added.
        let narrow = product(json!({
            "a": {"api_id": "a", "versions": ["Default"], "allowed_urls": [{"url": "/x", "methods": ["GET"]}]},
        }));
        assert!(widenings(Kind::Product, &after, &narrow, false, 0).is_empty());
        assert!(widenings(Kind::Product, &open, &narrow, false, 0).is_empty());
    }

    #[test]
    fn adopting_a_policy_that_gains_access_is_one_replacement_warning() {
        let foreign = product(
            json!({"legacy": {"api_id": "legacy", "versions": ["Default"], "allowed_urls": []}}),
        );
        let ours = product(
            json!({"payments": {"api_id": "payments", "versions": ["Default"], "allowed_urls": []}}),
        );
        let ws = widenings(Kind::Product, &foreign, &ours, true, 0);
        assert_eq!(
            kinds(&ws),
            vec![&Widens::AccessRightsReplaced {
                added: vec!["payments".into()],
                widened: vec![],
                removed: vec!["legacy".into()],
            }]
        );
        assert!(
            ws[0]
                .message
                .contains("adds APIs payments; removes APIs legacy"),
            "{}",
            ws[0].message
        );
    }
}
