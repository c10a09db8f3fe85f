//! A document's YAML nodes to JSON, each scalar typed by what its kind's JSON Schema wants at its
//! place.
//!
//! Where the schema wants text (a name, an API id, a display name, a tag, an email, a duration),
//! a scalar is taken exactly as written: `apiId: 0042` is `"0042"`, `displayName: 2024` is
//! `"2024"`, `name: 1e3` is `"1e3"`. Elsewhere a plain scalar is read as YAML 1.2's core schema
//! reads it (the schema editors use): `10`, `0x1F`, `1e3` and `2.5` are numbers, `true` is a
//! boolean, `~` and nothing are null, and `yes`, `1_000` or `.inf` stay text for the schema to
//! reject with a message that shows them. Quoted and block scalars are always text. This module
//! converts and reports what JSON cannot hold (custom tags, complex keys, durations out of range);
//! the schema check and its messages are `check`'s.

use serde_json::{Map, Number, Value};

use super::limits::{Duration, DurationError, KeyExpiry};
use super::positions::{field_path, push_token};
use super::yaml::{is_null_word, Node, NodeKind, Style};

/// A problem found while converting: the pointer of the value and the message.
pub(crate) type Problem = (String, String);

/// The JSON of a document, and what could not be converted.
pub(crate) struct Converted {
    /// The document as JSON.
    pub json: Value,
    /// What could not be converted, by pointer.
    pub problems: Vec<Problem>,
}

/// Converts a document's root node, typed by `schema` (a kind's schema, with `$defs`).
pub(crate) fn to_json(root: &Node, schema: &Value) -> Converted {
    let mut c = Converter {
        root: schema,
        problems: Vec::new(),
    };
    let mut cands = Vec::new();
    expand(schema, schema, None, &mut cands, 0);
    let mut pointer = String::new();
    let json = c.walk(root, &cands, &mut pointer);
    Converted {
        json,
        problems: c.problems,
    }
}

/// How YAML 1.2 (core schema) reads a plain scalar.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plain {
    /// `~`, `null`, nothing.
    Null,
    /// `true`, `False`…
    Bool(bool),
    /// An integer or a float that JSON can hold.
    Number(Number),
    /// `.inf`, `-.inf`, `.nan`: a YAML float JSON cannot hold.
    NotFinite,
    /// Anything else.
    Text,
}

