//! Checks one YAML document on its own: is it a manifest at all, is its envelope right, does it
//! match its kind's JSON Schema, are its limits ones Tyk can hold; then turns it into a typed
//! [`Doc`].
//!
//! Every problem becomes a located [`Diagnostic`] with our own wording (the schema crate's raw
//! messages are not shown). Rules that need other documents (references, duplicates) and the
//! files a manifest names are `rules`' job, not this module's; nothing here touches the disk.

use std::path::Path;
use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError};
use serde::Deserialize;
use serde_json::Value;

use super::convert::{self, resolve_plain, Plain};
use super::diagnostic::Diagnostic;
use super::kinds::{
    CatalogSpec, Duration, Email, KeyExpiry, Limit, Metadata, Name, OrganisationSpec, PlanSpec,
    ProductSpec, ProviderSpec, RateLimit, TeamRef, TeamSpec, API_VERSION, DURATION_PATTERN,
    KEY_EXPIRY_PATTERN, KINDS, NAME_PATTERN,
};
use super::positions::{child, field_path, DocPositions, Pos};
use super::schema;
use super::yaml::{Document, Node, NodeKind, Style};

/// The file a document came from.
#[derive(Debug, Clone)]
pub(crate) struct FileCtx {
    /// The path as shown in diagnostics.
    pub path: Arc<Path>,
    /// The folder relative paths in its manifests are resolved against.
    pub dir: Arc<Path>,
}

/// A document that passed its own checks.
#[derive(Debug)]
pub(crate) struct Doc {
    /// Its file.
    pub file: FileCtx,
    /// Positions of its values.
    pub pos: DocPositions,
    /// Where its `kind` is, the document's anchor for messages.
    pub anchor: Pos,
    /// `metadata`.
    pub metadata: Metadata,
    /// The typed spec.
    pub body: Body,
}

/// The typed spec of each kind.
#[derive(Debug)]
pub(crate) enum Body {
    /// A Provider.
    Provider(ProviderSpec),
    /// A Product.
    Product(ProductSpec),
    /// A Plan.
    Plan(PlanSpec),
    /// A Catalog.
    Catalog(CatalogSpec),
    /// An Organisation.
    Organisation(OrganisationSpec),
    /// A Team.
    Team(TeamSpec),
}

impl Body {
    /// The kind's name as written in manifests.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Provider(_) => "Provider",
            Body::Product(_) => "Product",
            Body::Plan(_) => "Plan",
            Body::Catalog(_) => "Catalog",
            Body::Organisation(_) => "Organisation",
            Body::Team(_) => "Team",
        }
    }
}

impl Doc {
    /// An error placed on the value at `pointer`.
    pub fn error_at(&self, pointer: &str, message: String) -> Diagnostic {
        let p = self.pos.value(pointer);
        Diagnostic::error(self.file.path.to_path_buf(), p.line, p.column, message)
    }

    /// A warning placed on the value at `pointer`.
    pub fn warning_at(&self, pointer: &str, message: String) -> Diagnostic {
        let p = self.pos.value(pointer);
        Diagnostic::warning(self.file.path.to_path_buf(), p.line, p.column, message)
    }

    /// An error placed on the key of the entry at `pointer` (e.g. a field that should not be there).
    pub fn error_at_key(&self, pointer: &str, message: String) -> Diagnostic {
        let p = self.pos.key(pointer);
        Diagnostic::error(self.file.path.to_path_buf(), p.line, p.column, message)
    }

    /// `FILE:LINE:COLUMN` of the value at `pointer`, for hints pointing back here.
    pub fn place(&self, pointer: &str) -> String {
        let p = self.pos.value(pointer);
        format!("{}:{}:{}", self.file.path.display(), p.line, p.column)
    }
}

/// What an invalid manifest declares, as far as it can be read: references to it are not
/// reported as unknown, so one broken document reports its own mistakes only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Declared {
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// `metadata.name` as written.
    pub name: String,
    /// `spec.organisation` of a Team, as written.
    pub organisation: Option<String>,
}

