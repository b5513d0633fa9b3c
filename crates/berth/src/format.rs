//! Docker's `--format` output: a Go `text/template` engine over JSON values,
//! plus docker's `table` layout.
//!
//! Scripts written for docker pass Go templates to `--format`/`-f`; this
//! module evaluates the same language over a [`serde_json::Value`] (the row
//! or inspect object the command built) so those scripts work unchanged.
//!
//! Supported language (Go's `text/template`):
//! - text and actions `{{ }}`, trim markers `{{- ` / ` -}}`, comments
//!   `{{/* */}}`;
//! - `.`, fields `.A.B`, variables `$`, `$x := pipeline`, `$x = pipeline`,
//!   `$i, $e := range`, parenthesised pipelines `(pipeline).Field`,
//!   pipelines `a | b`;
//! - `if` / `else if` / `else`, `with` / `else with` / `else`,
//!   `range` (arrays, maps by sorted key, integers) / `else`, `break`,
//!   `continue`, `end`;
//! - literals: strings (`"..."` with Go escapes, raw `` `...` ``), chars,
//!   integers, floats, `true`, `false`, `nil`;
//! - Go's functions `and or not len index slice print printf println eq ne
//!   lt le gt ge html js urlquery` and docker's `json split join title lower
//!   upper pad truncate`.
//!
//! `define`, `template`, `block` and `call` are not supported (docker's
//! formats never need them); they fail at parse time.
//!
//! Values print as Go prints them (`fmt.Print`): strings raw, integers
//! without `.0`, floats with Go's `%v`, `true`/`false`, arrays `[a b c]`,
//! maps `map[k:v ...]` with sorted keys. A missing map key prints
//! `<no value>`, like Go. A JSON `null` has no exact Go counterpart (docker
//! prints its typed structs: nil slices as `[]`, nil maps as `map[]`, nil
//! pointers as `<nil>`); we print `null` reached by a field named like one of
//! docker's slice fields (`Cmd`, `Entrypoint`, `Env`, ...) as `[]`, like one of
//! its map fields (`Labels`, `Volumes`, `ExposedPorts`, ...) as `map[]`, and
//! any other `null` as `<nil>` — so `docker image inspect -f
//! '{{.Config.Entrypoint}}'` prints `[]` here as with docker.
//!
//! Errors read like Go's: `template: :1: function "foo" not defined`,
//! `template: :1:7: executing "" at <.Foo.Bar>: can't evaluate field Bar in
//! type string` (line, then byte column of the failing node).
//!
//! [`Formatter`] adds docker's handling of the `--format` string: `table`
//! prefix (header row from a field->header map, rows aligned with
//! [`crate::table`]), `json` shortcut, literal `\t` and `\n` turned into
//! tab and newline, one output line per row.

// Some helpers are not called by the commands yet (issue 3 is being wired
// in parallel); drop this once every public item has a caller.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;

use berth_oci::{Classify, ErrorClass};
use serde_json::{Map, Value};

use crate::table::TabWriter;
use crate::units::go_format_g;

/// A template that failed to parse or to execute, worded like Go's errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// The template text is malformed: `template: :LINE: MSG`.
    Parse {
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// Evaluating the template over the given data failed:
    /// `template: :LINE:COL: executing "" at <NODE>: MSG`.
    Exec {
        /// 1-based line of the failing node.
        line: usize,
        /// 0-based byte column of the failing node (as Go reports it).
        col: usize,
        /// Source text of the failing node.
        node: String,
        /// What went wrong.
        msg: String,
    },
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Parse { line, msg } => write!(f, "template: :{line}: {msg}"),
            TemplateError::Exec {
                line,
                col,
                node,
                msg,
            } => write!(
                f,
                "template: :{line}:{col}: executing \"\" at <{node}>: {msg}"
            ),
        }
    }
}

impl std::error::Error for TemplateError {}

impl Classify for TemplateError {
    fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

/// A `--format` string that cannot be used; displayed as docker reports it
/// (`template parsing error: ...`, for parse and execution failures alike).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The format does not parse.
    Parse(TemplateError),
    /// The format fails on one of the rows.
    Execute {
        /// 0-based index of the row that failed.
        row: usize,
        /// The template error.
        source: TemplateError,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Parse(e) | FormatError::Execute { source: e, .. } => {
                write!(f, "template parsing error: {e}")
            }
        }
    }
}

impl std::error::Error for FormatError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FormatError::Parse(e) | FormatError::Execute { source: e, .. } => Some(e),
        }
    }
}

impl Classify for FormatError {
    fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

// ---------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Dot,
    Field(String),
    Var(String),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Comma,
    Declare,
    Assign,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
    end: usize,
    /// Whitespace separates this token from the previous one.
    spaced: bool,
}

#[derive(Debug)]
enum Item {
    Text(String),
    Action { pos: usize, toks: Vec<Token> },
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn line_of(src: &str, pos: usize) -> usize {
    1 + src[..pos.min(src.len())].matches('\n').count()
}

fn parse_err(src: &str, pos: usize, msg: impl Into<String>) -> TemplateError {
    TemplateError::Parse {
        line: line_of(src, pos),
        msg: msg.into(),
    }
}

/// Splits the template into text and action items, applying trim markers
/// and dropping comments.
fn lex(src: &str) -> Result<Vec<Item>, TemplateError> {
    let mut items = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    loop {
        let open = src[pos..].find("{{").map(|i| pos + i);
        let mut text = &src[pos..open.unwrap_or(src.len())];
        if trim_next {
            text = text.trim_start_matches(is_space);
            trim_next = false;
        }
        let Some(open) = open else {
            if !text.is_empty() {
                items.push(Item::Text(text.to_string()));
            }
            return Ok(items);
        };
        let mut i = open + 2;
        let rest = &src[i..];
        if rest.starts_with('-') && rest[1..].starts_with(is_space) {
            text = text.trim_end_matches(is_space);
            i += 2;
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_string()));
        }
        if src[i..].starts_with("/*") {
            let close = src[i + 2..]
                .find("*/")
                .map(|c| i + 2 + c + 2)
                .ok_or_else(|| parse_err(src, open, "unclosed comment"))?;
            let after = &src[close..];
            if after.starts_with("}}") {
                pos = close + 2;
            } else if after.starts_with(is_space) && after[1..].starts_with("-}}") {
                pos = close + 4;
                trim_next = true;
            } else {
                return Err(parse_err(
                    src,
                    open,
                    "comment ends before closing delimiter",
                ));
            }
            continue;
        }
        let mut toks = Vec::new();
        let mut spaced = false;
        loop {
            let rest = &src[i..];
            let Some(c) = rest.chars().next() else {
                return Err(parse_err(src, open, "unclosed action"));
            };
            if is_space(c) {
                if rest[1..].starts_with("-}}") {
                    trim_next = true;
                    i += 4;
                    break;
                }
                i += 1;
                spaced = true;
                continue;
            }
            if rest.starts_with("}}") {
                i += 2;
                break;
            }
            let (tok, end) = lex_token(src, i)?;
            toks.push(Token {
                tok,
                pos: i,
                end,
                spaced,
            });
            spaced = false;
            i = end;
        }
        items.push(Item::Action { pos: open, toks });
        pos = i;
    }
}

/// Lexes one token starting at `i`; returns it and the offset after it.
fn lex_token(src: &str, i: usize) -> Result<(Tok, usize), TemplateError> {
    let rest = &src[i..];
    let mut chars = rest.chars();
    let c = chars.next().unwrap_or(' ');
    let next = chars.next();
    let scan_alnum = |from: usize| {
        from + src[from..]
            .find(|ch: char| !is_alnum(ch))
            .unwrap_or(src.len() - from)
    };
    match c {
        '"' | '\'' => {
            let mut j = i + 1;
            let bytes = src.as_bytes();
            loop {
                match bytes.get(j) {
                    None | Some(b'\n') => {
                        return Err(parse_err(
                            src,
                            i,
                            if c == '"' {
                                "unterminated quoted string"
                            } else {
                                "unterminated character constant"
                            },
                        ))
                    }
                    Some(b'\\') => j += 2,
                    Some(&b) if b == c as u8 => break,
                    Some(_) => j += 1,
                }
            }
            let inner = &src[i + 1..j];
            let text = unquote(inner).map_err(|m| parse_err(src, i, m))?;
            if c == '"' {
                Ok((Tok::Str(text), j + 1))
            } else {
                let mut cs = text.chars();
                match (cs.next(), cs.next()) {
                    (Some(ch), None) => Ok((Tok::Int(ch as i64), j + 1)),
                    _ => Err(parse_err(
                        src,
                        i,
                        format!("malformed character constant: '{inner}'"),
                    )),
                }
            }
        }
        '`' => {
            let end = src[i + 1..]
                .find('`')
                .ok_or_else(|| parse_err(src, i, "unterminated raw quoted string"))?;
            Ok((
                Tok::Str(src[i + 1..i + 1 + end].to_string()),
                i + 1 + end + 1,
            ))
        }
        '$' => {
            let end = scan_alnum(i + 1);
            Ok((Tok::Var(src[i..end].to_string()), end))
        }
        '.' if next.is_some_and(|n| n.is_ascii_digit()) => lex_number(src, i),
        '.' if next.is_some_and(is_alnum) => {
            let end = scan_alnum(i + 1);
            Ok((Tok::Field(src[i + 1..end].to_string()), end))
        }
        '.' => Ok((Tok::Dot, i + 1)),
        '0'..='9' => lex_number(src, i),
        '+' | '-' if next.is_some_and(|n| n.is_ascii_digit() || n == '.') => lex_number(src, i),
        '|' => Ok((Tok::Pipe, i + 1)),
        '(' => Ok((Tok::LParen, i + 1)),
        ')' => Ok((Tok::RParen, i + 1)),
        ',' => Ok((Tok::Comma, i + 1)),
        ':' if next == Some('=') => Ok((Tok::Declare, i + 2)),
        '=' => Ok((Tok::Assign, i + 1)),
        c if is_alnum(c) => {
            let end = scan_alnum(i);
            let word = &src[i..end];
            let tok = match word {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                "nil" => Tok::Nil,
                _ => Tok::Ident(word.to_string()),
            };
            Ok((tok, end))
        }
        c => Err(parse_err(src, i, format!("unexpected \"{c}\" in command"))),
    }
}

fn lex_number(src: &str, i: usize) -> Result<(Tok, usize), TemplateError> {
    let bytes = src.as_bytes();
    let mut j = i;
    if matches!(bytes[j], b'+' | b'-') {
        j += 1;
    }
    let hex = src[j..].starts_with("0x") || src[j..].starts_with("0X");
    while j < bytes.len() {
        let b = bytes[j];
        let exp_sign = matches!(b, b'+' | b'-')
            && j > i
            && (if hex {
                matches!(bytes[j - 1], b'p' | b'P')
            } else {
                matches!(bytes[j - 1], b'e' | b'E')
            });
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exp_sign {
            j += 1;
        } else {
            break;
        }
    }
    let text = &src[i..j];
    let tok = parse_number(text)
        .ok_or_else(|| parse_err(src, i, format!("bad number syntax: \"{text}\"")))?;
    Ok((tok, j))
}

fn parse_number(text: &str) -> Option<Tok> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, &clean[..]),
    };
    let lower = body.to_ascii_lowercase();
    let radix = |p: &str, r: u32| i64::from_str_radix(&lower[p.len()..], r).ok();
    let int = if lower.starts_with("0x") {
        radix("0x", 16)
    } else if lower.starts_with("0o") {
        radix("0o", 8)
    } else if lower.starts_with("0b") {
        radix("0b", 2)
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        radix("0", 8)
    } else if lower.bytes().all(|b| b.is_ascii_digit()) {
        lower.parse().ok()
    } else {
        None
    };
    if let Some(n) = int {
        return Some(Tok::Int(if neg { -n } else { n }));
    }
    if lower.starts_with("0x") || lower.contains("inf") || lower.contains("nan") {
        return None;
    }
    let f: f64 = body.parse().ok()?;
    Some(Tok::Float(if neg { -f } else { f }))
}