/// The YAML 1.2 core schema reading of a plain scalar's text.
pub(crate) fn resolve_plain(t: &str) -> Plain {
    if is_null_word(t) {
        return Plain::Null;
    }
    match t {
        "true" | "True" | "TRUE" => return Plain::Bool(true),
        "false" | "False" | "FALSE" => return Plain::Bool(false),
        _ => {}
    }
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(t, ".nan" | ".NaN" | ".NAN") {
        return Plain::NotFinite;
    }
    let digits = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if digits(unsigned, 10) {
        if let Ok(i) = t.parse::<i64>() {
            return Plain::Number(i.into());
        }
        if let Ok(u) = t.parse::<u64>() {
            return Plain::Number(u.into());
        }
        return float(t);
    }
    for (prefix, radix) in [("0o", 8), ("0x", 16)] {
        if let Some(rest) = t.strip_prefix(prefix) {
            if digits(rest, radix) {
                return match u64::from_str_radix(rest, radix) {
                    Ok(u) => Plain::Number(u.into()),
                    Err(_) => Plain::Text,
                };
            }
        }
    }
    if is_core_float(unsigned) {
        return float(t);
    }
    Plain::Text
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?` without the sign.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let all_digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((w, f)) => all_digits(w) && all_digits(f) && !(w.is_empty() && f.is_empty()),
        None => !mantissa.is_empty() && all_digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok
}

/// A float as JSON: whole values as integers (`1e3` is 1000), the rest as floats.
fn float(t: &str) -> Plain {
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => {
            if f.fract() == 0.0 && f.abs() < 9.0e18 {
                Plain::Number((f as i64).into())
            } else {
                Number::from_f64(f).map_or(Plain::NotFinite, Plain::Number)
            }
        }
        _ => Plain::NotFinite,
    }
}

/// One schema that may apply at a place, and the `$defs` entry it came from.
#[derive(Clone, Copy)]
struct Cand<'s> {
    schema: &'s Value,
    def: Option<&'s str>,
}

/// Every schema that may apply at a place: the schema itself, what its `$ref` points at, and the
/// branches of its `anyOf`/`oneOf`/`allOf`.
fn expand<'s>(
    root: &'s Value,
    s: &'s Value,
    def: Option<&'s str>,
    out: &mut Vec<Cand<'s>>,
    depth: usize,
) {
    if depth > 16 {
        return;
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next();
        if let Some(target) = r.strip_prefix('#').and_then(|p| root.pointer(p)) {
            expand(root, target, name, out, depth + 1);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for branch in s.get(key).and_then(Value::as_array).into_iter().flatten() {
            expand(root, branch, def, out, depth + 1);
        }
    }
    out.push(Cand { schema: s, def });
}

/// True when one of the schemas takes free text: a string that is not one of a few constants.
fn wants_text(cands: &[Cand<'_>]) -> bool {
    cands.iter().any(|c| {
        let s = c.schema;
        let string = match s.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
            _ => false,
        };
        string && s.get("const").is_none() && s.get("enum").is_none()
    })
}

struct Converter<'s> {
    root: &'s Value,
    problems: Vec<Problem>,
}

impl<'s> Converter<'s> {
    fn children(&self, cands: &[Cand<'s>], key: Option<&str>) -> Vec<Cand<'s>> {
        let mut out = Vec::new();
        for c in cands {
            let next = match key {
                Some(k) => c
                    .schema
                    .get("properties")
                    .and_then(|p| p.get(k))
                    .or_else(|| {
                        c.schema
                            .get("additionalProperties")
                            .filter(|a| a.is_object())
                    }),
                None => c.schema.get("items"),
            };
            if let Some(n) = next {
                expand(self.root, n, None, &mut out, 0);
            }
        }
        out
    }

    fn problem(&mut self, pointer: &str, message: String) {
        self.problems.push((pointer.to_owned(), message));
    }

    fn walk(&mut self, node: &Node, cands: &[Cand<'s>], pointer: &mut String) -> Value {
        match &node.kind {
            NodeKind::Scalar { text, style } => self.scalar(node, text, *style, cands, pointer),
            NodeKind::Seq(items) => {
                if !matches!(node.tag.as_deref(), None | Some("!!seq")) {
                    return self.unsupported_tag(node, pointer);
                }
                let item_cands = self.children(cands, None);
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    push_token(pointer, &i.to_string());
                    out.push(self.walk(item, &item_cands, pointer));
                    pointer.truncate(len);
                }
                Value::Array(out)
            }
            NodeKind::Map(entries) => {
                if !matches!(node.tag.as_deref(), None | Some("!!map")) {
                    return self.unsupported_tag(node, pointer);
                }
                let mut out = Map::with_capacity(entries.len());
                for e in entries {
                    let Some(key) = e.key.text() else {
                        let p = pointer.clone();
                        self.problem(&p, "mapping keys must be plain strings".into());
                        continue;
                    };
                    let child = self.children(cands, Some(key));
                    let len = pointer.len();
                    push_token(pointer, key);
                    let v = self.walk(&e.value, &child, pointer);
                    pointer.truncate(len);
                    out.insert(key.to_owned(), v);
                }
                Value::Object(out)
            }
        }
    }

    fn unsupported_tag(&mut self, node: &Node, pointer: &str) -> Value {
        let tag = node.tag.as_deref().unwrap_or_default();
        self.problem(
            pointer,
            format!("YAML tags such as `{tag}` are not supported"),
        );
        Value::Null
    }

    fn scalar(
        &mut self,
        node: &Node,
        text: &str,
        style: Style,
        cands: &[Cand<'s>],
        pointer: &str,
    ) -> Value {
        // What YAML says the scalar is, with an explicit standard tag taken at its word.
        let read = match (node.tag.as_deref(), style) {
            (None, Style::Plain) => resolve_plain(text),
            (None, _) | (Some("!!str"), _) => Plain::Text,
            (Some("!!null"), _) => Plain::Null,
            (Some(tag @ ("!!bool" | "!!int" | "!!float")), _) => {
                let r = resolve_plain(text);
                let fits = match (tag, &r) {
                    ("!!bool", Plain::Bool(_)) => true,
                    ("!!int", Plain::Number(n)) => !n.is_f64(),
                    ("!!float", Plain::Number(_) | Plain::NotFinite) => true,
                    _ => false,
                };
                if !fits {
                    self.problem(
                        pointer,
                        format!(
                            "`{}`: {text:?} is not a YAML {tag} value",
                            field_path(pointer)
                        ),
                    );
                    return Value::Null;
                }
                r
            }
            _ => return self.unsupported_tag(node, pointer),
        };
        if read == Plain::Null {
            return Value::Null;
        }
        if wants_text(cands) {
            self.check_duration(cands, text, pointer);
            return Value::String(text.to_owned());
        }
        match read {
            Plain::Bool(b) => Value::Bool(b),
            Plain::Number(n) => Value::Number(n),
            // Text, and floats JSON cannot hold: the schema reports them showing the text.
            _ => Value::String(text.to_owned()),
        }
    }

    /// Durations that match the pattern but are out of range: the schema cannot say it.
    fn check_duration(&mut self, cands: &[Cand<'s>], text: &str, pointer: &str) {
        let result = if cands.iter().any(|c| c.def == Some("Duration")) {
            Duration::parse_exact(text).map(|_| ())
        } else if cands.iter().any(|c| c.def == Some("KeyExpiry")) {
            KeyExpiry::parse_exact(text).map(|_| ())
        } else {
            return;
        };
        if let Err(e @ (DurationError::TooLong | DurationError::TooManyDigits)) = result {
            let message = format!("`{}`: {}", field_path(pointer), e.message(text));
            self.problem(pointer, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_scalars_as_yaml_1_2_reads_them() {
        let n = |v: Value| match v {
            Value::Number(n) => Plain::Number(n),
            _ => unreachable!(),
        };
        assert_eq!(resolve_plain("10"), n(json!(10)));
        assert_eq!(resolve_plain("0042"), n(json!(42)));
        assert_eq!(resolve_plain("-7"), n(json!(-7)));
        assert_eq!(resolve_plain("0x1F"), n(json!(31)));
        assert_eq!(resolve_plain("0o17"), n(json!(15)));
        assert_eq!(resolve_plain("1e3"), n(json!(1000)));
        assert_eq!(resolve_plain("2.5"), n(json!(2.5)));
        assert_eq!(resolve_plain(".5"), n(json!(0.5)));
        assert_eq!(resolve_plain("1."), n(json!(1)));
        assert_eq!(resolve_plain("10.0"), n(json!(10)));
        assert_eq!(resolve_plain("99999999999999999999999"), n(json!(1e23)));
        assert_eq!(resolve_plain(".inf"), Plain::NotFinite);
        assert_eq!(resolve_plain("-.Inf"), Plain::NotFinite);
        assert_eq!(resolve_plain(".nan"), Plain::NotFinite);
        assert_eq!(resolve_plain("~"), Plain::Null);
        assert_eq!(resolve_plain(""), Plain::Null);
        assert_eq!(resolve_plain("True"), Plain::Bool(true));
        for text in [
            "yes",
            "no",
            "on",
            "off",
            "1_000",
            "0b101",
            "1:30",
            "0x",
            "1e",
            "e3",
            ".",
            "+",
            "inf",
            "nan",
            "0o8",
            "2024-01-01",
            "1.2.3",
            "- 1",
        ] {
            assert_eq!(resolve_plain(text), Plain::Text, "{text}");
        }
    }
}
