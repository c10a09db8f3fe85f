//! The Tyk Dashboard's JSON, exactly as it travels on the wire, and nothing else.
//!
//! These types follow `tyk-dashboard-contract.md` and the Go types the Dashboard decodes into
//! (`docs/tyk-wire-types.md` compares them field by field): a Go integer field is an `i64` here and
//! is written as a JSON integer, a Go `float64` is an `f64` written the way Go writes it (`-1`, not
//! `-1.0`). Reads are tolerant where Go's decoder is: an explicit `null` reads as Go's zero value,
//! unknown fields are kept in `extra` so that a read-modify-write never drops what someone else set
//! (integers there stay integers). A field that is *missing* takes portalctl's read default
//! instead (limits `-1`, `state` `"active"`), which is what a policy written by an older Dashboard
//! means. These types must not hold portalctl concepts: converting products and plans into
//! policies belongs to the reconciler.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Reads `null` as the type's default, which for the scalar types used here is Go's zero value
/// (`0`, `false`, `""`), and for lists and maps is empty: Go's decoder leaves a field untouched on
/// `null`, so a Dashboard can hold and return such a value.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads a list where `null`, for the list or for an element, is Go's zero value: `null` is `[]`
/// and `["a", null]` is `["a", ""]`, as Go's decoder leaves a `null` element at its zero value.
fn null_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    let v: Option<Vec<Option<T>>> = Option::deserialize(d)?;
    Ok(
        v.map(|v| v.into_iter().map(Option::unwrap_or_default).collect())
            .unwrap_or_default(),
    )
}

/// Writes a Go `float64` the way Go's `encoding/json` does for the values limits take: a whole
/// number without a fraction (`-1`, `60`), anything else as the shortest decimal. Both forms
/// decode into a Go `float64`; the integer form keeps our bodies byte-comparable with what the
/// Dashboard returns.
pub(crate) fn go_float<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    // 2^53: every whole f64 below it is exactly an i64.
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// A security policy (`/api/portal/policies`).
///
/// Missing numeric limits read as `-1` (unlimited/off, what the Dashboard writes for a new policy),
/// `key_expires_in` as 0 (never), booleans as `false` and `state` as `"active"`. An explicit
/// `null` reads as Go's zero value instead (`0`, `false`, `""`), as the Dashboard's own decoder
/// reads it. Go types: `rate`, `per`, `throttle_interval` are `float64`; `quota_max`,
/// `quota_renewal_rate`, `key_expires_in` are `int64`; `throttle_retry_limit`, `max_query_depth`
/// are `int` (64 bits on the Dashboard's platforms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Database id (24 hex characters), set by the Dashboard; empty for a policy not created yet.
    #[serde(
        rename = "_id",
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub mid: String,
    /// Policy id; the Dashboard sets it to `_id` when empty.
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    /// Unique per org.
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// The Dashboard org; forced to the caller's org by the Dashboard.
    #[serde(deserialize_with = "null_as_default")]
    pub org_id: String,
    /// Rate limit: `rate` requests per `per` seconds; `-1` = unlimited.
    #[serde(deserialize_with = "null_as_default", serialize_with = "go_float")]
    pub rate: f64,
    /// See `rate`.
    #[serde(deserialize_with = "null_as_default", serialize_with = "go_float")]
    pub per: f64,
    /// Quota: `quota_max` requests per `quota_renewal_rate` seconds; `-1` = unlimited.
    #[serde(deserialize_with = "null_as_default")]
    pub quota_max: i64,
    /// See `quota_max`.
    #[serde(deserialize_with = "null_as_default")]
    pub quota_renewal_rate: i64,
    /// `-1` = off.
    #[serde(deserialize_with = "null_as_default", serialize_with = "go_float")]
    pub throttle_interval: f64,
    /// `-1` = off.
    #[serde(deserialize_with = "null_as_default")]
    pub throttle_retry_limit: i64,
    /// GraphQL depth; `-1` = unlimited.
    #[serde(deserialize_with = "null_as_default")]
    pub max_query_depth: i64,
    /// Which APIs and versions a key may call, by api id.
    #[serde(deserialize_with = "null_as_default")]
    pub access_rights: AccessRights,
    /// Which parts of this policy apply.
    #[serde(deserialize_with = "null_as_default")]
    pub partitions: Partitions,
    /// Free tags, appended to the key session's tags.
    #[serde(deserialize_with = "null_list")]
    pub tags: Vec<String>,
    /// Merged into the key session's meta data.
    #[serde(deserialize_with = "null_as_default")]
    pub meta_data: Map<String, Value>,
    /// Seconds; applied only when a key is first created; 0 = never.
    #[serde(deserialize_with = "null_as_default")]
    pub key_expires_in: i64,
    /// Must be true for the Gateway to load the policy.
    #[serde(deserialize_with = "null_as_default")]
    pub active: bool,
    /// Keys under it are disabled.
    #[serde(deserialize_with = "null_as_default")]
    pub is_inactive: bool,
    /// `"active"`, `"draft"` (keys keep working, no new keys) or `"deny"` (keys disabled).
    #[serde(deserialize_with = "null_as_default")]
    pub state: String,
    /// Every field portalctl does not own, kept as read so that writes give it back unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mid: String::new(),
            id: String::new(),
            name: String::new(),
            org_id: String::new(),
            rate: -1.0,
            per: -1.0,
            quota_max: -1,
            quota_renewal_rate: -1,
            throttle_interval: -1.0,
            throttle_retry_limit: -1,
            max_query_depth: -1,
            access_rights: AccessRights::default(),
            partitions: Partitions::default(),
            tags: Vec::new(),
            meta_data: Map::new(),
            key_expires_in: 0,
            active: false,
            is_inactive: false,
            state: "active".to_owned(),
            extra: Map::new(),
        }
    }
}

