//! Where each value of a YAML file sits: an index "JSON pointer → (line, column)" per document.
//!
//! `serde_yaml` gives us values but no positions, so this module runs a second, event-level parse
//! with `yaml-rust2` and records the marker of every key and value. It owns nothing else: it never
//! decides whether a document is valid, and when `yaml-rust2` stops on input that `serde_yaml`
//! accepted (or the reverse) it simply knows fewer positions, and callers fall back to the nearest
//! enclosing value or to the document's start.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl Pos {
    /// The first character of a file.
    pub const START: Pos = Pos { line: 1, column: 1 };

    fn from_marker(m: Marker) -> Pos {
        // yaml-rust2 0.10 counts lines from 1 and columns from 0 (checked by
        // `markers_are_one_based_lines_zero_based_columns` below); we print both from 1.
        Pos {
            line: u32::try_from(m.line()).unwrap_or(u32::MAX).max(1),
            column: u32::try_from(m.col())
                .unwrap_or(u32::MAX - 1)
                .saturating_add(1),
        }
    }
}

/// Position of one node: its key (for mapping entries) and its value.
#[derive(Debug, Clone, Copy)]
struct NodePos {
    key: Option<Pos>,
    value: Pos,
}

/// Positions of the values of one YAML document.
#[derive(Debug, Clone)]
pub struct DocPositions {
    /// Where the document starts (its `---` or first token).
    pub start: Pos,
    nodes: HashMap<String, NodePos>,
}

impl DocPositions {
    fn new(start: Pos) -> Self {
        DocPositions {
            start,
            nodes: HashMap::new(),
        }
    }

    /// A document of which nothing is known, for when the event parser gave up early.
    pub fn unknown(start: Pos) -> Self {
        DocPositions::new(start)
    }

    /// The position of the value at `pointer`, or of its nearest known ancestor.
    pub fn value(&self, pointer: &str) -> Pos {
        self.lookup(pointer, false)
    }

    /// The position of the key at `pointer` (for mapping entries), else of the value.
    pub fn key(&self, pointer: &str) -> Pos {
        self.lookup(pointer, true)
    }

    /// True when the exact pointer is known.
    pub fn contains(&self, pointer: &str) -> bool {
        self.nodes.contains_key(pointer)
    }

    fn lookup(&self, pointer: &str, prefer_key: bool) -> Pos {
        let mut p = pointer;
        loop {
            if let Some(n) = self.nodes.get(p) {
                return match (prefer_key, n.key) {
                    (true, Some(k)) => k,
                    _ => n.value,
                };
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return self.start,
            }
        }
    }
}