/// The outcome of checking one document.
pub(crate) enum Checked {
    /// Not a portalctl manifest (no `apiVersion` and no `kind`, or empty): skipped. Problems
    /// with its YAML are reported all the same.
    Skipped,
    /// A manifest with errors (already reported), and what it declares if that could be read.
    Invalid(Option<Declared>),
    /// A valid manifest.
    Valid(Box<Doc>),
}

/// Helper that places diagnostics inside one document.
struct Locator<'a> {
    file: &'a FileCtx,
    pos: &'a DocPositions,
}

impl Locator<'_> {
    fn at(&self, p: Pos, message: String) -> Diagnostic {
        Diagnostic::error(self.file.path.to_path_buf(), p.line, p.column, message)
    }
    fn value(&self, pointer: &str, message: String) -> Diagnostic {
        self.at(self.pos.value(pointer), message)
    }
    fn key(&self, pointer: &str, message: String) -> Diagnostic {
        self.at(self.pos.key(pointer), message)
    }
}

/// What a node holds, for messages: a scalar's text, else its kind.
fn shown(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar { text, .. } => text.clone(),
        NodeKind::Seq(_) => "a list".into(),
        NodeKind::Map(_) => "a mapping".into(),
    }
}

/// The declarations of an invalid manifest, if its kind and name can be read.
fn declared(root: &Node) -> Option<Declared> {
    let kind = root.get("kind")?.text()?;
    let kind = KINDS.iter().copied().find(|k| *k == kind)?;
    let name = root.get("metadata")?.get("name")?.text()?.to_owned();
    let organisation = (kind == "Team")
        .then(|| {
            root.get("spec")?
                .get("organisation")?
                .text()
                .map(str::to_owned)
        })
        .flatten();
    Some(Declared {
        kind,
        name,
        organisation,
    })
}

