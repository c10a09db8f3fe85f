//! YAML as written: the documents of a file read into nodes that keep every scalar's source text,
//! quoting style and position, with anchors, aliases and `<<` merge keys resolved.
//!
//! Built on `yaml-rust2`'s event parser. This module decides nothing about manifests, not even
//! which plain scalars are numbers: `convert` types each scalar by what the schema wants at its
//! place, so `apiId: 0042` can stay `0042`. Problems (syntax errors, duplicate keys, unknown
//! anchors) are collected per document, and a syntax error ends only its own document: reading
//! resumes at the next `---` line, so one broken document never hides the others.

use std::borrow::Cow;
use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use super::positions::{field_path, push_token, Pos};

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Unquoted: YAML may read it as a number, boolean or null.
    Plain,
    /// In single or double quotes: always text.
    Quoted,
    /// A literal (`|`) or folded (`>`) block: always text.
    Block,
}

/// One node of a document.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where it starts (for an empty value: where its key is).
    pub pos: Pos,
    /// Its tag as written (`!!str`, `!custom`), if any.
    pub tag: Option<Box<str>>,
    /// What it holds.
    pub kind: NodeKind,
}

/// The three kinds of YAML nodes.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A scalar and its text as written (after quotes and escapes are resolved).
    Scalar {
        /// The text.
        text: String,
        /// How it was written.
        style: Style,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, its entries in the order written (merged entries after explicit ones).
    Map(Vec<Entry>),
}

/// A mapping entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key (a scalar in every manifest; other keys are reported by `convert`).
    pub key: Node,
    /// The value.
    pub value: Node,
}

impl Node {
    /// The text of a scalar.
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The entry of a mapping whose key is `key`.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            NodeKind::Map(entries) => entries.iter().find(|e| e.key.text() == Some(key)),
            _ => None,
        }
    }

    /// The value of a mapping's `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// True for a plain, untagged scalar that YAML reads as null (`~`, `null`, nothing).
    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Scalar { text, style } => {
                (*style == Style::Plain && self.tag.is_none() && is_null_word(text))
                    || self.tag.as_deref() == Some("!!null")
            }
            _ => false,
        }
    }

    /// The node as a YAML 1.2 reader that knows no schema sees it (an editor, before it applies
    /// a JSON Schema): plain scalars typed by the core schema, numbers JSON cannot hold as text.
    /// Manifests are read with `convert` instead, which takes text where text is wanted.
    pub fn to_json_1_2(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Scalar { text, style } => {
                use super::convert::{resolve_plain, Plain};
                let typed = match (style, self.tag.as_deref()) {
                    (Style::Plain, None) | (_, Some("!!int" | "!!float" | "!!bool")) => true,
                    (_, Some("!!null")) => return Value::Null,
                    _ => false,
                };
                match resolve_plain(text) {
                    Plain::Null if typed => Value::Null,
                    Plain::Bool(b) if typed => Value::Bool(b),
                    Plain::Number(n) if typed => Value::Number(n),
                    _ => Value::String(text.clone()),
                }
            }
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json_1_2).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| {
                        let key = e.key.text().unwrap_or_default().to_owned();
                        (key, e.value.to_json_1_2())
                    })
                    .collect(),
            ),
        }
    }

    /// Number of nodes in this tree, for the alias expansion budget.
    fn size(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Scalar { .. } => 0,
            NodeKind::Seq(items) => items.iter().map(Node::size).sum(),
            NodeKind::Map(entries) => entries.iter().map(|e| e.key.size() + e.value.size()).sum(),
        }
    }
}

