//! The Dashboard's request decoding: Go's `encoding/json` reading a body into the Gateway's typed
//! structs (`user.Policy`, `user.SessionState`, `user.AccessDefinition`). The simulator uses it to
//! refuse exactly what a real Dashboard refuses with `403 Request body malformed.`, tests use it
//! to check every body the client sends, and the client uses it to say which field of a listed
//! policy it cannot read.
//!
//! It owns a description of those Go types (field names and types, from the Gateway's
//! `user/policy.go` and `user/session.go`; `docs/tyk-wire-types.md` compares them with the
//! published OpenAPI description) and one decoder over it. The rules are Go's:
//! - an integer field (`int`, `int64`) takes only a JSON integer in range: `-1` is fine, `-1.0`,
//!   `1e3`, `"10"` and `true` are not; a `float64` field takes any JSON number;
//! - a string field takes only a string, a bool field only a boolean, a slice only an array, a map
//!   or struct only an object, `time.Time` only an RFC 3339 string;
//! - `null` anywhere leaves the field's zero value (the decoder writes that zero value here, so
//!   the stored document reads back as Go would encode it);
//! - unknown fields are accepted;
//! - field names match case-insensitively (Go's `bytes.EqualFold`, including the Kelvin sign and
//!   the long s that fold to `k` and `s`); the simulator renames a matched field to its canonical
//!   name and, when one field is given twice, keeps the last value.
//!
//! Where the simulator goes beyond or stops short of Go, on purpose:
//! - unknown fields are **kept** in the stored document (a real Dashboard drops what its struct
//!   does not know), so tests can see whether a client gave back what it read;
//! - a field given twice keeps the last value whole (Go merges a repeated object into the first);
//! - the top level must be an object (Go accepts a bare `null` as an empty struct; no client
//!   sends one);
//! - nested levels are not filled with zero values for missing fields; only the top level of a
//!   policy is (see [`fill_missing`]).
//!
//! It must not know about HTTP, the client or the simulator's store: it maps bytes to a checked
//! JSON object or a [`DecodeError`] that names the field and the types, never a value.

use std::fmt;

use serde_json::{Map, Value};

