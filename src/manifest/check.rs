//! Checks one YAML document on its own: is it a manifest at all, is its envelope right, does it
//! match its kind's JSON Schema; then turns it into a typed [`Doc`].
//!
//! Every problem becomes a located [`Diagnostic`] with our own wording (the schema crate's raw
//! messages are not shown). Rules that need other documents (references, duplicates) and the
//! files a manifest names are `rules`' job, not this module's; nothing here touches the disk.

use std::path::Path;
use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{JsonType, ValidationError};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::diagnostic::Diagnostic;
use super::kinds::{
    CatalogSpec, Duration, Email, Metadata, Name, OrganisationSpec, PlanSpec, ProductSpec,
    ProviderSpec, TeamRef, TeamSpec, API_VERSION, DURATION_PATTERN, KINDS, NAME_PATTERN,
};
use super::positions::{child, DocPositions, Pos};
use super::schema;

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

/// The outcome of checking one document.
pub(crate) enum Checked {
    /// Not a portalctl manifest (no `apiVersion` and no `kind`, or empty): skipped.
    Skipped,
    /// A manifest with errors (already reported).
    Invalid,
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

/// Checks one document parsed by `serde_yaml`, whose positions are `pos`.
pub(crate) fn check(
    file: &FileCtx,
    mut yaml: serde_yaml::Value,
    pos: DocPositions,
    errors: &mut Vec<Diagnostic>,
) -> Checked {
    let loc = Locator { file, pos: &pos };
    let serde_yaml::Value::Mapping(map) = &yaml else {
        // Scalars, lists and empty documents have no apiVersion and no kind: not manifests.
        return Checked::Skipped;
    };
    let api_version = map.get("apiVersion");
    let kind = map.get("kind");
    if api_version.is_none() && kind.is_none() {
        return Checked::Skipped;
    }
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
        Some(serde_yaml::Value::String(v)) if v == API_VERSION => {}
        Some(other) => {
            envelope_ok = false;
            let shown = scalar_text(other);
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
    let kind_name = match kind {
        None => {
            errors.push(
                loc.at(anchor, "missing `kind`".into())
                    .with_hint(format!("add `kind:` one of {}", KINDS.join(", "))),
            );
            return Checked::Invalid;
        }
        Some(serde_yaml::Value::String(k)) if KINDS.contains(&k.as_str()) => k.clone(),
        Some(other) => {
            let shown = scalar_text(other);
            let hint = did_you_mean(&shown, KINDS.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("kind is one of {}", KINDS.join(", ")));
            errors.push(
                loc.value("/kind", format!("unknown kind `{shown}`"))
                    .with_hint(hint),
            );
            return Checked::Invalid;
        }
    };

    // Merge keys (`<<: *base`) are a YAML convenience users expect to work.
    if yaml.apply_merge().is_err() {
        errors.push(loc.value(
            "",
            "a `<<` merge key must name a mapping or a list of mappings".into(),
        ));
        return Checked::Invalid;
    }
    let mut convert_errors = Vec::new();
    let json = to_json(&yaml, String::new(), &mut convert_errors);
    if !convert_errors.is_empty() {
        for (pointer, message) in convert_errors {
            errors.push(loc.value(&pointer, message));
        }
        return Checked::Invalid;
    }

    let compiled = schema::compiled(&kind_name).expect("kind was checked against KINDS");
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
        return Checked::Invalid;
    }

    // The schema passed, so the typed parse fails only on what a schema cannot say (a duration
    // too long, a number too large): report it on the document's spec.
    let metadata = match Metadata::deserialize(&json["metadata"]) {
        Ok(m) => m,
        Err(e) => {
            errors.push(loc.value("/metadata", format!("invalid metadata: {e}")));
            return Checked::Invalid;
        }
    };
    let spec = &json["spec"];
    let body = match kind_name.as_str() {
        "Provider" => ProviderSpec::deserialize(spec).map(Body::Provider),
        "Product" => ProductSpec::deserialize(spec).map(Body::Product),
        "Plan" => PlanSpec::deserialize(spec).map(Body::Plan),
        "Catalog" => CatalogSpec::deserialize(spec).map(Body::Catalog),
        "Organisation" => OrganisationSpec::deserialize(spec).map(Body::Organisation),
        _ => TeamSpec::deserialize(spec).map(Body::Team),
    };
    match body {
        Ok(body) => Checked::Valid(Box::new(Doc {
            file: file.clone(),
            pos,
            anchor,
            metadata,
            body,
        })),
        Err(e) => {
            errors.push(loc.key("/spec", format!("invalid {kind_name} spec: {e}")));
            Checked::Invalid
        }
    }
}

/// A scalar as the user wrote it, for messages.
fn scalar_text(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Null => "null".into(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Sequence(_) => "a list".into(),
        serde_yaml::Value::Mapping(_) => "a mapping".into(),
        serde_yaml::Value::Tagged(t) => format!("{}", t.tag),
    }
}

/// Converts YAML to JSON, collecting `(pointer, message)` for what JSON cannot hold.
fn to_json(v: &serde_yaml::Value, pointer: String, errors: &mut Vec<(String, String)>) -> Value {
    match v {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(*b),
        serde_yaml::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                match n.as_f64().and_then(serde_json::Number::from_f64) {
                    Some(f) => Value::Number(f),
                    None => {
                        errors.push((pointer, format!("`{n}` is not a number portalctl can use")));
                        Value::Null
                    }
                }
            }
        }
        serde_yaml::Value::String(s) => Value::String(s.clone()),
        serde_yaml::Value::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_json(item, child(&pointer, &i.to_string()), errors))
                .collect(),
        ),
        serde_yaml::Value::Mapping(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, item) in m {
                let key = match k {
                    serde_yaml::Value::String(s) => s.clone(),
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    _ => {
                        errors.push((
                            pointer.clone(),
                            "mapping keys must be plain strings".to_owned(),
                        ));
                        continue;
                    }
                };
                let value = to_json(item, child(&pointer, &key), errors);
                out.insert(key, value);
            }
            Value::Object(out)
        }
        serde_yaml::Value::Tagged(t) => {
            errors.push((
                pointer,
                format!("YAML tags such as `{}` are not supported", t.tag),
            ));
            Value::Null
        }
    }
}

/// `/spec/apis/0/apiId` → `spec.apis[0].apiId`, the way users think of a field.
pub(crate) fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(&token);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    if out.is_empty() {
        "the document".into()
    } else {
        out
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
            let expected = match kind {
                TypeKind::Single(t) => type_words(*t).to_owned(),
                TypeKind::Multiple(set) => {
                    set.iter().map(type_words).collect::<Vec<_>>().join(" or ")
                }
            };
            out.push(loc.value(
                pointer,
                format!(
                    "`{field}` must be {expected}, not {}",
                    value_words(instance)
                ),
            ));
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
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => {
            out.push(loc.value(pointer, format!("`{field}` must be at least {limit}")));
        }
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => {
            out.push(loc.value(pointer, format!("`{field}` must be at most {limit}")));
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
    } else if pattern.contains("never") {
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

    #[test]
    fn field_paths_read_like_yaml() {
        assert_eq!(field_path("/spec/apis/0/apiId"), "spec.apis[0].apiId");
        assert_eq!(field_path(""), "the document");
        assert_eq!(
            field_path("/metadata/annotations/a~1b"),
            "metadata.annotations.a/b"
        );
    }
}