/// Appends one RFC 6901 reference token to a pointer.
pub fn push_token(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// A pointer with one more token.
pub fn child(pointer: &str, token: &str) -> String {
    let mut p = String::with_capacity(pointer.len() + token.len() + 1);
    p.push_str(pointer);
    push_token(&mut p, token);
    p
}

enum Frame {
    Mapping {
        pointer: String,
        /// `None` while waiting for a key; the key text and its position while waiting for the
        /// value. A complex (non-scalar) key gets an impossible token so nothing matches it.
        key: Option<(String, Pos)>,
    },
    Sequence {
        pointer: String,
        next: usize,
    },
    /// Inside a complex mapping key: nothing in it is addressable by a JSON pointer.
    Skip {
        depth: usize,
    },
}

/// Indexes every document of `text`. Documents appear in stream order, so they line up with the
/// documents `serde_yaml` yields for the same text.
pub fn index(text: &str) -> Vec<DocPositions> {
    let mut docs = Vec::new();
    let mut current: Option<DocPositions> = None;
    let mut stack: Vec<Frame> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    // The pull API is used instead of `Parser::load` so that a malformed stream just ends the
    // index (we keep what we have) rather than reaching the loader's internal assertions.
    while let Ok((event, mark)) = parser.next_token() {
        let pos = Pos::from_marker(mark);
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart => {
                if let Some(d) = current.take() {
                    docs.push(d);
                }
                current = Some(DocPositions::new(pos));
                stack.clear();
            }
            Event::DocumentEnd => {
                if let Some(d) = current.take() {
                    docs.push(d);
                }
                stack.clear();
            }
            Event::MappingEnd | Event::SequenceEnd => {
                match stack.last_mut() {
                    Some(Frame::Skip { depth }) if *depth > 1 => *depth -= 1,
                    Some(Frame::Skip { .. }) => {
                        stack.pop();
                        // The complex key is over; its value comes next.
                        if let Some(Frame::Mapping { key, .. }) = stack.last_mut() {
                            *key = Some(("\u{0}complex-key".into(), pos));
                        }
                    }
                    _ => {
                        stack.pop();
                    }
                }
            }
            Event::Scalar(..)
            | Event::Alias(_)
            | Event::MappingStart(..)
            | Event::SequenceStart(..) => {
                let Some(doc) = current.as_mut() else {
                    continue;
                };
                let opens = matches!(event, Event::MappingStart(..) | Event::SequenceStart(..));
                // Where does this node go?
                let placed: Option<(String, Option<Pos>)> = match stack.last_mut() {
                    None => Some((String::new(), None)),
                    Some(Frame::Skip { depth }) => {
                        if opens {
                            *depth += 1;
                        }
                        continue;
                    }
                    Some(Frame::Sequence { pointer, next }) => {
                        let p = child(pointer, &next.to_string());
                        *next += 1;
                        Some((p, None))
                    }
                    Some(Frame::Mapping { pointer, key }) => match key.take() {
                        Some((k, kpos)) => Some((child(pointer, &k), Some(kpos))),
                        None => {
                            // yaml-rust2 marks a block mapping one character after its first
                            // key; the first key is the better place for the mapping itself.
                            if let Some(n) = doc.nodes.get_mut(pointer.as_str()) {
                                if pos < n.value {
                                    n.value = pos;
                                }
                            }
                            match &event {
                                Event::Scalar(s, ..) => *key = Some((s.clone(), pos)),
                                Event::Alias(_) => *key = Some(("\u{0}alias-key".into(), pos)),
                                _ => stack.push(Frame::Skip { depth: 1 }),
                            }
                            None
                        }
                    },
                };
                if let Some((pointer, key)) = placed {
                    doc.nodes
                        .entry(pointer.clone())
                        .or_insert(NodePos { key, value: pos });
                    match event {
                        Event::MappingStart(..) => {
                            stack.push(Frame::Mapping { pointer, key: None })
                        }
                        Event::SequenceStart(..) => {
                            stack.push(Frame::Sequence { pointer, next: 0 })
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    if let Some(d) = current.take() {
        docs.push(d);
    }
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: u32, column: u32) -> Pos {
        Pos { line, column }
    }

    #[test]
    fn markers_are_one_based_lines_zero_based_columns() {
        // "b" sits on line 2 (1-based), character 4 (1-based).
        let mut parser = Parser::new_from_str("a: 1\nb:  x\n");
        let mut found = None;
        while let Ok((ev, m)) = parser.next_token() {
            if ev == Event::StreamEnd {
                break;
            }
            if let Event::Scalar(s, ..) = &ev {
                if s == "x" {
                    found = Some((m.line(), m.col()));
                }
            }
        }
        assert_eq!(found, Some((2, 4)), "yaml-rust2 marker convention changed");
    }

    #[test]
    fn indexes_keys_and_values_of_nested_documents() {
        let text = "a: 1\nb:\n  - x\n  - {y: z}\n---\nc: [1, 2]\n";
        let docs = index(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value("/a"), p(1, 4));
        assert_eq!(docs[0].key("/a"), p(1, 1));
        assert_eq!(docs[0].value("/b/0"), p(3, 5));
        assert_eq!(docs[0].value("/b/1/y"), p(4, 9));
        assert_eq!(docs[0].key("/b/1/y"), p(4, 6));
        // Unknown pointers fall back to the nearest ancestor.
        assert_eq!(docs[0].value("/b/1/nope/deeper"), p(4, 5));
        assert_eq!(docs[1].value("/c/1"), p(6, 8));
    }

    #[test]
    fn escapes_pointer_tokens_and_skips_complex_keys() {
        let text = "\"a/b\": 1\n? [k]\n: 2\nc~d: 3\n";
        let docs = index(text);
        assert_eq!(docs[0].value("/a~1b"), p(1, 8));
        assert_eq!(docs[0].value("/c~0d"), p(4, 6));
    }

    #[test]
    fn a_broken_stream_keeps_what_was_indexed() {
        let docs = index("a: 1\n---\nb: [\n");
        assert!(!docs.is_empty());
        assert_eq!(docs[0].value("/a"), p(1, 4));
    }
}