/// A Go type as `encoding/json` decodes into it.
#[derive(Debug)]
pub enum GoType {
    /// `string` (and named string types such as `user.PostExpiryAction`).
    String,
    /// `bool`.
    Bool,
    /// `int`: 64 bits on the platforms Tyk ships for.
    Int,
    /// `int64`.
    Int64,
    /// `float64`.
    Float64,
    /// `interface{}`: any JSON value.
    Any,
    /// `time.Time`: an RFC 3339 string.
    Time,
    /// `model.ObjectID` (mgo's `bson.ObjectId` JSON form): `""`, 24 hex digits or `{"$oid": …}`.
    ObjectId,
    /// `[]T`.
    Slice(&'static GoType),
    /// `map[string]T`.
    Map(&'static GoType),
    /// A struct.
    Struct(&'static Struct),
    /// `*T`.
    Ptr(&'static GoType),
}

/// A Go struct: its name (for messages) and its JSON fields. Embedded structs are flattened into
/// the fields of the struct that embeds them, as Go promotes them.
#[derive(Debug)]
pub struct Struct {
    /// `user.Policy`, …
    pub name: &'static str,
    /// The fields with a JSON name.
    pub fields: &'static [Field],
}

/// One struct field.
#[derive(Debug)]
pub struct Field {
    /// The JSON name from the field's tag.
    pub name: &'static str,
    /// Its type.
    pub ty: &'static GoType,
    /// `omitempty`/`omitzero`: Go leaves the field out of its output when it is zero.
    pub omit: bool,
}

const fn f(name: &'static str, ty: &'static GoType) -> Field {
    Field {
        name,
        ty,
        omit: false,
    }
}

const fn o(name: &'static str, ty: &'static GoType) -> Field {
    Field {
        name,
        ty,
        omit: true,
    }
}

static STRING: GoType = GoType::String;
static BOOL: GoType = GoType::Bool;
static INT: GoType = GoType::Int;
static INT64: GoType = GoType::Int64;
static FLOAT64: GoType = GoType::Float64;
static ANY: GoType = GoType::Any;
static TIME: GoType = GoType::Time;
static OBJECT_ID: GoType = GoType::ObjectId;
static STRINGS: GoType = GoType::Slice(&STRING);
static FLOATS: GoType = GoType::Slice(&FLOAT64);
static META_DATA: GoType = GoType::Map(&ANY);
static STRING_MAP: GoType = GoType::Map(&STRING);

/// `apidef.RateLimitSmoothing`.
pub static SMOOTHING: Struct = Struct {
    name: "apidef.RateLimitSmoothing",
    fields: &[
        f("enabled", &BOOL),
        f("threshold", &INT64),
        f("trigger", &FLOAT64),
        f("step", &INT64),
        f("delay", &INT64),
    ],
};
static SMOOTHING_PTR: GoType = GoType::Ptr(&GoType::Struct(&SMOOTHING));

/// `user.RateLimit`.
pub static RATE_LIMIT: Struct = Struct {
    name: "user.RateLimit",
    fields: &[
        o("rate", &FLOAT64),
        o("per", &FLOAT64),
        o("smoothing", &SMOOTHING_PTR),
    ],
};
static RATE_LIMIT_T: GoType = GoType::Struct(&RATE_LIMIT);

/// `user.APILimit` (embeds `user.RateLimit`). Gateways before 3.2 had `*APILimit`; both take `null`.
pub static API_LIMIT: Struct = Struct {
    name: "user.APILimit",
    fields: &[
        o("rate", &FLOAT64),
        o("per", &FLOAT64),
        o("smoothing", &SMOOTHING_PTR),
        o("throttle_interval", &FLOAT64),
        o("throttle_retry_limit", &INT),
        o("max_query_depth", &INT),
        o("quota_max", &INT64),
        o("quota_renews", &INT64),
        o("quota_remaining", &INT64),
        o("quota_renewal_rate", &INT64),
    ],
};

/// `user.AccessSpec`: one `allowed_urls` entry.
pub static ACCESS_SPEC: Struct = Struct {
    name: "user.AccessSpec",
    fields: &[f("url", &STRING), f("methods", &STRINGS)],
};

/// `graphql.Type` (graphql-go-tools): `restricted_types`, `allowed_types`.
pub static GRAPHQL_TYPE: Struct = Struct {
    name: "graphql.Type",
    fields: &[f("name", &STRING), f("fields", &STRINGS)],
};
static GRAPHQL_TYPES: GoType = GoType::Slice(&GoType::Struct(&GRAPHQL_TYPE));

/// `user.FieldAccessDefinition`.
pub static FIELD_ACCESS: Struct = Struct {
    name: "user.FieldAccessDefinition",
    fields: &[
        o("type_name", &STRING),
        o("field_name", &STRING),
        o(
            "limits",
            &GoType::Struct(&Struct {
                name: "user.FieldLimits",
                fields: &[o("max_query_depth", &INT)],
            }),
        ),
    ],
};

/// `user.Endpoint`: per-endpoint rate limits.
pub static ENDPOINT: Struct = Struct {
    name: "user.Endpoint",
    fields: &[
        o("path", &STRING),
        o(
            "methods",
            &GoType::Slice(&GoType::Struct(&Struct {
                name: "user.EndpointMethod",
                fields: &[o("name", &STRING), o("limit", &RATE_LIMIT_T)],
            })),
        ),
    ],
};

/// `user.AccessControlRules`.
pub static ACCESS_CONTROL_RULES: Struct = Struct {
    name: "user.AccessControlRules",
    fields: &[o("allowed", &STRINGS), o("blocked", &STRINGS)],
};
static ACCESS_CONTROL_RULES_T: GoType = GoType::Struct(&ACCESS_CONTROL_RULES);

/// `user.AccessDefinition`: one entry of `access_rights`.
pub static ACCESS_DEFINITION: Struct = Struct {
    name: "user.AccessDefinition",
    fields: &[
        o("api_name", &STRING),
        o("api_id", &STRING),
        o("versions", &STRINGS),
        o(
            "allowed_urls",
            &GoType::Slice(&GoType::Struct(&ACCESS_SPEC)),
        ),
        o("restricted_types", &GRAPHQL_TYPES),
        o("allowed_types", &GRAPHQL_TYPES),
        o("limit", &GoType::Struct(&API_LIMIT)),
        o(
            "field_access_rights",
            &GoType::Slice(&GoType::Struct(&FIELD_ACCESS)),
        ),
        o("disable_introspection", &BOOL),
        o("allowance_scope", &STRING),
        o("endpoints", &GoType::Slice(&GoType::Struct(&ENDPOINT))),
        o(
            "json_rpc_methods",
            &GoType::Slice(&GoType::Struct(&Struct {
                name: "user.JSONRPCMethodLimit",
                fields: &[f("name", &STRING), o("limit", &RATE_LIMIT_T)],
            })),
        ),
        o("json_rpc_methods_access_rights", &ACCESS_CONTROL_RULES_T),
        o(
            "mcp_primitives",
            &GoType::Slice(&GoType::Struct(&Struct {
                name: "user.MCPPrimitiveLimit",
                fields: &[
                    f("type", &STRING),
                    f("name", &STRING),
                    o("limit", &RATE_LIMIT_T),
                ],
            })),
        ),
        o(
            "mcp_access_rights",
            &GoType::Struct(&Struct {
                name: "user.MCPAccessRights",
                fields: &[
                    o("tools", &ACCESS_CONTROL_RULES_T),
                    o("resources", &ACCESS_CONTROL_RULES_T),
                    o("prompts", &ACCESS_CONTROL_RULES_T),
                ],
            }),
        ),
    ],
};
static ACCESS_RIGHTS: GoType = GoType::Map(&GoType::Struct(&ACCESS_DEFINITION));

/// `user.PolicyPartitions`.
pub static PARTITIONS: Struct = Struct {
    name: "user.PolicyPartitions",
    fields: &[
        f("quota", &BOOL),
        f("rate_limit", &BOOL),
        f("complexity", &BOOL),
        f("acl", &BOOL),
        f("per_api", &BOOL),
    ],
};

/// `user.Policy`, plus the two fields the Dashboard's own policy record adds that a client sends
/// back: `state` (a string) and `date_created` (a time). The Dashboard's other read-only extras
/// (`auth_type`, `access_rights_array`, …) are unknown here, hence accepted.
pub static POLICY: Struct = Struct {
    name: "user.Policy",
    fields: &[
        f("_id", &OBJECT_ID),
        f("id", &STRING),
        f("name", &STRING),
        f("org_id", &STRING),
        f("rate", &FLOAT64),
        f("per", &FLOAT64),
        f("quota_max", &INT64),
        f("quota_renewal_rate", &INT64),
        f("throttle_interval", &FLOAT64),
        f("throttle_retry_limit", &INT),
        f("max_query_depth", &INT),
        f("access_rights", &ACCESS_RIGHTS),
        f("hmac_enabled", &BOOL),
        f("enable_http_signature_validation", &BOOL),
        f("active", &BOOL),
        f("is_inactive", &BOOL),
        f("tags", &STRINGS),
        f("key_expires_in", &INT64),
        o("post_expiry_action", &STRING),
        f("post_expiry_grace_period", &INT64),
        f("partitions", &GoType::Struct(&PARTITIONS)),
        f("last_updated", &STRING),
        f("meta_data", &META_DATA),
        f(
            "graphql_access_rights",
            &GoType::Map(&GoType::Struct(&Struct {
                name: "user.GraphAccessDefinition",
                fields: &[],
            })),
        ),
        f("smoothing", &SMOOTHING_PTR),
        f("state", &STRING),
        f("date_created", &TIME),
    ],
};

/// `user.SessionState`: the body of `POST /api/keys` and `PUT /api/keys/{key}`.
pub static SESSION: Struct = Struct {
    name: "user.SessionState",
    fields: &[
        o("last_check", &INT64),
        o("allowance", &FLOAT64),
        o("rate", &FLOAT64),
        o("per", &FLOAT64),
        o("throttle_interval", &FLOAT64),
        o("throttle_retry_limit", &INT),
        o("max_query_depth", &INT),
        o("date_created", &TIME),
        o("expires", &INT64),
        o("quota_max", &INT64),
        o("quota_renews", &INT64),
        o("quota_remaining", &INT64),
        o("quota_renewal_rate", &INT64),
        o("access_rights", &ACCESS_RIGHTS),
        o("org_id", &STRING),
        o("oauth_client_id", &STRING),
        o("oauth_keys", &STRING_MAP),
        o("certificate", &STRING),
        o("mtls_static_certificate_bindings", &STRINGS),
        o(
            "basic_auth_data",
            &GoType::Struct(&Struct {
                name: "user.BasicAuthData",
                fields: &[o("password", &STRING), o("hash_type", &STRING)],
            }),
        ),
        o(
            "jwt_data",
            &GoType::Struct(&Struct {
                name: "user.JWTData",
                fields: &[o("secret", &STRING)],
            }),
        ),
        o("hmac_enabled", &BOOL),
        o("enable_http_signature_validation", &BOOL),
        o("hmac_string", &STRING),
        o("rsa_certificate_id", &STRING),
        o("is_inactive", &BOOL),
        o("apply_policy_id", &STRING),
        o("apply_policies", &STRINGS),
        o("data_expires", &INT64),
        o(
            "monitor",
            &GoType::Struct(&Struct {
                name: "user.Monitor",
                fields: &[o("trigger_limits", &FLOATS)],
            }),
        ),
        o("enable_detail_recording", &BOOL),
        o("enable_detailed_recording", &BOOL),
        o("meta_data", &META_DATA),
        o("tags", &STRINGS),
        o("alias", &STRING),
        o("last_updated", &STRING),
        o("id_extractor_deadline", &INT64),
        o("session_lifetime", &INT64),
        o("post_expiry_action", &STRING),
        o("post_expiry_grace_period", &INT64),
        o("smoothing", &SMOOTHING_PTR),
    ],
};

/// Why a body does not decode. Names the field and the types, never the value (a number's
/// literal is shown, as Go shows it; strings are not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// `user.Policy.access_rights[payments].limit.quota_max`, or empty for the body itself.
    pub path: String,
    /// What Go would say, without the `json: ` prefix.
    pub detail: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "json: {}", self.detail)
    }
}

impl std::error::Error for DecodeError {}

impl GoType {
    /// The type's name as Go prints it in errors (`int`, `[]string`, `map[string]interface {}`).
    pub fn go_name(&self) -> String {
        match self {
            GoType::String => "string".into(),
            GoType::Bool => "bool".into(),
            GoType::Int => "int".into(),
            GoType::Int64 => "int64".into(),
            GoType::Float64 => "float64".into(),
            GoType::Any => "interface {}".into(),
            GoType::Time => "time.Time".into(),
            GoType::ObjectId => "model.ObjectID".into(),
            GoType::Slice(t) => format!("[]{}", t.go_name()),
            GoType::Map(t) => format!("map[string]{}", t.go_name()),
            GoType::Struct(s) => s.name.into(),
            GoType::Ptr(t) => format!("*{}", t.go_name()),
        }
    }
}

impl Struct {
    /// The field a JSON key decodes into: the exact name, else a case-insensitive match.
    pub fn field(&self, key: &str) -> Option<&'static Field> {
        // The fields live in statics, so the reference outlives `self`'s borrow.
        let fields: &'static [Field] = self.fields;
        fields
            .iter()
            .find(|f| f.name == key)
            .or_else(|| fields.iter().find(|f| go_fold_eq(key, f.name)))
    }
}

