//! Builds the value tree of a configuration file (spec §4.1, CF-01..CF-09).
//!
//! The tree keeps, for every value, where it came from: the file, the line
//! and the column of its key (or of the value itself inside an array), which
//! is what nats-server prints in front of configuration errors. Variables
//! (`$NAME`) are resolved and `include` files merged while parsing, so the
//! tree holds plain values only.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::lexer::{Kind, Lexer, Token};

/// Where a value was written: `file:line:col`, formatted as nats-server does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<str>,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A configuration value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Map(Map),
    Array(Vec<Item>),
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// An ISO8601 Zulu datetime (`2020-01-02T03:04:05Z`), kept as written.
    Datetime(String),
}

impl Value {
    /// The Go type nats-server would name in a type error for this value.
    pub fn go_type(&self) -> &'static str {
        match self {
            Value::Map(_) => "map[string]interface {}",
            Value::Array(_) => "[]interface {}",
            Value::String(_) => "string",
            Value::Int(_) => "int64",
            Value::Float(_) => "float64",
            Value::Bool(_) => "bool",
            Value::Datetime(_) => "time.Time",
        }
    }
}

/// A value and its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub value: Value,
    pub pos: Pos,
    /// True when a `$variable` referred to this map entry; nats-server does
    /// not report such an entry as an unknown field.
    pub used_variable: bool,
}

/// One `key: value` of a map.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key as written.
    pub key: String,
    /// The key lowercased, for the case-insensitive lookups of CF-10.
    pub lower: String,
    pub item: Item,
}

/// A map in file order. Keys are exact (variables are case-sensitive); a key
/// written twice keeps its first place and its last value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map {
    pub entries: Vec<Entry>,
}

impl Map {
    /// The entry with exactly this key.
    pub fn get(&self, key: &str) -> Option<&Item> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.item)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Item> {
        self.entries
            .iter_mut()
            .find(|e| e.key == key)
            .map(|e| &mut e.item)
    }

    fn set(&mut self, key: String, item: Item) {
        if let Some(slot) = self.get_mut(&key) {
            *slot = item;
            return;
        }
        let lower = key.to_lowercase();
        self.entries.push(Entry { key, lower, item });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Parses the file at `path`. Errors are formatted like nats-server's
/// (without the `nats-server: ` prefix).
pub fn parse_file(path: &Path) -> Result<Map, String> {
    let mut refs = HashSet::new();
    parse_file_inner(path, &mut refs)
}

/// Parses configuration text; `name` is the file name used in positions.
pub fn parse_str(src: &str, name: &str) -> Result<Map, String> {
    let mut refs = HashSet::new();
    let dir = Path::new(name).parent().map(Path::to_path_buf);
    Parser::new(src, name, dir.unwrap_or_default(), &mut refs).run()
}

fn parse_file_inner(path: &Path, refs: &mut HashSet<String>) -> Result<Map, String> {
    let name = path.to_string_lossy().into_owned();
    let bytes = std::fs::read(path).map_err(|e| go_io_error(&name, &e))?;
    let text = String::from_utf8_lossy(&bytes);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Parser::new(&text, &name, dir, refs).run()
}

/// Formats an I/O error the way Go's `os` package does (`open x: reason`).
pub(crate) fn go_io_error(path: &str, e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let reason = match e.kind() {
        K::NotFound => "no such file or directory".to_string(),
        K::PermissionDenied => "permission denied".to_string(),
        K::IsADirectory => return format!("read {path}: is a directory"),
        _ => {
            let s = e.to_string();
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s,
            }
        }
    };
    format!("open {path}: {reason}")
}