/// Checks one document read by `yaml::read`.
pub(crate) fn check(file: &FileCtx, doc: Document, errors: &mut Vec<Diagnostic>) -> Checked {
    let Document {
        start,
        root,
        problems,
    } = doc;
    let pos = DocPositions::new(start, root);
    let loc = Locator { file, pos: &pos };
    let root = pos.root();
    // Scalars, lists and empty documents have no apiVersion and no kind: not manifests.
    let is_manifest =
        root.is_some_and(|r| r.get("apiVersion").is_some() || r.get("kind").is_some());
    if !problems.is_empty() {
        // A document whose YAML is broken is not checked further: its other findings would be
        // guesses. It still declares its name when that was read.
        for p in problems {
            errors.push(loc.at(p.pos, p.message).with_hint_opt(p.hint));
        }
        return if is_manifest {
            Checked::Invalid(root.and_then(declared))
        } else {
            Checked::Skipped
        };
    }
    let Some(root) = root.filter(|_| is_manifest) else {
        return Checked::Skipped;
    };
    let api_version = root.get("apiVersion");
    let kind = root.get("kind");
    let anchor = if kind.is_some() {
        pos.value("/kind")
    } else {
        pos.value("/apiVersion")
    };

    // The envelope first, with messages more precise than a schema's `const` mismatch.
    let mut envelope_ok = true;
    match api_version {
        None => {
            envelope_ok = false;
            errors.push(
                loc.at(anchor, "missing `apiVersion`".into())
                    .with_hint(format!("add `apiVersion: {API_VERSION}`")),
            );
        }
        Some(v) if v.text() == Some(API_VERSION) => {}
        Some(v) if v.is_null() => {
            envelope_ok = false;
            errors.push(
                loc.value("/apiVersion", "`apiVersion` is empty".into())
                    .with_hint(format!("write `apiVersion: {API_VERSION}`")),
            );
        }
        Some(other) => {
            envelope_ok = false;
            let shown = shown(other);
            let (message, hint) = match shown.strip_prefix("portalctl/") {
                Some(_) => (
                    format!("unsupported apiVersion `{shown}`"),
                    format!("this version of portalctl understands `{API_VERSION}`"),
                ),
                None => (
                    format!("`{shown}` is not a portalctl apiVersion"),
                    format!("portalctl manifests use `apiVersion: {API_VERSION}`"),
                ),
            };
            errors.push(loc.value("/apiVersion", message).with_hint(hint));
        }
    }
    let kind_name = match kind.map(|k| (k, k.text())) {
        None => {
            errors.push(
                loc.at(anchor, "missing `kind`".into())
                    .with_hint(format!("add `kind:` one of {}", KINDS.join(", "))),
            );
            return Checked::Invalid(None);
        }
        Some((_, Some(k))) if KINDS.contains(&k) => k,
        Some((k, _)) if k.is_null() => {
            errors.push(
                loc.value("/kind", "`kind` is empty".into())
                    .with_hint(format!("kind is one of {}", KINDS.join(", "))),
            );
            return Checked::Invalid(None);
        }
        Some((k, _)) => {
            let shown = shown(k);
            let hint = did_you_mean(&shown, KINDS.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("kind is one of {}", KINDS.join(", ")));
            errors.push(
                loc.value("/kind", format!("unknown kind `{shown}`"))
                    .with_hint(hint),
            );
            return Checked::Invalid(None);
        }
    };
    let declares = declared(root);

    let compiled = schema::compiled(kind_name).expect("kind was checked against KINDS");
    let converted = convert::to_json(root, &compiled.schema);
    if !converted.problems.is_empty() {
        for (pointer, message) in converted.problems {
            errors.push(loc.value(&pointer, message));
        }
        return Checked::Invalid(declares);
    }
    let json = converted.json;

    let before = errors.len();
    for e in compiled.validator.iter_errors(&json) {
        // The envelope was reported above with better words.
        let path = e.instance_path.as_str();
        if matches!(path, "/apiVersion" | "/kind") {
            continue;
        }
        describe(&e, &compiled.schema, &json, &loc, errors);
    }
    if errors.len() > before || !envelope_ok {
        return Checked::Invalid(declares);
    }

    // The schema passed and the conversion checked what a schema cannot say (durations out of
    // range), so the typed parse should not fail; if it does, say so on the spec.
    let metadata = match Metadata::deserialize(&json["metadata"]) {
        Ok(m) => m,
        Err(e) => {
            errors.push(loc.value("/metadata", format!("invalid metadata: {e}")));
            return Checked::Invalid(declares);
        }
    };
    let spec = &json["spec"];
    let body = match kind_name {
        "Provider" => ProviderSpec::deserialize(spec).map(Body::Provider),
        "Product" => ProductSpec::deserialize(spec).map(Body::Product),
        "Plan" => PlanSpec::deserialize(spec).map(Body::Plan),
        "Catalog" => CatalogSpec::deserialize(spec).map(Body::Catalog),
        "Organisation" => OrganisationSpec::deserialize(spec).map(Body::Organisation),
        _ => TeamSpec::deserialize(spec).map(Body::Team),
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            errors.push(loc.key("/spec", format!("invalid {kind_name} spec: {e}")));
            return Checked::Invalid(declares);
        }
    };
    let before = errors.len();
    durations_tyk_can_hold(&body, &loc, errors);
    if errors.len() > before {
        return Checked::Invalid(declares);
    }
    let mut pos = pos;
    pos.compact();
    Checked::Valid(Box::new(Doc {
        file: file.clone(),
        pos,
        anchor,
        metadata,
        body,
    }))
}