/// A policy's `access_rights`: API id → access definition, in the order the Dashboard sent them.
///
/// A small vector rather than a `BTreeMap`: policies grant one or a few APIs, and a `BTreeMap`
/// allocates a node of eleven slots (about 2 KB here) even for one entry, which made a listing of
/// 20,000 policies several times larger than its JSON (BENCHMARKS.md, Dashboard client).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccessRights(Vec<(String, AccessDefinition)>);

impl AccessRights {
    /// The definition for an API id.
    pub fn get(&self, api_id: &str) -> Option<&AccessDefinition> {
        self.0.iter().find(|(k, _)| k == api_id).map(|(_, v)| v)
    }
    /// Sets the definition for an API id, replacing an existing one in place.
    pub fn insert(&mut self, api_id: String, def: AccessDefinition) {
        match self.0.iter_mut().find(|(k, _)| *k == api_id) {
            Some((_, v)) => *v = def,
            None => self.0.push((api_id, def)),
        }
    }
    /// Removes an API id.
    pub fn remove(&mut self, api_id: &str) -> Option<AccessDefinition> {
        let i = self.0.iter().position(|(k, _)| k == api_id)?;
        Some(self.0.remove(i).1)
    }
    /// (API id, definition) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &AccessDefinition)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
    /// The definitions, to change in place.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut AccessDefinition> {
        self.0.iter_mut().map(|(_, v)| v)
    }
    /// The definitions.
    pub fn values(&self) -> impl Iterator<Item = &AccessDefinition> {
        self.0.iter().map(|(_, v)| v)
    }
    /// Number of APIs.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// True when the policy grants no API.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::ops::Index<&str> for AccessRights {
    type Output = AccessDefinition;
    fn index(&self, api_id: &str) -> &AccessDefinition {
        self.get(api_id)
            .unwrap_or_else(|| panic!("no access rights for API {api_id:?}"))
    }
}

impl FromIterator<(String, AccessDefinition)> for AccessRights {
    fn from_iter<I: IntoIterator<Item = (String, AccessDefinition)>>(iter: I) -> Self {
        let mut out = AccessRights::default();
        for (k, v) in iter {
            out.insert(k, v);
        }
        out
    }
}

