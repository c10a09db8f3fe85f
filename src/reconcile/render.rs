//! Rendering a change set for people (text, markdown for pull requests) and programs (JSON).
//!
//! Text and markdown count and show manifest objects (`~ Plan free`), each with its effects on
//! each target under it, and use one legend: `+` create, `~` update, `#` tag (adopt), `-` delete,
//! `!` retire, `/` release. Only changed fields are shown; multi-line text (markdown, OpenAPI) as a
//! unified diff. Changes that widen access are flagged under their object and again in a block
//! before the summary. JSON keeps one entry per object and target. Change sets hold no secrets, so
//! nothing here needs redaction.

use std::fmt::Write as _;

use serde_json::Value;
use similar::TextDiff;

use super::plan::{Action, Change, ChangeSet, ObjectChange, Op, Target, Widening};

/// Longest value shown inline before it is cut.
const MAX_INLINE: usize = 160;

/// Most widening warnings repeated in the closing block (each object shows its own in full).
const MAX_WIDENING_SUMMARY: usize = 100;

/// The line printed when there is nothing to do.
pub const NO_CHANGES: &str = "No changes. The database and the Dashboards match the manifests.";

/// Plain text, optionally with ANSI colours on the action markers.
pub fn text(plan: &ChangeSet, color: bool) -> String {
    let mut out = String::new();
    let objects = plan.objects();
    if objects.is_empty() {
        let _ = writeln!(out, "{NO_CHANGES}");
    } else {
        let _ = writeln!(
            out,
            "Legend: {}\n",
            legend(&objects, "  ", |a| a.marker().to_string())
        );
        let marker = |a: Action| {
            if color {
                paint(a, a.marker())
            } else {
                a.marker().to_string()
            }
        };
        for o in &objects {
            write_object(&mut out, o, &marker);
            out.push('\n');
        }
        let widening = widening_lines(&objects);
        if !widening.is_empty() {
            let _ = writeln!(out, "⚠ {}", widening_title(&objects));
            for (object, line) in &widening {
                let _ = writeln!(out, "  {object}: {line}");
            }
            out.push('\n');
        }
    }
    for w in &plan.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for e in &plan.errors {
        let _ = writeln!(out, "error: {}", e.message);
    }
    if !objects.is_empty() {
        let _ = writeln!(out, "{}", plan.summary.line());
    }
    out
}

