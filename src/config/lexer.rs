//! Tokenizer for the NATS configuration format (spec §4.1).
//!
//! It is a state machine that walks the input one character at a time and
//! queues tokens, shaped after nats-server's `conf/lex.go` so that malformed
//! files fail with the same messages at the same lines. Positions are byte
//! columns computed the way nats-server does: 0-based on the first line and
//! 1-based on later lines (the column is measured from the previous `\n`).

use std::collections::VecDeque;

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Error,
    Eof,
    Key,
    Text,
    String,
    Bool,
    Integer,
    Float,
    Datetime,
    ArrayStart,
    ArrayEnd,
    MapStart,
    MapEnd,
    CommentStart,
    Variable,
    Include,
}

/// One token, with its line (1-based) and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Kind,
    pub val: String,
    pub line: usize,
    pub pos: usize,
}

/// States of the machine; each consumes some input and names the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Top,
    TopValueEnd,
    BlockStart,
    BlockValueEnd,
    BlockEnd,
    KeyStart,
    DubQuotedKey,
    QuotedKey,
    IncludeStart,
    Include,
    IncludeQuoted,
    IncludeDubQuoted,
    IncludeBare,
    Key,
    KeyEnd,
    Value,
    ArrayValue,
    ArrayValueEnd,
    ArrayEnd,
    MapKeyStart,
    MapQuotedKey,
    MapDubQuotedKey,
    MapKey,
    MapKeyEnd,
    MapValue,
    MapValueEnd,
    MapEnd,
    QuotedString,
    DubQuotedString,
    Bare,
    Block,
    StringEscape,
    StringHex,
    NumberStart,
    Number,
    NumberSuffix,
    DateAfterYear,
    NegNumberStart,
    NegNumber,
    FloatStart,
    Float,
    IpAddr,
    CommentStart,
    Comment,
}

/// The end of input is reported as NUL, as nats-server does, so a NUL in the
/// file behaves like the end in comparisons.
const EOF: char = '\0';

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_nl(c: char) -> bool {
    c == '\n' || c == '\r'
}

fn is_key_sep(c: char) -> bool {
    c == '=' || c == ':'
}

fn is_number_suffix(c: char) -> bool {
    matches!(
        c,
        'k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T' | 'p' | 'P' | 'e' | 'E'
    )
}

/// Ends an unquoted number: anything else turns the token into a string.
fn ends_number(c: char) -> bool {
    is_nl(c) || c == EOF || c == '}' || c == ';' || c == ',' || is_ws(c)
}

/// How characters appear inside error messages (only a newline is escaped).
fn show(c: char) -> String {
    if c == '\n' {
        "\\n".to_string()
    } else {
        c.to_string()
    }
}

/// Decodes one character at `pos`; a byte that does not start a valid UTF-8
/// sequence decodes as U+FFFD with width 1 (Go's rule), so a position inside
/// a character never panics.
fn decode(bytes: &[u8], pos: usize) -> (char, usize) {
    let b = bytes[pos];
    let len = match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return ('\u{fffd}', 1),
    };
    if pos + len > bytes.len() {
        return ('\u{fffd}', 1);
    }
    match std::str::from_utf8(&bytes[pos..pos + len]) {
        Ok(s) => match s.chars().next() {
            Some(c) => (c, len),
            None => ('\u{fffd}', 1),
        },
        Err(_) => ('\u{fffd}', 1),
    }
}