impl Serialize for AccessRights {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for AccessRights {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = AccessRights;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of API id to access definition")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<AccessRights, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(1).min(64));
                // A `null` definition is Go's zero value, as for any struct.
                while let Some((k, v)) = map.next_entry::<String, Option<AccessDefinition>>()? {
                    out.push((k, v.unwrap_or_default()));
                }
                out.shrink_to_fit();
                Ok(AccessRights(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Access to one API inside a policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AccessDefinition {
    /// The API's id.
    #[serde(deserialize_with = "null_as_default")]
    pub api_id: String,
    /// The API's name, for people.
    #[serde(deserialize_with = "null_as_default")]
    pub api_name: String,
    /// Versions, e.g. `["Default"]`.
    #[serde(deserialize_with = "null_list")]
    pub versions: Vec<String>,
    /// Path-based permissions; empty = every path.
    #[serde(deserialize_with = "null_list")]
    pub allowed_urls: Vec<AllowedUrl>,
    /// `restricted_types`, `limit`, `allowance_scope`, … kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One path-based permission.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct AllowedUrl {
    /// A path or regular expression.
    #[serde(deserialize_with = "null_as_default")]
    pub url: String,
    /// HTTP methods allowed on it.
    #[serde(deserialize_with = "null_list")]
    pub methods: Vec<String>,
}

/// Which parts of a policy apply to keys that use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Partitions {
    /// Access rights.
    #[serde(deserialize_with = "null_as_default")]
    pub acl: bool,
    /// Quota.
    #[serde(deserialize_with = "null_as_default")]
    pub quota: bool,
    /// Rate limit.
    #[serde(deserialize_with = "null_as_default")]
    pub rate_limit: bool,
    /// GraphQL complexity.
    #[serde(deserialize_with = "null_as_default")]
    pub complexity: bool,
    /// Per-API limits.
    #[serde(deserialize_with = "null_as_default")]
    pub per_api: bool,
}

/// `GET /api/portal/policies?p=N`: `Data` may be `null`, `Pages` may be missing. The policies are
/// kept as raw JSON text borrowed from the body, to be decoded one by one.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct PolicyList<'a> {
    #[serde(rename = "Data", default, borrow)]
    pub data: Option<Vec<&'a serde_json::value::RawValue>>,
    #[serde(rename = "Pages", default)]
    pub pages: Option<i64>,
}

/// A policy listing read element by element: the policies that decode, and the ones that do not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyListing {
    /// Every policy that decodes into [`Policy`], in the Dashboard's order.
    pub policies: Vec<Policy>,
    /// The ones that do not, with what could be read of them.
    pub unreadable: Vec<UnreadablePolicy>,
}

/// A listed policy that does not decode into [`Policy`]: a Dashboard can hold one (written by an
/// older version, by hand in its database, or with a type its own decoder let through). What
/// could be read of it leniently is here, to name it in a warning and to decide whether it may be
/// portalctl's own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnreadablePolicy {
    /// `_id`, when it is a string (or `{"$oid": …}`).
    pub mid: Option<String>,
    /// `id`, when it is a string.
    pub id: Option<String>,
    /// `name`, when it is a string.
    pub name: Option<String>,
    /// The strings among `tags` (a single string counts as one tag).
    pub tags: Vec<String>,
    /// Why it cannot be read: the field and the types, as Go's decoder would say it when the
    /// Dashboard's own types refuse it too, else the parser's message.
    pub error: String,
}