/// The words YAML 1.2 reads as null.
pub fn is_null_word(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Something wrong with the YAML of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub pos: Pos,
    /// What, lowercase, without trailing period.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

/// One document of a file.
#[derive(Debug, Clone)]
pub struct Document {
    /// Where it starts (its `---`, or its first token).
    pub start: Pos,
    /// Its content; after a syntax error, what was read before it.
    pub root: Option<Node>,
    /// What is wrong with its YAML. A document with problems is not checked further.
    pub problems: Vec<Problem>,
}

/// Aliases may expand to at most this many nodes per document, so that a few lines of nested
/// aliases ("billion laughs") cannot exhaust memory.
const ALIAS_BUDGET: usize = 100_000;

/// Line starts of a text, to turn the parser's character offsets into lines and columns.
/// Only `\n` ends a line, as in editors and `str::lines` (the parser also counts a lone `\r`).
struct Lines<'t> {
    text: Cow<'t, str>,
    /// (character offset, byte offset) of the start of each line.
    starts: Vec<(usize, usize)>,
    /// Spaces inserted at the start of 0-based lines (see [`Outcome::Relax`]); columns on those
    /// lines are given as in the file.
    inserted: Vec<(usize, usize)>,
}

impl<'t> Lines<'t> {
    fn new(text: Cow<'t, str>, inserted: Vec<(usize, usize)>) -> Self {
        let mut starts = vec![(0, 0)];
        for (chars, (byte, c)) in text.char_indices().enumerate() {
            if c == '\n' {
                starts.push((chars + 1, byte + 1));
            }
        }
        Lines {
            text,
            starts,
            inserted,
        }
    }

    /// The 0-based line holding a character offset.
    fn line_of(&self, chars: usize) -> usize {
        self.starts
            .partition_point(|s| s.0 <= chars)
            .saturating_sub(1)
    }

    fn pos(&self, chars: usize) -> Pos {
        let line = self.line_of(chars);
        let mut column = chars - self.starts[line].0 + 1;
        if let Some((_, n)) = self.inserted.iter().find(|(l, _)| *l == line) {
            column = column.saturating_sub(*n).max(1);
        }
        Pos {
            line: u32::try_from(line + 1).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
        }
    }

    /// The character at a character offset.
    fn char_at(&self, chars: usize) -> Option<char> {
        let line = self.line_of(chars);
        let (c0, b0) = self.starts[line];
        self.text[b0..].chars().nth(chars - c0)
    }

    /// The text of a 0-based line, without its line break.
    fn line_text(&self, line: usize) -> &str {
        let start = self.starts[line].1;
        let end = self.starts.get(line + 1).map_or(self.text.len(), |s| s.1);
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// The first line at or after the 0-based `from` that starts a new document (`---` followed by
    /// a space, a tab or the end of the line).
    fn next_document_line(&self, from: usize) -> Option<usize> {
        (from..self.starts.len()).find(|&l| {
            let rest = &self.text[self.starts[l].1..];
            rest.strip_prefix("---")
                .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t', '\r', '\n']))
        })
    }
}

/// How reading from a line ended.
enum Outcome {
    /// At the end of the text.
    Done,
    /// At a syntax error, in the document that starts on this 0-based line.
    Failed(usize),
    /// At a closing `]` or `}` indented no further than the key its flow collection belongs to:
    /// strict YAML refuses it, but editors and most parsers accept it (`products: [` … `]`), and
    /// so does portalctl by reading the document again with that line indented by `spaces`.
    Relax {
        document: usize,
        line: usize,
        spaces: usize,
    },
}

/// Reads every document of `text`.
pub fn read(text: &str) -> Vec<Document> {
    let mut lines = Lines::new(Cow::Borrowed(text), Vec::new());
    let mut docs = Vec::new();
    let mut from_line = 0;
    loop {
        let mut reader = Reader::new(&lines, from_line);
        match reader.run(&mut docs) {
            Outcome::Done => break,
            // A syntax error ends the document it is in; the next one starts at the next `---`.
            Outcome::Failed(failed_line) => match lines.next_document_line(failed_line + 1) {
                Some(l) => from_line = l,
                None => break,
            },
            Outcome::Relax {
                document,
                line,
                spaces,
            } => {
                let mut patched = lines.text.to_string();
                patched.insert_str(lines.starts[line].1, &" ".repeat(spaces));
                let mut inserted = std::mem::take(&mut lines.inserted);
                inserted.push((line, spaces));
                lines = Lines::new(Cow::Owned(patched), inserted);
                from_line = document;
            }
        }
    }
    docs
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        tag: Option<Box<str>>,
        items: Vec<Node>,
        flow: Option<(Pos, char)>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        tag: Option<Box<str>>,
        entries: Vec<Entry>,
        key: Option<Node>,
        flow: Option<(Pos, char)>,
    },
}

