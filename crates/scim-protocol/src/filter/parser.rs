//! Hand-written recursive-descent parser for the filter grammar of RFC 7644
//! §3.4.2.2 and the PATCH path grammar of §3.5.2, over the tokens of
//! [`super::lexer`].
//!
//! Recursion happens only when entering `(`, `not (` or `[`, and that nesting is
//! capped at [`MAX_FILTER_DEPTH`]; `and`/`or` chains are parsed by loops, so no
//! input can exhaust the stack.

use super::lexer::{Tok, Token, clip, describe, error_at, tokenize};
use crate::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::error::{ErrorKind, ProtocolError, ProtocolResult};

/// Longest filter or path accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 8 * 1024;

/// Deepest nesting of `(`, `not (` and `[` accepted.
pub const MAX_FILTER_DEPTH: usize = 50;

pub(super) fn parse_filter(input: &str) -> ProtocolResult<Filter> {
    let mut p = Parser::new(input, ErrorKind::InvalidFilter)?;
    let filter = p.parse_or(false)?;
    p.expect_end("'and', 'or' or the end of the filter")?;
    Ok(filter)
}

pub(super) fn parse_path(input: &str) -> ProtocolResult<PatchPath> {
    let mut p = Parser::new(input, ErrorKind::InvalidPath)?;
    let (attr, attr_at) = p.attr_path()?;
    let mut path = PatchPath {
        attr,
        value_filter: None,
        sub_attr: None,
    };
    if p.peek() == &Tok::LBracket {
        if path.attr.sub_attr.is_some() {
            return Err(p.err_at(
                attr_at,
                "a value filter '[...]' cannot follow a sub-attribute",
            ));
        }
        path.value_filter = Some(p.bracketed_value_filter()?);
        if p.peek() == &Tok::Dot {
            p.bump();
            path.sub_attr = Some(p.plain_name("a sub-attribute name after '.'")?);
        }
    }
    p.expect_end("'[', '.' or the end of the path")?;
    Ok(path)
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    kind: ErrorKind,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, kind: ErrorKind) -> ProtocolResult<Self> {
        let what = if kind == ErrorKind::InvalidPath {
            "path"
        } else {
            "filter"
        };
        if src.len() > MAX_FILTER_LEN {
            return Err(ProtocolError::new(
                kind,
                format!(
                    "the {what} is {} bytes long; at most {MAX_FILTER_LEN} are allowed",
                    src.len()
                ),
            ));
        }
        Ok(Self {
            src,
            tokens: tokenize(src, kind)?,
            pos: 0,
            depth: 0,
            kind,
        })
    }

    // ---- errors ----------------------------------------------------------

    fn err_at(&self, at: usize, msg: impl std::fmt::Display) -> ProtocolError {
        error_at(self.src, self.kind, at, msg)
    }

    fn expected(&self, what: &str) -> ProtocolError {
        let t = self.current();
        self.err_at(t.at, format!("expected {what}, found {}", describe(&t.tok)))
    }

    // ---- token stream ----------------------------------------------------

    fn current(&self) -> &Token {
        // The stream always ends with Eof and `bump` never moves past it.
        static END: Token = Token {
            tok: Tok::Eof,
            at: 0,
        };
        self.tokens
            .get(self.pos)
            .or_else(|| self.tokens.last())
            .unwrap_or(&END)
    }

    fn peek(&self) -> &Tok {
        &self.current().tok
    }

    fn peek2(&self) -> &Tok {
        self.tokens.get(self.pos + 1).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn bump(&mut self) {
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> ProtocolResult<()> {
        if self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn expect_end(&self, what: &str) -> ProtocolResult<()> {
        if self.peek() == &Tok::Eof {
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    fn enter(&mut self) -> ProtocolResult<()> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            let at = self.current().at;
            return Err(self.err_at(
                at,
                format!("nesting is deeper than the maximum of {MAX_FILTER_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    // ---- grammar ---------------------------------------------------------

    /// `or` level; `in_value` is true inside `attr[...]`.
    fn parse_or(&mut self, in_value: bool) -> ProtocolResult<Filter> {
        let mut left = self.parse_and(in_value)?;
        while self.peek_keyword("or") {
            self.bump();
            let right = self.parse_and(in_value)?;
            left = Filter::or(left, right);
        }
        Ok(left)
    }

    fn parse_and(&mut self, in_value: bool) -> ProtocolResult<Filter> {
        let mut left = self.parse_unary(in_value)?;
        while self.peek_keyword("and") {
            self.bump();
            let right = self.parse_unary(in_value)?;
            left = Filter::and(left, right);
        }
        Ok(left)
    }

    fn parse_unary(&mut self, in_value: bool) -> ProtocolResult<Filter> {
        match self.peek() {
            Tok::LParen => self.parenthesized(in_value),
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                if self.peek2() != &Tok::LParen {
                    let at = self.current().at;
                    return Err(self.err_at(at, "'not' must be followed by '('"));
                }
                self.bump();
                Ok(Filter::negate(self.parenthesized(in_value)?))
            }
            Tok::Word(_) => self.attr_expr(in_value),
            _ => Err(self.expected("an attribute name, '(' or 'not'")),
        }
    }

    fn parenthesized(&mut self, in_value: bool) -> ProtocolResult<Filter> {
        self.enter()?;
        self.bump();
        let inner = self.parse_or(in_value)?;
        self.expect(&Tok::RParen, "'and', 'or' or ')'")?;
        self.leave();
        Ok(inner)
    }

    /// `attrPath pr`, `attrPath op value`, `attrPath "[" valFilter "]"`, and the
    /// non-standard `attrPath "[" valFilter "]" "." subAttr (pr | op value)`.
    fn attr_expr(&mut self, in_value: bool) -> ProtocolResult<Filter> {
        let (path, at) = self.attr_path()?;
        if in_value && (path.schema.is_some() || path.sub_attr.is_some()) {
            return Err(self.err_at(
                at,
                "inside '[...]' attribute names must be plain sub-attribute names",
            ));
        }
        if self.peek() != &Tok::LBracket {
            return self.attr_tail(path);
        }
        if in_value {
            return Err(self.expected("an operator (value filters cannot nest)"));
        }
        if path.sub_attr.is_some() {
            return Err(self.err_at(at, "a value filter '[...]' cannot follow a sub-attribute"));
        }
        let mut inner = self.bracketed_value_filter()?;
        if self.peek() == &Tok::Dot {
            // `emails[type eq "work"].value eq "x"` (sent by Entra ID) means
            // `emails[type eq "work" and value eq "x"]`.
            self.bump();
            let sub = self.plain_name("a sub-attribute name after '.'")?;
            let cond = self.attr_tail(AttrPath::new(sub))?;
            inner = Filter::and(inner, cond);
        }
        Ok(Filter::ValuePath {
            attr: path,
            filter: Box::new(inner),
        })
    }

    fn bracketed_value_filter(&mut self) -> ProtocolResult<Filter> {
        self.enter()?;
        self.bump();
        let inner = self.parse_or(true)?;
        self.expect(&Tok::RBracket, "'and', 'or' or ']'")?;
        self.leave();
        Ok(inner)
    }

    /// What follows an attribute path: `pr` or an operator and a value.
    fn attr_tail(&mut self, path: AttrPath) -> ProtocolResult<Filter> {
        let op = match self.peek() {
            Tok::Word(w) if w.eq_ignore_ascii_case("pr") => {
                self.bump();
                return Ok(Filter::Present(path));
            }
            Tok::Word(w) => match compare_op(w) {
                Some(op) => op,
                None => {
                    let t = self.current();
                    return Err(self.err_at(
                        t.at,
                        format!(
                            "unknown operator {}; expected one of eq, ne, co, sw, ew, gt, ge, lt, le, pr",
                            describe(&t.tok)
                        ),
                    ));
                }
            },
            _ => return Err(self.expected("an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)")),
        };
        self.bump();
        let value = match self.peek() {
            Tok::Str(s) => CompValue::Str(s.clone()),
            Tok::Num(n) => CompValue::Number(n.clone()),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            _ => {
                return Err(
                    self.expected("a value (a quoted string, a number, true, false or null)")
                );
            }
        };
        self.bump();
        Ok(Filter::Compare { path, op, value })
    }

    /// `[URI ":"] ATTRNAME ["." ATTRNAME]`, with its byte offset.
    fn attr_path(&mut self) -> ProtocolResult<(AttrPath, usize)> {
        let Token { tok, at } = self.current().clone();
        let Tok::Word(word) = tok else {
            return Err(self.expected("an attribute name"));
        };
        let path = split_attr_path(&word).map_err(|msg| self.err_at(at, msg))?;
        self.bump();
        Ok((path, at))
    }

    fn plain_name(&mut self, what: &str) -> ProtocolResult<String> {
        let Token { tok, at } = self.current().clone();
        match tok {
            Tok::Word(w) if is_attr_name(&w) => {
                self.bump();
                Ok(w)
            }
            Tok::Word(w) => Err(self.err_at(
                at,
                format!("'{}' is not a valid sub-attribute name", clip(&w)),
            )),
            _ => Err(self.expected(what)),
        }
    }
}

/// RFC 7644 `ATTRNAME = ALPHA *(nameChar)`; a leading `$` is also accepted
/// for `$ref` (RFC 7643 §2.1 reserves it as an attribute name).
pub(super) fn is_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = match chars.next() {
        Some('$') => chars
            .clone()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic()),
        Some(c) => c.is_ascii_alphabetic(),
        None => false,
    };
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Splits `urn:…:User:name.givenName`: the schema URN is everything before the
/// last `:`, the rest is `name[.sub]`.
fn split_attr_path(word: &str) -> Result<AttrPath, String> {
    let (schema, rest) = match word.rsplit_once(':') {
        Some((urn, rest)) => {
            let urn_ok = urn.starts_with(|c: char| c.is_ascii_alphabetic())
                && !urn.ends_with(':')
                && urn.bytes().all(|b| b != b'$');
            if !urn_ok {
                return Err(format!("'{}' is not a valid schema URN", clip(urn)));
            }
            (Some(urn.to_owned()), rest)
        }
        None => (None, word),
    };
    let mut parts = rest.splitn(3, '.');
    let name = parts.next().unwrap_or_default();
    let sub = parts.next();
    if parts.next().is_some() {
        return Err(format!(
            "'{}' has more than one sub-attribute level",
            clip(word)
        ));
    }
    if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
        return Err(format!("'{}' is not a valid attribute path", clip(word)));
    }
    Ok(AttrPath {
        schema,
        name: name.to_owned(),
        sub_attr: sub.map(str::to_owned),
    })
}

fn compare_op(w: &str) -> Option<CompareOp> {
    Some(match w.to_ascii_lowercase().as_str() {
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => return None,
    })
}