impl UnreadablePolicy {
    /// Reads what it can of a listed element that failed to decode with `err`.
    pub(crate) fn from_raw(raw: &str, err: &serde_json::Error) -> Self {
        let go = super::gojson::decode_policy(raw.as_bytes()).err();
        let mut error = match go {
            Some(go) => go.to_string(),
            None => err.to_string(),
        };
        // A parser message may quote a value; keep it short.
        if error.len() > 300 {
            let cut = (0..=300)
                .rev()
                .find(|i| error.is_char_boundary(*i))
                .unwrap_or(0);
            error.truncate(cut);
            error.push('…');
        }
        let mut out = UnreadablePolicy {
            error,
            ..UnreadablePolicy::default()
        };
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(raw) {
            let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_owned);
            out.mid = text("_id").or_else(|| {
                m.get("_id")
                    .and_then(|v| v.get("$oid"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            out.id = text("id");
            out.name = text("name");
            out.tags = match m.get("tags") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
                Some(Value::String(t)) => vec![t.clone()],
                _ => Vec::new(),
            };
        }
        out
    }

    /// True when the policy could be portalctl's: it carries a `portalctl:` ownership tag (of any
    /// instance), or has the deterministic id portalctl gives the policies it creates.
    pub fn may_be_portalctls(&self) -> bool {
        self.tags.iter().any(|t| t.starts_with("portalctl:"))
            || self
                .id
                .as_deref()
                .is_some_and(|i| i.starts_with("portalctl-"))
    }

    /// `"Gold" (_id 5fd…, id gold-plan)`, with what is known.
    pub fn describe(&self) -> String {
        let mut ids = Vec::new();
        if let Some(m) = &self.mid {
            ids.push(format!("_id {m}"));
        }
        if let Some(i) = self.id.as_ref().filter(|i| Some(*i) != self.mid.as_ref()) {
            ids.push(format!("id {i}"));
        }
        let name = match &self.name {
            Some(n) => format!("{n:?}"),
            None => "without a readable name".to_owned(),
        };
        if ids.is_empty() {
            name
        } else {
            format!("{name} ({})", ids.join(", "))
        }
    }
}

impl fmt::Display for UnreadablePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policy {} cannot be read: {}",
            self.describe(),
            self.error
        )
    }
}

/// The status envelope `{"Status","Message","Meta"}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Envelope {
    /// `"OK"` or `"Error"`.
    #[serde(rename = "Status", default)]
    pub status: String,
    /// The new id after a create, or what went wrong.
    #[serde(rename = "Message", default)]
    pub message: String,
    /// `null`, a string or an object.
    #[serde(rename = "Meta", default)]
    pub meta: Option<Value>,
}

impl Envelope {
    /// An `OK` envelope with this message.
    pub fn ok(message: impl Into<String>) -> Self {
        Envelope {
            status: "OK".into(),
            message: message.into(),
            meta: None,
        }
    }

    /// An `Error` envelope with this message.
    pub fn error(message: impl Into<String>) -> Self {
        Envelope {
            status: "Error".into(),
            message: message.into(),
            meta: None,
        }
    }
}

/// What portalctl needs to know about a Dashboard API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiSummary {
    /// The API's id, as used in `access_rights`.
    pub api_id: String,
    /// Its name.
    pub name: String,
    /// Whether the Gateway loads it.
    pub active: bool,
    /// `proxy.listen_path`, when set.
    pub listen_path: Option<String>,
}

/// `GET /api/apis?p=-2`: lowercase `apis`/`pages`, unlike policies.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ApiList {
    #[serde(default, deserialize_with = "null_as_default")]
    pub apis: Vec<ApiListEntry>,
    #[serde(default)]
    pub pages: Option<i64>,
}

/// One entry of `apis`: the definition is wrapped.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ApiListEntry {
    #[serde(default)]
    pub api_definition: ApiDefinition,
}

/// The part of an API definition portalctl reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ApiDefinition {
    #[serde(deserialize_with = "null_as_default")]
    pub api_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    pub active: bool,
    pub proxy: Option<Proxy>,
}

/// `proxy` of an API definition.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Proxy {
    pub listen_path: Option<String>,
}

impl From<ApiDefinition> for ApiSummary {
    fn from(d: ApiDefinition) -> Self {
        ApiSummary {
            api_id: d.api_id,
            name: d.name,
            active: d.active,
            listen_path: d.proxy.and_then(|p| p.listen_path),
        }
    }
}