/// Interprets Go string-literal escapes (`\n`, `\t`, `\"`, `\x41`,
/// `\u00e9`, `\101`, ...).
fn unquote(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next().ok_or("invalid syntax")?;
        let mut hex = |n: usize| -> Result<u32, String> {
            let h: String = chars.by_ref().take(n).collect();
            if h.len() != n {
                return Err("invalid syntax".into());
            }
            u32::from_str_radix(&h, 16).map_err(|_| "invalid syntax".to_string())
        };
        let ch = match e {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'v' => '\x0b',
            '\\' => '\\',
            '"' => '"',
            '\'' => '\'',
            'x' => char::from_u32(hex(2)?).ok_or("invalid syntax")?,
            'u' => char::from_u32(hex(4)?).ok_or("invalid syntax")?,
            'U' => char::from_u32(hex(8)?).ok_or("invalid syntax")?,
            '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                let v = u32::from_str_radix(&format!("{e}{rest}"), 8)
                    .map_err(|_| "invalid syntax".to_string())?;
                char::from_u32(v).ok_or("invalid syntax")?
            }
            _ => return Err("invalid syntax".into()),
        };
        out.push(ch);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Parse tree

#[derive(Debug, Clone)]
enum Operand {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `.A.B`
    Field(Vec<String>),
    /// `$x.A.B` (name includes the `$`).
    Var(String, Vec<String>),
    /// A function name.
    Func(String),
    /// `(pipeline)`, optionally followed by `.A.B`.
    Sub(Box<Pipe>, Vec<String>),
}

#[derive(Debug, Clone)]
struct Arg {
    pos: usize,
    text: String,
    op: Operand,
}

#[derive(Debug, Clone)]
struct Cmd {
    pos: usize,
    text: String,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
struct Pipe {
    decls: Vec<String>,
    assign: bool,
    cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Option<Vec<Node>>),
    With(Pipe, Vec<Node>, Option<Vec<Node>>),
    Range(Pipe, Vec<Node>, Option<Vec<Node>>),
    Break,
    Continue,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Control {
    If,
    With,
    Range,
}

impl Control {
    fn name(self) -> &'static str {
        match self {
            Control::If => "if",
            Control::With => "with",
            Control::Range => "range",
        }
    }
}

/// Functions known to the parser (Go builtins + docker's).
const FUNCS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "eq", "ne", "lt",
    "le", "gt", "ge", "html", "js", "urlquery", "json", "split", "join", "title", "lower", "upper",
    "pad", "truncate",
];

/// Functions docker replaces by "return the first argument" when rendering
/// a table header, so the header shows the column name untouched.
const HEADER_IDENTITY_FUNCS: &[&str] = &[
    "json", "split", "join", "title", "lower", "upper", "truncate",
];

enum Stop {
    Eof,
    End,
    Else(Vec<Token>, usize),
}

struct Parser<'s> {
    src: &'s str,
    items: std::vec::IntoIter<Item>,
    vars: Vec<String>,
    range_depth: usize,
}

impl Parser<'_> {
    fn err(&self, pos: usize, msg: impl Into<String>) -> TemplateError {
        parse_err(self.src, pos, msg)
    }

    fn list(&mut self) -> Result<(Vec<Node>, Stop), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(item) = self.items.next() {
            let (pos, toks) = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Action { pos, toks } => (pos, toks),
            };
            let keyword = match toks.first().map(|t| &t.tok) {
                Some(Tok::Ident(w)) => w.as_str(),
                None => return Err(self.err(pos, "missing value for command")),
                _ => "",
            };
            match keyword {
                "end" => {
                    if let Some(t) = toks.get(1) {
                        return Err(self.err(t.pos, "unexpected token in end"));
                    }
                    return Ok((nodes, Stop::End));
                }
                "else" => return Ok((nodes, Stop::Else(toks[1..].to_vec(), pos))),
                "if" => nodes.push(self.control(Control::If, &toks[1..], pos)?),
                "with" => nodes.push(self.control(Control::With, &toks[1..], pos)?),
                "range" => nodes.push(self.control(Control::Range, &toks[1..], pos)?),
                "break" | "continue" => {
                    if self.range_depth == 0 {
                        return Err(
                            self.err(pos, format!("{{{{{keyword}}}}} outside {{{{range}}}}"))
                        );
                    }
                    if let Some(t) = toks.get(1) {
                        return Err(
                            self.err(t.pos, format!("unexpected token in {{{{{keyword}}}}}"))
                        );
                    }
                    nodes.push(if keyword == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "define" | "template" | "block" => {
                    return Err(self.err(pos, format!("unsupported action \"{keyword}\"")))
                }
                _ => {
                    let pipe = self.pipe_tokens(&toks, "command", true)?;
                    nodes.push(Node::Action(pipe));
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn control(
        &mut self,
        kind: Control,
        toks: &[Token],
        pos: usize,
    ) -> Result<Node, TemplateError> {
        let mark = self.vars.len();
        let pipe = self.pipe_tokens(toks, kind.name(), true)?;
        if pipe.decls.len() > 1 && kind != Control::Range {
            return Err(self.err(pos, format!("too many declarations in {}", kind.name())));
        }
        if kind == Control::Range {
            self.range_depth += 1;
        }
        let (list, stop) = self.list()?;
        if kind == Control::Range {
            self.range_depth -= 1;
        }
        let else_list = match stop {
            Stop::End => None,
            Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
            Stop::Else(rest, else_pos) => {
                let chained = match rest.first().map(|t| &t.tok) {
                    Some(Tok::Ident(w)) if w == "if" && kind == Control::If => true,
                    Some(Tok::Ident(w)) if w == "with" && kind == Control::With => true,
                    None => false,
                    Some(_) => {
                        return Err(self.err(else_pos, "unexpected token in else"));
                    }
                };
                if chained {
                    Some(vec![self.control(kind, &rest[1..], else_pos)?])
                } else {
                    let (list, stop) = self.list()?;
                    match stop {
                        Stop::End => Some(list),
                        Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
                        Stop::Else(_, p) => {
                            return Err(self.err(p, "expected end; found {{else}}"));
                        }
                    }
                }
            }
        };
        self.vars.truncate(mark);
        Ok(match kind {
            Control::If => Node::If(pipe, list, else_list),
            Control::With => Node::With(pipe, list, else_list),
            Control::Range => Node::Range(pipe, list, else_list),
        })
    }

    fn pipe_tokens(
        &mut self,
        toks: &[Token],
        ctx: &str,
        allow_decl: bool,
    ) -> Result<Pipe, TemplateError> {
        let mut cur = Cursor { toks, i: 0 };
        let pipe = self.pipe(&mut cur, ctx, allow_decl, false)?;
        if let Some(t) = cur.peek() {
            if t.tok == Tok::RParen {
                return Err(self.err(t.pos, "unexpected right paren"));
            }
            return Err(self.err(t.pos, format!("unexpected {} in {ctx}", describe(&t.tok))));
        }
        Ok(pipe)
    }

    fn pipe(
        &mut self,
        cur: &mut Cursor<'_>,
        ctx: &str,
        allow_decl: bool,
        in_paren: bool,
    ) -> Result<Pipe, TemplateError> {
        let mut decls = Vec::new();
        let mut assign = false;
        if allow_decl {
            let save = cur.i;
            let mut names = Vec::new();
            while let Some(Token {
                tok: Tok::Var(v), ..
            }) = cur.peek()
            {
                names.push(v.clone());
                cur.i += 1;
                match cur.peek().map(|t| &t.tok) {
                    Some(Tok::Comma) => {
                        cur.i += 1;
                    }
                    Some(Tok::Declare) => {
                        cur.i += 1;
                        decls = std::mem::take(&mut names);
                        break;
                    }
                    Some(Tok::Assign) => {
                        cur.i += 1;
                        assign = true;
                        decls = std::mem::take(&mut names);
                        break;
                    }
                    _ => break,
                }
            }
            if decls.is_empty() {
                cur.i = save;
            }
            if decls.len() > if ctx == "range" { 2 } else { 1 } {
                let pos = cur.toks.first().map_or(0, |t| t.pos);
                return Err(self.err(pos, format!("too many declarations in {ctx}")));
            }
        }
        let mut cmds = Vec::new();
        loop {
            match cur.peek().map(|t| &t.tok) {
                None => break,
                Some(Tok::RParen) if in_paren => break,
                _ => {}
            }
            cmds.push(self.command(cur)?);
            match cur.peek().map(|t| &t.tok) {
                Some(Tok::Pipe) => {
                    cur.i += 1;
                    if cur.peek().is_none() {
                        return Err(self.err(self.last_pos(cur), "missing command after |"));
                    }
                }
                _ => break,
            }
        }
        let pos = cur.toks.first().map_or(0, |t| t.pos);
        if cmds.is_empty() {
            return Err(self.err(pos, format!("missing value for {ctx}")));
        }
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if !matches!(
                c.args[0].op,
                Operand::Func(_) | Operand::Field(_) | Operand::Var(..) | Operand::Sub(..)
            ) {
                return Err(self.err(
                    c.pos,
                    format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        for name in &decls {
            if assign {
                if !self.vars.contains(name) {
                    return Err(self.err(pos, format!("undefined variable \"{name}\"")));
                }
            } else {
                self.vars.push(name.clone());
            }
        }
        Ok(Pipe {
            decls,
            assign,
            cmds,
        })
    }

    fn last_pos(&self, cur: &Cursor<'_>) -> usize {
        cur.toks.last().map_or(0, |t| t.pos)
    }

    fn command(&mut self, cur: &mut Cursor<'_>) -> Result<Cmd, TemplateError> {
        let start = cur.peek().map_or(0, |t| t.pos);
        let mut end = start;
        let mut args = Vec::new();
        while let Some(t) = cur.peek() {
            if matches!(t.tok, Tok::Pipe | Tok::RParen) {
                break;
            }
            if !args.is_empty() && !t.spaced && !matches!(t.tok, Tok::LParen) {
                return Err(self.err(t.pos, format!("unexpected {} in operand", describe(&t.tok))));
            }
            let arg = self.operand(cur)?;
            end = cur.toks[cur.i - 1].end;
            args.push(arg);
        }
        if args.is_empty() {
            return Err(self.err(start, "missing value for command"));
        }
        Ok(Cmd {
            pos: start,
            text: self.src[start..end].to_string(),
            args,
        })
    }

    fn operand(&mut self, cur: &mut Cursor<'_>) -> Result<Arg, TemplateError> {
        let t = cur.next().expect("caller checked");
        let pos = t.pos;
        let op = match &t.tok {
            Tok::Dot => Operand::Dot,
            Tok::Nil => Operand::Nil,
            Tok::Bool(b) => Operand::Bool(*b),
            Tok::Int(n) => Operand::Int(*n),
            Tok::Float(f) => Operand::Float(*f),
            Tok::Str(s) => Operand::Str(s.clone()),
            Tok::Field(f) => Operand::Field(vec![f.clone()]),
            Tok::Var(v) => {
                if !self.vars.contains(v) {
                    return Err(self.err(pos, format!("undefined variable \"{v}\"")));
                }
                Operand::Var(v.clone(), Vec::new())
            }
            Tok::Ident(name) => {
                if !FUNCS.contains(&name.as_str()) {
                    return Err(self.err(pos, format!("function \"{name}\" not defined")));
                }
                Operand::Func(name.clone())
            }
            Tok::LParen => {
                let inner = self.pipe(cur, "parenthesized pipeline", true, true)?;
                match cur.next() {
                    Some(Token {
                        tok: Tok::RParen, ..
                    }) => {}
                    _ => return Err(self.err(pos, "unclosed left paren")),
                }
                Operand::Sub(Box::new(inner), Vec::new())
            }
            other => {
                return Err(self.err(pos, format!("unexpected {} in operand", describe(other))));
            }
        };
        let mut op = op;
        // Go positions a field chain at its second element.
        let mut chain_pos = None;
        while let Some(Token {
            tok: Tok::Field(f),
            spaced: false,
            pos: fpos,
            ..
        }) = cur.peek()
        {
            match &mut op {
                Operand::Field(chain) | Operand::Var(_, chain) | Operand::Sub(_, chain) => {
                    chain.push(f.clone());
                }
                _ => {
                    return Err(self.err(
                        *fpos,
                        format!(
                            "unexpected . after term {}",
                            go_quote(&self.src[pos..*fpos])
                        ),
                    ));
                }
            }
            chain_pos.get_or_insert(*fpos);
            cur.i += 1;
        }
        let end = cur.toks[cur.i - 1].end;
        Ok(Arg {
            pos: chain_pos.unwrap_or(pos),
            text: self.src[pos..end].to_string(),
            op,
        })
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Pipe => "\"|\"".into(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Ident(w) => format!("<{w}>"),
        _ => "operand".into(),
    }
}

struct Cursor<'t> {
    toks: &'t [Token],
    i: usize,
}

impl<'t> Cursor<'t> {
    fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.i)
    }
    fn next(&mut self) -> Option<&'t Token> {
        let t = self.toks.get(self.i);
        self.i += 1;
        t
    }
}

// ---------------------------------------------------------------------------
// Public template API

/// How [`Template::execute_with`] treats a field missing from the data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// When set, a field missing from the *root* object is an error
    /// `can't evaluate field X in type <root_type>`, as docker's listing
    /// commands (whose rows are Go structs) report it; fields missing from
    /// nested maps still print `<no value>`. When `None` (default, right for
    /// inspect output), every missing key prints `<no value>`.
    pub root_type: Option<String>,
}

/// A parsed Go template.
#[derive(Debug, Clone)]
pub struct Template {
    src: String,
    nodes: Vec<Node>,
}

impl Template {
    /// Parses `src` exactly as given (no `\t` / `\n` escape processing: that
    /// is [`Formatter`]'s job, as in docker).
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        let items = lex(src)?;
        let mut p = Parser {
            src,
            items: items.into_iter(),
            vars: vec!["$".to_string()],
            range_depth: 0,
        };
        let (nodes, stop) = p.list()?;
        match stop {
            Stop::Eof => Ok(Template {
                src: src.to_string(),
                nodes,
            }),
            Stop::End => Err(parse_err(src, src.len(), "unexpected {{end}}")),
            Stop::Else(_, pos) => Err(parse_err(src, pos, "unexpected {{else}}")),
        }
    }

    /// Evaluates the template with `data` as `.` and `$`.
    pub fn execute(&self, data: &Value) -> Result<String, TemplateError> {
        self.execute_with(data, &ExecOptions::default())
    }

    /// [`Template::execute`] with options.
    pub fn execute_with(&self, data: &Value, opts: &ExecOptions) -> Result<String, TemplateError> {
        let mut ex = Exec::new(self, data, opts, false);
        ex.walk(Some(data), &self.nodes)?;
        Ok(ex.out)
    }

    /// Renders the table header as docker does: `.Field` resolves to
    /// `headers[Field]` (or the upper-cased field name when absent), docker's
    /// string functions return their first argument unchanged, and an error
    /// just ends the header early (docker ignores header errors too).
    pub fn execute_header(&self, headers: &BTreeMap<String, String>) -> String {
        let data = Value::Object(
            headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        );
        let opts = ExecOptions::default();
        let mut ex = Exec::new(self, &data, &opts, true);
        let _ = ex.walk(Some(&data), &self.nodes);
        ex.out
    }
}

// ---------------------------------------------------------------------------
// Execution

enum Flow {
    Normal,
    Break,
    Continue,
}

/// A function call failure, turned into Go's wording by the caller.
enum CallErr {
    /// Wrong argument count: (wanted, got, variadic).
    Arity(usize, usize, bool),
    /// Argument `.0` (index among the call's values) has the wrong type.
    Type(usize, String),
    Call(String),
}

type Val = Option<Value>;

struct Exec<'a> {
    src: &'a str,
    root: &'a Value,
    opts: &'a ExecOptions,
    header: bool,
    vars: Vec<(String, Val)>,
    out: String,
}

