//! Where each value of a document sits: key and value positions looked up by JSON pointer in the
//! node tree `yaml` read, and the pointer helpers the checks use.
//!
//! It owns nothing else: it never decides whether a document is valid. A pointer that names
//! nothing in the tree (a missing field) falls back to its nearest enclosing value, and a document
//! of which nothing was read to its start.

use super::yaml::{Node, NodeKind};

/// A 1-based line and column (in characters).
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
}

/// The positions of one document's values.
///
/// While a document is checked it holds the nodes `yaml` read (the checks look at how a value was
/// written); [`DocPositions::compact`] then keeps only keys and positions, which is all the rules
/// across documents need, so thousands of loaded documents do not keep every scalar's text.
#[derive(Debug, Clone)]
pub struct DocPositions {
    /// Where the document starts (its `---` or first token).
    pub start: Pos,
    tree: Tree,
}

#[derive(Debug, Clone)]
enum Tree {
    Empty,
    Full(Node),
    Slim(Slim),
}

/// A node's position and its children's, without texts other than mapping keys.
#[derive(Debug, Clone)]
struct Slim {
    pos: Pos,
    children: Children,
}

#[derive(Debug, Clone)]
enum Children {
    None,
    Seq(Box<[Slim]>),
    /// Key text, key position, value.
    Map(Box<[(Box<str>, Pos, Slim)]>),
}

impl Slim {
    fn of(node: &Node) -> Slim {
        let children = match &node.kind {
            NodeKind::Scalar { .. } => Children::None,
            NodeKind::Seq(items) => Children::Seq(items.iter().map(Slim::of).collect()),
            NodeKind::Map(entries) => Children::Map(
                entries
                    .iter()
                    .filter_map(|e| Some((e.key.text()?.into(), e.key.pos, Slim::of(&e.value))))
                    .collect(),
            ),
        };
        Slim {
            pos: node.pos,
            children,
        }
    }
}

/// One step along a pointer, in either kind of tree.
trait Step: Sized {
    fn at(&self) -> Pos;
    /// The child named by `token`, and its key's position when it is a mapping value.
    fn step(&self, token: &str) -> Option<(&Self, Option<Pos>)>;
}

impl Step for Node {
    fn at(&self) -> Pos {
        self.pos
    }
    fn step(&self, token: &str) -> Option<(&Node, Option<Pos>)> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|e| e.key.text() == Some(token))
                .map(|e| (&e.value, Some(e.key.pos))),
            NodeKind::Seq(items) => token
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .map(|n| (n, None)),
            NodeKind::Scalar { .. } => None,
        }
    }
}

impl Step for Slim {
    fn at(&self) -> Pos {
        self.pos
    }
    fn step(&self, token: &str) -> Option<(&Slim, Option<Pos>)> {
        match &self.children {
            Children::Map(entries) => entries
                .iter()
                .find(|(k, _, _)| &**k == token)
                .map(|(_, kpos, v)| (v, Some(*kpos))),
            Children::Seq(items) => token
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .map(|n| (n, None)),
            Children::None => None,
        }
    }
}

/// What a pointer led to: the deepest node found, the position of the key of the entry it is in
/// (when that node is a mapping value) and whether the whole pointer was found.
struct Found<'n, T> {
    node: Option<&'n T>,
    key: Option<Pos>,
    exact: bool,
}

fn find<'n, T: Step>(root: Option<&'n T>, pointer: &str) -> Found<'n, T> {
    let mut found = Found {
        node: root,
        key: None,
        exact: root.is_some(),
    };
    for raw in pointer.split('/').skip(1) {
        let Some(node) = found.node else { break };
        match node.step(&unescape(raw)) {
            Some((n, k)) => {
                found.node = Some(n);
                found.key = k;
            }
            None => {
                found.exact = false;
                break;
            }
        }
    }
    found
}

impl DocPositions {
    /// The positions of a document read into `root`.
    pub fn new(start: Pos, root: Option<Node>) -> Self {
        let tree = match root {
            Some(n) => Tree::Full(n),
            None => Tree::Empty,
        };
        DocPositions { start, tree }
    }

    /// A document of which nothing is known.
    pub fn unknown(start: Pos) -> Self {
        DocPositions {
            start,
            tree: Tree::Empty,
        }
    }