/// `bytes.EqualFold` between a JSON key and an ASCII field name: ASCII letters match in either
/// case, and the two non-ASCII runes that fold to ASCII letters (KELVIN SIGN to `k`, LATIN SMALL
/// LETTER LONG S to `s`) match too.
fn go_fold_eq(key: &str, name: &str) -> bool {
    let mut k = key.chars();
    let mut n = name.chars();
    loop {
        match (k.next(), n.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) => {
                let same = a.eq_ignore_ascii_case(&b)
                    || (a == '\u{212A}' && b.eq_ignore_ascii_case(&'k'))
                    || (a == '\u{17F}' && b.eq_ignore_ascii_case(&'s'));
                if !same {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

/// How Go names a JSON value in "cannot unmarshal X into …".
fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(n) => format!("number {n}"),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

/// Decodes a request body into `ty`: the checked object with canonical field names and `null`s
/// replaced by zero values, or what Go's decoder would refuse.
pub fn decode(body: &[u8], ty: &'static Struct) -> Result<Map<String, Value>, DecodeError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| DecodeError {
        path: String::new(),
        // serde_json's syntax errors give a position, never the text around it.
        detail: format!("invalid JSON: {e}"),
    })?;
    match value {
        Value::Object(m) => {
            let mut path = ty.name.to_owned();
            decode_struct(m, ty, &mut path)
        }
        other => Err(DecodeError {
            path: String::new(),
            detail: format!(
                "cannot unmarshal {} into Go value of type {}",
                json_kind(&other),
                ty.name
            ),
        }),
    }
}

/// [`decode`] into `user.Policy`.
pub fn decode_policy(body: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    decode(body, &POLICY)
}

/// [`decode`] into `user.SessionState`.
pub fn decode_session(body: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    decode(body, &SESSION)
}

fn decode_struct(
    m: Map<String, Value>,
    ty: &'static Struct,
    path: &mut String,
) -> Result<Map<String, Value>, DecodeError> {
    let mut out = Map::new();
    for (key, v) in m {
        match ty.field(&key) {
            Some(field) => {
                let len = path.len();
                path.push('.');
                path.push_str(field.name);
                let v = decode_value(v, field.ty, path)?;
                path.truncate(len);
                // A field given twice (say `rate` and `Rate`): the last one wins, as in Go.
                out.insert(field.name.to_owned(), v);
            }
            None => {
                out.insert(key, v);
            }
        }
    }
    Ok(out)
}

fn mismatch(v: &Value, ty: &GoType, path: &str) -> DecodeError {
    DecodeError {
        path: path.to_owned(),
        detail: format!(
            "cannot unmarshal {} into Go struct field {path} of type {}",
            json_kind(v),
            ty.go_name()
        ),
    }
}

/// Go's zero value of a type as its JSON, where `null` stands for a nil slice, map or pointer.
fn zero(ty: &GoType) -> Value {
    match ty {
        GoType::String | GoType::ObjectId => Value::String(String::new()),
        GoType::Bool => Value::Bool(false),
        GoType::Int | GoType::Int64 | GoType::Float64 => Value::from(0),
        GoType::Time => Value::String("0001-01-01T00:00:00Z".into()),
        GoType::Struct(s) => Value::Object(
            s.fields
                .iter()
                .filter(|f| !f.omit)
                .map(|f| (f.name.to_owned(), zero(f.ty)))
                .collect(),
        ),
        GoType::Any | GoType::Slice(_) | GoType::Map(_) | GoType::Ptr(_) => Value::Null,
    }
}

fn decode_value(v: Value, ty: &'static GoType, path: &mut String) -> Result<Value, DecodeError> {
    if v.is_null() {
        // `null` leaves the field as it was: its zero value. A nil struct pointer stays null,
        // and so does a zero time (Go would print year 1; a null reads the same to every client).
        return Ok(match ty {
            GoType::Time | GoType::Struct(_) => Value::Null,
            other => zero(other),
        });
    }
    match (ty, v) {
        (GoType::Any, v) => Ok(v),
        (GoType::Ptr(inner), v) => decode_value(v, inner, path),
        (GoType::String, v @ Value::String(_)) => Ok(v),
        (GoType::Bool, v @ Value::Bool(_)) => Ok(v),
        (GoType::Int | GoType::Int64, Value::Number(n)) if n.is_i64() => Ok(Value::Number(n)),
        (GoType::Float64, v @ Value::Number(_)) => Ok(v),
        (GoType::Time, Value::String(s)) if is_rfc3339(&s) => Ok(Value::String(s)),
        (GoType::Time, Value::String(_)) => Err(DecodeError {
            path: path.clone(),
            detail: format!("parsing time of {path}: not RFC 3339"),
        }),
        (GoType::ObjectId, v) => decode_object_id(v, path),
        (GoType::Slice(inner), Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(decode_value(item, inner, path)?);
                path.truncate(len);
            }
            Ok(Value::Array(out))
        }
        (GoType::Map(inner), Value::Object(m)) => {
            let mut out = Map::new();
            for (k, item) in m {
                let len = path.len();
                path.push_str(&format!("[{k}]"));
                let item = decode_value(item, inner, path)?;
                path.truncate(len);
                out.insert(k, item);
            }
            Ok(Value::Object(out))
        }
        (GoType::Struct(s), Value::Object(m)) => Ok(Value::Object(decode_struct(m, s, path)?)),
        (ty, v) => Err(mismatch(&v, ty, path)),
    }
}

/// mgo's `bson.ObjectId.UnmarshalJSON`: `""` or 24 hex digits in a string, or `{"$oid": "…"}`.
fn decode_object_id(v: Value, path: &str) -> Result<Value, DecodeError> {
    let hex = match &v {
        Value::String(s) => Some(s.as_str()),
        Value::Object(m) => m.get("$oid").and_then(Value::as_str),
        _ => None,
    };
    match hex {
        Some(h) if h.is_empty() || (h.len() == 24 && h.bytes().all(|b| b.is_ascii_hexdigit())) => {
            Ok(Value::String(h.to_owned()))
        }
        _ => Err(DecodeError {
            path: path.to_owned(),
            detail: format!("invalid ObjectId in JSON at {path}"),
        }),
    }
}

/// Go's `time.Parse(time.RFC3339, s)`: `2006-01-02T15:04:05Z` with optional fractional seconds
/// and a `Z` or `±hh:mm` offset.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let num = |r: std::ops::Range<usize>| -> u32 {
        b[r].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
    };
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || b[10] != b'T'
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    if !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 59
    {
        return false;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z'] => true,
        [sign, ..] if (*sign == b'+' || *sign == b'-') && b.len() == i + 6 => {
            digits(i + 1..i + 3)
                && b[i + 3] == b':'
                && digits(i + 4..i + 6)
                && num(i + 1..i + 3) <= 23
                && num(i + 4..i + 6) <= 59
        }
        _ => false,
    }
}