/// Durations must be longer than zero where zero means nothing (a limit's period, a timeout, key
/// expiry, where 0 would mean "never"), and whole seconds where Tyk holds an integer
/// (`quota_renewal_rate`, `key_expires_in`): a silent rounding would change the limit.
fn durations_tyk_can_hold(body: &Body, loc: &Locator<'_>, errors: &mut Vec<Diagnostic>) {
    let written = |pointer: &str, d: &Duration| {
        loc.pos
            .node(pointer)
            .and_then(Node::text)
            .map_or_else(|| d.to_string(), str::to_owned)
    };
    let positive = |pointer: &str, d: &Duration, hint: &str, errors: &mut Vec<Diagnostic>| {
        if d.is_zero() {
            errors.push(
                loc.value(
                    pointer,
                    format!("`{}` must be longer than 0", field_path(pointer)),
                )
                .with_hint(hint.to_owned()),
            );
            false
        } else {
            true
        }
    };
    let whole = |pointer: &str, d: &Duration, field: &str, errors: &mut Vec<Diagnostic>| {
        if d.whole_seconds().is_none() {
            let text = written(pointer, d);
            let secs = d.as_std().as_secs();
            errors.push(
                loc.value(
                    pointer,
                    format!(
                        "`{}`: {text} is not a whole number of seconds, and Tyk holds `{field}` in whole seconds",
                        field_path(pointer)
                    ),
                )
                .with_hint(if secs == 0 {
                    "write 1s".to_owned()
                } else {
                    format!(
                        "write {} or {}",
                        Duration::from_std(std::time::Duration::from_secs(secs)),
                        Duration::from_std(std::time::Duration::from_secs(secs + 1))
                    )
                }),
            );
        }
    };
    match body {
        Body::Provider(p) => {
            if let Some(t) = &p.timeout {
                positive(
                    "/spec/timeout",
                    t,
                    "a request needs some time, e.g. 60s",
                    errors,
                );
            }
        }
        Body::Plan(p) => {
            if let RateLimit::Every { per, .. } = &p.rate_limit {
                positive(
                    "/spec/rateLimit/per",
                    per,
                    "write the period the requests are counted over, e.g. 1s",
                    errors,
                );
            }
            if let Limit::Every { per, .. } = &p.quota {
                if positive(
                    "/spec/quota/per",
                    per,
                    "write the period after which the quota renews, e.g. 30d",
                    errors,
                ) {
                    whole("/spec/quota/per", per, "quota_renewal_rate", errors);
                }
            }
            if let Some(KeyExpiry::After(d)) = &p.key_expiry {
                if positive(
                    "/spec/keyExpiry",
                    d,
                    "write `never` for keys that do not expire",
                    errors,
                ) {
                    whole("/spec/keyExpiry", d, "key_expires_in", errors);
                }
            }
            if let Some(Limit::Every { per, .. }) = &p.access_request_frequency {
                positive(
                    "/spec/accessRequestFrequency/per",
                    per,
                    "write the period the requests are counted over, e.g. 30d",
                    errors,
                );
            }
        }
        _ => {}
    }
}

/// The wording of a JSON type.
fn type_words(t: JsonType) -> &'static str {
    match t {
        JsonType::Array => "a list",
        JsonType::Boolean => "true or false",
        JsonType::Integer => "a whole number",
        JsonType::Null => "empty",
        JsonType::Number => "a number",
        JsonType::Object => "a mapping",
        JsonType::String => "a string",
    }
}