/// Joins like Go's `filepath.Join`: an absolute `rel` is still appended to
/// `dir`, and the result is cleaned (`.` and `..` resolved lexically).
pub(crate) fn go_join(dir: &Path, rel: &str) -> PathBuf {
    let joined = if dir.as_os_str().is_empty() {
        PathBuf::from(rel)
    } else {
        PathBuf::from(format!("{}/{}", dir.display(), rel))
    };
    let mut out: Vec<Component> = Vec::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

/// An open container on the parser's stack.
enum Ctx {
    Map(Map),
    Array(Vec<Item>),
}

/// Turns tokens into the tree with two stacks (open containers and pending
/// keys), which keeps nats-server's behaviour on odd inputs.
struct Parser<'a, 's> {
    lx: Lexer<'s>,
    ctxs: Vec<Ctx>,
    keys: Vec<Token>,
    file: Arc<str>,
    dir: PathBuf,
    /// Environment variables being expanded, to catch cycles.
    refs: &'a mut HashSet<String>,
    /// True for a file; false for an environment value re-parsed as config,
    /// whose items take the position of the variable that named it.
    pedantic: bool,
}

impl<'a, 's> Parser<'a, 's> {
    fn new(src: &'s str, name: &str, dir: PathBuf, refs: &'a mut HashSet<String>) -> Self {
        Parser {
            lx: Lexer::new(src),
            ctxs: vec![Ctx::Map(Map::default())],
            keys: Vec::new(),
            file: Arc::from(name),
            dir,
            refs,
            pedantic: true,
        }
    }

    fn run(mut self) -> Result<Map, String> {
        let mut prev: Option<Token> = None;
        loop {
            let t = self.lx.next_token();
            if t.kind == Kind::Eof {
                // A key with no value is an error, except the closing brace
                // of a file wrapped in `{ }`.
                if let Some(p) = &prev {
                    if p.kind == Kind::Key && p.val != "}" {
                        return Err(format!(
                            "config is invalid ({}:{}:{})",
                            self.file, t.line, t.pos
                        ));
                    }
                }
                break;
            }
            self.process(&t)?;
            prev = Some(t);
        }
        match self.ctxs.into_iter().next() {
            Some(Ctx::Map(m)) => Ok(m),
            _ => Ok(Map::default()),
        }
    }

    fn pos_of(&self, t: &Token) -> Pos {
        Pos {
            file: self.file.clone(),
            line: t.line,
            col: t.pos,
        }
    }

    fn item(&self, t: &Token, value: Value) -> Item {
        Item {
            value,
            pos: self.pos_of(t),
            used_variable: false,
        }
    }

    fn process(&mut self, t: &Token) -> Result<(), String> {
        match t.kind {
            Kind::Error => return Err(format!("Parse error on line {}: '{}'", t.line, t.val)),
            Kind::Key => self.keys.push(t.clone()),
            Kind::MapStart => self.ctxs.push(Ctx::Map(Map::default())),
            Kind::MapEnd => {
                if let Some(Ctx::Map(m)) = self.pop_ctx() {
                    let it = self.item(t, Value::Map(m));
                    self.set_value(it);
                }
            }
            Kind::ArrayStart => self.ctxs.push(Ctx::Array(Vec::new())),
            Kind::ArrayEnd => {
                if let Some(Ctx::Array(a)) = self.pop_ctx() {
                    let it = self.item(t, Value::Array(a));
                    self.set_value(it);
                }
            }
            Kind::String => {
                let it = self.item(t, Value::String(t.val.clone()));
                self.set_value(it);
            }
            Kind::Integer => {
                if let Some(n) = parse_integer(&t.val)? {
                    let it = self.item(t, Value::Int(n));
                    self.set_value(it);
                }
                // An unknown suffix (`1bb`) sets nothing, as in nats-server.
            }
            Kind::Float => {
                let f: f64 = t
                    .val
                    .parse()
                    .map_err(|_| format!("expected float, but got '{}'", t.val))?;
                if f.is_infinite() {
                    return Err(format!("float '{}' is out of the range", t.val));
                }
                let it = self.item(t, Value::Float(f));
                self.set_value(it);
            }
            Kind::Bool => {
                let b = match t.val.to_lowercase().as_str() {
                    "true" | "yes" | "on" => true,
                    "false" | "no" | "off" => false,
                    _ => return Err(format!("expected boolean value, but got '{}'", t.val)),
                };
                let it = self.item(t, Value::Bool(b));
                self.set_value(it);
            }
            Kind::Datetime => {
                if !valid_zulu(&t.val) {
                    return Err(format!(
                        "expected Zulu formatted DateTime, but got '{}'",
                        t.val
                    ));
                }
                let it = self.item(t, Value::Datetime(t.val.clone()));
                self.set_value(it);
            }
            Kind::Variable => {
                let found = self.lookup_variable(&t.val).map_err(|e| {
                    format!(
                        "variable reference for '{}' on line {} could not be parsed: {}",
                        t.val, t.line, e
                    )
                })?;
                let Some(value) = found else {
                    return Err(format!(
                        "variable reference for '{}' on line {} can not be found",
                        t.val, t.line
                    ));
                };
                let it = self.item(t, value);
                self.set_value(it);
            }
            Kind::Include => {
                let path = go_join(&self.dir, &t.val);
                let m = parse_file_inner(&path, self.refs)
                    .map_err(|e| format!("error parsing include file '{}', {}", t.val, e))?;
                for e in m.entries {
                    let key_tok = Token {
                        kind: Kind::Key,
                        val: e.key,
                        line: e.item.pos.line,
                        pos: e.item.pos.col,
                    };
                    self.keys.push(key_tok);
                    self.set_value_keep_file(e.item);
                }
            }
            Kind::Eof | Kind::Text | Kind::CommentStart => {}
        }
        Ok(())
    }

    fn pop_ctx(&mut self) -> Option<Ctx> {
        // The bottom context is the file's own map and is never popped by a
        // well-formed stream; keep it if a stray end arrives.
        if self.ctxs.len() <= 1 {
            return None;
        }
        self.ctxs.pop()
    }

    /// Stores a value in the open container: appended to an array, or under
    /// the pending key of a map (taking the key's position).
    fn set_value(&mut self, mut it: Item) {
        match self.ctxs.last_mut() {
            Some(Ctx::Array(a)) => a.push(it),
            Some(Ctx::Map(_)) => {
                let Some(key) = self.keys.pop() else { return };
                if self.pedantic {
                    it.pos.line = key.line;
                    it.pos.col = key.pos;
                }
                if let Some(Ctx::Map(m)) = self.ctxs.last_mut() {
                    m.set(key.val, it);
                }
            }
            None => {}
        }
    }

    /// Like `set_value` for entries of an included file, which keep their
    /// own file and position.
    fn set_value_keep_file(&mut self, it: Item) {
        let Some(key) = self.keys.pop() else { return };
        match self.ctxs.last_mut() {
            Some(Ctx::Map(m)) => m.set(key.val, it),
            Some(Ctx::Array(a)) => a.push(it),
            None => {}
        }
    }

    /// Resolves `$name`: the open maps, innermost first, then the
    /// environment (whose value is parsed as a config value).
    fn lookup_variable(&mut self, name: &str) -> Result<Option<Value>, String> {
        // `$2a$...` is a bcrypt hash, not a reference.
        if name.starts_with("2a$") {
            return Ok(Some(Value::String(format!("${name}"))));
        }
        for ctx in self.ctxs.iter_mut().rev() {
            if let Ctx::Map(m) = ctx {
                if let Some(found) = m.get_mut(name) {
                    found.used_variable = true;
                    return Ok(Some(found.value.clone()));
                }
            }
        }
        if self.refs.contains(name) {
            return Err(format!("variable reference cycle for '{name}'"));
        }
        let Ok(raw) = std::env::var(name) else {
            return Ok(None);
        };
        self.refs.insert(name.to_string());
        let src = format!("pk={raw}");
        let mut sub = Parser::new(&src, "", PathBuf::new(), self.refs);
        sub.pedantic = false;
        let res = sub.run();
        self.refs.remove(name);
        let m = res?;
        Ok(m.get("pk").map(|i| i.value.clone()))
    }
}

/// Parses an integer token with an optional size suffix (CF-06). `Ok(None)`
/// for an unknown suffix, which nats-server silently drops.
fn parse_integer(val: &str) -> Result<Option<i64>, String> {
    let digits = val
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .count();
    let (num, suffix) = val.split_at(digits);
    let n: i64 = match num.parse() {
        Ok(n) => n,
        Err(e) => {
            use std::num::IntErrorKind as K;
            return Err(match e.kind() {
                K::PosOverflow | K::NegOverflow => format!("integer '{val}' is out of the range"),
                _ => format!("expected integer, but got '{val}'"),
            });
        }
    };
    let (base, exp): (i64, u32) = match suffix.trim().to_lowercase().as_str() {
        "" => (1, 0),
        "k" => (1000, 1),
        "kb" | "ki" | "kib" => (1024, 1),
        "m" => (1000, 2),
        "mb" | "mi" | "mib" => (1024, 2),
        "g" => (1000, 3),
        "gb" | "gi" | "gib" => (1024, 3),
        "t" => (1000, 4),
        "tb" | "ti" | "tib" => (1024, 4),
        "p" => (1000, 5),
        "pb" | "pi" | "pib" => (1024, 5),
        "e" => (1000, 6),
        "eb" | "ei" | "eib" => (1024, 6),
        _ => return Ok(None),
    };
    // Go multiplies in int64 and wraps on overflow; do the same.
    let mut out = n;
    for _ in 0..exp {
        out = out.wrapping_mul(base);
    }
    Ok(Some(out))
}

/// Checks the ranges of a `YYYY-MM-DDTHH:MM:SSZ` datetime.
fn valid_zulu(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 20 {
        return false;
    }
    let num = |from: usize, to: usize| -> u32 {
        s.get(from..to)
            .and_then(|x| x.parse().ok())
            .unwrap_or(u32::MAX)
    };
    let (y, mo, d, h, mi, se) = (
        num(0, 4),
        num(5, 7),
        num(8, 10),
        num(11, 13),
        num(14, 16),
        num(17, 19),
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && h < 24 && mi < 60 && se < 60
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Map {
        match parse_str(src, "t.conf") {
            Ok(m) => m,
            Err(e) => panic!("parse failed: {e}"),
        }
    }

    fn val(src: &str, key: &str) -> Value {
        match parse(src).get(key) {
            Some(i) => i.value.clone(),
            None => panic!("no key {key} in {src:?}"),
        }
    }

    fn err(src: &str) -> String {
        match parse_str(src, "t.conf") {
            Ok(m) => panic!("expected an error, got {m:?}"),
            Err(e) => e,
        }
    }

    fn s(v: &str) -> Value {
        Value::String(v.to_string())
    }

    #[test]
    fn cf01_key_value_separators() {
        for src in [
            "a = 1", "a: 1", "a 1", "a=1;", "a:1,", "\"a\": 1", "'a' = 1",
        ] {
            assert_eq!(val(src, "a"), Value::Int(1), "{src}");
        }
        let m = parse("a: 1; b: 2, c 3\nd = 4");
        let keys: Vec<_> = m.entries.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);
    }

    #[test]
    fn cf01_whole_file_wrapped_in_braces() {
        let m = parse("{\n  \"port\": 4222,\n  \"host\": \"0.0.0.0\"\n}\n");
        assert_eq!(m.get("port").map(|i| &i.value), Some(&Value::Int(4222)));
        assert_eq!(m.get("host").map(|i| &i.value), Some(&s("0.0.0.0")));
    }

    #[test]
    fn cf02_maps_and_arrays() {
        // An integer right before `]` is lexed as a string "3]" by nats-server
        // (`[1, 2]` is a parse error there), so the tests leave a space.
        let m = parse("a { b: 1 }\nc: { d = [1, 2\n 3 ] }\ne [ [1 ], {x: y} ]");
        let Value::Map(a) = val("a { b: 1 }", "a") else {
            panic!()
        };
        assert_eq!(a.get("b").map(|i| &i.value), Some(&Value::Int(1)));
        let Some(Item {
            value: Value::Map(c),
            ..
        }) = m.get("c")
        else {
            panic!()
        };
        let Some(Item {
            value: Value::Array(d),
            ..
        }) = c.get("d")
        else {
            panic!()
        };
        let nums: Vec<_> = d.iter().map(|i| i.value.clone()).collect();
        assert_eq!(nums, [Value::Int(1), Value::Int(2), Value::Int(3)]);
        let Some(Item {
            value: Value::Array(e),
            ..
        }) = m.get("e")
        else {
            panic!()
        };
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn cf03_comments() {
        let m = parse("# top\na: 1 # trailing\n// slash\nb {\n # in map\n c: 2 // x\n}\nd: [\n # in array\n 1, // one\n 2\n]\n");
        assert_eq!(m.entries.len(), 3);
        let Some(Item {
            value: Value::Array(d),
            ..
        }) = m.get("d")
        else {
            panic!()
        };
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn cf04_string_forms() {
        assert_eq!(val("a: hello", "a"), s("hello"));
        assert_eq!(
            val("a: \"x\\t\\n\\r\\\"\\\\\\x41\"", "a"),
            s("x\t\n\r\"\\A")
        );
        assert_eq!(val("a: 'raw \\t $X'", "a"), s("raw \\t $X"));
        assert_eq!(val("a: un\\tquoted", "a"), s("un\tquoted"));
        // nats-server keeps the final new line of a block.
        assert_eq!(
            val("a (\nline1\n  line2\n)\n", "a"),
            s("\nline1\n  line2\n")
        );
        assert_eq!(val("a: nats://h:4222/x", "a"), s("nats://h:4222/x"));
    }

    #[test]
    fn cf05_booleans() {
        for (v, b) in [
            ("true", true),
            ("TRUE", true),
            ("yes", true),
            ("On", true),
            ("false", false),
            ("no", false),
            ("OFF", false),
        ] {
            assert_eq!(val(&format!("a: {v}"), "a"), Value::Bool(b), "{v}");
        }
        assert_eq!(val("a: \"true\"", "a"), s("true"));
    }

    #[test]
    fn cf06_sizes_floats_dates_and_digit_strings() {
        let cases = [
            ("1k", 1000),
            ("1K", 1000),
            ("1kb", 1024),
            ("1KiB", 1024),
            ("1ki", 1024),
            ("1M", 1_000_000),
            ("1MB", 1_048_576),
            ("2g", 2_000_000_000),
            ("1GB", 1 << 30),
            ("1t", 1_000_000_000_000),
            ("1TB", 1 << 40),
            ("1p", 1_000_000_000_000_000),
            ("1pb", 1 << 50),
            ("1e", 1_000_000_000_000_000_000),
            ("1EB", 1 << 60),
            ("-2k", -2000),
        ];
        for (src, want) in cases {
            assert_eq!(val(&format!("a: {src}"), "a"), Value::Int(want), "{src}");
        }
        assert_eq!(val("a: 0.75", "a"), Value::Float(0.75));
        assert_eq!(val("a: -1.5", "a"), Value::Float(-1.5));
        assert_eq!(
            val("a: 2024-02-29T10:00:00Z", "a"),
            Value::Datetime("2024-02-29T10:00:00Z".into())
        );
        assert_eq!(val("a: 127.0.0.1:4222", "a"), s("127.0.0.1:4222"));
        assert_eq!(val("a: 2s", "a"), s("2s"));
        assert_eq!(val("a: 10.0.0.1", "a"), s("10.0.0.1"));
        assert_eq!(val("a: 4222abc", "a"), s("4222abc"));
        assert_eq!(
            err("a: 99999999999999999999"),
            "integer '99999999999999999999' is out of the range"
        );
        assert_eq!(
            err("a: 2023-02-30T00:00:00Z"),
            "expected Zulu formatted DateTime, but got '2023-02-30T00:00:00Z'"
        );
    }

    #[test]
    fn cf07_unquoted_durations() {
        assert_eq!(val("a: 2m", "a"), Value::Int(2_000_000));
        assert_eq!(val("a: 2s", "a"), s("2s"));
        assert_eq!(val("a: \"2m\"", "a"), s("2m"));
    }

    #[test]
    fn cf08_variables_from_maps() {
        let m = parse("v = 10\na { v = 20\n b = $v }\nc = $v");
        assert_eq!(m.get("c").map(|i| &i.value), Some(&Value::Int(10)));
        assert!(m.get("v").map(|i| i.used_variable).unwrap_or(false));
        let Some(Item {
            value: Value::Map(a),
            ..
        }) = m.get("a")
        else {
            panic!()
        };
        assert_eq!(a.get("b").map(|i| &i.value), Some(&Value::Int(20)));
        // Variables are case-sensitive and quoted `$` is literal.
        assert_eq!(val("V = 1\na = \"$V\"", "a"), s("$V"));
        assert_eq!(
            err("V = 1\na = $v"),
            "variable reference for 'v' on line 2 can not be found"
        );
        // A map can be referenced as a whole.
        let m = parse("p = { publish: x }\nu = $p");
        assert!(matches!(m.get("u").map(|i| &i.value), Some(Value::Map(_))));
        // Only enclosing maps are searched, not closed ones.
        assert!(err("a { x: 1 }\nb: $x").contains("'x' on line 2 can not be found"));
    }

    #[test]
    fn cf08_variables_from_environment() {
        // Each test uses its own variable names: tests run in parallel.
        std::env::set_var("NTPC_CF08_INT", "10");
        std::env::set_var("NTPC_CF08_SIZE", "1MB");
        std::env::set_var("NTPC_CF08_STR", "hello");
        std::env::set_var("NTPC_CF08_BAD", "hello world");
        std::env::set_var("NTPC_CF08_A", "$NTPC_CF08_B");
        std::env::set_var("NTPC_CF08_B", "$NTPC_CF08_A");
        assert_eq!(val("a: $NTPC_CF08_INT", "a"), Value::Int(10));
        assert_eq!(val("a: $NTPC_CF08_SIZE", "a"), Value::Int(1 << 20));
        assert_eq!(val("a: $NTPC_CF08_STR", "a"), s("hello"));
        // As in nats-server, the value is parsed as `pk=<value>`.
        assert_eq!(
            err("a: $NTPC_CF08_BAD"),
            "variable reference for 'NTPC_CF08_BAD' on line 1 could not be parsed: Parse error on line 1: \
             'Expected a top-level value to end with a new line, comment or EOF, but got 'w' instead.'"
        );
        // nats-server 2.15.1 prints exactly this chain for a cycle.
        assert_eq!(
            err("a: $NTPC_CF08_A"),
            "variable reference for 'NTPC_CF08_A' on line 1 could not be parsed: \
             variable reference for 'NTPC_CF08_B' on line 1 could not be parsed: \
             variable reference for 'NTPC_CF08_A' on line 1 could not be parsed: \
             variable reference cycle for 'NTPC_CF08_A'"
        );
    }

    #[test]
    fn cf08_bcrypt_literal() {
        let h = "$2a$11$PWIFAL8RsWyGI3jVZtO9Nu8.6jOxzxfZo7c/W0eLk017hjgUKWrhy";
        assert_eq!(val(&format!("p: {h}"), "p"), s(h));
    }

    #[test]
    fn cf10_keys_keep_case_and_lowercase() {
        let m = parse("Port: 1\nport: 2");
        assert_eq!(m.entries.len(), 2);
        assert_eq!(m.entries[0].lower, "port");
        // The same exact key twice: the last value wins.
        let m = parse("a: 1\na: 2");
        assert_eq!(m.entries.len(), 1);
        assert_eq!(m.get("a").map(|i| &i.value), Some(&Value::Int(2)));
    }

    #[test]
    fn positions_are_the_keys() {
        let m = parse("port: 1\n  host: x\nc {\n  d: [1,\n   2 ]\n}\n");
        let p = |k: &str| m.get(k).map(|i| (i.pos.line, i.pos.col));
        assert_eq!(p("port"), Some((1, 0)));
        assert_eq!(p("host"), Some((2, 3)));
        assert_eq!(p("c"), Some((3, 1)));
    }

    #[test]
    fn cf02_integer_before_closing_bracket_is_an_error_like_nats_server() {
        // nats-server 2.15.1 on `d: [1, 2]`: Parse error on line 2: 'Expected an
        // array value terminator "," or an array terminator "]", but got '\0' instead.'
        assert_eq!(
            err("d: [1, 2]\n"),
            "Parse error on line 2: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '\0' instead.'"
        );
    }

    #[test]
    fn parse_errors_match_nats_server() {
        // Messages recorded from `nats-server -t` (v2.15.1).
        assert_eq!(
            err("port: 4222\nfoo: [1,\n"),
            "Parse error on line 3: 'Expected an array value terminator \",\" or an array terminator \"]\", but got '\0' instead.'"
        );
        assert_eq!(
            err("a: .5"),
            "Parse error on line 1: 'Floats must start with a digit'"
        );
        assert_eq!(err("foo"), "config is invalid (t.conf:1:3)");
        assert_eq!(
            err("a: \"\\q\""),
            "Parse error on line 1: 'Invalid escape character 'q'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.'"
        );
        assert_eq!(
            err("a: 1.5s"),
            "Parse error on line 1: 'Expected a top-level value to end with a new line, comment or EOF, but got 's' instead.'"
        );
    }

    #[test]
    fn go_join_matches_filepath_join() {
        let j = |d: &str, r: &str| go_join(Path::new(d), r).display().to_string();
        assert_eq!(j(".", "inc.conf"), "inc.conf");
        assert_eq!(j("", "inc.conf"), "inc.conf");
        assert_eq!(j("/a/b", "../c.conf"), "/a/c.conf");
        assert_eq!(j("/a/b", "/etc/x.conf"), "/a/b/etc/x.conf");
        assert_eq!(j("a", "./x/../y.conf"), "a/y.conf");
    }
}