impl<'a> Exec<'a> {
    fn new(t: &'a Template, root: &'a Value, opts: &'a ExecOptions, header: bool) -> Exec<'a> {
        Exec {
            src: &t.src,
            root,
            opts,
            header,
            // `$` is resolved to `root` directly; the slot only marks scope.
            vars: vec![("$".to_string(), None)],
            out: String::new(),
        }
    }

    fn err(&self, pos: usize, node: &str, msg: impl Into<String>) -> TemplateError {
        let line = line_of(self.src, pos);
        let line_start = self.src[..pos].rfind('\n').map_or(0, |i| i + 1);
        TemplateError::Exec {
            line,
            col: pos - line_start,
            node: node.to_string(),
            msg: msg.into(),
        }
    }

    fn walk(&mut self, dot: Option<&Value>, nodes: &[Node]) -> Result<Flow, TemplateError> {
        for node in nodes {
            let flow = match node {
                Node::Text(t) => {
                    self.out.push_str(t);
                    Flow::Normal
                }
                Node::Action(pipe) => {
                    let v = self.pipe(dot, pipe)?;
                    if pipe.decls.is_empty() {
                        let hint = null_hint(pipe);
                        let text = print_top(&v, hint);
                        self.out.push_str(&text);
                    }
                    Flow::Normal
                }
                Node::If(pipe, list, else_list) | Node::With(pipe, list, else_list) => {
                    let mark = self.vars.len();
                    let v = self.pipe(dot, pipe)?;
                    let is_with = matches!(node, Node::With(..));
                    let flow = if truth(&v) {
                        if is_with {
                            self.walk(v.as_ref(), list)?
                        } else {
                            self.walk(dot, list)?
                        }
                    } else if let Some(e) = else_list {
                        self.walk(dot, e)?
                    } else {
                        Flow::Normal
                    };
                    self.vars.truncate(mark);
                    flow
                }
                Node::Range(pipe, list, else_list) => {
                    let mark = self.vars.len();
                    let flow = self.range(dot, pipe, list, else_list.as_deref())?;
                    self.vars.truncate(mark);
                    flow
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        dot: Option<&Value>,
        pipe: &Pipe,
        list: &[Node],
        else_list: Option<&[Node]>,
    ) -> Result<Flow, TemplateError> {
        let v = self.pipe(dot, pipe)?;
        let items: Vec<(Value, Value)> = match &v {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::from(i as u64), e.clone()))
                .collect(),
            Some(Value::Object(m)) => sorted_entries(m)
                .into_iter()
                .map(|(k, e)| (Value::String(k.clone()), e.clone()))
                .collect(),
            Some(Value::Number(n)) if n.as_i64().is_some() => (0..n.as_i64().unwrap_or(0).max(0))
                .map(|i| (Value::from(i), Value::from(i)))
                .collect(),
            Some(other) => {
                let cmd = &pipe.cmds[pipe.cmds.len() - 1];
                return Err(self.err(
                    cmd.pos,
                    &cmd.text,
                    format!("range can't iterate over {}", go_print(other)),
                ));
            }
        };
        if items.is_empty() {
            return match else_list {
                Some(e) => self.walk(dot, e),
                None => Ok(Flow::Normal),
            };
        }
        let base = self.vars.len();
        for (key, elem) in items {
            // The pipeline pushed its declared variables (index first).
            match pipe.decls.len() {
                1 => self.set_var_at(base - 1, Some(elem.clone()), pipe),
                2 => {
                    self.set_var_at(base - 2, Some(key), pipe);
                    self.set_var_at(base - 1, Some(elem.clone()), pipe);
                }
                _ => {}
            }
            let mark = self.vars.len();
            let flow = self.walk(Some(&elem), list)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn set_var_at(&mut self, idx: usize, v: Val, pipe: &Pipe) {
        if pipe.assign {
            // `range $x = ...` assigns to existing variables by name.
            let name = if pipe.decls.len() == 2 && idx + 2 == self.vars.len() {
                &pipe.decls[0]
            } else {
                &pipe.decls[pipe.decls.len() - 1]
            };
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
            }
        } else if let Some(slot) = self.vars.get_mut(idx) {
            slot.1 = v;
        }
    }

    fn pipe(&mut self, dot: Option<&Value>, pipe: &Pipe) -> Result<Val, TemplateError> {
        let mut value: Option<Val> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(None);
        for name in &pipe.decls {
            if pipe.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = value.clone();
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn command(
        &mut self,
        dot: Option<&Value>,
        cmd: &Cmd,
        fin: Option<Val>,
    ) -> Result<Val, TemplateError> {
        let first = &cmd.args[0];
        let has_args = cmd.args.len() > 1 || fin.is_some();
        match &first.op {
            Operand::Func(name) => self.call(dot, cmd, name, &cmd.args[1..], fin),
            Operand::Field(chain) | Operand::Var(_, chain) | Operand::Sub(_, chain)
                if !chain.is_empty() =>
            {
                if has_args {
                    let last = chain.last().map_or("", String::as_str);
                    return Err(self.err(
                        first.pos,
                        &first.text,
                        format!("{last} is not a method but has arguments"),
                    ));
                }
                self.arg(dot, first)
            }
            Operand::Nil => Err(self.err(first.pos, "nil", "nil is not a command")),
            _ => {
                if has_args {
                    return Err(self.err(
                        first.pos,
                        &first.text,
                        format!("can't give argument to non-function {}", first.text),
                    ));
                }
                self.arg(dot, first)
            }
        }
    }

    fn arg(&mut self, dot: Option<&Value>, arg: &Arg) -> Result<Val, TemplateError> {
        Ok(match &arg.op {
            Operand::Dot => dot.cloned(),
            Operand::Nil => Some(Value::Null),
            Operand::Bool(b) => Some(Value::Bool(*b)),
            Operand::Int(n) => Some(Value::from(*n)),
            Operand::Float(f) => Some(float_value(*f)),
            Operand::Str(s) => Some(Value::String(s.clone())),
            Operand::Field(chain) => return self.fields(dot, chain, arg),
            Operand::Var(name, chain) => {
                if name == "$" {
                    // `$.X` starts from the root itself (keeps strictness).
                    return self.fields(Some(self.root), chain, arg);
                }
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .and_then(|(_, v)| v.as_ref());
                return self.fields(v, chain, arg);
            }
            Operand::Func(name) => {
                let cmd = Cmd {
                    pos: arg.pos,
                    text: arg.text.clone(),
                    args: vec![arg.clone()],
                };
                return self.call(dot, &cmd, name, &[], None);
            }
            Operand::Sub(pipe, chain) => {
                let v = self.pipe(dot, pipe)?;
                return self.fields(v.as_ref(), chain, arg);
            }
        })
    }

    /// Follows `.A.B...` from `recv` with Go's map semantics.
    fn fields(
        &self,
        recv: Option<&Value>,
        chain: &[String],
        arg: &Arg,
    ) -> Result<Val, TemplateError> {
        let mut cur = recv;
        for (depth, name) in chain.iter().enumerate() {
            // Values found inside a map have Go's static type `interface {}`.
            let ty = |v: &Value| {
                if depth == 0 {
                    go_type(v)
                } else {
                    "interface {}"
                }
            };
            cur = match cur {
                None => return Ok(None),
                Some(Value::Object(m)) => {
                    let is_root = std::ptr::eq(cur.expect("matched Some"), self.root);
                    match m.get(name) {
                        Some(v) => Some(v),
                        None if self.header && is_root => {
                            let key = chain.join(".");
                            return Ok(Some(Value::String(
                                m.get(&key)
                                    .and_then(Value::as_str)
                                    .map_or_else(|| key.to_uppercase(), str::to_string),
                            )));
                        }
                        None if is_root && self.opts.root_type.is_some() => {
                            let ty = self.opts.root_type.as_deref().unwrap_or_default();
                            return Err(self.err(
                                arg.pos,
                                &arg.text,
                                format!("can't evaluate field {name} in type {ty}"),
                            ));
                        }
                        None => return Ok(None),
                    }
                }
                Some(Value::Null) => {
                    return Err(self.err(
                        arg.pos,
                        &arg.text,
                        format!("nil pointer evaluating interface {{}}.{name}"),
                    ));
                }
                Some(other) => {
                    return Err(self.err(
                        arg.pos,
                        &arg.text,
                        format!("can't evaluate field {name} in type {}", ty(other)),
                    ));
                }
            };
        }
        Ok(cur.cloned())
    }

    fn call(
        &mut self,
        dot: Option<&Value>,
        cmd: &Cmd,
        name: &str,
        args: &[Arg],
        fin: Option<Val>,
    ) -> Result<Val, TemplateError> {
        // Go reports arity at the function name, types at the argument and
        // failures inside the function at the whole command.
        let fail = |ex: &Self, e: CallErr| match e {
            CallErr::Arity(want, got, variadic) => ex.err(
                cmd.pos,
                name,
                format!(
                    "wrong number of args for {name}: want {}{want} got {got}",
                    if variadic { "at least " } else { "" }
                ),
            ),
            CallErr::Type(i, m) => match args.get(i) {
                Some(a) => ex.err(a.pos, &a.text, m),
                None => ex.err(cmd.pos, &cmd.text, m),
            },
            CallErr::Call(m) => ex.err(cmd.pos, &cmd.text, format!("error calling {name}: {m}")),
        };
        if name == "and" || name == "or" {
            // Short-circuit: stop at the first false (and) / true (or) value.
            let total = args.len() + usize::from(fin.is_some());
            if total == 0 {
                return Err(fail(self, CallErr::Arity(1, 0, true)));
            }
            let mut last = None;
            for a in args {
                let v = self.arg(dot, a)?;
                if truth(&v) == (name == "or") {
                    return Ok(v);
                }
                last = v;
            }
            if let Some(f) = fin {
                return Ok(f);
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        if let Some(f) = fin {
            vals.push(f);
        }
        if self.header && HEADER_IDENTITY_FUNCS.contains(&name) {
            return Ok(vals.into_iter().next().unwrap_or(None));
        }
        builtin(name, vals).map_err(|e| fail(self, e))
    }
}

fn float_value(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn sorted_entries(m: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// Go's truth: false, 0, nil, empty string/array/map and missing are false.
fn truth(v: &Val) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

/// Docker's struct fields whose nil value prints `[]` (slices) or `map[]`.
const NIL_SLICE_FIELDS: &[&str] = &[
    "Cmd",
    "Entrypoint",
    "Env",
    "OnBuild",
    "Shell",
    "RepoTags",
    "RepoDigests",
    "Layers",
    "Mounts",
    "Args",
    "Aliases",
    "Links",
    "DNS",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "CapAdd",
    "CapDrop",
    "SecurityOpt",
    "Devices",
    "Binds",
    "Tmpfs",
    "GroupAdd",
];
const NIL_MAP_FIELDS: &[&str] = &[
    "Labels",
    "Volumes",
    "ExposedPorts",
    "Data",
    "Options",
    "Annotations",
    "Ports",
    "PortBindings",
    "Networks",
    "Sysctls",
    "StorageOpt",
];

/// Name of the last field a printed pipeline reads, to choose how `null`
/// prints.
fn null_hint(pipe: &Pipe) -> Option<&str> {
    let cmd = pipe.cmds.last()?;
    if cmd.args.len() != 1 {
        return None;
    }
    match &cmd.args[0].op {
        Operand::Field(c) | Operand::Var(_, c) | Operand::Sub(_, c) => c.last().map(String::as_str),
        _ => None,
    }
}

fn print_top(v: &Val, hint: Option<&str>) -> String {
    match v {
        None => "<no value>".to_string(),
        Some(Value::Null) => match hint {
            Some(h) if NIL_SLICE_FIELDS.contains(&h) => "[]".to_string(),
            Some(h) if NIL_MAP_FIELDS.contains(&h) => "map[]".to_string(),
            _ => "<nil>".to_string(),
        },
        Some(v) => go_print(v),
    }
}

/// Go's `fmt.Print` of a JSON value (`%v`).
pub fn go_print(v: &Value) -> String {
    let mut out = String::new();
    print_into(v, &mut out);
    out
}

fn print_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_string(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_into(e, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push_str("map[");
            for (i, (k, e)) in sorted_entries(m).into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                print_into(e, out);
            }
            out.push(']');
        }
    }
}

fn number_string(n: &serde_json::Number) -> String {
    if n.is_f64() {
        go_format_g(n.as_f64().unwrap_or(0.0), None)
    } else {
        n.to_string()
    }
}

/// Go's type name of a JSON-decoded value, for error messages.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "interface {}",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

// ---------------------------------------------------------------------------
// Functions

fn want_args(vals: &[Val], n: usize) -> Result<(), CallErr> {
    if vals.len() == n {
        Ok(())
    } else {
        Err(CallErr::Arity(n, vals.len(), false))
    }
}

/// A string parameter; numbers and booleans are accepted as their printed
/// form (Go would refuse them; being lenient breaks no docker script).
fn str_arg(vals: &[Val], i: usize) -> Result<String, CallErr> {
    match &vals[i] {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(go_print(v)),
        None => Err(CallErr::Type(i, "invalid value; expected string".into())),
        Some(other) => Err(CallErr::Type(
            i,
            format!(
                "wrong type for value; expected string; got {}",
                go_type(other)
            ),
        )),
    }
}

fn int_arg(vals: &[Val], i: usize) -> Result<i64, CallErr> {
    match &vals[i] {
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64().unwrap_or(0)),
        Some(Value::Number(n)) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => {
            Ok(n.as_f64().unwrap_or(0.0) as i64)
        }
        None => Err(CallErr::Type(i, "invalid value; expected int".into())),
        Some(other) => Err(CallErr::Type(
            i,
            format!("wrong type for value; expected int; got {}", go_type(other)),
        )),
    }
}

fn builtin(name: &str, vals: Vec<Val>) -> Result<Val, CallErr> {
    let s = |v: String| Ok(Some(Value::String(v)));
    match name {
        "not" => {
            want_args(&vals, 1)?;
            Ok(Some(Value::Bool(!truth(&vals[0]))))
        }
        "len" => {
            want_args(&vals, 1)?;
            let n = match &vals[0] {
                Some(Value::String(x)) => x.len(),
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(m)) => m.len(),
                None | Some(Value::Null) => return Err(CallErr::Call("len of nil pointer".into())),
                Some(other) => {
                    return Err(CallErr::Call(format!("len of type {}", go_type(other))))
                }
            };
            Ok(Some(Value::from(n as u64)))
        }
        "index" => {
            if vals.is_empty() {
                return Err(CallErr::Arity(1, 0, true));
            }
            let mut it = vals.into_iter();
            let mut cur = it.next().unwrap_or(None);
            for idx in it {
                cur = index_one(cur, &idx)?;
            }
            Ok(cur)
        }
        "slice" => slice(vals),
        "print" => s(go_sprint(&vals)),
        "println" => s(go_sprintln(&vals)),
        "printf" => {
            if vals.is_empty() {
                return Err(CallErr::Arity(1, 0, true));
            }
            let fmt = str_arg(&vals, 0)?;
            s(go_sprintf(&fmt, &vals[1..]))
        }
        "eq" => {
            if vals.is_empty() {
                return Err(CallErr::Arity(1, 0, true));
            }
            if vals.len() < 2 {
                return Err(CallErr::Call("missing argument for comparison".into()));
            }
            for other in &vals[1..] {
                if equal(&vals[0], other)? {
                    return Ok(Some(Value::Bool(true)));
                }
            }
            Ok(Some(Value::Bool(false)))
        }
        "ne" => {
            want_args(&vals, 2)?;
            Ok(Some(Value::Bool(!equal(&vals[0], &vals[1])?)))
        }
        "lt" | "le" | "gt" | "ge" => {
            want_args(&vals, 2)?;
            let ord = compare(&vals[0], &vals[1])?;
            let r = match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            };
            Ok(Some(Value::Bool(r)))
        }
        "html" => s(html_escape(&escaper_arg(&vals))),
        "js" => s(js_escape(&escaper_arg(&vals))),
        "urlquery" => s(query_escape(&escaper_arg(&vals))),
        "json" => {
            want_args(&vals, 1)?;
            s(match &vals[0] {
                None => "null".to_string(),
                Some(v) => go_json(v, None, false),
            })
        }
        "split" => {
            want_args(&vals, 2)?;
            let (text, sep) = (str_arg(&vals, 0)?, str_arg(&vals, 1)?);
            let parts: Vec<Value> = if sep.is_empty() {
                text.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                text.split(sep.as_str())
                    .map(|p| Value::String(p.to_string()))
                    .collect()
            };
            Ok(Some(Value::Array(parts)))
        }
        "join" => {
            want_args(&vals, 2)?;
            let sep = str_arg(&vals, 1)?;
            let items: Vec<String> = match &vals[0] {
                Some(Value::Array(a)) => a.iter().map(go_print).collect(),
                None | Some(Value::Null) => Vec::new(),
                Some(other) => {
                    return Err(CallErr::Type(
                        0,
                        format!(
                            "wrong type for value; expected []string; got {}",
                            go_type(other)
                        ),
                    ))
                }
            };
            s(items.join(&sep))
        }
        "title" => {
            want_args(&vals, 1)?;
            s(go_title(&str_arg(&vals, 0)?))
        }
        "lower" => {
            want_args(&vals, 1)?;
            s(str_arg(&vals, 0)?.to_lowercase())
        }
        "upper" => {
            want_args(&vals, 1)?;
            s(str_arg(&vals, 0)?.to_uppercase())
        }
        "pad" => {
            want_args(&vals, 3)?;
            let text = str_arg(&vals, 0)?;
            if text.is_empty() {
                return s(text);
            }
            let pre = int_arg(&vals, 1)?.max(0) as usize;
            let post = int_arg(&vals, 2)?.max(0) as usize;
            s(format!("{}{text}{}", " ".repeat(pre), " ".repeat(post)))
        }
        "truncate" => {
            want_args(&vals, 2)?;
            let text = str_arg(&vals, 0)?;
            let n = int_arg(&vals, 1)?.max(0) as usize;
            if text.len() < n {
                return s(text);
            }
            let mut cut = n;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            s(text[..cut].to_string())
        }
        _ => Err(CallErr::Call(format!("function {name} not implemented"))),
    }
}

/// Go's `index` of one level. Docker indexes typed Go values, where a
/// missing key of a `map[string]string` (labels) gives `""` and indexing a
/// nil map is allowed; JSON loses those types, so: a missing key of an
/// object whose values are all strings gives `""`, of another object
/// `<no value>`; a string key on `null` gives `""`.
fn index_one(item: Val, idx: &Val) -> Result<Val, CallErr> {
    match item {
        None => Err(CallErr::Call("index of untyped nil".into())),
        Some(Value::Null) => match idx {
            Some(Value::String(_)) => Ok(Some(Value::String(String::new()))),
            _ => Err(CallErr::Call(format!(
                "index out of range: {}",
                index_int(idx)?
            ))),
        },
        Some(Value::Array(a)) => {
            let i = index_int(idx)?;
            if i < 0 || i as usize >= a.len() {
                return Err(CallErr::Call(format!("index out of range: {i}")));
            }
            Ok(a.into_iter().nth(i as usize))
        }
        Some(Value::String(s)) => {
            let i = index_int(idx)?;
            if i < 0 || i as usize >= s.len() {
                return Err(CallErr::Call(format!("index out of range: {i}")));
            }
            Ok(Some(Value::from(s.as_bytes()[i as usize])))
        }
        Some(Value::Object(mut m)) => match idx {
            Some(Value::String(k)) => {
                let strings = m.values().all(Value::is_string);
                Ok(m.remove(k)
                    .or_else(|| strings.then(|| Value::String(String::new()))))
            }
            None | Some(Value::Null) => Ok(None),
            Some(other) => Err(CallErr::Call(format!(
                "value has type {}; should be string",
                go_type(other)
            ))),
        },
        Some(other) => Err(CallErr::Call(format!(
            "can't index item of type {}",
            go_type(&other)
        ))),
    }
}

fn index_int(idx: &Val) -> Result<i64, CallErr> {
    match idx {
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64().unwrap_or(0)),
        None | Some(Value::Null) => Err(CallErr::Call("cannot index slice/array with nil".into())),
        Some(other) => Err(CallErr::Call(format!(
            "cannot index slice/array with type {}",
            go_type(other)
        ))),
    }
}

fn slice(vals: Vec<Val>) -> Result<Val, CallErr> {
    if vals.is_empty() {
        return Err(CallErr::Arity(1, 0, true));
    }
    if vals.len() > 3 {
        return Err(CallErr::Call("too many slice indexes".into()));
    }
    let bounds: Vec<i64> = vals[1..].iter().map(index_int).collect::<Result<_, _>>()?;
    let len = match &vals[0] {
        Some(Value::String(s)) => s.len(),
        Some(Value::Array(a)) => a.len(),
        None | Some(Value::Null) => return Err(CallErr::Call("slice of untyped nil".into())),
        Some(other) => {
            return Err(CallErr::Call(format!(
                "can't slice item of type {}",
                go_type(other)
            )))
        }
    } as i64;
    let lo = bounds.first().copied().unwrap_or(0);
    let hi = bounds.get(1).copied().unwrap_or(len);
    if lo < 0 || hi < lo || hi > len {
        return Err(CallErr::Call(format!(
            "index out of range: {}",
            if hi > len { hi } else { lo }
        )));
    }
    let (lo, hi) = (lo as usize, hi as usize);
    Ok(Some(match &vals[0] {
        Some(Value::String(s)) => {
            Value::String(String::from_utf8_lossy(&s.as_bytes()[lo..hi]).into_owned())
        }
        Some(Value::Array(a)) => Value::Array(a[lo..hi].to_vec()),
        _ => Value::Null,
    }))
}

fn as_number(v: &Val) -> Option<&serde_json::Number> {
    match v {
        Some(Value::Number(n)) => Some(n),
        _ => None,
    }
}

fn cmp_numbers(a: &serde_json::Number, b: &serde_json::Number) -> std::cmp::Ordering {
    let int = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => {
            let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal)
        }
    }
}

fn equal(a: &Val, b: &Val) -> Result<bool, CallErr> {
    let a = a.as_ref().filter(|v| !v.is_null());
    let b = b.as_ref().filter(|v| !v.is_null());
    match (a, b) {
        (None, None) => Ok(true),
        (None, _) | (_, None) => Ok(false),
        (Some(Value::Number(x)), Some(Value::Number(y))) => Ok(cmp_numbers(x, y).is_eq()),
        (Some(Value::String(x)), Some(Value::String(y))) => Ok(x == y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => Ok(x == y),
        (Some(x @ (Value::Array(_) | Value::Object(_))), _)
        | (_, Some(x @ (Value::Array(_) | Value::Object(_)))) => {
            Err(CallErr::Call(format!("non-comparable type {}", go_type(x))))
        }
        (Some(x), Some(y)) => Err(CallErr::Call(format!(
            "incompatible types for comparison: {} and {}",
            go_type(x),
            go_type(y)
        ))),
    }
}

fn compare(a: &Val, b: &Val) -> Result<std::cmp::Ordering, CallErr> {
    if let (Some(x), Some(y)) = (as_number(a), as_number(b)) {
        return Ok(cmp_numbers(x, y));
    }
    match (a, b) {
        (Some(Value::String(x)), Some(Value::String(y))) => Ok(x.as_bytes().cmp(y.as_bytes())),
        (
            Some(x @ (Value::String(_) | Value::Number(_))),
            Some(y @ (Value::String(_) | Value::Number(_))),
        ) => Err(CallErr::Call(format!(
            "incompatible types for comparison: {} and {}",
            go_type(x),
            go_type(y)
        ))),
        _ => Err(CallErr::Call("invalid type for comparison".into())),
    }
}

/// The printed form of an argument to fmt functions (missing = Go's nil).
fn fmt_operand(v: &Val) -> Value {
    v.clone().unwrap_or(Value::Null)
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn go_sprint(vals: &[Val]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, v) in vals.iter().enumerate() {
        let v = fmt_operand(v);
        let is_string = v.is_string();
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_into(&v, &mut out);
        prev_string = is_string;
    }
    out
}

/// Go's `fmt.Sprintln`: operands separated by spaces, newline appended.
fn go_sprintln(vals: &[Val]) -> String {
    let parts: Vec<String> = vals.iter().map(|v| go_print(&fmt_operand(v))).collect();
    format!("{}\n", parts.join(" "))
}

/// Go's `fmt.Sprintf` for the common verbs (`%v %s %d %q %t %x %X %o %b %c
/// %e %f %g %T %%`) with flags `-+ 0#`, width and precision.
fn go_sprintf(fmt: &str, vals: &[Val]) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut argi = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| {
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        let width = num(&mut chars);
        let prec = if chars.peek() == Some(&'.') {
            chars.next();
            Some(num(&mut chars).unwrap_or(0))
        } else {
            None
        };
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = vals.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let v = fmt_operand(arg);
        let body = format_verb(verb, &v, prec, plus, space);
        let numeric = matches!(v, Value::Number(_)) && !matches!(verb, 's' | 'q' | 'v' | 'T');
        let w = width.unwrap_or(0);
        let len = body.chars().count();
        if len >= w {
            out.push_str(&body);
        } else if minus {
            out.push_str(&body);
            out.push_str(&" ".repeat(w - len));
        } else if zero && numeric {
            let (sign, digits) = match body.strip_prefix(['-', '+']) {
                Some(rest) => (&body[..1], rest),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(w - len));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(w - len));
            out.push_str(&body);
        }
    }
    if argi < vals.len() {
        let extra: Vec<String> = vals[argi..]
            .iter()
            .map(|v| {
                let v = fmt_operand(v);
                if v.is_null() {
                    "<nil>".to_string()
                } else {
                    format!("{}={}", go_type(&v), go_print(&v))
                }
            })
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn format_verb(verb: char, v: &Value, prec: Option<usize>, plus: bool, space: bool) -> String {
    let bad = || {
        if v.is_null() {
            format!("%!{verb}(<nil>)")
        } else {
            format!("%!{verb}({}={})", go_type(v), go_print(v))
        }
    };
    let sign = |s: String, nonneg: bool| {
        if nonneg && plus {
            format!("+{s}")
        } else if nonneg && space {
            format!(" {s}")
        } else {
            s
        }
    };
    let int = v.as_i64();
    match verb {
        'v' => match v {
            Value::Number(n) if n.is_f64() => sign(
                go_format_g(n.as_f64().unwrap_or(0.0), prec),
                n.as_f64().unwrap_or(0.0) >= 0.0,
            ),
            Value::Number(n) => sign(n.to_string(), int.unwrap_or(0) >= 0),
            _ => go_print(v),
        },
        's' => match v {
            Value::String(s) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            Value::Array(a) if a.iter().all(Value::is_string) => go_print(v),
            _ => bad(),
        },
        'q' => match v {
            Value::String(s) => go_quote(s),
            _ => match int.and_then(|i| char::from_u32(i as u32)) {
                Some(c) => format!("'{c}'"),
                None => bad(),
            },
        },
        't' => match v {
            Value::Bool(b) => b.to_string(),
            _ => bad(),
        },
        'd' => match int {
            Some(i) if !v.as_number().is_some_and(|n| n.is_f64()) => sign(i.to_string(), i >= 0),
            _ => match v.as_u64() {
                Some(u) => sign(u.to_string(), true),
                None => bad(),
            },
        },
        'x' | 'X' | 'o' | 'b' => {
            let digits = match (v, int) {
                (Value::Number(n), Some(i)) if !n.is_f64() => {
                    let mag = i.unsigned_abs();
                    let body = match verb {
                        'x' => format!("{mag:x}"),
                        'X' => format!("{mag:X}"),
                        'o' => format!("{mag:o}"),
                        _ => format!("{mag:b}"),
                    };
                    if i < 0 {
                        format!("-{body}")
                    } else {
                        body
                    }
                }
                (Value::String(s), _) if matches!(verb, 'x' | 'X') => s
                    .bytes()
                    .map(|b| {
                        if verb == 'x' {
                            format!("{b:02x}")
                        } else {
                            format!("{b:02X}")
                        }
                    })
                    .collect(),
                _ => return bad(),
            };
            digits
        }
        'c' => match int.and_then(|i| char::from_u32(i as u32)) {
            Some(c) => c.to_string(),
            None => bad(),
        },
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let Some(f) = v.as_f64().filter(|_| v.is_number()) else {
                return bad();
            };
            let s = match verb {
                'e' | 'E' => go_exp(f, prec.unwrap_or(6)),
                'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), f),
                _ => go_format_g(f, prec),
            };
            let s = if verb.is_ascii_uppercase() {
                s.to_uppercase()
            } else {
                s
            };
            sign(s, f >= 0.0)
        }
        'T' => {
            if v.is_null() {
                "<nil>".to_string()
            } else {
                go_type(v).to_string()
            }
        }
        _ => bad(),
    }
}

/// Go's `%.Ne`: mantissa with `prec` decimals and a signed, 2-digit exponent.
fn go_exp(f: f64, prec: usize) -> String {
    let s = format!("{f:.prec$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// Go's `strconv.Quote` (printable characters kept, others escaped).
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
fn go_title(s: &str) -> String {
    let separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut prev = ' ';
    s.chars()
        .flat_map(|c| {
            let up = separator(prev);
            prev = c;
            if up {
                c.to_uppercase().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The single string argument of html/js/urlquery, or the Sprint of all.
fn escaper_arg(vals: &[Val]) -> String {
    match vals {
        [Some(Value::String(s))] => s.clone(),
        _ => go_sprint(vals),
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// JSON as Go's encoding/json writes it

/// Encodes `v` like Go's `encoding/json`: compact when `indent` is `None`,
/// else like `json.MarshalIndent(v, "", indent)`; object keys in the map's
/// own order; floats as Go writes them; `<`, `>`, `&` escaped as `\u003c`...
/// only when `escape_html` (Go's default; docker's `json` template function
/// turns it off). Docker's `inspect` output is
/// `go_json(&array, Some("    "), true)`.
pub fn go_json(v: &Value, indent: Option<&str>, escape_html: bool) -> String {
    let mut out = String::new();
    json_into(v, indent, escape_html, 0, &mut out);
    out
}

fn json_into(v: &Value, indent: Option<&str>, html: bool, depth: usize, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(ind) = indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(ind);
            }
        }
    };
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_f64() => out.push_str(&json_float(n.as_f64().unwrap_or(0.0))),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => json_string(s, html, out),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                json_into(e, indent, html, depth + 1, out);
            }
            if !a.is_empty() {
                newline(out, depth);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                json_string(k, html, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                json_into(e, indent, html, depth + 1, out);
            }
            if !m.is_empty() {
                newline(out, depth);
            }
            out.push('}');
        }
    }
}

fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        if e < 0 {
            format!("{m}e-{}", -e)
        } else {
            format!("{m}e+{e:02}")
        }
    } else {
        format!("{f}")
    }
}

fn json_string(s: &str, html: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

// ---------------------------------------------------------------------------
// Docker's --format handling

/// Docker's `inspect --format` for one object: the template exactly as
/// given — unlike listing commands' [`Formatter`], no `table` / `json`
/// keywords and no `\t` / `\n` rewriting, so `{{join .Config.Env "\n"}}`
/// works as in docker. Returns the output without docker's trailing newline.
pub fn render_inspect(format: &str, value: &Value) -> Result<String, FormatError> {
    let template = Template::parse(format).map_err(FormatError::Parse)?;
    template
        .execute(value)
        .map_err(|source| FormatError::Execute { row: 0, source })
}

/// A `--format` value ready to render rows, with docker's rules.
#[derive(Debug, Clone)]
pub struct Formatter {
    table: bool,
    template: Template,
}

impl Formatter {
    /// Interprets a user `--format` as docker does:
    /// - `""` or `"table"` mean `default_table` (e.g.
    ///   `"table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"`);
    /// - `"json"` means `{{json .}}`, one JSON object per line;
    /// - a `table` prefix means a header row and aligned columns;
    /// - then surrounding spaces are trimmed and the two-character sequences
    ///   `\t` and `\n` become a tab and a newline.
    pub fn new(format: &str, default_table: &str) -> Result<Formatter, FormatError> {
        let format = if format.is_empty() || format == "table" {
            default_table
        } else {
            format
        };
        let (table, body) = if let Some(rest) = format.strip_prefix("table") {
            (true, rest)
        } else if format == "json" {
            (false, "{{json .}}")
        } else {
            (false, format)
        };
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let template = Template::parse(&body).map_err(FormatError::Parse)?;
        Ok(Formatter { table, template })
    }

    /// True when the output is a table with a header row.
    pub fn is_table(&self) -> bool {
        self.table
    }

    /// Renders `rows`: each row's template output followed by a newline; for
    /// a table, first the header row (field -> column title from `headers`,
    /// e.g. `("ID", "IMAGE ID")`), all aligned like docker's tabwriter. A
    /// table with no rows still prints its header.
    pub fn render(
        &self,
        rows: &[Value],
        headers: &[(&str, &str)],
        opts: &ExecOptions,
    ) -> Result<String, FormatError> {
        let mut body = String::new();
        for (row, data) in rows.iter().enumerate() {
            let text = self
                .template
                .execute_with(data, opts)
                .map_err(|source| FormatError::Execute { row, source })?;
            body.push_str(&text);
            body.push('\n');
        }
        if !self.table {
            return Ok(body);
        }
        let headers: BTreeMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut w = TabWriter::docker();
        w.write(&self.template.execute_header(&headers));
        w.write("\n");
        w.write(&body);
        Ok(w.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({
            "Id": "sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a",
            "RepoTags": ["busybox:latest", "busybox:1.36"],
            "Size": 4261550,
            "Ratio": 0.5,
            "Big": 1234567.0,
            "Parent": "",
            "Empty": [],
            "Zero": 0,
            "True": true,
            "Config": {
                "Env": ["PATH=/usr/bin", "A=b c"],
                "Cmd": ["sh"],
                "Entrypoint": null,
                "Labels": {"b": "2", "a": "1", "com.example.x": "y"},
                "Volumes": null,
                "Healthcheck": null,
                "User": ""
            },
            "Nested": [[1, 2], {"k": "v"}],
        })
    }

    fn run(tmpl: &str) -> String {
        Template::parse(tmpl)
            .unwrap_or_else(|e| panic!("{tmpl}: {e}"))
            .execute(&data())
            .unwrap_or_else(|e| panic!("{tmpl}: {e}"))
    }

    fn exec_err(tmpl: &str) -> String {
        Template::parse(tmpl)
            .unwrap_or_else(|e| panic!("{tmpl}: {e}"))
            .execute(&data())
            .expect_err(tmpl)
            .to_string()
    }

    fn parse_err(tmpl: &str) -> String {
        Template::parse(tmpl).expect_err(tmpl).to_string()
    }

    #[test]
    fn go_printing_of_values() {
        let cases: &[(&str, &str)] = &[
            (
                "{{.Id}}",
                "sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a",
            ),
            ("{{.Size}}", "4261550"),
            ("{{.Ratio}}", "0.5"),
            ("{{.Big}}", "1.234567e+06"),
            ("{{.True}}", "true"),
            ("{{.RepoTags}}", "[busybox:latest busybox:1.36]"),
            ("{{.Config.Env}}", "[PATH=/usr/bin A=b c]"),
            ("{{.Config.Labels}}", "map[a:1 b:2 com.example.x:y]"),
            ("{{.Nested}}", "[[1 2] map[k:v]]"),
            ("{{.Empty}}", "[]"),
            ("{{.Parent}}", ""),
            ("{{.Missing}}", "<no value>"),
            ("{{.Missing.Deeper}}", "<no value>"),
            ("{{.Config.Entrypoint}}", "[]"),
            ("{{.Config.Volumes}}", "map[]"),
            ("{{.Config.Healthcheck}}", "<nil>"),
            ("{{.Config.Labels.a}}", "1"),
            ("{{.Config.Labels.zz}}", "<no value>"),
            ("{{$.Size}}", "4261550"),
            ("{{.}}", &go_print(&data())),
        ];
        for (t, want) in cases {
            assert_eq!(run(t), *want, "{t}");
        }
    }

    #[test]
    fn docker_functions() {
        let cases: &[(&str, &str)] = &[
            ("{{json .Config.Cmd}}", r#"["sh"]"#),
            ("{{json .Config.Entrypoint}}", "null"),
            ("{{json .Missing}}", "null"),
            ("{{json .Config.Labels}}", r#"{"a":"1","b":"2","com.example.x":"y"}"#),
            ("{{json \"a<b&c\"}}", r#""a<b&c""#),
            ("{{index .Config.Labels \"com.example.x\"}}", "y"),
            ("{{index .Config.Labels \"nope\"}}", ""),
            ("{{index .Config.Volumes \"x\"}}", ""),
            ("{{index .Nested 1 \"nope\"}}", ""),
            ("{{index .Config \"nope\"}}", "<no value>"),
            ("{{index .RepoTags 1}}", "busybox:1.36"),
            ("{{index .Nested 0 1}}", "2"),
            ("{{join .RepoTags \",\"}}", "busybox:latest,busybox:1.36"),
            ("{{join .Config.Entrypoint \" \"}}", ""),
            ("{{split \"a:b:c\" \":\"}}", "[a b c]"),
            ("{{index (split .Id \":\") 0}}", "sha256"),
            ("{{lower \"ABC\"}} {{upper \"abc\"}}", "abc ABC"),
            ("{{title \"hello wide-world foo_bar\"}}", "Hello Wide-World Foo_bar"),
            ("{{truncate .Id 12}}", "sha256:beae1"),
            ("{{truncate \"abc\" 12}}", "abc"),
            ("[{{pad \"x\" 2 1}}]", "[  x ]"),
            ("[{{pad .Parent 2 1}}]", "[]"),
            ("{{println \"a\" 1}}", "a 1\n"),
            ("{{print \"a\" \"b\" 1 2 \"c\"}}", "ab1 2c"),
            ("{{printf \"%s=%d %5s|%-4s|%05d %.2f %v %q %x\" \"k\" 42 \"r\" \"l\" -42 3.14159 .True \"q\" 255}}",
             "k=42     r|l   |-0042 3.14 true \"q\" ff"),
            ("{{printf \"%d\" \"x\"}}", "%!d(string=x)"),
            ("{{printf \"%s %s\" \"a\"}}", "a %!s(MISSING)"),
            ("{{len .RepoTags}} {{len .Config.Labels}} {{len \"héllo\"}}", "2 3 6"),
            ("{{slice \"abcdef\" 1 3}} {{slice .RepoTags 1}}", "bc [busybox:1.36]"),
            ("{{html \"<a href='x'>\"}}", "&lt;a href=&#39;x&#39;&gt;"),
            ("{{urlquery \"a b&c\"}}", "a+b%26c"),
            ("{{.Id | printf \"%.6s\"}}", "sha256"),
            ("{{\"x\" | printf \"%s-%s\" \"a\"}}", "a-x"),
            ("{{printf \"%v %s\" .Missing .Missing}}", "<nil> %!s(<nil>)"),
            ("{{printf \"%d %s\" 1}}", "1 %!s(MISSING)"),
            ("{{printf \"%d\" 1 2}}", "1%!(EXTRA int=2)"),
        ];
        for (t, want) in cases {
            assert_eq!(run(t), *want, "{t}");
        }
    }

    #[test]
    fn comparisons_and_logic() {
        let cases: &[(&str, &str)] = &[
            ("{{eq .Size 4261550}}", "true"),
            ("{{eq .Zero 0.0}}", "true"),
            ("{{eq \"a\" \"b\" \"a\"}}", "true"),
            ("{{ne .Parent \"\"}}", "false"),
            (
                "{{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1.5 2}}",
                "true true true false",
            ),
            ("{{eq .Missing \"x\"}}", "false"),
            ("{{and .True .Size}}", "4261550"),
            ("{{and .Zero .Missing.X}}", "0"),
            ("{{or .Parent \"none\"}}", "none"),
            ("{{not .Empty}}", "true"),
            ("{{if and .True (gt .Size 1000)}}big{{end}}", "big"),
        ];
        for (t, want) in cases {
            assert_eq!(run(t), *want, "{t}");
        }
        assert!(exec_err("{{eq \"a\" 1}}")
            .contains("error calling eq: incompatible types for comparison"));
        assert!(exec_err("{{lt .RepoTags 1}}").contains("invalid type for comparison"));
    }

    #[test]
    fn control_structures() {
        let cases: &[(&str, &str)] = &[
            ("{{if .True}}yes{{else}}no{{end}}", "yes"),
            ("{{if .Parent}}yes{{else}}no{{end}}", "no"),
            (
                "{{if .Missing}}a{{else if .Zero}}b{{else if .Size}}c{{else}}d{{end}}",
                "c",
            ),
            ("{{with .Config}}{{.User}}|{{len .Env}}{{end}}", "|2"),
            ("{{with .Config.User}}x{{else}}empty{{end}}", "empty"),
            (
                "{{with .Missing}}x{{else with .Size}}{{.}}{{end}}",
                "4261550",
            ),
            (
                "{{range .RepoTags}}<{{.}}>{{end}}",
                "<busybox:latest><busybox:1.36>",
            ),
            (
                "{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}",
                "0=busybox:latest;1=busybox:1.36;",
            ),
            (
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}",
                "a=1 b=2 com.example.x=y ",
            ),
            ("{{range .Config.Labels}}{{.}}{{end}}", "12y"),
            ("{{range .Empty}}x{{else}}none{{end}}", "none"),
            ("{{range .Config.Entrypoint}}x{{else}}none{{end}}", "none"),
            ("{{range .Missing}}x{{end}}", ""),
            ("{{range 3}}{{.}}{{end}}", "012"),
            (
                "{{range .RepoTags}}{{if eq . \"busybox:1.36\"}}{{break}}{{end}}{{.}}{{end}}",
                "busybox:latest",
            ),
            (
                "{{range .RepoTags}}{{if eq . \"busybox:latest\"}}{{continue}}{{end}}{{.}}{{end}}",
                "busybox:1.36",
            ),
            ("{{range .RepoTags}}{{$.Size}}{{end}}", "42615504261550"),
            ("{{$x := .Size}}{{$x}}", "4261550"),
            ("{{$x := 1}}{{if .True}}{{$x = 2}}{{end}}{{$x}}", "2"),
            ("{{(index .Nested 1).k}}", "v"),
            ("{{with $c := .Config}}{{$c.User}}-{{end}}", "-"),
        ];
        for (t, want) in cases {
            assert_eq!(run(t), *want, "{t}");
        }
    }

    #[test]
    fn trim_markers_comments_and_literals() {
        let cases: &[(&str, &str)] = &[
            ("a  {{- .Size -}}  \n b", "a4261550b"),
            ("a {{- /* note */ -}} b", "ab"),
            ("a{{/* note */}}b", "ab"),
            ("{{-3}}", "-3"),
            ("{{\"tab\\there\"}}", "tab\there"),
            ("{{`raw\\t`}}", "raw\\t"),
            ("{{'a'}}", "97"),
            ("{{0x1F}} {{1e3}} {{1_000}} {{.5}}", "31 1000 1000 0.5"),
            ("{{true}} {{false}}", "true false"),
            ("{{ .Size }}", "4261550"),
            ("{{.Size\n}}", "4261550"),
            ("line1\n{{.Missing.X}}", "line1\n<no value>"),
        ];
        for (t, want) in cases {
            assert_eq!(run(t), *want, "{t}");
        }
    }

    #[test]
    fn parse_errors_are_go_like() {
        let cases: &[(&str, &str)] = &[
            ("{{.Size", "template: :1: unclosed action"),
            (
                "{{foo .Size}}",
                "template: :1: function \"foo\" not defined",
            ),
            ("{{end}}", "template: :1: unexpected {{end}}"),
            ("{{if .X}}", "template: :1: unexpected EOF"),
            ("{{else}}", "template: :1: unexpected {{else}}"),
            ("a\n{{$x}}", "template: :2: undefined variable \"$x\""),
            ("{{break}}", "template: :1: {{break}} outside {{range}}"),
            ("{{\"x}}", "template: :1: unterminated quoted string"),
            (
                "{{template \"x\"}}",
                "template: :1: unsupported action \"template\"",
            ),
            (
                "{{.A | \"x\"}}",
                "template: :1: non executable command in pipeline stage 2",
            ),
            (
                "{{/* x */ .A}}",
                "template: :1: comment ends before closing delimiter",
            ),
            ("{{#}}", "template: :1: unexpected \"#\" in command"),
            ("{{(.A}}", "template: :1: unclosed left paren"),
        ];
        for (t, want) in cases {
            assert_eq!(parse_err(t), *want, "{t}");
        }
    }

    #[test]
    fn exec_errors_name_the_position() {
        assert_eq!(
            exec_err("{{.Id.Foo}}"),
            "template: :1:5: executing \"\" at <.Id.Foo>: can't evaluate field Foo in type interface {}"
        );
        assert_eq!(
            exec_err("ab\ncd {{.Config.Healthcheck.Test}}"),
            "template: :2:12: executing \"\" at <.Config.Healthcheck.Test>: nil pointer evaluating interface {}.Test"
        );
        assert_eq!(
            exec_err("{{index .RepoTags 5}}"),
            "template: :1:2: executing \"\" at <index .RepoTags 5>: error calling index: index out of range: 5"
        );
        assert_eq!(
            exec_err("{{lower .Missing}}"),
            "template: :1:8: executing \"\" at <.Missing>: invalid value; expected string"
        );
        assert_eq!(
            exec_err("{{truncate .Id}}"),
            "template: :1:2: executing \"\" at <truncate>: wrong number of args for truncate: want 2 got 1"
        );
        assert!(exec_err("{{range .Id}}{{end}}").contains("range can't iterate over sha256:"));
        assert!(exec_err("{{.Size \"x\"}}").contains("Size is not a method but has arguments"));
        let opts = ExecOptions {
            root_type: Some("*formatter.imageContext".into()),
        };
        let err = Template::parse("{{.ID}} {{.Nope}}")
            .unwrap()
            .execute_with(&json!({"ID": "x", "Labels": {}}), &opts)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "template: :1:10: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext"
        );
        let ok = Template::parse("{{.Labels.x}}")
            .unwrap()
            .execute_with(&json!({"Labels": {}}), &opts)
            .unwrap();
        assert_eq!(ok, "<no value>");
    }

    #[test]
    fn go_json_encoding() {
        let v = json!({"b": [1, 2.5, "x<y"], "a": {}, "c": [], "d": null, "e": 1e21, "f": 1e-7, "g": "\u{2028}\u{1}"});
        assert_eq!(
            go_json(&v, None, false),
            r#"{"a":{},"b":[1,2.5,"x<y"],"c":[],"d":null,"e":1e+21,"f":1e-7,"g":"\u2028\u0001"}"#
        );
        assert_eq!(go_json(&json!("a&b"), None, true), r#""a\u0026b""#);
        assert_eq!(
            go_json(&json!([{"Id": "x", "Tags": ["a"], "E": {}}]), Some("    "), true),
            "[\n    {\n        \"E\": {},\n        \"Id\": \"x\",\n        \"Tags\": [\n            \"a\"\n        ]\n    }\n]"
        );
    }

    fn image_rows() -> Vec<Value> {
        vec![
            json!({"Repository": "busybox", "Tag": "latest", "ID": "beae173ccac6", "CreatedSince": "2 years ago", "Size": "4.26MB"}),
            json!({"Repository": "localhost:5000/app", "Tag": "v1", "ID": "0123456789ab", "CreatedSince": "About a minute ago", "Size": "302MB"}),
        ]
    }

    const HEADERS: &[(&str, &str)] = &[
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("Size", "SIZE"),
    ];
    const DEFAULT_TABLE: &str =
        "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}";

    #[test]
    fn formatter_tables_like_docker_images() {
        let f = Formatter::new("", DEFAULT_TABLE).unwrap();
        assert!(f.is_table());
        let out = f
            .render(&image_rows(), HEADERS, &ExecOptions::default())
            .unwrap();
        assert_eq!(
            out,
            "\
REPOSITORY           TAG       IMAGE ID       CREATED              SIZE
busybox              latest    beae173ccac6   2 years ago          4.26MB
localhost:5000/app   v1        0123456789ab   About a minute ago   302MB
"
        );
        let same = Formatter::new("table", DEFAULT_TABLE).unwrap();
        assert_eq!(
            same.render(&image_rows(), HEADERS, &ExecOptions::default())
                .unwrap(),
            out
        );
        // No rows: the header alone.
        assert_eq!(
            f.render(&[], HEADERS, &ExecOptions::default()).unwrap(),
            "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n"
        );
        // Custom table; functions leave header titles alone.
        let custom = Formatter::new(
            "table {{.ID}}\\t{{lower .Repository}}:{{.Tag}}",
            DEFAULT_TABLE,
        )
        .unwrap();
        assert_eq!(
            custom.render(&image_rows(), HEADERS, &ExecOptions::default()).unwrap(),
            "IMAGE ID       REPOSITORY:TAG\nbeae173ccac6   busybox:latest\n0123456789ab   localhost:5000/app:v1\n"
        );
    }

    #[test]
    fn inspect_format_is_taken_verbatim() {
        let v = data();
        assert_eq!(
            render_inspect("{{join .Config.Env \"\\n\"}}", &v).unwrap(),
            "PATH=/usr/bin\nA=b c"
        );
        assert_eq!(
            render_inspect("table {{.Size}}\\t", &v).unwrap(),
            "table 4261550\\t"
        );
        assert_eq!(
            render_inspect("{{.Id.X}}", &v).unwrap_err().to_string(),
            "template parsing error: template: :1:5: executing \"\" at <.Id.X>: can't evaluate field X in type interface {}"
        );
        // The same escape in a listing --format becomes a raw newline inside
        // the string literal, which Go (and so docker) rejects.
        assert!(Formatter::new("{{join .RepoTags \"\\n\"}}", "").is_err());
    }

    #[test]
    fn formatter_raw_and_json() {
        let rows = image_rows();
        let f = Formatter::new("{{.Repository}}:{{.Tag}}\\t{{.Size}}", DEFAULT_TABLE).unwrap();
        assert!(!f.is_table());
        assert_eq!(
            f.render(&rows, HEADERS, &ExecOptions::default()).unwrap(),
            "busybox:latest\t4.26MB\nlocalhost:5000/app:v1\t302MB\n"
        );
        let j = Formatter::new("json", DEFAULT_TABLE).unwrap();
        let out = j
            .render(&rows[..1], HEADERS, &ExecOptions::default())
            .unwrap();
        assert_eq!(
            out,
            "{\"CreatedSince\":\"2 years ago\",\"ID\":\"beae173ccac6\",\"Repository\":\"busybox\",\"Size\":\"4.26MB\",\"Tag\":\"latest\"}\n"
        );
        let err = Formatter::new("{{.Foo", DEFAULT_TABLE).unwrap_err();
        assert_eq!(
            err.to_string(),
            "template parsing error: template: :1: unclosed action"
        );
        let opts = ExecOptions {
            root_type: Some("*formatter.imageContext".into()),
        };
        let err = Formatter::new("{{.Foo}}", DEFAULT_TABLE)
            .unwrap()
            .render(&rows, HEADERS, &opts)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "template parsing error: template: :1:2: executing \"\" at <.Foo>: can't evaluate field Foo in type *formatter.imageContext"
        );
    }

    /// Data and expected outputs produced by Go's `text/template` (Go 1.2x,
    /// JSON numbers decoded as int / float64, docker's functions with a
    /// `join` taking any list): regression cases for Go compatibility.
    const GO_DATA: &str = r##"{"Id":"sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a","RepoTags":["busybox:latest","busybox:1.36"],"Size":4261550,"Ratio":0.5,"Big":1234567.0,"Neg":-3,"Parent":"","Empty":[],"Zero":0,"True":true,"False":false,
"Config":{"Env":["PATH=/usr/bin","A=b c"],"Cmd":["sh"],"Entrypoint":null,"Labels":{"b":"2","a":"1","com.example.x":"y"},"User":"","Num":{"x":1}},
"Nested":[[1,2],{"k":"v"}],"Str":"héllo wörld","Tiny":0.00001,"Huge":1e21}"##;

    #[rustfmt::skip]
    const GO_CASES: &[(&str, &str)] = &[
        (r##"{{.Id}}"##, r##"OK sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a"##),
        (r##"{{.Size}}"##, r##"OK 4261550"##),
        (r##"{{.Ratio}}"##, r##"OK 0.5"##),
        (r##"{{.Big}}"##, r##"OK 1.234567e+06"##),
        (r##"{{.Neg}}"##, r##"OK -3"##),
        (r##"{{.Tiny}}"##, r##"OK 1e-05"##),
        (r##"{{.Huge}}"##, r##"OK 1e+21"##),
        (r##"{{.True}}"##, r##"OK true"##),
        (r##"{{.RepoTags}}"##, r##"OK [busybox:latest busybox:1.36]"##),
        (r##"{{.Config.Env}}"##, r##"OK [PATH=/usr/bin A=b c]"##),
        (r##"{{.Config.Labels}}"##, r##"OK map[a:1 b:2 com.example.x:y]"##),
        (r##"{{.Nested}}"##, r##"OK [[1 2] map[k:v]]"##),
        (r##"{{.Empty}}"##, r##"OK []"##),
        (r##"{{.Parent}}"##, r##"OK "##),
        (r##"{{.Missing}}"##, r##"OK <no value>"##),
        (r##"{{.Missing.Deeper}}"##, r##"OK <no value>"##),
        (r##"{{.Config.Entrypoint.X}}"##, r##"ERR template: :1:9: executing "" at <.Config.Entrypoint.X>: nil pointer evaluating interface {}.X"##),
        (r##"{{.Config.Labels.a}}"##, r##"OK 1"##),
        (r##"{{.Config.Labels.zz}}"##, r##"OK <no value>"##),
        (r##"{{$.Size}}"##, r##"OK 4261550"##),
        (r##"{{.}}"##, r##"OK map[Big:1.234567e+06 Config:map[Cmd:[sh] Entrypoint:<nil> Env:[PATH=/usr/bin A=b c] Labels:map[a:1 b:2 com.example.x:y] Num:map[x:1] User:] Empty:[] False:false Huge:1e+21 Id:sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a Neg:-3 Nested:[[1 2] map[k:v]] Parent: Ratio:0.5 RepoTags:[busybox:latest busybox:1.36] Size:4261550 Str:héllo wörld Tiny:1e-05 True:true Zero:0]"##),
        (r##"{{.Config}}"##, r##"OK map[Cmd:[sh] Entrypoint:<nil> Env:[PATH=/usr/bin A=b c] Labels:map[a:1 b:2 com.example.x:y] Num:map[x:1] User:]"##),
        (r##"{{json .Config.Cmd}}"##, r##"OK ["sh"]"##),
        (r##"{{json .Config.Entrypoint}}"##, r##"OK null"##),
        (r##"{{json .Missing}}"##, r##"OK null"##),
        (r##"{{json .Config}}"##, r##"OK {"Cmd":["sh"],"Entrypoint":null,"Env":["PATH=/usr/bin","A=b c"],"Labels":{"a":"1","b":"2","com.example.x":"y"},"Num":{"x":1},"User":""}"##),
        (r##"{{json .Big}} {{json .Tiny}} {{json .Huge}} {{json .Ratio}}"##, r##"OK 1234567 0.00001 1e+21 0.5"##),
        (r##"{{json "a<b&c\u2028"}}"##, r##"OK "a<b&c\u2028""##),
        (r##"{{index .Config.Labels "com.example.x"}}"##, r##"OK y"##),
        (r##"{{index .RepoTags 1}}"##, r##"OK busybox:1.36"##),
        (r##"{{index .Nested 0 1}}"##, r##"OK 2"##),
        (r##"{{index .RepoTags 5}}"##, r##"ERR template: :1:2: executing "" at <index .RepoTags 5>: error calling index: index out of range: 5"##),
        (r##"{{index .Missing "x"}}"##, r##"ERR template: :1:2: executing "" at <index .Missing "x">: error calling index: index of untyped nil"##),
        (r##"{{join .RepoTags ","}}"##, r##"OK busybox:latest,busybox:1.36"##),
        (r##"{{split "a:b:c" ":"}}"##, r##"OK [a b c]"##),
        (r##"{{index (split .Id ":") 0}}"##, r##"OK sha256"##),
        (r##"{{lower "ABC"}} {{upper "abc"}}"##, r##"OK abc ABC"##),
        (r##"{{title "hello wide-world foo_bar o'neil 3d"}}"##, r##"OK Hello Wide-World Foo_bar O'Neil 3d"##),
        (r##"{{truncate .Id 12}}"##, r##"OK sha256:beae1"##),
        (r##"{{truncate "abc" 12}}"##, r##"OK abc"##),
        (r##"[{{pad "x" 2 1}}]"##, r##"OK [  x ]"##),
        (r##"{{println "a" 1}}"##, r##"OK a 1
"##),
        (r##"{{print "a" "b" 1 2 "c" true}}"##, r##"OK ab1 2ctrue"##),
        (r##"{{print 1 2}} {{print "a" 1 "b"}}"##, r##"OK 1 2 a1b"##),
        (r##"{{printf "%s=%d %5s|%-4s|%05d %.2f %v %q %x" "k" 42 "r" "l" -42 3.14159 .True "q" 255}}"##, r##"OK k=42     r|l   |-0042 3.14 true "q" ff"##),
        (r##"{{printf "%d" "x"}}"##, r##"OK %!d(string=x)"##),
        (r##"{{printf "%s %s" "a"}}"##, r##"OK a %!s(MISSING)"##),
        (r##"{{printf "%d" 1 2}}"##, r##"OK 1%!(EXTRA int=2)"##),
        (r##"{{printf "%v %s" .Missing .Missing}}"##, r##"OK <nil> %!s(<nil>)"##),
        (r##"{{printf "%s" .RepoTags}}"##, r##"OK [busybox:latest busybox:1.36]"##),
        (r##"{{printf "%v" .Config.Labels}}"##, r##"OK map[a:1 b:2 com.example.x:y]"##),
        (r##"{{printf "%T %T %T %T" 1 1.5 "s" .RepoTags}}"##, r##"OK int float64 string []interface {}"##),
        (r##"{{printf "%x %X" "hi" 255}}"##, r##"OK 6869 FF"##),
        (r##"{{printf "%e %g %.3g %8.2f|" 123456.789 0.000012 3.14159 2.5}}"##, r##"OK 1.234568e+05 1.2e-05 3.14     2.50|"##),
        (r##"{{printf "%+d % d %c" 5 5 65}}"##, r##"OK +5  5 A"##),
        (r##"{{len .RepoTags}} {{len .Config.Labels}} {{len .Str}}"##, r##"OK 2 3 13"##),
        (r##"{{len .Size}}"##, r##"ERR template: :1:2: executing "" at <len .Size>: error calling len: len of type int"##),
        (r##"{{slice "abcdef" 1 3}} {{slice .RepoTags 1}}"##, r##"OK bc [busybox:1.36]"##),
        (r##"{{html "<a href='x'>&\""}}"##, r##"OK &lt;a href=&#39;x&#39;&gt;&amp;&#34;"##),
        (r##"{{js "it's <b> \"q\" = \\"}}"##, r##"OK it\'s \u003Cb\u003E \"q\" \u003D \\"##),
        (r##"{{urlquery "a b&c/é"}}"##, r##"OK a+b%26c%2F%C3%A9"##),
        (r##"{{eq .Size 4261550}}"##, r##"OK true"##),
        (r##"{{eq .Zero 0}}"##, r##"OK true"##),
        (r##"{{eq "a" "b" "a"}}"##, r##"OK true"##),
        (r##"{{ne .Parent ""}}"##, r##"OK false"##),
        (r##"{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1.5 2.0}}"##, r##"OK true true true false"##),
        (r##"{{eq .Missing "x"}}"##, r##"OK false"##),
        (r##"{{eq "a" 1}}"##, r##"ERR template: :1:2: executing "" at <eq "a" 1>: error calling eq: incompatible types for comparison: string and int"##),
        (r##"{{lt .RepoTags 1}}"##, r##"ERR template: :1:2: executing "" at <lt .RepoTags 1>: error calling lt: invalid type for comparison"##),
        (r##"{{and .True .Size}}"##, r##"OK 4261550"##),
        (r##"{{and .Zero .Missing.X}}"##, r##"OK 0"##),
        (r##"{{or .Parent "none"}}"##, r##"OK none"##),
        (r##"{{or .Parent .Zero}}"##, r##"OK 0"##),
        (r##"{{not .Empty}} {{not .Size}}"##, r##"OK true false"##),
        (r##"{{if and .True (gt .Size 1000)}}big{{end}}"##, r##"OK big"##),
        (r##"{{if .True}}yes{{else}}no{{end}}"##, r##"OK yes"##),
        (r##"{{if .Missing}}a{{else if .Zero}}b{{else if .Size}}c{{else}}d{{end}}"##, r##"OK c"##),
        (r##"{{with .Config}}{{.User}}|{{len .Env}}{{end}}"##, r##"OK |2"##),
        (r##"{{with .Config.User}}x{{else}}empty{{end}}"##, r##"OK empty"##),
        (r##"{{with .Missing}}x{{else with .Size}}{{.}}{{end}}"##, r##"OK 4261550"##),
        (r##"{{range .RepoTags}}<{{.}}>{{end}}"##, r##"OK <busybox:latest><busybox:1.36>"##),
        (r##"{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}"##, r##"OK 0=busybox:latest;1=busybox:1.36;"##),
        (r##"{{range $k, $v := .Config.Labels}}{{$k}}={{$v}} {{end}}"##, r##"OK a=1 b=2 com.example.x=y "##),
        (r##"{{range .Config.Labels}}{{.}}{{end}}"##, r##"OK 12y"##),
        (r##"{{range .Empty}}x{{else}}none{{end}}"##, r##"OK none"##),
        (r##"{{range .Config.Entrypoint}}x{{else}}none{{end}}"##, r##"OK none"##),
        (r##"{{range .Missing}}x{{end}}"##, r##"OK "##),
        (r##"{{range 3}}{{.}}{{end}}"##, r##"OK 012"##),
        (r##"{{range $i := 3}}{{$i}}{{end}}"##, r##"OK 012"##),
        (r##"{{range .Id}}{{end}}"##, r##"ERR template: :1:8: executing "" at <.Id>: range can't iterate over sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a"##),
        (r##"{{range .RepoTags}}{{if eq . "busybox:1.36"}}{{break}}{{end}}{{.}}{{end}}"##, r##"OK busybox:latest"##),
        (r##"{{range .RepoTags}}{{if eq . "busybox:latest"}}{{continue}}{{end}}{{.}}{{end}}"##, r##"OK busybox:1.36"##),
        (r##"{{range .RepoTags}}{{$.Size}}{{end}}"##, r##"OK 42615504261550"##),
        (r##"{{$x := .Size}}{{$x}}"##, r##"OK 4261550"##),
        (r##"{{$x := 1}}{{if .True}}{{$x = 2}}{{end}}{{$x}}"##, r##"OK 2"##),
        (r##"{{(index .Nested 1).k}}"##, r##"OK v"##),
        (r##"{{with $c := .Config}}{{$c.User}}-{{end}}"##, r##"OK -"##),
        (r##"{{range $x := .RepoTags}}{{$x}}{{end}}{{$x := 5}}{{$x}}"##, r##"OK busybox:latestbusybox:1.365"##),
        (r##"a  {{- .Size -}}  
 b"##, r##"OK a4261550b"##),
        (r##"a {{- /* note */ -}} b"##, r##"OK ab"##),
        (r##"a{{/* note */}}b"##, r##"OK ab"##),
        (r##"{{-3}}"##, r##"OK -3"##),
        (r##"{{"tab\there\x41\u00e9\101"}}"##, r##"OK tab	hereAéA"##),
        (r##"{{`raw\t`}}"##, r##"OK raw\t"##),
        (r##"{{'a'}} {{'\n'}}"##, r##"OK 97 10"##),
        (r##"{{0x1F}} {{1e3}} {{1_000}} {{.5}} {{0o17}} {{017}} {{-0.5}} {{1.0}}"##, r##"OK 31 1000 1000 0.5 15 15 -0.5 1"##),
        (r##"{{true}} {{false}}"##, r##"OK true false"##),
        (r##"{{ .Size }}"##, r##"OK 4261550"##),
        (r##"{{.Size
}}"##, r##"OK 4261550"##),
        (r##"line1
{{.Missing.X}}"##, r##"OK line1
<no value>"##),
        (r##"{{.Id.Foo}}"##, r##"ERR template: :1:5: executing "" at <.Id.Foo>: can't evaluate field Foo in type interface {}"##),
        (r##"ab
cd {{.Config.Entrypoint.Test}}"##, r##"ERR template: :2:12: executing "" at <.Config.Entrypoint.Test>: nil pointer evaluating interface {}.Test"##),
        (r##"{{lower .Missing}}"##, r##"ERR template: :1:8: executing "" at <.Missing>: invalid value; expected string"##),
        (r##"{{truncate .Id}}"##, r##"ERR template: :1:2: executing "" at <truncate>: wrong number of args for truncate: want 2 got 1"##),
        (r##"{{.Size "x"}}"##, r##"ERR template: :1:2: executing "" at <.Size>: Size is not a method but has arguments"##),
        (r##"{{.Size | printf "%d!"}}"##, r##"OK 4261550!"##),
        (r##"{{"x" | printf "%s-%s" "a"}}"##, r##"OK a-x"##),
        (r##"{{.Id | printf "%.6s"}}"##, r##"OK sha256"##),
        (r##"{{.Size | .Foo}}"##, r##"ERR template: :1:10: executing "" at <.Foo>: Foo is not a method but has arguments"##),
        (r##"{{.Size
foo}}"##, r##"ERR template: :2: function "foo" not defined"##),
        (r##"{{.Size"##, r##"ERR template: :1: unclosed action"##),
        (r##"{{foo .Size}}"##, r##"ERR template: :1: function "foo" not defined"##),
        (r##"{{end}}"##, r##"ERR template: :1: unexpected {{end}}"##),
        (r##"{{if .X}}"##, r##"ERR template: :1: unexpected EOF"##),
        (r##"{{else}}"##, r##"ERR template: :1: unexpected {{else}}"##),
        (r##"a"##, r##"OK a"##),
        (r##"{{$x}}"##, r##"ERR template: :1: undefined variable "$x""##),
        (r##"{{break}}"##, r##"ERR template: :1: {{break}} outside {{range}}"##),
        (r##"{{nil}}"##, r##"ERR template: :1:2: executing "" at <nil>: nil is not a command"##),
        (r##"{{"x}}"##, r##"ERR template: :1: unterminated quoted string"##),
        (r##"{{.A | "x"}}"##, r##"ERR template: :1: non executable command in pipeline stage 2"##),
        (r##"{{/* x */ .A}}"##, r##"ERR template: :1: comment ends before closing delimiter"##),
        (r##"{{#}}"##, r##"ERR template: :1: unexpected "#" in command"##),
        (r##"{{(.A}}"##, r##"ERR template: :1: unclosed left paren"##),
        (r##"{{.A)}}"##, r##"ERR template: :1: unexpected right paren"##),
        (r##"{{.A}}}}"##, r##"OK <no value>}}"##),
        (r##"{{}}"##, r##"ERR template: :1: missing value for command"##),
        (r##"{{$x := 1}}{{$x.Foo}}"##, r##"ERR template: :1:15: executing "" at <$x.Foo>: can't evaluate field Foo in type int"##),
        (r##"{{"x".Foo}}"##, r##"ERR template: :1: unexpected . after term "\"x\"""##),
        (r##"{{.Size.Foo}}"##, r##"ERR template: :1:7: executing "" at <.Size.Foo>: can't evaluate field Foo in type interface {}"##),
        (r##"{{index .Config "Num"}}"##, r##"OK map[x:1]"##),
        (r##"{{index .Config.Num "y"}}"##, r##"OK <no value>"##),
        (r##"{{index .Config.Labels 1}}"##, r##"ERR template: :1:2: executing "" at <index .Config.Labels 1>: error calling index: value has type int; should be string"##),
        (r##"{{(.Config).User}}x"##, r##"OK x"##),
        (r##"{{if}}{{end}}"##, r##"ERR template: :1: missing value for if"##),
        (r##"{{range $a, $b, $c := .RepoTags}}{{end}}"##, r##"ERR template: :1: too many declarations in range"##),
        (r##"{{with $a, $b := .RepoTags}}{{end}}"##, r##"ERR template: :1: too many declarations in with"##),
        (r##"{{printf}}"##, r##"ERR template: :1:2: executing "" at <printf>: wrong number of args for printf: want at least 1 got 0"##),
        (r##"{{and}}"##, r##"ERR template: :1:2: executing "" at <and>: wrong number of args for and: want at least 1 got 0"##),
        (r##"{{len}}"##, r##"ERR template: :1:2: executing "" at <len>: wrong number of args for len: want 1 got 0"##),
        (r##"{{not 1 2}}"##, r##"ERR template: :1:2: executing "" at <not>: wrong number of args for not: want 1 got 2"##),
        (r##"{{1 2}}"##, r##"ERR template: :1:2: executing "" at <1>: can't give argument to non-function 1"##),
        (r##"{{.Config.Labels.a.b}}"##, r##"ERR template: :1:9: executing "" at <.Config.Labels.a.b>: can't evaluate field b in type interface {}"##),
        (r##"{{.Big | printf "%v"}}"##, r##"OK 1.234567e+06"##),
        (r##"{{eq .Ratio 0.5}}"##, r##"OK true"##),
        (r##"{{print .Config.Entrypoint}}"##, r##"OK <nil>"##),
        (r##"{{if .Config.Entrypoint}}x{{else}}y{{end}}"##, r##"OK y"##),
        (r##"{{json .}}"##, r##"OK {"Big":1234567,"Config":{"Cmd":["sh"],"Entrypoint":null,"Env":["PATH=/usr/bin","A=b c"],"Labels":{"a":"1","b":"2","com.example.x":"y"},"Num":{"x":1},"User":""},"Empty":[],"False":false,"Huge":1e+21,"Id":"sha256:beae173ccac6ad749f76713cf4440fe3d21d1043fe616dfbe30775815d1d0f6a","Neg":-3,"Nested":[[1,2],{"k":"v"}],"Parent":"","Ratio":0.5,"RepoTags":["busybox:latest","busybox:1.36"],"Size":4261550,"Str":"héllo wörld","Tiny":0.00001,"True":true,"Zero":0}"##),
    ];

    #[test]
    fn matches_go_text_template() {
        let data: Value = serde_json::from_str(GO_DATA).unwrap();
        for (tmpl, want) in GO_CASES {
            let got = match Template::parse(tmpl) {
                Err(e) => format!("ERR {e}"),
                Ok(t) => match t.execute(&data) {
                    Ok(s) => format!("OK {s}"),
                    Err(e) => format!("ERR {e}"),
                },
            };
            assert_eq!(got, *want, "template {tmpl:?}");
        }
    }
}
