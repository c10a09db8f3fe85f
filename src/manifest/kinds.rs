//! The six manifest kinds exactly as users write them (SPEC §1.2), with serde and schemars derives.
//!
//! These are wire types for YAML: they parse and describe themselves as JSON Schema, and nothing
//! else. Cross-document rules (references, duplicate names, files) live in `rules`; the resolved
//! model the reconciler works on lives in `crate::desired`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// The only `apiVersion` this build understands.
pub const API_VERSION: &str = "portalctl/v1";

/// The kinds, in the order the schema and summaries list them.
pub const KINDS: [&str; 6] = [
    "Provider",
    "Product",
    "Plan",
    "Catalog",
    "Organisation",
    "Team",
];

/// `metadata` of every document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Identifier: lowercase letters, digits and '-', 1-63 characters.
    pub name: Name,
    /// Free string map, ignored by portalctl.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A Tyk Dashboard that products and plans are published from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderSpec {
    /// `tyk-pro`, the only type today.
    #[serde(rename = "type")]
    pub provider_type: ProviderType,
    /// Dashboard base URL, e.g. `https://dashboard.example.com`.
    #[schemars(extend("format" = "uri", "pattern" = "^https?://"))]
    pub url: String,
    /// The Dashboard user's API secret: `{fromEnv: NAME}` or `{fromFile: PATH}`.
    pub secret: SecretRef,
    /// Dashboard organisation id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// The URL developers call, shown in the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_url: Option<String>,
    /// Tags stamped on every policy portalctl creates or adopts, and the filter for `import`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy_tags: Vec<String>,
    /// Skip TLS verification (test setups only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
    /// Per-request timeout, default `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Concurrent requests to this Dashboard, default 4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 256))]
    pub max_in_flight: Option<u32>,
}

/// Provider types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProviderType {
    /// Tyk Dashboard (self-managed or cloud).
    #[serde(rename = "tyk-pro")]
    TykPro,
}

/// Where a secret comes from. Secrets never appear in manifests themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// The description is what validation messages say a secret must look like.
#[schemars(description = "`{fromEnv: NAME}` or `{fromFile: PATH}`")]
pub enum SecretRef {
    /// The name of an environment variable holding the secret.
    FromEnv(String),
    /// A file holding the secret (trailing newline trimmed), relative to the manifest file.
    FromFile(PathBuf),
}

/// An API product: a group of APIs with documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductSpec {
    /// Provider name; required unless the product is documentation-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Name>,
    /// Shown in the catalog.
    pub display_name: String,
    /// Short text for catalog cards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Path to a markdown file for the product page, relative to this manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<PathBuf>,
    /// Shown on the home page.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub featured: bool,
    /// Free labels, shown and filterable in the portal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Path to a PNG or JPEG logo, relative to this manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo: Option<PathBuf>,
    /// The Dashboard APIs this product grants access to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apis: Vec<ProductApi>,
    /// Markdown guides shown on the product page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub guides: Vec<Guide>,
    /// Adopt an existing policy (`id`) or name the policy to create (`name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRef>,
}

/// One API of a product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProductApi {
    /// The Dashboard API id.
    #[schemars(length(min = 1))]
    pub api_id: String,
    /// Display name; defaults to the Dashboard's API name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// API versions granted, default `[Default]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<String>>,
    /// Restrict access to these paths and methods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_urls: Option<Vec<AllowedUrl>>,
    /// Path to an OpenAPI document (YAML or JSON), relative to this manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi: Option<PathBuf>,
}

/// A path and the methods allowed on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowedUrl {
    /// A path or regular expression, as the Gateway matches it.
    pub url: String,
    /// HTTP methods, e.g. `[GET, POST]`.
    pub methods: Vec<String>,
}

/// A markdown guide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Guide {
    /// The guide's title.
    pub title: String,
    /// Path to the markdown file, relative to this manifest.
    pub file: PathBuf,
}

/// Which Dashboard policy a product or plan maps to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicyRef {
    /// Adopt the existing policy with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The name of the policy to create (default: `displayName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Quotas and rate limits that an access request is granted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanSpec {
    /// Provider name.
    pub provider: Name,
    /// Shown in the catalog.
    pub display_name: String,
    /// Longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `{requests, per}` or `unlimited`; `requests` may be fractional (Tyk's `rate` is a float).
    pub rate_limit: RateLimit,
    /// `{requests, per}` or `unlimited`; a whole number of requests per a whole number of seconds.
    pub quota: Limit,
    /// A duration, or `never` (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_expiry: Option<KeyExpiry>,
    /// Approve access requests at once (default false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_approve: bool,
    /// How often one developer may request this plan, e.g. `{requests: 3, per: 30d}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_request_frequency: Option<Limit>,
    /// String map written into the plan policy's `meta_data`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credential_metadata: BTreeMap<String, String>,
    /// Adopt an existing policy (`id`) or name the policy to create (`name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRef>,
}

