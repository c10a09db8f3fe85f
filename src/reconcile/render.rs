//! Rendering a plan for people (text, markdown for pull requests) and programs (JSON).
//!
//! Only changed fields are shown; multi-line text (markdown, OpenAPI) as a unified diff. Plans hold
//! no secrets, so nothing here needs redaction.

use std::fmt::Write as _;

use serde_json::Value;
use similar::TextDiff;

use super::plan::{Action, Change, Plan, Target};
use crate::desired::Kind;

/// Longest value shown inline before it is cut.
const MAX_INLINE: usize = 160;

/// Plain text, optionally with ANSI colours on the action markers.
pub fn text(plan: &Plan, color: bool) -> String {
    let mut out = String::new();
    if plan.changes.is_empty() {
        out.push_str("No changes. The database and the Dashboards match the manifests.\n");
    }
    for (title, changes) in groups(plan) {
        let _ = writeln!(out, "{title}:");
        let mut last_kind: Option<Kind> = None;
        for c in changes {
            if last_kind != Some(c.kind) {
                let _ = writeln!(out, "  {}", c.kind);
                last_kind = Some(c.kind);
            }
            let marker = c.action.marker();
            let marker = if color {
                paint(c.action, marker)
            } else {
                marker.to_string()
            };
            let _ = writeln!(out, "    {marker} {}{}", c.name, action_note(c));
            write_details(&mut out, c, "        ");
        }
        out.push('\n');
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for e in &plan.errors {
        let _ = writeln!(out, "error: {}", e.message);
    }
    if !plan.changes.is_empty() {
        let _ = writeln!(out, "{}", plan.summary.line());
    }
    out
}

/// Markdown for a pull-request comment: the summary, then one collapsible section per group.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::from("### portalctl plan\n\n");
    if plan.changes.is_empty() {
        out.push_str("**No changes.** The database and the Dashboards match the manifests.\n");
    } else {
        let _ = writeln!(out, "**{}**\n", plan.summary.line());
        for (title, changes) in groups(plan) {
            let _ = writeln!(
                out,
                "<details><summary>{} — {} change{}</summary>\n\n```diff",
                html_escape(&title),
                changes.len(),
                plural(changes.len() as u64)
            );
            for c in &changes {
                let marker = match c.action {
                    Action::Create => '+',
                    Action::Delete | Action::Retire | Action::Release => '-',
                    Action::Update | Action::Tag => '!',
                };
                let _ = writeln!(out, "{marker} {} {}{}", c.kind, c.name, action_note(c));
                write_details(&mut out, c, "    ");
            }
            out.push_str("```\n\n</details>\n\n");
        }
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "> **Warning:** {}\n", html_escape(w));
    }
    for e in &plan.errors {
        let _ = writeln!(out, "> **Error:** {}\n", html_escape(&e.message));
    }
    out
}

/// The JSON plan (the same document `plan --out` saves). Creations list their fields too.
pub fn json(plan: &Plan) -> String {
    let mut plan = plan.clone();
    for c in &mut plan.changes {
        if c.fields.is_empty() {
            c.fields = c.shown_fields().into_owned();
        }
    }
    serde_json::to_string_pretty(&plan)
        .unwrap_or_else(|e| format!("{{\"errors\":[{{\"message\":\"cannot render plan: {e}\"}}]}}"))
}

fn groups(plan: &Plan) -> Vec<(String, Vec<&Change>)> {
    let mut out: Vec<(String, Vec<&Change>)> = Vec::new();
    let mut keys: Vec<(u8, String)> = Vec::new();
    for c in &plan.changes {
        let key = match (c.target, &c.provider) {
            (Target::Dashboard, Some(p)) => (0, format!("Dashboard {p}")),
            (Target::Dashboard, None) => (0, "Dashboard".to_owned()),
            (Target::Database, _) => (1, "Database".to_owned()),
        };
        match keys.iter().position(|k| *k == key) {
            Some(i) => out[i].1.push(c),
            None => {
                keys.push(key.clone());
                out.push((key.1, vec![c]));
            }
        }
    }
    let mut idx: Vec<usize> = (0..out.len()).collect();
    idx.sort_by(|a, b| keys[*a].cmp(&keys[*b]));
    let mut sorted: Vec<(String, Vec<&Change>)> = Vec::new();
    for i in idx {
        let (t, mut cs) = std::mem::take(&mut out[i]);
        cs.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
        sorted.push((t, cs));
    }
    sorted
}

/// The changed fields of a change, then its impact on developers.
fn write_details(out: &mut String, c: &Change, indent: &str) {
    for f in c.shown_fields().iter() {
        write_field(
            out,
            c.action,
            &f.path,
            f.before.as_ref(),
            f.after.as_ref(),
            indent,
        );
    }
    if let Some(i) = c.impact {
        let _ = write!(
            out,
            "{indent}impact: {} active credential{}",
            i.active_credentials,
            plural(i.active_credentials)
        );
        if i.revoked_credentials > 0 {
            let _ = write!(out, ", {} to be revoked", i.revoked_credentials);
        }
        out.push('\n');
    }
}

fn action_note(c: &Change) -> &'static str {
    match (c.action, c.target) {
        (Action::Tag, _) => "  (adopt: add ownership tags)",
        (Action::Retire, Target::Dashboard) => {
            "  (retire: policy to draft, existing keys keep working)"
        }
        (Action::Retire, Target::Database) => "  (retire: hidden from catalogs, no new requests)",
        (Action::Release, _) => "  (release: remove ownership tag, policy kept)",
        _ => "",
    }
}

fn paint(action: Action, marker: char) -> String {
    let code = match action {
        Action::Create => "32",
        Action::Update => "33",
        Action::Tag => "36",
        Action::Delete => "31",
        Action::Retire => "35",
        Action::Release => "34",
    };
    format!("\x1b[{code}m{marker}\x1b[0m")
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn write_field(
    out: &mut String,
    action: Action,
    path: &str,
    before: Option<&Value>,
    after: Option<&Value>,
    indent: &str,
) {
    match (before, after) {
        (Some(Value::String(b)), Some(Value::String(a)))
            if b.contains('\n') || a.contains('\n') =>
        {
            let _ = writeln!(out, "{indent}{path}:");
            let diff = TextDiff::from_lines(b.as_str(), a.as_str());
            for line in diff.unified_diff().context_radius(2).to_string().lines() {
                let _ = writeln!(out, "{indent}  {line}");
            }
        }
        (None, Some(a)) if action == Action::Create => {
            let _ = writeln!(out, "{indent}{path}: {}", show(a));
        }
        (None, Some(a)) => {
            let _ = writeln!(out, "{indent}{path}: (none) -> {}", show(a));
        }
        (Some(b), None) => {
            let _ = writeln!(out, "{indent}{path}: {} -> (removed)", show(b));
        }
        (Some(b), Some(a)) => {
            let _ = writeln!(out, "{indent}{path}: {} -> {}", show(b), show(a));
        }
        (None, None) => {}
    }
}

fn show(v: &Value) -> String {
    let s = match v {
        Value::String(s) if s.contains('\n') => format!("({} lines of text)", s.lines().count()),
        other => other.to_string(),
    };
    if s.chars().count() > MAX_INLINE {
        let cut: String = s.chars().take(MAX_INLINE).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