/// Adds every top-level field of `ty` that `m` lacks and Go would print (no `omitempty`), with its
/// zero value: a real Dashboard stores a decoded struct, so a field the body left out reads back
/// as `0`, `false`, `""` or `null`. The caller sets the fields the Dashboard manages (`_id`, `id`,
/// `org_id`, `last_updated`, `date_created`, `state`) first.
pub fn fill_missing(m: &mut Map<String, Value>, ty: &Struct) {
    for field in ty.fields.iter().filter(|f| !f.omit) {
        if !m.contains_key(field.name) && !matches!(field.ty, GoType::ObjectId) {
            m.insert(field.name.to_owned(), zero(field.ty));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(v: Value) -> Result<Map<String, Value>, DecodeError> {
        decode_policy(v.to_string().as_bytes())
    }

    #[test]
    fn integers_take_only_integers_floats_any_number() {
        assert!(policy(
            json!({"throttle_retry_limit": -1, "quota_max": 9_223_372_036_854_775_807_i64})
        )
        .is_ok());
        for bad in [
            json!(-1.0),
            json!(1e3),
            json!("10"),
            json!(true),
            json!([1]),
            json!({}),
        ] {
            let err = policy(json!({ "throttle_retry_limit": bad })).unwrap_err();
            assert_eq!(err.path, "user.Policy.throttle_retry_limit", "{bad}");
        }
        let err = policy(json!({"quota_max": 9_223_372_036_854_775_808_u64})).unwrap_err();
        assert!(err.detail.contains("of type int64"), "{err}");
        assert_eq!(
            policy(json!({"key_expires_in": 2.592e6})).unwrap_err().to_string(),
            "json: cannot unmarshal number 2592000.0 into Go struct field user.Policy.key_expires_in of type int64"
        );
        for ok in [json!(-1), json!(-1.0), json!(2.5), json!(1e3)] {
            assert!(policy(json!({ "rate": ok, "per": ok, "throttle_interval": ok })).is_ok());
        }
        assert!(policy(json!({"rate": "fast"})).is_err());
    }

    #[test]
    fn strings_bools_slices_maps_and_structs_take_only_their_kind() {
        for bad in [
            json!({"name": 1}),
            json!({"name": {}}),
            json!({"active": 1}),
            json!({"active": "true"}),
            json!({"tags": "portalctl:default"}),
            json!({"tags": [1]}),
            json!({"tags": {}}),
            json!({"meta_data": []}),
            json!({"meta_data": "x"}),
            json!({"partitions": []}),
            json!({"partitions": {"acl": 1}}),
            json!({"access_rights": []}),
            json!({"access_rights": {"a": {"versions": "Default"}}}),
            json!({"access_rights": {"a": {"allowed_urls": [{"url": "/x", "methods": "GET"}]}}}),
            json!({"access_rights": {"a": {"allowed_urls": {"url": "/x"}}}}),
            json!({"access_rights": {"a": {"limit": "none"}}}),
            json!({"access_rights": {"a": {"limit": {"quota_max": 1.5}}}}),
            json!({"access_rights": {"a": "x"}}),
            json!({"smoothing": {"threshold": 1.5}}),
            json!({"date_created": "yesterday"}),
            json!({"date_created": 5}),
            json!({"_id": "not-an-object-id"}),
        ] {
            assert!(policy(bad.clone()).is_err(), "{bad} must be refused");
        }
        let err =
            policy(json!({"access_rights": {"pay": {"limit": {"quota_max": 1.5}}}})).unwrap_err();
        assert_eq!(err.path, "user.Policy.access_rights[pay].limit.quota_max");
        for good in [
            json!({"meta_data": {"n": 1, "s": "x", "l": [1, "a"], "o": {"x": null}}}),
            json!({"access_rights": {"a": {"limit": null, "versions": null, "allowed_urls": [{"url": "/x", "methods": ["GET"]}]}}}),
            json!({"date_created": "2020-12-10T11:12:54.263Z", "_id": "5fd202b669710900018bc19c"}),
            json!({"date_created": "2024-05-14T13:15:46.560506+03:00", "_id": {"$oid": "5fd202b669710900018bc19c"}}),
            json!({"x_unknown": [1, {"y": "z"}], "auth_type": "authToken"}),
        ] {
            assert!(policy(good.clone()).is_ok(), "{good} must be accepted");
        }
    }

    #[test]
    fn null_leaves_the_zero_value_and_names_match_case_insensitively() {
        let m = policy(json!({
            "rate": null, "quota_max": null, "active": null, "name": null, "tags": null,
            "partitions": null, "access_rights": {"a": {"api_id": null, "limit": null}}
        }))
        .unwrap();
        assert_eq!(m["rate"], json!(0));
        assert_eq!(m["quota_max"], json!(0));
        assert_eq!(m["active"], json!(false));
        assert_eq!(m["name"], json!(""));
        assert_eq!(m["tags"], Value::Null);
        assert_eq!(m["access_rights"]["a"]["api_id"], json!(""));

        let m = policy(
            json!({"NAME": "n", "Rate": 5, "\u{212A}ey_expires_in": 3, "tag\u{17F}": ["t"]}),
        )
        .unwrap();
        assert_eq!(m["name"], "n");
        assert_eq!(m["rate"], 5);
        assert_eq!(m["key_expires_in"], 3);
        assert_eq!(m["tags"], json!(["t"]));
        assert!(
            policy(json!({"QUOTA_MAX": -1.0})).is_err(),
            "checked under any case"
        );
        let m = policy(json!({"rate": 1, "RATE": 2})).unwrap();
        assert_eq!(m["rate"], 2, "the last one wins");
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        for bad in ["", "{", "null", "[]", "\"x\"", "{} {}"] {
            assert!(decode_policy(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sessions_follow_session_state() {
        assert!(decode_session(
            json!({"apply_policies": ["a"], "expires": 0, "quota_max": -1, "rate": 1.5, "per": 60,
                   "meta_data": {"TeamIDs": ["t"]}, "tags": ["x"], "alias": "a",
                   "access_rights": {"a": {"api_id": "a", "versions": ["Default"]}}})
            .to_string()
            .as_bytes()
        )
        .is_ok());
        for bad in [
            json!({"apply_policies": "a"}),
            json!({"apply_policies": [1]}),
            json!({"expires": 1.718439136e9}),
            json!({"expires": "0"}),
            json!({"quota_renewal_rate": 1.5}),
            json!({"rate": "1"}),
            json!({"meta_data": "x"}),
            json!({"tags": "x"}),
            json!({"alias": 5}),
            json!({"access_rights": {"a": {"versions": "Default"}}}),
        ] {
            assert!(
                decode_session(bad.to_string().as_bytes()).is_err(),
                "{bad} must be refused"
            );
        }
    }

    #[test]
    fn missing_top_level_fields_are_filled_with_go_zero_values() {
        let mut m = policy(json!({"name": "x"})).unwrap();
        fill_missing(&mut m, &POLICY);
        assert_eq!(m["rate"], json!(0));
        assert_eq!(m["throttle_retry_limit"], json!(0));
        assert_eq!(m["tags"], Value::Null);
        assert_eq!(
            m["partitions"],
            json!({"quota": false, "rate_limit": false, "complexity": false, "acl": false, "per_api": false})
        );
        assert!(!m.contains_key("post_expiry_action"), "omitzero");
        assert!(!m.contains_key("_id"), "set by the store");
    }

    #[test]
    fn rfc3339_is_checked_like_go() {
        for ok in [
            "2020-12-10T11:12:54Z",
            "2020-12-10T11:12:54.263Z",
            "2024-05-14T13:15:46.560506+03:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "2020-12-10 11:12:54Z",
            "2020-13-10T11:12:54Z",
            "2020-12-10T11:12:54",
            "2020-12-10T11:12:54.Z",
            "x",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }
}