/// Who sees which products and plans.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogSpec {
    /// Shown in the portal.
    pub display_name: String,
    /// `public` (everyone) or `private` (only its audiences).
    pub visibility: Visibility,
    /// Team references `org/team`; `org/all-users` is each organisation's default team.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<TeamRef>,
    /// Product names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<Name>,
    /// Plan names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<Name>,
}

/// Catalog visibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone, signed in or not.
    Public,
    /// Only the catalog's audiences.
    Private,
}

/// An API consumer company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganisationSpec {
    /// Shown in the portal.
    pub display_name: String,
    /// Email addresses of its developers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Email>,
}

/// A group inside an organisation, referenced as `org/name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamSpec {
    /// Organisation name.
    pub organisation: Name,
    /// Shown in the portal.
    pub display_name: String,
    /// Email addresses; each becomes a member of the organisation too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Email>,
}

// ---------------------------------------------------------------------------------------------
// Newtypes: parse, don't validate.

/// A manifest name: lowercase letters, digits and '-', 1-63 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

/// The pattern every [`Name`] matches (also used in the JSON Schema).
pub const NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";

impl Name {
    /// Parses a name, explaining what is wrong with a bad one.
    pub fn parse(s: &str) -> Result<Self, String> {
        let ok_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if s.is_empty() || s.len() > 63 {
            Err(format!("name {s:?} must be 1 to 63 characters long"))
        } else if !ok_chars {
            Err(format!(
                "name {s:?} may only contain lowercase letters, digits and '-'"
            ))
        } else if s.starts_with('-') || s.ends_with('-') {
            Err(format!(
                "name {s:?} must start and end with a letter or digit"
            ))
        } else {
            Ok(Name(s.to_owned()))
        }
    }
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Name::parse(&s)
    }
}
impl From<Name> for String {
    fn from(n: Name) -> String {
        n.0
    }
}
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}
impl JsonSchema for Name {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Name".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // `name: 2024` is a valid name as written: YAML readers see a number (or, for `true`, a
        // boolean), and portalctl takes the text; the schema accepts the same so editors agree.
        schemars::json_schema!({
            "type": ["string", "number", "boolean"],
            "pattern": NAME_PATTERN,
            "minimum": 0,
            "description": "lowercase letters, digits and '-', 1-63 characters"
        })
    }
}

/// A reference to a team, `org/team`; `org/all-users` is the implicit default team.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TeamRef {
    /// Organisation name.
    pub org: Name,
    /// Team name within the organisation.
    pub team: Name,
}

/// The implicit team every organisation has.
pub const ALL_USERS: &str = "all-users";
/// The implicit organisation of developers no manifest names.
pub const DEFAULT_ORG: &str = "default";

impl TeamRef {
    /// Parses `org/team`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (org, team) = s
            .split_once('/')
            .ok_or_else(|| format!("team reference {s:?} must be of the form org/team"))?;
        Ok(TeamRef {
            org: Name::parse(org)?,
            team: Name::parse(team)?,
        })
    }
    /// True for `org/all-users`.
    pub fn is_all_users(&self) -> bool {
        self.team.as_str() == ALL_USERS
    }
}
impl TryFrom<String> for TeamRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        TeamRef::parse(&s)
    }
}
impl From<TeamRef> for String {
    fn from(t: TeamRef) -> String {
        t.to_string()
    }
}
impl fmt::Display for TeamRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.team)
    }
}
impl JsonSchema for TeamRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TeamRef".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
            "description": "a team reference org/team; org/all-users is each organisation's default team"
        })
    }
}

/// An email address, compared case-insensitively (stored lowercased).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Parses an address of the form `local@domain`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        match s.split_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
                    && !domain.contains('@') =>
            {
                Ok(Email(s.to_lowercase()))
            }
            _ => Err(format!("{s:?} is not an email address")),
        }
    }
    /// The address, lowercased.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Email::parse(&s)
    }
}
impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl JsonSchema for Email {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Email".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({
            "type": "string",
            // `\s` is ECMAScript's, which lacks U+0085 (NEL); `Email::parse` refuses every
            // Unicode space, so the pattern adds it: what passes the schema parses.
            "pattern": "^[^@\\s\\u0085<>]+@[^@\\s\\u0085<>.][^@\\s\\u0085<>]*\\.[^@\\s\\u0085<>]*[^@\\s\\u0085<>.]$",
            "description": "an email address"
        })
    }
}

pub use super::limits::{
    Duration, KeyExpiry, Limit, RateLimit, DURATION_PATTERN, KEY_EXPIRY_PATTERN, MAX_REQUESTS,
};