/// The body of `POST /api/keys`: a key session with the fields portalctl sets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyRequest {
    /// Policy ids: the product policies, then the plan policy.
    pub apply_policies: Vec<String>,
    /// `DeveloperID`, `ApplicationID`, `OrganisationID`, `TeamIDs`.
    pub meta_data: Map<String, Value>,
    /// `<app>-<request id>`.
    pub alias: String,
    /// `portal-app-<id>`, `portal-org-<name>`.
    pub tags: Vec<String>,
    /// Unix seconds; 0 = never (the policies' `key_expires_in` may set it).
    pub expires: i64,
    /// The Dashboard org, when the provider names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// A key just issued. `key_id` is the developer's secret: its `Debug` shows `[REDACTED]`.
#[derive(Clone)]
pub struct IssuedKey {
    /// The key itself; shown to the developer once, never logged.
    pub key_id: SecretString,
    /// Identifies the key without revealing it; this is what portalctl stores.
    pub key_hash: String,
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedKey")
            .field("key_id", &"[REDACTED]")
            .field("key_hash", &self.key_hash)
            .finish()
    }
}

/// What portalctl reads back about a key (never the key itself).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyInfo {
    /// The key's hash.
    pub key_hash: String,
    /// Its alias.
    pub alias: String,
    /// The policies it applies.
    pub apply_policies: Vec<String>,
    /// Its meta data.
    pub meta_data: Map<String, Value>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Unix seconds when it expires; 0 = never.
    pub expires: i64,
    /// True when the key is disabled.
    pub is_inactive: bool,
}

/// `POST /api/keys` and `GET /api/keys/{key}` answers: `{"api_model","key_id","data","key_hash"}`.
#[derive(Deserialize)]
pub(crate) struct KeyResponse {
    #[serde(default, deserialize_with = "null_as_default")]
    pub key_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub key_hash: String,
    #[serde(default)]
    pub data: KeySession,
}

