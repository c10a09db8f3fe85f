//! The checked-in `schemas/` match what `portalctl schema` generates, and they accept the b2b
//! example and reject the broken files whose mistakes a schema can see.

use std::path::Path;

use portalctl::manifest::schema;
use serde::Deserialize;

#[test]
fn checked_in_schemas_are_fresh() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_portalctl"))
        .args(["schema", "--out"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = Vec::new();
    for (name, _) in schema::all() {
        let fresh = std::fs::read_to_string(tmp.path().join(&name)).unwrap();
        let checked_in =
            std::fs::read_to_string(Path::new("schemas").join(&name)).unwrap_or_else(|_| {
                panic!("schemas/{name} is missing: run `portalctl schema --out schemas`")
            });
        assert!(
            fresh == checked_in,
            "schemas/{name} is stale: run `cargo run -- schema --out schemas` and commit the result"
        );
        names.push(name);
    }
    let mut on_disk: Vec<String> = std::fs::read_dir("schemas")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    names.sort();
    assert_eq!(
        on_disk, names,
        "schemas/ holds files portalctl does not generate"
    );
}

/// Every YAML document of a file, as JSON.
fn documents(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_json::to_value(serde_yaml::Value::deserialize(d).unwrap()).unwrap())
        .collect()
}

fn combined() -> jsonschema::Validator {
    let text = std::fs::read_to_string("schemas/portalctl.schema.json").unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

#[test]
fn schemas_accept_every_b2b_manifest() {
    let validator = combined();
    let mut checked = 0;
    for entry in std::fs::read_dir("examples/b2b").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            for doc in documents(&path) {
                let errors: Vec<String> =
                    validator.iter_errors(&doc).map(|e| e.to_string()).collect();
                assert!(errors.is_empty(), "{}: {errors:?}", path.display());
                // The kind's own schema agrees with the combined one.
                let kind = doc["kind"].as_str().unwrap();
                let own =
                    std::fs::read_to_string(Path::new("schemas").join(schema::file_name(kind)))
                        .unwrap();
                let own = jsonschema::validator_for(&serde_json::from_str(&own).unwrap()).unwrap();
                assert!(own.is_valid(&doc), "{}", path.display());
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 10);
}

#[test]
fn schemas_reject_schema_level_mistakes() {
    let validator = combined();
    for name in [
        "unknown-api-version.yaml",
        "unknown-kind.yaml",
        "missing-spec.yaml",
        "unknown-field.yaml",
        "wrong-type.yaml",
        "bad-name.yaml",
        "bad-values.yaml",
    ] {
        let docs = documents(&Path::new("examples/broken").join(name));
        assert!(
            docs.iter().any(|d| !validator.is_valid(d)),
            "{name} should be rejected by the schema"
        );
    }
    // Mistakes that need other documents or files are not the schema's to see.
    for name in [
        "base.yaml",
        "dangling-references.yaml",
        "duplicate-name.yaml",
        "private-catalog.yaml",
    ] {
        let docs = documents(&Path::new("examples/broken").join(name));
        assert!(docs.iter().all(|d| validator.is_valid(d)), "{name}");
    }
}