    /// Keeps only keys and positions: [`DocPositions::root`] and [`DocPositions::node`] return
    /// `None` from then on.
    pub fn compact(&mut self) {
        if let Tree::Full(n) = &self.tree {
            self.tree = Tree::Slim(Slim::of(n));
        }
    }

    /// The document's root node, until [`DocPositions::compact`].
    pub fn root(&self) -> Option<&Node> {
        match &self.tree {
            Tree::Full(n) => Some(n),
            _ => None,
        }
    }

    /// The node at exactly `pointer`, until [`DocPositions::compact`].
    pub fn node(&self, pointer: &str) -> Option<&Node> {
        let f = find(self.root(), pointer);
        if f.exact {
            f.node
        } else {
            None
        }
    }

    /// (value position, key position, exact) of a pointer.
    fn lookup(&self, pointer: &str) -> (Option<Pos>, Option<Pos>, bool) {
        match &self.tree {
            Tree::Empty => (None, None, false),
            Tree::Full(n) => {
                let f = find(Some(n), pointer);
                (f.node.map(Step::at), f.key, f.exact)
            }
            Tree::Slim(s) => {
                let f = find(Some(s), pointer);
                (f.node.map(Step::at), f.key, f.exact)
            }
        }
    }

    /// The position of the value at `pointer`, or of its nearest known ancestor.
    pub fn value(&self, pointer: &str) -> Pos {
        self.lookup(pointer).0.unwrap_or(self.start)
    }

    /// The position of the key at `pointer` (for mapping entries), else of the value.
    pub fn key(&self, pointer: &str) -> Pos {
        match self.lookup(pointer) {
            (_, Some(k), true) => k,
            (v, _, _) => v.unwrap_or(self.start),
        }
    }

    /// True when the exact pointer is in the document.
    pub fn contains(&self, pointer: &str) -> bool {
        self.lookup(pointer).2
    }
}

fn unescape(token: &str) -> String {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~")
    } else {
        token.to_owned()
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

/// `/spec/apis/0/apiId` → `spec.apis[0].apiId`, the way users think of a field.
pub(crate) fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for raw in pointer.split('/').skip(1) {
        let token = unescape(raw);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::yaml;

    fn p(line: u32, column: u32) -> Pos {
        Pos { line, column }
    }

    fn positions(text: &str) -> Vec<DocPositions> {
        yaml::read(text)
            .into_iter()
            .map(|d| DocPositions::new(d.start, d.root))
            .collect()
    }

    #[test]
    fn looks_up_keys_and_values_of_nested_documents() {
        let docs = positions("a: 1\nb:\n  - x\n  - {y: z}\n---\nc: [1, 2]\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].value("/a"), p(1, 4));
        assert_eq!(docs[0].key("/a"), p(1, 1));
        assert_eq!(docs[0].value("/b/0"), p(3, 5));
        assert_eq!(docs[0].value("/b/1/y"), p(4, 9));
        assert_eq!(docs[0].key("/b/1/y"), p(4, 6));
        // Unknown pointers fall back to the nearest ancestor.
        assert_eq!(docs[0].value("/b/1/nope/deeper"), p(4, 5));
        assert!(!docs[0].contains("/b/1/nope"));
        assert!(docs[0].contains("/b/1/y"));
        assert_eq!(docs[1].value("/c/1"), p(6, 8));
    }

    #[test]
    fn compact_positions_answer_the_same() {
        let mut docs = positions("a: 1\nb:\n  - x\n  - {y: z}\n");
        let pointers = ["", "/a", "/b", "/b/1/y", "/b/1/nope", "/c", "/b/7"];
        let before: Vec<_> = pointers
            .iter()
            .map(|p| (docs[0].value(p), docs[0].key(p), docs[0].contains(p)))
            .collect();
        docs[0].compact();
        let after: Vec<_> = pointers
            .iter()
            .map(|p| (docs[0].value(p), docs[0].key(p), docs[0].contains(p)))
            .collect();
        assert_eq!(before, after);
        assert!(docs[0].root().is_none());
    }

    #[test]
    fn escapes_pointer_tokens_and_skips_complex_keys() {
        let docs = positions("\"a/b\": 1\n? [k]\n: 2\nc~d: 3\n");
        assert_eq!(docs[0].value("/a~1b"), p(1, 8));
        assert_eq!(docs[0].value("/c~0d"), p(4, 6));
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