/// The part of a key session portalctl reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct KeySession {
    #[serde(deserialize_with = "null_as_default")]
    pub alias: String,
    #[serde(deserialize_with = "null_list")]
    pub apply_policies: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub meta_data: Map<String, Value>,
    #[serde(deserialize_with = "null_list")]
    pub tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub expires: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub is_inactive: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REAL: &str = r#"{"_id":"5fd202b669710900018bc19c","id":"ZGVmYXVsdC9odHRwYmlu","name":"Some other Security Policy",
 "org_id":"5fd08e0f69710900018bc195","rate":-1,"per":-1,"quota_max":-1,"quota_renewal_rate":-1,
 "throttle_interval":-1,"throttle_retry_limit":-1,"max_query_depth":-1,
 "access_rights":{"ZGVmYXVsdC9odHRwYmlu":{"api_id":"ZGVmYXVsdC9odHRwYmlu","api_name":"httpbin protected",
   "versions":["Default"],"allowed_urls":[],"restricted_types":[],"allowance_scope":"","limit":null}},
 "partitions":{"acl":true,"quota":true,"rate_limit":true,"complexity":false,"per_api":false},
 "tags":[],"meta_data":{},"key_expires_in":0,"active":true,"is_inactive":false,"state":"active",
 "hmac_enabled":false,"last_updated":"1607598779","date_created":"2020-12-10T11:12:54.263Z",
 "auth_type":"authToken","graphql_enabled":false}"#;

    #[test]
    fn the_real_policy_reads_and_writes_back_unchanged() {
        let p: Policy = serde_json::from_str(REAL).unwrap();
        assert_eq!(p.mid, "5fd202b669710900018bc19c");
        assert!(p.partitions.acl);
        assert_eq!(p.extra["last_updated"], "1607598779");
        let ad = &p.access_rights["ZGVmYXVsdC9odHRwYmlu"];
        assert_eq!(ad.versions, ["Default"]);
        assert_eq!(ad.extra["limit"], Value::Null);
        // Every field comes back exactly, integers as integers (Go rejects `-1.0` in an `int`).
        let back: Value = serde_json::to_value(&p).unwrap();
        let orig: Value = serde_json::from_str(REAL).unwrap();
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&back), keys(&orig));
        assert_eq!(back, orig);
        assert!(!serde_json::to_string(&p).unwrap().contains(".0"));
        assert_eq!(serde_json::from_value::<Policy>(back).unwrap(), p);
    }

    #[test]
    fn integers_stay_integers_and_floats_are_written_as_go_writes_them() {
        let p: Policy = serde_json::from_str(
            r#"{"throttle_retry_limit":10,"max_query_depth":3,"rate":2.5,"per":60,"throttle_interval":-1,
                "smoothing":{"enabled":true,"threshold":500,"trigger":0.5,"step":100,"delay":30}}"#,
        )
        .unwrap();
        assert_eq!(p.throttle_retry_limit, 10);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["throttle_retry_limit"], json!(10));
        assert!(v["throttle_retry_limit"].is_i64());
        assert!(v["per"].is_i64() && v["throttle_interval"].is_i64());
        assert_eq!(v["rate"], json!(2.5));
        assert!(v["smoothing"]["threshold"].is_i64(), "foreign integers too");
        // A non-integral number in an integer field is not a policy we can read.
        assert!(serde_json::from_str::<Policy>(r#"{"throttle_retry_limit":-1.0}"#).is_err());
        assert!(serde_json::from_str::<Policy>(r#"{"quota_max":"10"}"#).is_err());
    }

    #[test]
    fn an_explicit_null_is_gos_zero_value_and_a_missing_field_our_default() {
        let p: Policy = serde_json::from_str(
            r#"{"_id":null,"rate":null,"per":null,"quota_max":null,"quota_renewal_rate":null,
                "throttle_interval":null,"throttle_retry_limit":null,"max_query_depth":null,
                "key_expires_in":null,"active":null,"is_inactive":null,"state":null,"name":null,
                "partitions":{"acl":null,"quota":true}}"#,
        )
        .unwrap();
        assert_eq!((p.rate, p.per, p.throttle_interval), (0.0, 0.0, 0.0));
        assert_eq!(
            (p.quota_max, p.quota_renewal_rate, p.throttle_retry_limit),
            (0, 0, 0)
        );
        assert_eq!((p.max_query_depth, p.key_expires_in), (0, 0));
        assert!(!p.active && !p.is_inactive && !p.partitions.acl && p.partitions.quota);
        assert_eq!(
            (p.state.as_str(), p.name.as_str(), p.mid.as_str()),
            ("", "", "")
        );
        let elements: Policy = serde_json::from_str(
            r#"{"tags":["a",null],"access_rights":{"x":null,"y":{"versions":[null],
                "allowed_urls":[null,{"url":null,"methods":[null]}]}}}"#,
        )
        .unwrap();
        assert_eq!(elements.tags, ["a", ""]);
        assert_eq!(elements.access_rights["x"], AccessDefinition::default());
        let y = &elements.access_rights["y"];
        assert_eq!(y.versions, [""]);
        assert_eq!(y.allowed_urls[0], AllowedUrl::default());
        assert_eq!(y.allowed_urls[1].methods, [""]);
        let missing: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!((missing.rate, missing.quota_max), (-1.0, -1));
        assert_eq!(missing.throttle_retry_limit, -1);
        assert_eq!(missing.state, "active");
    }

    #[test]
    fn nulls_and_missing_fields_take_tyk_defaults() {
        let p: Policy = serde_json::from_str(
            r#"{"name":"x","tags":null,"meta_data":null,"access_rights":null,"partitions":null}"#,
        )
        .unwrap();
        assert!(p.tags.is_empty() && p.meta_data.is_empty() && p.access_rights.is_empty());
        assert_eq!(p.rate, -1.0);
        assert_eq!(p.quota_max, -1);
        assert_eq!(p.state, "active");
        assert!(!p.partitions.acl);
        let json = serde_json::to_value(&p).unwrap();
        assert!(json.get("_id").is_none(), "an empty _id is not sent");
    }

    #[test]
    fn issued_key_debug_hides_the_key() {
        let k = IssuedKey {
            key_id: SecretString::from("very-secret-key"),
            key_hash: "abc".into(),
        };
        assert!(!format!("{k:?}").contains("very-secret-key"));
    }
}