/// Streams tokens out of a configuration text.
pub(crate) struct Lexer<'a> {
    input: &'a [u8],
    start: usize,
    pos: usize,
    width: usize,
    line: usize,
    state: Option<State>,
    items: VecDeque<Token>,
    stack: Vec<State>,
    /// Pieces of a string already unescaped, joined on emit.
    parts: Vec<u8>,
    has_parts: bool,
    /// Where a string escape returns to.
    string_state: State,
    /// Byte offset of the last `\n` seen (0 on the first line).
    lstart: usize,
    /// `lstart` as it was when the current token started.
    ilstart: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(input: &'a str) -> Self {
        Lexer {
            input: input.as_bytes(),
            start: 0,
            pos: 0,
            width: 0,
            line: 1,
            state: Some(State::Top),
            items: VecDeque::new(),
            stack: Vec::new(),
            parts: Vec::new(),
            has_parts: false,
            string_state: State::Bare,
            lstart: 0,
            ilstart: 0,
        }
    }

    /// The next token; after an `Error` or `Eof` token it keeps returning `Eof`.
    pub(crate) fn next_token(&mut self) -> Token {
        loop {
            if let Some(t) = self.items.pop_front() {
                return t;
            }
            match self.state {
                Some(s) => self.state = self.step(s),
                None => {
                    return Token {
                        kind: Kind::Eof,
                        val: String::new(),
                        line: self.line,
                        pos: 0,
                    }
                }
            }
        }
    }

    // ---- primitive moves -------------------------------------------------

    fn next(&mut self) -> char {
        if self.pos >= self.input.len() {
            self.width = 0;
            return EOF;
        }
        if self.input[self.pos] == b'\n' {
            self.line += 1;
            self.lstart = self.pos;
        }
        let (c, w) = decode(self.input, self.pos);
        self.width = w;
        self.pos += w;
        c
    }

    /// Steps back over the last character read (once per `next`).
    fn backup(&mut self) {
        self.pos -= self.width;
        if self.pos < self.input.len() && self.input[self.pos] == b'\n' {
            self.line -= 1;
        }
    }

    fn peek(&mut self) -> char {
        let c = self.next();
        self.backup();
        c
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.ilstart = self.lstart;
    }

    fn push(&mut self, s: State) {
        self.stack.push(s);
    }

    fn pop(&mut self) -> Option<State> {
        match self.stack.pop() {
            Some(s) => Some(s),
            None => self.error("BUG in lexer: no states to pop.".to_string()),
        }
    }

    fn token_text(&self) -> Vec<u8> {
        let mut v = self.parts.clone();
        if self.start <= self.pos {
            v.extend_from_slice(&self.input[self.start..self.pos]);
        }
        v
    }

    fn push_token(&mut self, kind: Kind, raw: Vec<u8>) {
        let col = self.pos as isize - self.ilstart as isize - raw.len() as isize;
        self.items.push_back(Token {
            kind,
            val: String::from_utf8_lossy(&raw).into_owned(),
            line: self.line,
            pos: col.max(0) as usize,
        });
        self.start = self.pos;
        self.ilstart = self.lstart;
    }

    fn emit(&mut self, kind: Kind) {
        let raw = self.token_text();
        self.push_token(kind, raw);
    }

    fn emit_string(&mut self) {
        let raw = self.token_text();
        self.parts.clear();
        self.has_parts = false;
        self.push_token(Kind::String, raw);
    }

    fn add_current_part(&mut self, offset: usize) {
        let end = self.pos - offset;
        if self.start <= end {
            let piece = self.input[self.start..end].to_vec();
            self.parts.extend_from_slice(&piece);
        }
        self.has_parts = true;
        self.start = self.pos;
    }

    fn add_part(&mut self, s: &[u8]) -> Option<State> {
        self.parts.extend_from_slice(s);
        self.has_parts = true;
        self.start = self.pos;
        Some(self.string_state)
    }

    fn error(&mut self, msg: String) -> Option<State> {
        let pos = self.pos.saturating_sub(self.lstart);
        self.items.push_back(Token {
            kind: Kind::Error,
            val: msg,
            line: self.line,
            pos,
        });
        None
    }

    /// End of input where a token was expected: an error if something was
    /// consumed, the end of the file otherwise.
    fn eof_or_error(&mut self) -> Option<State> {
        if self.pos > self.start {
            return self.error("Unexpected EOF.".to_string());
        }
        self.emit(Kind::Eof);
        None
    }

    /// `include` followed by whitespace is a keyword, anything else a key.
    fn key_or_keyword(&mut self, after_key: State, after_include: Option<State>) -> Option<State> {
        let word = String::from_utf8_lossy(&self.input[self.start..self.pos]).to_lowercase();
        if word == "include" {
            self.ignore();
            if let Some(s) = after_include {
                self.push(s);
            }
            return Some(State::IncludeStart);
        }
        self.emit(Kind::Key);
        Some(after_key)
    }

    fn is_bool(&self) -> bool {
        let w = String::from_utf8_lossy(&self.input[self.start..self.pos]).to_lowercase();
        matches!(w.as_str(), "true" | "false" | "on" | "off" | "yes" | "no")
    }

    fn is_variable(&mut self) -> bool {
        if self.start < self.input.len() && self.input[self.start] == b'$' {
            self.start += 1;
            return true;
        }
        false
    }

    // ---- the machine -----------------------------------------------------

    fn step(&mut self, s: State) -> Option<State> {
        use State as S;
        match s {
            S::Top => self.top(),
            S::TopValueEnd => self.top_value_end(),
            S::BlockStart => self.block_start(),
            S::BlockValueEnd => self.block_value_end(),
            S::BlockEnd => self.block_end(),
            S::KeyStart => self.key_start(),
            S::DubQuotedKey => self.quoted_key('"', S::DubQuotedKey),
            S::QuotedKey => self.quoted_key('\'', S::QuotedKey),
            S::IncludeStart => {
                let r = self.next();
                if is_ws(r) {
                    self.ignore();
                    return Some(S::IncludeStart);
                }
                self.backup();
                Some(S::Include)
            }
            S::Include => self.include(),
            S::IncludeQuoted => self.include_quoted('\'', S::IncludeQuoted),
            S::IncludeDubQuoted => self.include_quoted('"', S::IncludeDubQuoted),
            S::IncludeBare => self.include_bare(),
            S::Key => self.key(),
            S::KeyEnd => self.key_end(),
            S::Value => self.value(),
            S::ArrayValue => self.array_value(),
            S::ArrayValueEnd => self.array_value_end(),
            S::ArrayEnd => {
                self.ignore();
                self.emit(Kind::ArrayEnd);
                self.pop()
            }
            S::MapKeyStart => self.map_key_start(),
            S::MapQuotedKey => self.map_quoted_key('\'', S::MapQuotedKey),
            S::MapDubQuotedKey => self.map_quoted_key('"', S::MapDubQuotedKey),
            S::MapKey => self.map_key(),
            S::MapKeyEnd => {
                let r = self.next();
                if r.is_whitespace() {
                    self.ignore();
                    return Some(S::MapKeyEnd);
                }
                if is_key_sep(r) {
                    self.ignore();
                    return Some(S::MapValue);
                }
                self.backup();
                Some(S::MapValue)
            }
            S::MapValue => self.map_value(),
            S::MapValueEnd => self.map_value_end(),
            S::MapEnd => {
                self.ignore();
                self.emit(Kind::MapEnd);
                self.pop()
            }
            S::QuotedString => self.single_quoted(),
            S::DubQuotedString => self.double_quoted(),
            S::Bare => self.bare(),
            S::Block => self.block(),
            S::StringEscape => self.string_escape(),
            S::StringHex => self.string_hex(),
            S::NumberStart => {
                let r = self.next();
                if !r.is_ascii_digit() {
                    return self.not_a_digit(r);
                }
                Some(S::Number)
            }
            S::Number => self.number(),
            S::NumberSuffix => self.number_suffix(),
            S::DateAfterYear => self.date_after_year(),
            S::NegNumberStart => {
                let r = self.next();
                if !r.is_ascii_digit() {
                    return self.not_a_digit(r);
                }
                Some(S::NegNumber)
            }
            S::NegNumber => {
                let r = self.next();
                if r.is_ascii_digit() {
                    return Some(S::NegNumber);
                }
                if r == '.' {
                    return Some(S::FloatStart);
                }
                if is_number_suffix(r) {
                    return Some(S::NumberSuffix);
                }
                self.backup();
                self.emit(Kind::Integer);
                self.pop()
            }
            S::FloatStart => {
                let r = self.next();
                if !r.is_ascii_digit() {
                    return self.error(format!(
                        "Floats must have a digit after the '.', but got '{}' instead.",
                        show(r)
                    ));
                }
                Some(S::Float)
            }
            S::Float => {
                let r = self.next();
                if r.is_ascii_digit() {
                    return Some(S::Float);
                }
                // A second '.' means this was an address, not a float.
                if r == '.' {
                    return Some(S::IpAddr);
                }
                self.backup();
                self.emit(Kind::Float);
                self.pop()
            }
            S::IpAddr => {
                let r = self.next();
                if r.is_ascii_digit() || r == '.' || r == ':' || r == '-' {
                    return Some(S::IpAddr);
                }
                self.backup();
                self.emit(Kind::String);
                self.pop()
            }
            S::CommentStart => {
                self.ignore();
                self.emit(Kind::CommentStart);
                Some(S::Comment)
            }
            S::Comment => {
                let r = self.peek();
                if is_nl(r) || r == EOF {
                    self.emit(Kind::Text);
                    return self.pop();
                }
                self.next();
                Some(S::Comment)
            }
        }
    }

    fn not_a_digit(&mut self, r: char) -> Option<State> {
        if r == '.' {
            return self.error("Floats must start with a digit, not '.'.".to_string());
        }
        self.error(format!("Expected a digit but got '{}'.", show(r)))
    }

    /// After `/`: a second `/` starts a comment that returns to `ret`.
    /// Returns `None` (with the second character put back) otherwise.
    fn slash_comment(&mut self, ret: State) -> Option<State> {
        if self.next() == '/' {
            self.push(ret);
            return Some(State::CommentStart);
        }
        self.backup();
        None
    }

    fn top(&mut self) -> Option<State> {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::Top);
        }
        match r {
            '{' => {
                self.push(State::Top);
                self.ignore();
                return Some(State::BlockStart);
            }
            '#' => {
                self.push(State::Top);
                return Some(State::CommentStart);
            }
            '/' => {
                if let Some(s) = self.slash_comment(State::Top) {
                    return Some(s);
                }
                return self.eof_or_error();
            }
            EOF => return self.eof_or_error(),
            _ => {}
        }
        self.backup();
        self.push(State::TopValueEnd);
        Some(State::KeyStart)
    }

    fn top_value_end(&mut self) -> Option<State> {
        let r = self.next();
        if r == '#' {
            self.push(State::Top);
            return Some(State::CommentStart);
        }
        if r == '/' {
            if let Some(s) = self.slash_comment(State::Top) {
                return Some(s);
            }
            // A lone '/' is skipped like whitespace.
            return Some(State::TopValueEnd);
        }
        if is_ws(r) {
            return Some(State::TopValueEnd);
        }
        if is_nl(r) || r == EOF || r == ';' || r == ',' || r == '}' {
            self.ignore();
            return Some(State::Top);
        }
        self.error(format!(
            "Expected a top-level value to end with a new line, comment or EOF, but got '{}' instead.",
            show(r)
        ))
    }

    fn block_start(&mut self) -> Option<State> {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::BlockStart);
        }
        match r {
            '{' => {
                self.push(State::BlockEnd);
                self.ignore();
                return Some(State::BlockStart);
            }
            '}' => {
                self.ignore();
                return self.pop();
            }
            '#' => {
                self.push(State::BlockStart);
                return Some(State::CommentStart);
            }
            '/' => {
                if let Some(s) = self.slash_comment(State::BlockStart) {
                    return Some(s);
                }
                return self.eof_or_error();
            }
            EOF => return self.eof_or_error(),
            _ => {}
        }
        self.backup();
        self.push(State::BlockValueEnd);
        Some(State::KeyStart)
    }

    fn block_value_end(&mut self) -> Option<State> {
        let r = self.next();
        if r == '#' {
            self.push(State::BlockValueEnd);
            return Some(State::CommentStart);
        }
        if r == '/' {
            if let Some(s) = self.slash_comment(State::BlockValueEnd) {
                return Some(s);
            }
            return Some(State::BlockValueEnd);
        }
        if is_ws(r) {
            return Some(State::BlockValueEnd);
        }
        if is_nl(r) || r == ';' || r == ',' {
            self.ignore();
            return Some(State::BlockStart);
        }
        if r == '}' {
            self.backup();
            return Some(State::BlockEnd);
        }
        self.error(format!(
            "Expected a block-level value to end with a new line, comment or EOF, but got '{}' instead.",
            show(r)
        ))
    }

    fn block_end(&mut self) -> Option<State> {
        let r = self.next();
        if r == '#' {
            self.push(State::BlockStart);
            return Some(State::CommentStart);
        }
        if r == '/' {
            if let Some(s) = self.slash_comment(State::BlockStart) {
                return Some(s);
            }
            return Some(State::BlockEnd);
        }
        if is_nl(r) || is_ws(r) {
            return Some(State::BlockEnd);
        }
        if r == ';' || r == ',' {
            self.ignore();
            return Some(State::BlockStart);
        }
        if r == '}' {
            self.ignore();
            return self.pop();
        }
        self.error(format!(
            "Expected a block-level to end with a '}}', but got '{}' instead.",
            show(r)
        ))
    }

    fn key_start(&mut self) -> Option<State> {
        let r = self.peek();
        if is_key_sep(r) {
            return self.error(format!("Unexpected key separator '{}'", show(r)));
        }
        if r.is_whitespace() {
            self.next();
            self.ignore();
            return Some(State::KeyStart);
        }
        if r == '"' {
            self.next();
            self.ignore();
            return Some(State::DubQuotedKey);
        }
        if r == '\'' {
            self.next();
            self.ignore();
            return Some(State::QuotedKey);
        }
        self.ignore();
        self.next();
        Some(State::Key)
    }

    fn quoted_key(&mut self, quote: char, me: State) -> Option<State> {
        let r = self.peek();
        if r == quote {
            self.emit(Kind::Key);
            self.next();
            self.ignore();
            return Some(State::KeyEnd);
        }
        if r == EOF {
            return self.eof_or_error();
        }
        self.next();
        Some(me)
    }

    fn include(&mut self) -> Option<State> {
        let r = self.next();
        let what = match r {
            '\'' => {
                self.ignore();
                return Some(State::IncludeQuoted);
            }
            '"' => {
                self.ignore();
                return Some(State::IncludeDubQuoted);
            }
            '[' => "start of an array",
            '{' => "start of a map",
            '(' => "start of a block",
            '-' => "start of a number",
            c if c.is_ascii_digit() => "start of a number",
            '\\' => "escape sequence",
            c if is_nl(c) => "new line",
            _ => {
                self.backup();
                return Some(State::IncludeBare);
            }
        };
        self.error(format!("Expected include value but found {what}"))
    }

    fn include_quoted(&mut self, quote: char, me: State) -> Option<State> {
        let r = self.next();
        if r == quote {
            self.backup();
            self.emit(Kind::Include);
            self.next();
            self.ignore();
            return self.pop();
        }
        if r == EOF {
            let msg = if quote == '"' {
                "Unexpected EOF in double quoted include"
            } else {
                "Unexpected EOF in quoted include"
            };
            return self.error(msg.to_string());
        }
        Some(me)
    }

    fn include_bare(&mut self) -> Option<State> {
        let r = self.next();
        if is_nl(r) || r == EOF || r == ';' || r == '}' || is_ws(r) {
            self.backup();
            self.emit(Kind::Include);
            return self.pop();
        }
        if r == '\'' {
            self.backup();
            self.emit(Kind::Include);
            self.next();
            self.ignore();
            return self.pop();
        }
        Some(State::IncludeBare)
    }

    fn key(&mut self) -> Option<State> {
        let r = self.peek();
        if r.is_whitespace() {
            return self.key_or_keyword(State::KeyEnd, None);
        }
        if is_key_sep(r) || r == EOF {
            self.emit(Kind::Key);
            return Some(State::KeyEnd);
        }
        self.next();
        Some(State::Key)
    }

    fn key_end(&mut self) -> Option<State> {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::KeyEnd);
        }
        if is_key_sep(r) {
            self.ignore();
            return Some(State::Value);
        }
        if r == EOF {
            self.emit(Kind::Eof);
            return None;
        }
        self.backup();
        Some(State::Value)
    }

    fn value(&mut self) -> Option<State> {
        // Whitespace may precede a value, new lines may not (arrays skip
        // them themselves).
        let r = self.next();
        if is_ws(r) {
            self.ignore();
            return Some(State::Value);
        }
        match r {
            '[' => {
                self.ignore();
                self.emit(Kind::ArrayStart);
                Some(State::ArrayValue)
            }
            '{' => {
                self.ignore();
                self.emit(Kind::MapStart);
                Some(State::MapKeyStart)
            }
            '\'' => {
                self.ignore();
                Some(State::QuotedString)
            }
            '"' => {
                self.ignore();
                self.string_state = State::DubQuotedString;
                Some(State::DubQuotedString)
            }
            '-' => Some(State::NegNumberStart),
            '(' => {
                self.ignore();
                Some(State::Block)
            }
            c if c.is_ascii_digit() => {
                self.backup();
                Some(State::NumberStart)
            }
            '.' => self.error("Floats must start with a digit".to_string()),
            c if is_nl(c) => self.error("Expected value but found new line".to_string()),
            _ => {
                self.backup();
                self.string_state = State::Bare;
                Some(State::Bare)
            }
        }
    }

    fn array_value(&mut self) -> Option<State> {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::ArrayValue);
        }
        match r {
            '#' => {
                self.push(State::ArrayValue);
                return Some(State::CommentStart);
            }
            '/' => {
                if let Some(s) = self.slash_comment(State::ArrayValue) {
                    return Some(s);
                }
                return self.error("Unexpected array value terminator ','.".to_string());
            }
            ',' => return self.error("Unexpected array value terminator ','.".to_string()),
            ']' => return Some(State::ArrayEnd),
            _ => {}
        }
        self.backup();
        self.push(State::ArrayValueEnd);
        Some(State::Value)
    }

    fn array_value_end(&mut self) -> Option<State> {
        let r = self.next();
        if is_ws(r) {
            self.ignore();
            return Some(State::ArrayValueEnd);
        }
        if r == '#' {
            self.push(State::ArrayValueEnd);
            return Some(State::CommentStart);
        }
        if r == '/' {
            if let Some(s) = self.slash_comment(State::ArrayValueEnd) {
                return Some(s);
            }
            self.ignore();
            return Some(State::ArrayValue);
        }
        if r == ',' || is_nl(r) {
            self.ignore();
            return Some(State::ArrayValue);
        }
        if r == ']' {
            return Some(State::ArrayEnd);
        }
        self.error(format!(
            "Expected an array value terminator \",\" or an array terminator \"]\", but got '{}' instead.",
            show(r)
        ))
    }

    fn map_key_start(&mut self) -> Option<State> {
        let r = self.peek();
        if is_key_sep(r) {
            return self.error(format!("Unexpected key separator '{}'.", show(r)));
        }
        if r == ']' {
            return self.error(format!(
                "Unexpected array end '{}' processing map.",
                show(r)
            ));
        }
        if r.is_whitespace() {
            self.next();
            self.ignore();
            return Some(State::MapKeyStart);
        }
        match r {
            '}' => {
                self.next();
                self.ignore();
                return Some(State::MapEnd);
            }
            '#' => {
                self.next();
                self.push(State::MapKeyStart);
                return Some(State::CommentStart);
            }
            '/' => {
                self.next();
                if let Some(s) = self.slash_comment(State::MapKeyStart) {
                    return Some(s);
                }
                // A lone '/' is dropped and the key starts after it.
            }
            '\'' => {
                self.next();
                self.ignore();
                return Some(State::MapQuotedKey);
            }
            '"' => {
                self.next();
                self.ignore();
                return Some(State::MapDubQuotedKey);
            }
            EOF => return self.error("Unexpected EOF processing map.".to_string()),
            _ => {}
        }
        self.ignore();
        self.next();
        Some(State::MapKey)
    }

    fn map_quoted_key(&mut self, quote: char, me: State) -> Option<State> {
        let r = self.peek();
        if r == EOF {
            let msg = if quote == '"' {
                "Unexpected EOF processing double quoted map key."
            } else {
                "Unexpected EOF processing quoted map key."
            };
            return self.error(msg.to_string());
        }
        if r == quote {
            self.emit(Kind::Key);
            self.next();
            self.ignore();
            return Some(State::MapKeyEnd);
        }
        self.next();
        Some(me)
    }

    fn map_key(&mut self) -> Option<State> {
        let r = self.peek();
        if r == EOF {
            return self.error("Unexpected EOF processing map key.".to_string());
        }
        if r.is_whitespace() {
            return self.key_or_keyword(State::MapKeyEnd, Some(State::MapValueEnd));
        }
        if is_key_sep(r) {
            self.emit(Kind::Key);
            return Some(State::MapKeyEnd);
        }
        self.next();
        Some(State::MapKey)
    }

    fn map_value(&mut self) -> Option<State> {
        let r = self.next();
        if r.is_whitespace() {
            self.ignore();
            return Some(State::MapValue);
        }
        if r == ',' {
            return self.error("Unexpected map value terminator \",\".".to_string());
        }
        if r == '}' {
            self.ignore();
            return Some(State::MapEnd);
        }
        self.backup();
        self.push(State::MapValueEnd);
        Some(State::Value)
    }

    fn map_value_end(&mut self) -> Option<State> {
        let r = self.next();
        if is_ws(r) {
            self.ignore();
            return Some(State::MapValueEnd);
        }
        if r == '#' {
            self.push(State::MapValueEnd);
            return Some(State::CommentStart);
        }
        if r == '/' {
            if let Some(s) = self.slash_comment(State::MapValueEnd) {
                return Some(s);
            }
            self.ignore();
            return Some(State::MapKeyStart);
        }
        if r == ';' || r == ',' || is_nl(r) {
            self.ignore();
            return Some(State::MapKeyStart);
        }
        if r == '}' {
            self.ignore();
            return Some(State::MapEnd);
        }
        self.error(format!(
            "Expected a map value terminator \",\" or a map terminator \"}}\", but got '{}' instead.",
            show(r)
        ))
    }

    fn single_quoted(&mut self) -> Option<State> {
        let r = self.next();
        if r == '\'' {
            self.backup();
            self.emit(Kind::String);
            self.next();
            self.ignore();
            return self.pop();
        }
        if r == EOF {
            return self.eof_or_error();
        }
        Some(State::QuotedString)
    }

    fn double_quoted(&mut self) -> Option<State> {
        let r = self.next();
        if r == '\\' {
            self.add_current_part(1);
            return Some(State::StringEscape);
        }
        if r == '"' {
            self.backup();
            self.emit_string();
            self.next();
            self.ignore();
            return self.pop();
        }
        if r == EOF {
            return self.eof_or_error();
        }
        Some(State::DubQuotedString)
    }

    /// An unquoted string; it may turn out to be a boolean or a variable.
    fn bare(&mut self) -> Option<State> {
        let r = self.next();
        if r == '\\' {
            self.add_current_part(1);
            return Some(State::StringEscape);
        }
        if is_nl(r) || r == EOF || r == ';' || r == ',' || r == ']' || r == '}' || is_ws(r) {
            self.backup();
            if self.has_parts {
                self.emit_string();
            } else if self.is_bool() {
                self.emit(Kind::Bool);
            } else if self.is_variable() {
                self.emit(Kind::Variable);
            } else {
                self.emit_string();
            }
            return self.pop();
        }
        if r == '\'' {
            self.backup();
            self.emit_string();
            self.next();
            self.ignore();
            return self.pop();
        }
        Some(State::Bare)
    }

    /// A `( ... )` block ends at a `)` alone on its line.
    fn block(&mut self) -> Option<State> {
        let r = self.next();
        if r == ')' {
            self.backup();
            self.backup();
            if self.next() != '\n' {
                self.next();
                return Some(State::Block);
            }
            self.next();
            let after = self.next();
            if after == '\n' || after == EOF {
                self.backup();
                self.backup();
                self.emit(Kind::String);
                self.next();
                self.ignore();
                return self.pop();
            }
            self.backup();
            return Some(State::Block);
        }
        if r == EOF {
            return self.error("Unexpected EOF processing block.".to_string());
        }
        Some(State::Block)
    }

    fn string_escape(&mut self) -> Option<State> {
        let r = self.next();
        match r {
            'x' => Some(State::StringHex),
            't' => self.add_part(b"\t"),
            'n' => self.add_part(b"\n"),
            'r' => self.add_part(b"\r"),
            '"' => self.add_part(b"\""),
            '\\' => self.add_part(b"\\"),
            _ => self.error(format!(
                "Invalid escape character '{}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                show(r)
            )),
        }
    }

    fn string_hex(&mut self) -> Option<State> {
        const EOL: &str = "Expected two hexadecimal digits after '\\x', but hit end of line";
        if is_nl(self.next()) {
            return self.error(EOL.to_string());
        }
        if is_nl(self.next()) {
            return self.error(EOL.to_string());
        }
        let from = self.pos.saturating_sub(2);
        let digits = &self.input[from..self.pos];
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            digits.first().and_then(|&b| hex(b)),
            digits.get(1).and_then(|&b| hex(b)),
        ) {
            (Some(h), Some(l)) if digits.len() == 2 => {
                let byte = (h * 16 + l) as u8;
                self.add_part(&[byte])
            }
            _ => {
                let shown = String::from_utf8_lossy(digits).into_owned();
                self.error(format!(
                    "Expected two hexadecimal digits after '\\x', but got '{shown}'"
                ))
            }
        }
    }

    /// Digits so far: an integer, a float, a date, an address or a string.
    fn number(&mut self) -> Option<State> {
        let r = self.next();
        if r == '-' {
            if self.pos - self.start != 5 {
                return self.error("All ISO8601 dates must be in full Zulu form.".to_string());
            }
            return Some(State::DateAfterYear);
        }
        if r.is_ascii_digit() {
            return Some(State::Number);
        }
        if r == '.' {
            return Some(State::FloatStart);
        }
        if is_number_suffix(r) {
            return Some(State::NumberSuffix);
        }
        if !ends_number(r) {
            // `127.0.0.1:4222`-like or `2s`: a string that starts with digits.
            self.string_state = State::Bare;
            return Some(State::Bare);
        }
        self.backup();
        self.emit(Kind::Integer);
        self.pop()
    }

    /// After a size suffix letter: `b`/`i` may follow (`1kb`, `1KiB`).
    fn number_suffix(&mut self) -> Option<State> {
        let r = self.next();
        if matches!(r, 'b' | 'B' | 'i' | 'I') {
            return Some(State::NumberSuffix);
        }
        self.backup();
        if ends_number(r) {
            self.emit(Kind::Integer);
            return self.pop();
        }
        // Anything else after the suffix, a digit included (`1k5`, an
        // unquoted password), makes the whole token a string, as in
        // nats-server 2.15.
        self.string_state = State::Bare;
        Some(State::Bare)
    }

    fn date_after_year(&mut self) -> Option<State> {
        const FORMAT: &[char] = &[
            '0', '0', '-', '0', '0', 'T', '0', '0', ':', '0', '0', ':', '0', '0', 'Z',
        ];
        for &f in FORMAT {
            let r = self.next();
            if f == '0' {
                if !r.is_ascii_digit() {
                    return self.error(format!(
                        "Expected digit in ISO8601 datetime, but found '{}' instead.",
                        show(r)
                    ));
                }
            } else if f != r {
                return self.error(format!(
                    "Expected '{}' in ISO8601 datetime, but found '{}' instead.",
                    f,
                    show(r)
                ));
            }
        }
        self.emit(Kind::Datetime);
        self.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Kind, String)> {
        let mut lx = Lexer::new(src);
        let mut out = Vec::new();
        loop {
            let t = lx.next_token();
            let k = t.kind;
            if k != Kind::CommentStart && k != Kind::Text {
                out.push((k, t.val));
            }
            if k == Kind::Eof || k == Kind::Error {
                return out;
            }
        }
    }

    fn k(kind: Kind, v: &str) -> (Kind, String) {
        (kind, v.to_string())
    }

    #[test]
    fn cf01_separators() {
        for src in ["foo = 1", "foo: 1", "foo 1", "foo=1", "foo:1"] {
            assert_eq!(
                kinds(src),
                vec![k(Kind::Key, "foo"), k(Kind::Integer, "1"), k(Kind::Eof, "")],
                "{src}"
            );
        }
    }

    #[test]
    fn cf06_numbers_and_strings_starting_with_digits() {
        assert_eq!(kinds("a: 1MB")[1], k(Kind::Integer, "1MB"));
        assert_eq!(kinds("a: 0.75")[1], k(Kind::Float, "0.75"));
        assert_eq!(
            kinds("a: 127.0.0.1:4222")[1],
            k(Kind::String, "127.0.0.1:4222")
        );
        assert_eq!(kinds("a: 2s")[1], k(Kind::String, "2s"));
        assert_eq!(kinds("a: 2m")[1], k(Kind::Integer, "2m"));
        assert_eq!(kinds("a: 1k5")[1], k(Kind::String, "1k5"));
        assert_eq!(kinds("a: 5e7bcd")[1], k(Kind::String, "5e7bcd"));
        assert_eq!(kinds("a: -5")[1], k(Kind::Integer, "-5"));
        assert_eq!(
            kinds("a: 2020-01-02T03:04:05Z")[1],
            k(Kind::Datetime, "2020-01-02T03:04:05Z")
        );
    }

    #[test]
    fn cf04_escapes_and_variables() {
        assert_eq!(kinds(r#"a: "x\ty\x41""#)[1], k(Kind::String, "x\tyA"));
        assert_eq!(kinds("a: 'x\\ty'")[1], k(Kind::String, "x\\ty"));
        assert_eq!(kinds("a: $FOO")[1], k(Kind::Variable, "FOO"));
        assert_eq!(kinds("a: \"$FOO\"")[1], k(Kind::String, "$FOO"));
    }

    #[test]
    fn positions_follow_nats_server() {
        // The first line counts columns from 0, later lines from 1.
        let mut lx = Lexer::new("port: 1\nhost: x\n");
        let t = lx.next_token();
        assert_eq!((t.line, t.pos), (1, 0));
        lx.next_token();
        let t = lx.next_token();
        assert_eq!((t.kind, t.line, t.pos), (Kind::Key, 2, 1));
    }
}