/// Reads from one line to the end of the text or the first syntax error.
struct Reader<'a, 't> {
    lines: &'a Lines<'t>,
    /// Character offset of the text this reader parses.
    offset: usize,
    from_line: usize,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    expanded: usize,
    doc: Option<Document>,
}

fn tag_text(tag: Option<Tag>) -> Option<Box<str>> {
    tag.map(|t| {
        if t.handle == "tag:yaml.org,2002:" {
            format!("!!{}", t.suffix).into()
        } else {
            format!("{}{}", t.handle, t.suffix).into()
        }
    })
}

impl<'a, 't> Reader<'a, 't> {
    fn new(lines: &'a Lines<'t>, from_line: usize) -> Self {
        Reader {
            lines,
            offset: lines.starts[from_line].0,
            from_line,
            stack: Vec::new(),
            anchors: HashMap::new(),
            expanded: 0,
            doc: None,
        }
    }

    fn pos(&self, chars: usize) -> Pos {
        self.lines.pos(self.offset + chars)
    }

    /// Parses until the end or a syntax error.
    fn run(&mut self, docs: &mut Vec<Document>) -> Outcome {
        let text = &self.lines.text[self.lines.starts[self.from_line].1..];
        let mut parser = Parser::new_from_str(text);
        loop {
            let (event, mark) = match parser.next_token() {
                Ok(x) => x,
                Err(e) => {
                    if e.info() == "invalid indentation" {
                        if let Some(relax) = self.relaxation(e.marker().index()) {
                            return relax;
                        }
                    }
                    let pos = self.pos(e.marker().index());
                    let hint = self.unclosed_flow(pos);
                    let start = self.open_document(pos);
                    self.collapse();
                    let mut doc = self.doc.take().unwrap_or(Document {
                        start,
                        root: None,
                        problems: Vec::new(),
                    });
                    doc.problems.push(Problem {
                        pos,
                        message: format!("invalid YAML: {}", e.info()),
                        hint,
                    });
                    let failed_line = (doc.start.line as usize).saturating_sub(1);
                    docs.push(doc);
                    return Outcome::Failed(failed_line.max(self.from_line));
                }
            };
            let pos = self.pos(mark.index());
            match event {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => {
                    self.finish(docs);
                    return Outcome::Done;
                }
                Event::DocumentStart => {
                    self.finish(docs);
                    self.open_document(pos);
                }
                Event::DocumentEnd => self.finish(docs),
                Event::Alias(id) => {
                    self.open_document(pos);
                    let node = self.alias(id, pos);
                    self.attach(node, mark.index());
                }
                Event::Scalar(text, style, anchor, tag) => {
                    self.open_document(pos);
                    let style = match style {
                        TScalarStyle::Plain => Style::Plain,
                        TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => Style::Quoted,
                        _ => Style::Block,
                    };
                    let node = Node {
                        pos,
                        tag: tag_text(tag),
                        kind: NodeKind::Scalar { text, style },
                    };
                    self.remember(anchor, &node);
                    self.attach(node, mark.index());
                }
                Event::SequenceStart(anchor, tag) => {
                    self.open_document(pos);
                    let flow = self.flow_at(mark.index(), pos);
                    self.stack.push(Frame::Seq {
                        pos,
                        anchor,
                        tag: tag_text(tag),
                        items: Vec::new(),
                        flow,
                    });
                }
                Event::MappingStart(anchor, tag) => {
                    self.open_document(pos);
                    let flow = self.flow_at(mark.index(), pos);
                    self.stack.push(Frame::Map {
                        pos,
                        anchor,
                        tag: tag_text(tag),
                        entries: Vec::new(),
                        key: None,
                        flow,
                    });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    if let Some(frame) = self.stack.pop() {
                        let (node, anchor) = self.close(frame, true);
                        self.remember(anchor, &node);
                        self.attach(node, mark.index());
                    }
                }
            }
        }
    }

