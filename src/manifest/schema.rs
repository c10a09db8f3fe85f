//! JSON Schemas of the manifest kinds (SPEC §1.4), generated from the types in `kinds` by
//! schemars, and the compiled validators the loader checks every document with.
//!
//! The schemas are the single source of truth for envelope, field, type and pattern checks, and
//! for where a manifest wants text (`convert` types scalars by them): what an editor flags is what
//! `validate` reports. This module generates and compiles; it does not turn validation errors into
//! messages (that is `check`'s job) and reads no files.

use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::kinds::{
    CatalogSpec, Metadata, OrganisationSpec, PlanSpec, ProductSpec, ProviderSpec, TeamSpec,
    API_VERSION, KINDS,
};

/// The JSON Schema dialect of every generated file.
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The file name of a kind's schema, e.g. `provider.schema.json`.
pub fn file_name(kind: &str) -> String {
    format!("{}.schema.json", kind.to_ascii_lowercase())
}

/// The name of the combined schema.
pub const COMBINED: &str = "portalctl.schema.json";

/// Definitions shared by a kind's schema: `Metadata`, the spec type and everything they use.
fn kind_parts(kind: &str) -> (Value, Map<String, Value>) {
    let mut gen = SchemaSettings::draft2020_12().into_generator();
    let metadata = gen.subschema_for::<Metadata>();
    let spec = match kind {
        "Provider" => gen.subschema_for::<ProviderSpec>(),
        "Product" => gen.subschema_for::<ProductSpec>(),
        "Plan" => gen.subschema_for::<PlanSpec>(),
        "Catalog" => gen.subschema_for::<CatalogSpec>(),
        "Organisation" => gen.subschema_for::<OrganisationSpec>(),
        _ => gen.subschema_for::<TeamSpec>(),
    };
    let doc = json!({
        "title": kind,
        "description": format!("A portalctl {kind} manifest (apiVersion {API_VERSION})."),
        "type": "object",
        "properties": {
            "apiVersion": { "const": API_VERSION, "description": "Always `portalctl/v1`." },
            "kind": { "const": kind },
            "metadata": metadata.to_value(),
            "spec": spec.to_value(),
        },
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": false,
    });
    let mut doc = doc;
    let mut defs = Value::Object(gen.take_definitions(true));
    widen_text(&mut doc);
    widen_text(&mut defs);
    let Value::Object(defs) = defs else {
        unreachable!("definitions are an object")
    };
    (doc, defs)
}

/// Where a manifest takes free text, YAML readers see `2024`, `true` or `1.5` as a number or a
/// boolean, while portalctl takes the text as written (`convert`). Such places accept numbers and
/// booleans too, so editors do not flag what `validate` accepts. Strings with a `pattern`,
/// `format`, `const` or `enum` stay strings: no number can be a duration, an email or an enum
/// value, and editors should flag those the way `validate` does.
fn widen_text(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let free = ["const", "enum", "pattern", "format"]
                .iter()
                .all(|k| !o.contains_key(*k));
            if free {
                match o.get_mut("type") {
                    Some(t @ Value::String(_)) if t == "string" => {
                        *t = json!(["string", "number", "boolean"]);
                    }
                    Some(Value::Array(types)) if types.iter().any(|t| t == "string") => {
                        let null = types.iter().any(|t| t == "null");
                        *types = vec!["string".into(), "number".into(), "boolean".into()];
                        if null {
                            types.push("null".into());
                        }
                    }
                    _ => {}
                }
            }
            for (k, child) in o.iter_mut() {
                if !matches!(k.as_str(), "const" | "enum" | "default" | "examples") {
                    widen_text(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(widen_text),
        _ => {}
    }
}

/// The schema of one kind, self-contained (its definitions under `$defs`).
fn kind_schema(kind: &str) -> Value {
    let (doc, defs) = kind_parts(kind);
    let mut root = Map::new();
    root.insert("$schema".into(), DIALECT.into());
    if let Value::Object(o) = doc {
        root.extend(o);
    }
    root.insert("$defs".into(), Value::Object(sorted(defs)));
    Value::Object(root)
}

/// The combined schema: the envelope, then the kind's own schema chosen by `kind` (if/then gives
/// editors and validators one branch's errors instead of six branches' of a `oneOf`).
fn combined_schema() -> Value {
    let mut defs = Map::new();
    let mut branches = Vec::new();
    for kind in KINDS {
        let (doc, kind_defs) = kind_parts(kind);
        defs.extend(kind_defs);
        let name = format!("{kind}Manifest");
        defs.insert(name.clone(), doc);
        branches.push(json!({
            "if": { "properties": { "kind": { "const": kind } }, "required": ["kind"] },
            "then": { "$ref": format!("#/$defs/{name}") },
        }));
    }
    json!({
        "$schema": DIALECT,
        "title": "portalctl manifest",
        "description": "Any portalctl manifest: Provider, Product, Plan, Catalog, Organisation or Team.",
        "type": "object",
        "properties": {
            "apiVersion": { "const": API_VERSION },
            "kind": { "enum": KINDS },
        },
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "allOf": branches,
        "$defs": Value::Object(sorted(defs)),
    })
}

/// Definitions in name order, so generated files are stable whatever order types were visited in.
fn sorted(defs: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<_> = defs.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

/// Every schema file, `(file name, schema)`: one per kind in [`KINDS`] order, then the combined one.
pub fn all() -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = KINDS
        .iter()
        .map(|k| (file_name(k), kind_schema(k)))
        .collect();
    out.push((COMBINED.to_owned(), combined_schema()));
    out
}

/// The text written for a schema: pretty JSON with a trailing newline.
pub fn to_file_text(schema: &Value) -> String {
    let mut s = serde_json::to_string_pretty(schema).unwrap_or_default();
    s.push('\n');
    s
}

/// A kind's schema and its compiled validator, built once per process.
pub(crate) struct Compiled {
    /// The schema, to look up property names for "did you mean" hints.
    pub schema: Value,
    /// The validator.
    pub validator: jsonschema::Validator,
}

/// The compiled schema of `kind` (one of [`KINDS`]), or `None` for an unknown kind.
pub(crate) fn compiled(kind: &str) -> Option<&'static Compiled> {
    static ALL: OnceLock<Vec<Compiled>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        KINDS
            .iter()
            .map(|k| {
                let schema = kind_schema(k);
                // The schemas are generated from our own types; one that does not compile is a
                // programming error caught by the schema tests, not something a user can cause.
                let validator = jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .build(&schema)
                    .expect("generated schema compiles");
                Compiled { schema, validator }
            })
            .collect()
    });
    KINDS.iter().position(|k| *k == kind).map(|i| &all[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_compiles_and_has_the_envelope() {
        for kind in KINDS {
            let c = compiled(kind).unwrap();
            assert_eq!(c.schema["properties"]["kind"]["const"], json!(kind));
            assert_eq!(
                c.schema["required"],
                json!(["apiVersion", "kind", "metadata", "spec"])
            );
        }
        assert!(compiled("Nope").is_none());
    }

    #[test]
    fn combined_schema_compiles() {
        let (_, combined) = all().pop().unwrap();
        assert!(jsonschema::validator_for(&combined).is_ok());
    }
}