/// Markdown for a pull-request comment: the summary, the access widenings (outside the collapsed
/// sections, so they cannot be missed), the legend, then one collapsible section per kind.
pub fn markdown(plan: &ChangeSet) -> String {
    let mut out = String::from("### portalctl plan\n\n");
    let objects = plan.objects();
    if objects.is_empty() {
        out.push_str("**No changes.** The database and the Dashboards match the manifests.\n\n");
    } else {
        let _ = writeln!(out, "**{}**\n", plan.summary.line());
        let widening = widening_lines(&objects);
        if !widening.is_empty() {
            let _ = writeln!(out, "> [!WARNING]\n> **{}**", widening_title(&objects));
            for (object, line) in &widening {
                let _ = writeln!(out, "> - `{object}`: {}", html_escape(line));
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "Legend: {}\n",
            legend(&objects, " · ", |a| format!("`{}`", a.marker()))
        );
        let mut start = 0;
        while start < objects.len() {
            let kind = objects[start].kind;
            let end = objects[start..]
                .iter()
                .position(|o| o.kind != kind)
                .map_or(objects.len(), |n| start + n);
            let mut body = String::new();
            for (i, o) in objects[start..end].iter().enumerate() {
                if i > 0 {
                    body.push('\n');
                }
                write_object(&mut body, o, &|a: Action| a.marker().to_string());
            }
            let fence = fence_for(&body);
            let n = end - start;
            let _ = writeln!(
                out,
                "<details><summary>{kind} — {n} change{}</summary>\n\n{fence}diff\n{body}{fence}\n\n</details>\n",
                plural(n as u64)
            );
            start = end;
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

/// The JSON change set (the same document `plan --out` saves): one entry per object and target,
/// creations with their fields too.
pub fn json(plan: &ChangeSet) -> String {
    let mut plan = plan.clone();
    for c in &mut plan.changes {
        if c.fields.is_empty() {
            c.fields = c.shown_fields().into_owned();
        }
    }
    serde_json::to_string_pretty(&plan)
        .unwrap_or_else(|e| format!("{{\"errors\":[{{\"message\":\"cannot render plan: {e}\"}}]}}"))
}

/// `+ create  ~ update …` for the actions this change set uses, in the summary's order.
fn legend(objects: &[ObjectChange<'_>], sep: &str, marker: impl Fn(Action) -> String) -> String {
    let used = |a: Action| {
        objects
            .iter()
            .any(|o| o.action == a || o.changes.iter().any(|c| c.action == a))
    };
    Action::ALL
        .into_iter()
        .filter(|a| used(*a))
        .map(|a| match a {
            Action::Tag => format!("{} tag (adopt)", marker(a)),
            _ => format!("{} {}", marker(a), a.verb()),
        })
        .collect::<Vec<_>>()
        .join(sep)
}

/// One object: its line, the credentials involved, its access widenings, then each change under
/// its target.
fn write_object(out: &mut String, o: &ObjectChange<'_>, marker: &dyn Fn(Action) -> String) {
    let _ = writeln!(out, "{} {} {}", marker(o.action), o.kind, o.name);
    if let Some(i) = o.impact() {
        let _ = write!(
            out,
            "    impact: {} active credential{}",
            i.active_credentials,
            plural(i.active_credentials)
        );
        if i.revoked_credentials > 0 {
            let _ = write!(out, ", {} to be revoked", i.revoked_credentials);
        }
        out.push('\n');
    }
    let adopting = o.action == Action::Tag;
    for w in o.widens() {
        let _ = writeln!(
            out,
            "    ⚠ widens access: {} ({})",
            w.message,
            reach(w, adopting)
        );
    }
    for c in &o.changes {
        let _ = writeln!(out, "    {}: {} {}", target(c), marker(c.action), effect(c));
        for f in c.shown_fields().iter() {
            write_field(
                out,
                c.action,
                &f.path,
                f.before.as_ref(),
                f.after.as_ref(),
                "      ",
            );
        }
    }
}

fn target(c: &Change) -> String {
    match (c.target, &c.provider) {
        (Target::Dashboard, Some(p)) => format!("Dashboard {p}"),
        (Target::Dashboard, None) => "Dashboard".into(),
        (Target::Database, _) => "Database".into(),
    }
}

/// What a change does to its target, in words.
fn effect(c: &Change) -> String {
    let created_name = || {
        c.ops.iter().find_map(|op| match op {
            Op::CreatePolicy { policy, .. } => policy.get("name").and_then(Value::as_str),
            _ => None,
        })
    };
    let name = c
        .policy
        .as_ref()
        .map(|p| p.name.as_str())
        .or_else(created_name)
        .unwrap_or_default();
    let id = c.policy.as_ref().map(|p| p.id.as_str()).unwrap_or_default();
    match (c.target, c.action) {
        (Target::Dashboard, Action::Create) => format!("create policy {name:?}"),
        (Target::Dashboard, Action::Update) => format!("update policy {name:?}"),
        (Target::Dashboard, Action::Tag) => {
            format!("adopt policy {name:?} (id {id}): ownership tags added")
        }
        (Target::Dashboard, Action::Retire) => {
            format!("retire policy {name:?}: set to draft, existing keys keep working")
        }
        (Target::Dashboard, Action::Delete) => format!("delete policy {name:?}"),
        (Target::Dashboard, Action::Release) => {
            format!("release policy {name:?} (id {id}): ownership tag removed, policy kept")
        }
        (Target::Database, Action::Retire) => {
            "retire: hidden from catalogs, no new requests".into()
        }
        (Target::Database, a) => a.verb().into(),
    }
}

/// How many credentials a widening reaches, in words.
fn reach(w: &Widening, adopting: bool) -> String {
    let n = w.active_credentials;
    if adopting {
        format!(
            "reaches {n} active credential{} issued by this portal, and any keys issued elsewhere under this policy",
            plural(n)
        )
    } else {
        format!("reaches {n} active credential{}", plural(n))
    }
}

fn widening_title(objects: &[ObjectChange<'_>]) -> String {
    let n = objects
        .iter()
        .filter(|o| o.widens().next().is_some())
        .count();
    format!(
        "{n} object{} widen{} access:",
        plural(n as u64),
        if n == 1 { "s" } else { "" }
    )
}

/// One entry per widening, for the closing block: the object (`~ Plan free`) and the warning
/// with its reach.
fn widening_lines(objects: &[ObjectChange<'_>]) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    let mut more = 0;
    for o in objects {
        for w in o.widens() {
            if lines.len() < MAX_WIDENING_SUMMARY {
                lines.push((
                    format!("{} {} {}", o.action.marker(), o.kind, o.name),
                    format!("{} ({})", w.message, reach(w, o.action == Action::Tag)),
                ));
            } else {
                more += 1;
            }
        }
    }
    if more > 0 {
        lines.push((
            "…".to_owned(),
            format!("and {more} more, each shown under its object"),
        ));
    }
    lines
}

/// A code fence longer than any run of backticks in the body (markdown content may hold fences).
fn fence_for(body: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for ch in body.chars() {
        if ch == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
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