    /// A closing bracket alone at the start of its line, indented no further than the line that
    /// opened its flow collection: read the document again with the bracket indented one space
    /// further than that line (once per line).
    fn relaxation(&self, chars: usize) -> Option<Outcome> {
        let at = self.offset + chars;
        let line = self.lines.line_of(at);
        if self.lines.inserted.iter().any(|(l, _)| *l == line) {
            return None;
        }
        let text = self.lines.line_text(line);
        let indent = text.len() - text.trim_start_matches(' ').len();
        if !text[indent..].starts_with([']', '}']) {
            return None;
        }
        let opened = self.stack.iter().rev().find_map(|f| match f {
            Frame::Seq { flow, .. } | Frame::Map { flow, .. } => flow.map(|(p, _)| p.line),
        })?;
        let opening = self.lines.line_text(opened as usize - 1);
        let wanted = opening.len() - opening.trim_start_matches(' ').len() + 1;
        let document = self
            .doc
            .as_ref()
            .map_or(self.from_line, |d| d.start.line as usize - 1);
        (wanted > indent).then_some(Outcome::Relax {
            document: document.max(self.from_line),
            line,
            spaces: wanted - indent,
        })
    }

    /// Starts a document at `pos` unless one is open; returns where the open one starts.
    fn open_document(&mut self, pos: Pos) -> Pos {
        self.doc
            .get_or_insert_with(|| Document {
                start: pos,
                root: None,
                problems: Vec::new(),
            })
            .start
    }

    fn finish(&mut self, docs: &mut Vec<Document>) {
        self.collapse();
        if let Some(doc) = self.doc.take() {
            docs.push(doc);
        }
        self.anchors.clear();
        self.expanded = 0;
    }

    fn problem(&mut self, pos: Pos, message: String, hint: Option<String>) {
        let start = self.open_document(pos);
        let doc = self.doc.get_or_insert_with(|| Document {
            start,
            root: None,
            problems: Vec::new(),
        });
        doc.problems.push(Problem { pos, message, hint });
    }

    /// The bracket that opens a flow collection at this offset, if it is one.
    fn flow_at(&self, chars: usize, pos: Pos) -> Option<(Pos, char)> {
        match self.lines.char_at(self.offset + chars) {
            Some(c @ ('[' | '{')) => Some((pos, c)),
            _ => None,
        }
    }