/// What a value is, in the same words.
fn value_words(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "true or false",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A value as the user wrote it, for messages: a scalar in backticks, else its kind.
fn written(v: &Value) -> String {
    match v {
        Value::String(s) => format!("`{s}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::Bool(b) => format!("`{b}`"),
        other => value_words(other).to_owned(),
    }
}

/// The powers of two a range may end at, written the way people read them.
fn bound_words(n: &Value) -> String {
    match n.as_u64() {
        Some(v) if v == 1 << 53 => "2^53".into(),
        _ => n.to_string(),
    }
}

/// "a whole number from 1 to 2^53" for a numeric schema with bounds.
fn number_words(node: &Value) -> Option<String> {
    // `Option<u32>` is `["integer", "null"]`: the null is the field's absence, not a form.
    let types: Vec<&str> = match node.get("type")? {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .collect(),
        _ => return None,
    };
    let what = match types.as_slice() {
        ["integer"] => "a whole number",
        ["number"] => "a number",
        _ => return None,
    };
    let max = node.get("maximum").map(bound_words);
    let range = match (node.get("minimum"), node.get("exclusiveMinimum"), max) {
        (Some(min), _, Some(max)) => format!("{what} from {} to {max}", bound_words(min)),
        (_, Some(min), Some(max)) => {
            format!("{what} above {} and at most {max}", bound_words(min))
        }
        (Some(min), _, None) => format!("{what} of at least {}", bound_words(min)),
        (_, Some(min), None) => format!("{what} above {}", bound_words(min)),
        (None, None, Some(max)) => format!("{what} of at most {max}"),
        (None, None, None) => return None,
    };
    Some(range)
}

/// One message for every way a number can be wrong: the type, the range, a fraction.
fn number_error(
    pointer: &str,
    field: &str,
    range: &str,
    instance: &Value,
    loc: &Locator<'_>,
) -> Diagnostic {
    let hint = yaml_hint(loc, pointer, false);
    loc.value(
        pointer,
        format!("`{field}` must be {range}, not {}", written(instance)),
    )
    .with_hint_opt(hint)
}

/// Why a scalar that looks like a number or a boolean was read as text, and how to write it.
fn yaml_hint(loc: &Locator<'_>, pointer: &str, expects_bool: bool) -> Option<String> {
    let node = loc.pos.node(pointer)?;
    let NodeKind::Scalar { text, style } = &node.kind else {
        return None;
    };
    if *style == Style::Quoted {
        return matches!(resolve_plain(text), Plain::Number(_) | Plain::Bool(_))
            .then(|| "the quotes make it text: remove them".to_owned());
    }
    if *style != Style::Plain || node.tag.is_some() {
        return None;
    }
    // YAML 1.1 (Kubernetes, older tools) read these as booleans and numbers; YAML 1.2 does not.
    let lower = text.to_ascii_lowercase();
    if expects_bool {
        return match lower.as_str() {
            "yes" | "y" | "on" => Some(format!("YAML 1.2 reads `{text}` as text: write `true`")),
            "no" | "n" | "off" => Some(format!("YAML 1.2 reads `{text}` as text: write `false`")),
            _ => None,
        };
    }
    let unsigned = text.trim_start_matches(['-', '+']);
    let number = if unsigned.contains('_')
        && unsigned
            .chars()
            .all(|c| c.is_ascii_digit() || c == '_' || c == '.')
    {
        Some(text.replace('_', ""))
    } else if let Some(bits) = lower.strip_prefix("0b") {
        u64::from_str_radix(&bits.replace('_', ""), 2)
            .ok()
            .map(|v| v.to_string())
    } else {
        None
    };
    number.map(|n| format!("YAML 1.2 reads `{text}` as text: write {n}"))
}

/// Finds the schema node at a schema location, following `$ref`s on the way.
fn schema_node<'s>(root: &'s Value, location: &str) -> Option<&'s Value> {
    let mut node = root;
    for raw in location.split('/').skip(1) {
        let token = raw.replace("~1", "/").replace("~0", "~");
        if token == "$ref" {
            node = follow_ref(root, node)?;
            continue;
        }
        let next = match node {
            Value::Object(o) => o.get(&token),
            Value::Array(a) => token.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        node = match next {
            Some(n) => n,
            // Some locations skip the `$ref` hop; follow it implicitly.
            None => follow_ref(root, node)?.get(&token)?,
        };
    }
    Some(node)
}

fn follow_ref<'s>(root: &'s Value, node: &'s Value) -> Option<&'s Value> {
    let target = node.get("$ref")?.as_str()?;
    root.pointer(target.strip_prefix('#')?)
}

/// The location of the schema object that holds the failing keyword.
fn parent_location(location: &str) -> &str {
    location.rfind('/').map_or("", |i| &location[..i])
}

/// Turns one schema validation error into diagnostics, in our own words.
fn describe(
    e: &ValidationError<'_>,
    root: &Value,
    instance_root: &Value,
    loc: &Locator<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let pointer = e.instance_path.as_str();
    let field = field_path(pointer);
    let instance: &Value = &e.instance;
    match &e.kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed: Vec<String> = schema_node(root, parent_location(e.schema_path.as_str()))
                .and_then(|n| n.get("properties"))
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            for name in unexpected {
                let where_ = if pointer.is_empty() {
                    "at the top level".to_owned()
                } else {
                    format!("in `{field}`")
                };
                let hint = match did_you_mean(name, allowed.iter().map(String::as_str)) {
                    Some(s) => Some(format!("did you mean `{s}`?")),
                    None if !allowed.is_empty() => {
                        Some(format!("expected one of: {}", allowed.join(", ")))
                    }
                    None => None,
                };
                out.push(
                    loc.key(
                        &child(pointer, name),
                        format!("unknown field `{name}` {where_}"),
                    )
                    .with_hint_opt(hint),
                );
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let (place, message) = if pointer.is_empty() {
                (
                    "/kind".to_owned(),
                    format!("missing required field `{name}`"),
                )
            } else {
                (
                    pointer.to_owned(),
                    format!("`{field}` is missing required field `{name}`"),
                )
            };
            out.push(loc.key(&place, message));
        }
        ValidationErrorKind::Type { kind } => {
            let node = schema_node(root, parent_location(e.schema_path.as_str()));
            if let Some(range) = node.and_then(number_words) {
                out.push(number_error(pointer, &field, &range, instance, loc));
                return;
            }
            let expected = match kind {
                TypeKind::Single(t) => type_words(*t).to_owned(),
                // Free text also accepts numbers and booleans (they are taken as written).
                TypeKind::Multiple(set) if set.iter().any(|t| t == JsonType::String) => {
                    "a string".to_owned()
                }
                TypeKind::Multiple(set) => {
                    set.iter().map(type_words).collect::<Vec<_>>().join(" or ")
                }
            };
            let expects_bool = matches!(kind, TypeKind::Single(JsonType::Boolean));
            out.push(
                loc.value(
                    pointer,
                    format!("`{field}` must be {expected}, not {}", written(instance)),
                )
                .with_hint_opt(yaml_hint(loc, pointer, expects_bool)),
            );
        }
        ValidationErrorKind::Minimum { .. }
        | ValidationErrorKind::ExclusiveMinimum { .. }
        | ValidationErrorKind::Maximum { .. }
        | ValidationErrorKind::ExclusiveMaximum { .. }
            if schema_node(root, parent_location(e.schema_path.as_str()))
                .and_then(number_words)
                .is_some() =>
        {
            let range = schema_node(root, parent_location(e.schema_path.as_str()))
                .and_then(number_words)
                .unwrap_or_default();
            out.push(number_error(pointer, &field, &range, instance, loc));
        }
        ValidationErrorKind::Constant { expected_value } => {
            let expected = scalar_json(expected_value);
            out.push(loc.value(
                pointer,
                format!(
                    "`{field}` must be `{expected}`, not `{}`",
                    scalar_json(instance)
                ),
            ));
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(scalar_json).collect())
                .unwrap_or_default();
            let got = scalar_json(instance);
            let hint = did_you_mean(&got, options.iter().map(String::as_str))
                .map(|s| format!("did you mean `{s}`?"));
            out.push(
                loc.value(
                    pointer,
                    format!(
                        "`{field}` must be one of {}, not `{got}`",
                        options
                            .iter()
                            .map(|o| format!("`{o}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_hint_opt(hint),
            );
        }
        ValidationErrorKind::Pattern { pattern } => {
            let s = instance.as_str().unwrap_or_default();
            out.push(pattern_message(pointer, &field, pattern, s, loc));
        }
        ValidationErrorKind::Minimum { limit } => {
            out.push(loc.value(pointer, format!("`{field}` must be at least {limit}")));
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            out.push(loc.value(pointer, format!("`{field}` must be more than {limit}")));
        }
        ValidationErrorKind::Maximum { limit } => {
            out.push(loc.value(pointer, format!("`{field}` must be at most {limit}")));
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            out.push(loc.value(pointer, format!("`{field}` must be less than {limit}")));
        }
        ValidationErrorKind::MinLength { limit } => {
            let message = if *limit <= 1 {
                format!("`{field}` must not be empty")
            } else {
                format!("`{field}` must be at least {limit} characters long")
            };
            out.push(loc.value(pointer, message));
        }
        ValidationErrorKind::MaxLength { limit } => {
            out.push(loc.value(
                pointer,
                format!("`{field}` must be at most {limit} characters long"),
            ));
        }
        ValidationErrorKind::MinItems { limit } => {
            out.push(loc.value(pointer, format!("`{field}` needs at least {limit} entries")));
        }
        ValidationErrorKind::UniqueItems => {
            out.push(loc.value(pointer, format!("`{field}` lists an entry twice")));
        }
        ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
            describe_alternatives(e, context, root, instance_root, loc, out);
        }
        _ => {
            // Anything else our schemas do not use today: the masked text never echoes values.
            out.push(loc.value(pointer, format!("`{field}`: {}", e.masked())));
        }
    }
}

/// A `oneOf`/`anyOf` failed: report the errors of the one alternative the value was clearly
/// meant to be, or else say what the alternatives are.
fn describe_alternatives(
    e: &ValidationError<'_>,
    context: &[Vec<ValidationError<'static>>],
    root: &Value,
    instance_root: &Value,
    loc: &Locator<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let pointer = e.instance_path.as_str();
    let wrong_type = |x: &ValidationError<'static>| {
        x.instance_path.as_str() == pointer && matches!(x.kind, ValidationErrorKind::Type { .. })
    };
    // Alternatives of another type (a string where a mapping is expected, `null` for an
    // optional value) were clearly not meant.
    let candidates: Vec<&Vec<ValidationError<'static>>> = context
        .iter()
        .filter(|errs| !errs.iter().any(wrong_type))
        .collect();
    // Among those, the one whose shape fits best: fewest complaints about the value itself.
    let at_value = |errs: &Vec<ValidationError<'static>>| {
        errs.iter()
            .filter(|x| x.instance_path.as_str() == pointer)
            .count()
    };
    let best = candidates.iter().map(|c| at_value(c)).min();
    let best_ones: Vec<_> = candidates
        .iter()
        .filter(|c| Some(at_value(c)) == best)
        .collect();
    if best_ones.len() == 1 {
        for x in best_ones[0].iter() {
            describe(x, root, instance_root, loc, out);
        }
        return;
    }
    let field = field_path(pointer);
    // A string enum with documented variants is a `oneOf` of constants: list them.
    let constants: Vec<String> = context
        .iter()
        .flatten()
        .filter_map(|x| match &x.kind {
            ValidationErrorKind::Constant { expected_value }
                if x.instance_path.as_str() == pointer =>
            {
                Some(scalar_json(expected_value))
            }
            _ => None,
        })
        .collect();
    if !constants.is_empty() && constants.len() == context.len() {
        let got = scalar_json(&e.instance);
        let hint = did_you_mean(&got, constants.iter().map(String::as_str))
            .map(|s| format!("did you mean `{s}`?"));
        let listed: Vec<String> = constants.iter().map(|c| format!("`{c}`")).collect();
        out.push(
            loc.value(
                pointer,
                format!(
                    "`{field}` must be one of {}, not `{got}`",
                    listed.join(", ")
                ),
            )
            .with_hint_opt(hint),
        );
        return;
    }
    // A definition's description (`Limit`, `SecretRef`) says what the alternatives are; a
    // field's description (an optional field's `anyOf`) says what the field means, not its form.
    let parent = parent_location(e.schema_path.as_str());
    let description = parent
        .ends_with("$ref")
        .then(|| schema_node(root, parent))
        .flatten()
        .and_then(|n| n.get("description"))
        .and_then(Value::as_str)
        .map(|d| d.trim_end_matches('.').to_owned());
    if candidates.is_empty() {
        let mut types: Vec<&str> = Vec::new();
        for x in context.iter().flatten().filter(|x| wrong_type(x)) {
            if let ValidationErrorKind::Type { kind } = &x.kind {
                let words: Vec<JsonType> = match kind {
                    TypeKind::Single(t) => vec![*t],
                    TypeKind::Multiple(set) => set.iter().collect(),
                };
                for t in words {
                    let w = type_words(t);
                    if t != JsonType::Null && !types.contains(&w) {
                        types.push(w);
                    }
                }
            }
        }
        if !types.is_empty() {
            out.push(
                loc.value(
                    pointer,
                    format!(
                        "`{field}` must be {}, not {}",
                        types.join(" or "),
                        value_words(&e.instance)
                    ),
                )
                .with_hint_opt(description),
            );
            return;
        }
    }
    let message = match description {
        Some(d) => format!("`{field}` must be {d}"),
        None => format!("`{field}` does not match any of the allowed forms"),
    };
    out.push(loc.value(pointer, message));
}

/// A JSON scalar as the user wrote it.
fn scalar_json(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// Messages for pattern mismatches, from the parser of the type the pattern belongs to.
fn pattern_message(
    pointer: &str,
    field: &str,
    pattern: &str,
    s: &str,
    loc: &Locator<'_>,
) -> Diagnostic {
    let reason = if pattern == NAME_PATTERN {
        Name::parse(s).err()
    } else if pattern == DURATION_PATTERN {
        Duration::parse(s).err()
    } else if pattern.contains('/') && pattern.starts_with("^[a-z0-9]") {
        TeamRef::parse(s).err()
    } else if pattern.contains('@') {
        Some(
            Email::parse(s)
                .err()
                .unwrap_or_else(|| format!("{s:?} is not an email address")),
        )
    } else if pattern == KEY_EXPIRY_PATTERN {
        Some(format!(
            "{s:?} is not a key expiry: write a duration such as 30d, or `never`"
        ))
    } else if pattern == "^https?://" {
        Some(format!("{s:?} must start with http:// or https://"))
    } else {
        None
    };
    let reason = reason.unwrap_or_else(|| format!("{s:?} does not match `{pattern}`"));
    loc.value(pointer, format!("`{field}`: {reason}"))
}

/// The closest candidate to `word`, if it is close enough to be what the user meant.
pub(crate) fn did_you_mean<'c>(
    word: &str,
    candidates: impl Iterator<Item = &'c str>,
) -> Option<&'c str> {
    // `display_name`, `DisplayName` and `displayname` all mean `displayName`.
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let w = squash(word);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = if squash(c) == w {
            0
        } else {
            levenshtein(&w, &squash(c))
        };
        let limit = (c.chars().count().max(word.chars().count()) / 3).max(1);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Edit distance on characters (insert, delete, substitute).
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let fields = ["displayName", "description", "provider"];
        assert_eq!(
            did_you_mean("displayname", fields.into_iter()),
            Some("displayName")
        );
        assert_eq!(
            did_you_mean("display_name", fields.into_iter()),
            Some("displayName")
        );
        assert_eq!(
            did_you_mean("provder", fields.into_iter()),
            Some("provider")
        );
        assert_eq!(did_you_mean("colour", fields.into_iter()), None);
        assert_eq!(did_you_mean("Prodcut", KINDS.into_iter()), Some("Product"));
    }
}