    /// A hint for an error inside a flow collection opened on an earlier line: the usual cause is
    /// a missing `]` or `}`.
    fn unclosed_flow(&self, at: Pos) -> Option<String> {
        self.stack.iter().rev().find_map(|f| {
            let flow = match f {
                Frame::Seq { flow, .. } | Frame::Map { flow, .. } => *flow,
            };
            flow.filter(|(p, _)| p.line < at.line).map(|(p, c)| {
                format!(
                    "the `{c}` at line {}, column {} is not closed",
                    p.line, p.column
                )
            })
        })
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), node.size()));
        }
    }

    fn alias(&mut self, id: usize, pos: Pos) -> Node {
        let empty = Node {
            pos,
            tag: None,
            kind: NodeKind::Scalar {
                text: String::new(),
                style: Style::Plain,
            },
        };
        let Some((node, size)) = self.anchors.get(&id) else {
            self.problem(pos, "unknown anchor".into(), None);
            return empty;
        };
        if self.expanded + size > ALIAS_BUDGET {
            self.problem(
                pos,
                format!("aliases expand to more than {ALIAS_BUDGET} values in this document"),
                Some("write the values out, or use fewer nested aliases".into()),
            );
            return empty;
        }
        self.expanded += size;
        // The alias stands where it is written; what it copies keeps the anchor's positions.
        let mut node = node.clone();
        node.pos = pos;
        node
    }

    /// Adds a finished node to the collection being read (or makes it the document's root).
    fn attach(&mut self, mut node: Node, chars: usize) {
        let empty_plain = matches!(&node.kind, NodeKind::Scalar { text, style: Style::Plain } if text.is_empty())
            && node.tag.is_none();
        // The parser places an empty sequence item at the next token; its `-` is the place.
        let dash = match self.stack.last() {
            Some(Frame::Seq { .. }) if empty_plain => self.dash_before(chars),
            _ => None,
        };
        match self.stack.last_mut() {
            None => {
                if let Some(doc) = self.doc.as_mut() {
                    doc.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => {
                if let Some(dash) = dash {
                    node.pos = dash;
                }
                items.push(node);
            }
            Some(Frame::Map {
                entries, key, pos, ..
            }) => match key.take() {
                None => {
                    // The parser marks a block mapping after its first key's first character.
                    if node.pos < *pos {
                        *pos = node.pos;
                    }
                    *key = Some(node);
                }
                Some(k) => {
                    if empty_plain {
                        // The parser places an empty value at the next token, often on the next
                        // line; its key is where the user looks.
                        node.pos = k.pos;
                    }
                    entries.push(Entry {
                        key: k,
                        value: node,
                    });
                }
            },
        }
    }

    /// The position of the `-` before an empty sequence item. The parser marks the item at the
    /// next token, which may be the next item's content (`- x`), so a dash on that token's own
    /// line is the next item's and is passed over.
    fn dash_before(&self, chars: usize) -> Option<Pos> {
        let at = self.offset + chars;
        let marker_line = self.lines.line_of(at);
        let mut i = at;
        let mut passed_next = false;
        while i > 0 {
            i -= 1;
            match self.lines.char_at(i)? {
                ' ' | '\t' | '\r' | '\n' => continue,
                '-' if !passed_next && self.lines.line_of(i) == marker_line && i + 1 < at => {
                    passed_next = true;
                }
                '-' => return Some(self.lines.pos(i)),
                _ => return None,
            }
        }
        None
    }

    /// Turns a finished (or, after an error, an unfinished) collection into a node: a mapping's
    /// duplicate keys are reported and its `<<` merge keys applied.
    fn close(&mut self, frame: Frame, finished: bool) -> (Node, usize) {
        match frame {
            Frame::Seq {
                pos,
                anchor,
                tag,
                items,
                ..
            } => (
                Node {
                    pos,
                    tag,
                    kind: NodeKind::Seq(items),
                },
                anchor,
            ),
            Frame::Map {
                pos,
                anchor,
                tag,
                entries,
                ..
            } => {
                let entries = if finished {
                    self.close_map(entries)
                } else {
                    entries
                };
                (
                    Node {
                        pos,
                        tag,
                        kind: NodeKind::Map(entries),
                    },
                    anchor,
                )
            }
        }
    }

    /// The path of the collection about to be attached, for messages (`spec.apis[0]`).
    fn path_here(&self) -> String {
        let mut pointer = String::new();
        for f in &self.stack {
            match f {
                Frame::Seq { items, .. } => push_token(&mut pointer, &items.len().to_string()),
                Frame::Map { key, .. } => push_token(
                    &mut pointer,
                    key.as_ref().and_then(Node::text).unwrap_or("?"),
                ),
            }
        }
        pointer
    }

    fn close_map(&mut self, entries: Vec<Entry>) -> Vec<Entry> {
        // Duplicate keys: each is reported at the repeated key, and only the first is kept.
        let mut keep = vec![true; entries.len()];
        if entries.len() > 1 {
            let mut keyed: Vec<(&str, usize)> = entries
                .iter()
                .enumerate()
                .filter_map(|(i, e)| e.key.text().map(|t| (t, i)))
                .collect();
            keyed.sort_unstable();
            let mut found = Vec::new();
            for w in keyed.windows(2) {
                if w[0].0 == w[1].0 {
                    keep[w[1].1] = false;
                    // The first of a run of equal keys is the original.
                    let first = keyed
                        .iter()
                        .find(|(t, _)| *t == w[0].0)
                        .map_or(w[0].1, |x| x.1);
                    found.push((w[1].1, first));
                }
            }
            if !found.is_empty() {
                let path = field_path(&self.path_here());
                found.sort_unstable();
                for (dup, first) in found {
                    let (k, f) = (&entries[dup].key, &entries[first].key);
                    let within = if path == "the document" {
                        String::new()
                    } else {
                        format!(" in `{path}`")
                    };
                    let message =
                        format!("duplicate key `{}`{within}", k.text().unwrap_or_default());
                    let hint = format!(
                        "it is set already at line {}, column {}; a key may appear once per mapping",
                        f.pos.line, f.pos.column
                    );
                    let pos = k.pos;
                    self.problem(pos, message, Some(hint));
                }
            }
        }
        let is_merge = |e: &Entry| {
            e.key.tag.is_none()
                && matches!(&e.key.kind, NodeKind::Scalar { text, style: Style::Plain } if text == "<<")
        };
        if !entries.iter().any(is_merge) {
            return entries
                .into_iter()
                .zip(keep)
                .filter_map(|(e, k)| k.then_some(e))
                .collect();
        }
        // `<<: *base` or `<<: [*a, *b]`: the mapping's own keys win, then earlier sources.
        let mut own = Vec::new();
        let mut sources = Vec::new();
        for (e, k) in entries.into_iter().zip(keep) {
            if !k {
                continue;
            }
            if is_merge(&e) {
                sources.push(e.value);
            } else {
                own.push(e);
            }
        }
        let mut merged = Vec::new();
        for source in sources {
            let maps = match source.kind {
                NodeKind::Map(m) => vec![m],
                NodeKind::Seq(items) => {
                    let mut maps = Vec::new();
                    for item in items {
                        match item.kind {
                            NodeKind::Map(m) => maps.push(m),
                            _ => self.problem(
                                item.pos,
                                "a `<<` merge key must name a mapping or a list of mappings".into(),
                                None,
                            ),
                        }
                    }
                    maps
                }
                _ => {
                    self.problem(
                        source.pos,
                        "a `<<` merge key must name a mapping or a list of mappings".into(),
                        None,
                    );
                    continue;
                }
            };
            merged.extend(maps.into_iter().flatten());
        }
        for e in merged {
            let taken = own
                .iter()
                .any(|o: &Entry| o.key.text().is_some() && o.key.text() == e.key.text());
            if !taken {
                own.push(e);
            }
        }
        own
    }

    /// After a syntax error: closes every open collection so the document keeps what was read
    /// (its kind and name, so references to it do not fail as well).
    fn collapse(&mut self) {
        while let Some(frame) = self.stack.pop() {
            let (node, _) = self.close(frame, false);
            self.attach(node, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: u32, column: u32) -> Pos {
        Pos { line, column }
    }

    fn scalar<'n>(n: &'n Node, path: &[&str]) -> &'n Node {
        let mut n = n;
        for k in path {
            n = match &n.kind {
                NodeKind::Seq(items) => &items[k.parse::<usize>().unwrap()],
                _ => n.get(k).unwrap_or_else(|| panic!("no {k}")),
            };
        }
        n
    }

    #[test]
    fn keeps_text_style_and_positions() {
        let docs = read("a: 0042\nb: '12'\nc: |\n  x\nd: [1, {e: yes}]\n");
        assert_eq!(docs.len(), 1);
        let root = docs[0].root.as_ref().unwrap();
        let a = scalar(root, &["a"]);
        assert_eq!(a.text(), Some("0042"));
        assert!(matches!(
            a.kind,
            NodeKind::Scalar {
                style: Style::Plain,
                ..
            }
        ));
        assert_eq!(a.pos, p(1, 4));
        assert!(matches!(
            scalar(root, &["b"]).kind,
            NodeKind::Scalar {
                style: Style::Quoted,
                ..
            }
        ));
        assert!(matches!(
            scalar(root, &["c"]).kind,
            NodeKind::Scalar {
                style: Style::Block,
                ..
            }
        ));
        assert_eq!(scalar(root, &["d", "1", "e"]).pos, p(5, 12));
        assert_eq!(root.pos, p(1, 1));
    }

    #[test]
    fn lone_carriage_returns_do_not_count_as_lines() {
        // The parser would say line 2 for `b`; editors and `str::lines` say line 1.
        let docs = read("a: 1\rb: 2\nc: 3\n");
        let root = docs[0].root.as_ref().unwrap();
        assert_eq!(scalar(root, &["c"]).pos, p(2, 4));
        let docs = read("é: [\nc");
        assert_eq!(docs[0].problems[0].pos.line, 2);
    }

    #[test]
    fn empty_values_are_placed_at_their_key_or_dash() {
        let docs = read("a:\nb:\n  -\n  - x\n  -\nc: [-]\n");
        let root = docs[0].root.as_ref().unwrap();
        assert_eq!(scalar(root, &["a"]).pos, p(1, 1));
        assert_eq!(scalar(root, &["b", "0"]).pos, p(3, 3));
        assert_eq!(scalar(root, &["b", "2"]).pos, p(5, 3));
    }

    #[test]
    fn a_syntax_error_ends_only_its_document() {
        let text = "a: 1\n---\nb: [x\nc: 2\n---\nd: 4\n---\ne: {\n";
        let docs = read(text);
        assert_eq!(docs.len(), 4, "{docs:#?}");
        assert!(docs[0].problems.is_empty());
        assert_eq!(docs[1].problems.len(), 1);
        assert_eq!(
            docs[1].problems[0].hint.as_deref(),
            Some("the `[` at line 3, column 4 is not closed")
        );
        // What was read before the error is kept.
        assert!(docs[1].root.as_ref().unwrap().get("b").is_some());
        assert!(docs[2].problems.is_empty());
        assert_eq!(scalar(docs[2].root.as_ref().unwrap(), &["d"]).pos, p(6, 4));
        assert_eq!(docs[3].problems.len(), 1);
    }

    #[test]
    fn closing_brackets_may_sit_at_their_key_indentation() {
        // Strict YAML wants the `]` indented further than `products`; editors do not.
        let text = "spec:\n  products: [\n    'a',\n    \"b\"\n  ]\n  plans: {\n    x: 'y'\n  }\n---\nc: [\n  'z'\n]\n";
        let docs = read(text);
        assert_eq!(docs.len(), 2);
        assert!(docs.iter().all(|d| d.problems.is_empty()), "{docs:#?}");
        let root = docs[0].root.as_ref().unwrap();
        assert_eq!(scalar(root, &["spec", "products", "1"]).text(), Some("b"));
        assert_eq!(scalar(root, &["spec", "products", "1"]).pos, p(4, 5));
        assert_eq!(scalar(root, &["spec", "plans", "x"]).pos, p(7, 8));
        assert_eq!(
            scalar(docs[1].root.as_ref().unwrap(), &["c", "0"]).pos,
            p(11, 3)
        );
        // A bracket that closes nothing stays an error.
        let docs = read("a: 1\n]\n");
        assert_eq!(docs[0].problems.len(), 1);
    }

    #[test]
    fn duplicate_keys_point_at_the_repeated_key() {
        let docs = read("a: 1\nspec:\n  b: 1\n  c: 2\n  b: 3\n");
        let probs = &docs[0].problems;
        assert_eq!(probs.len(), 1);
        assert_eq!(probs[0].pos, p(5, 3));
        assert_eq!(probs[0].message, "duplicate key `b` in `spec`");
        assert_eq!(
            probs[0].hint.as_deref(),
            Some("it is set already at line 3, column 3; a key may appear once per mapping")
        );
        let docs = read("x: 1\nx: 2\nx: 3\n");
        let lines: Vec<u32> = docs[0].problems.iter().map(|p| p.pos.line).collect();
        assert_eq!(lines, [2, 3]);
        assert!(docs[0].problems[1]
            .hint
            .as_deref()
            .unwrap()
            .contains("line 1"));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let docs = read("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nlist: [&i 7, *i]\n");
        assert!(docs[0].problems.is_empty(), "{:?}", docs[0].problems);
        let root = docs[0].root.as_ref().unwrap();
        assert_eq!(scalar(root, &["use", "x"]).text(), Some("1"));
        assert_eq!(scalar(root, &["use", "y"]).text(), Some("3"));
        assert_eq!(scalar(root, &["list", "1"]).text(), Some("7"));
        assert_eq!(scalar(root, &["list", "1"]).pos, p(5, 14));
        let docs = read("a: *nope\n");
        assert_eq!(
            docs[0].problems[0].message,
            "invalid YAML: while parsing node, found unknown anchor"
        );
        let docs = read("a: {<<: 1}\n");
        assert!(docs[0].problems[0].message.contains("merge key"));
    }

    #[test]
    fn nested_aliases_stop_at_the_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let j = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}, *a{j}]\n"
            ));
        }
        let docs = read(&text);
        assert!(docs[0].problems[0].message.contains("aliases expand"));
    }
}
