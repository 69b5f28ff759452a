//! The lexer shared by the filter and PATCH path grammars: brackets, dots,
//! words (attribute paths, keywords and operators alike), JSON strings and
//! JSON numbers; and how error details point at and quote the input.

use std::fmt::Display;

use serde_json::Number;

use crate::error::{ErrorKind, ProtocolError, ProtocolResult};

/// Longest piece of the input quoted back in an error detail.
const MAX_ECHO: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Dot,
    /// Attribute path, keyword or operator: told apart by the parser from context.
    Word(String),
    Str(String),
    Num(Number),
    Eof,
}

#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) tok: Tok,
    /// Byte offset in the input.
    pub(super) at: usize,
}

/// The tokens of `src`, ending with [`Tok::Eof`]; errors are of `kind`.
pub(super) fn tokenize(src: &str, kind: ErrorKind) -> ProtocolResult<Vec<Token>> {
    Lexer { src, kind }.lex()
}

/// An error of `kind` pointing at byte offset `at` of `src`, given as a
/// 0-based character (not byte) position.
pub(super) fn error_at(src: &str, kind: ErrorKind, at: usize, msg: impl Display) -> ProtocolError {
    let position = src.get(..at).map_or(at, |s| s.chars().count());
    ProtocolError::new(kind, format!("{msg} (at position {position})"))
}

struct Lexer<'a> {
    src: &'a str,
    kind: ErrorKind,
}

impl Lexer<'_> {
    fn err_at(&self, at: usize, msg: impl Display) -> ProtocolError {
        error_at(self.src, self.kind, at, msg)
    }

    fn lex(&self) -> ProtocolResult<Vec<Token>> {
        let bytes = self.src.as_bytes();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let at = i;
            let single = match c {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    i += 1;
                    continue;
                }
                b'(' => Some(Tok::LParen),
                b')' => Some(Tok::RParen),
                b'[' => Some(Tok::LBracket),
                b']' => Some(Tok::RBracket),
                b'.' => Some(Tok::Dot),
                _ => None,
            };
            if let Some(tok) = single {
                tokens.push(Token { tok, at });
                i += 1;
                continue;
            }
            let tok = if c == b'"' {
                let (s, end) = self.lex_string(i)?;
                i = end;
                Tok::Str(s)
            } else if c == b'-' || c.is_ascii_digit() {
                let (n, end) = self.lex_number(i)?;
                i = end;
                Tok::Num(n)
            } else if c.is_ascii_alphabetic() || c == b'$' {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !is_word_byte(*b))
                    .map_or(bytes.len(), |n| i + n);
                let word = self.src.get(i..end).unwrap_or_default().to_owned();
                i = end;
                Tok::Word(word)
            } else {
                let ch = self.src.get(i..).and_then(|s| s.chars().next());
                let shown = match ch {
                    Some(ch) if !ch.is_control() => format!("'{ch}'"),
                    Some(ch) => format!("U+{:04X}", u32::from(ch)),
                    None => "a byte".to_owned(),
                };
                return Err(self.err_at(at, format!("unexpected character {shown}")));
            };
            tokens.push(Token { tok, at });
        }
        tokens.push(Token {
            tok: Tok::Eof,
            at: bytes.len(),
        });
        Ok(tokens)
    }

    /// A JSON string literal (RFC 8259 §7) starting at the opening quote.
    /// Returns the decoded string and the byte offset after the closing quote.
    fn lex_string(&self, start: usize) -> ProtocolResult<(String, usize)> {
        let mut out = String::new();
        let mut chars = self
            .src
            .get(start + 1..)
            .unwrap_or_default()
            .char_indices()
            .map(|(off, c)| (start + 1 + off, c));
        loop {
            let Some((at, c)) = chars.next() else {
                return Err(self.err_at(start, "unterminated string"));
            };
            match c {
                '"' => return Ok((out, at + 1)),
                '\\' => {
                    let Some((_, e)) = chars.next() else {
                        return Err(self.err_at(start, "unterminated string"));
                    };
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => out.push(self.unicode_escape(&mut chars, at)?),
                        _ => return Err(self.err_at(at, "invalid escape sequence in string")),
                    }
                }
                c if u32::from(c) < 0x20 => {
                    return Err(self.err_at(at, "unescaped control character in string"));
                }
                c => out.push(c),
            }
        }
    }

    /// The rest of `\uXXXX`, including a following low surrogate escape.
    fn unicode_escape(
        &self,
        chars: &mut impl Iterator<Item = (usize, char)>,
        at: usize,
    ) -> ProtocolResult<char> {
        let unpaired = || self.err_at(at, "unpaired UTF-16 surrogate escape");
        let hi = self.hex4(chars, at)?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            let backslash_u =
                matches!(chars.next(), Some((_, '\\'))) && matches!(chars.next(), Some((_, 'u')));
            if !backslash_u {
                return Err(unpaired());
            }
            let lo = self.hex4(chars, at)?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(unpaired());
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(unpaired)
    }

    fn hex4(
        &self,
        chars: &mut impl Iterator<Item = (usize, char)>,
        at: usize,
    ) -> ProtocolResult<u32> {
        let mut v = 0;
        for _ in 0..4 {
            let d = chars
                .next()
                .and_then(|(_, c)| c.to_digit(16))
                .ok_or_else(|| self.err_at(at, "'\\u' must be followed by four hex digits"))?;
            v = v * 16 + d;
        }
        Ok(v)
    }

    /// A JSON number (RFC 8259 §6): `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn lex_number(&self, start: usize) -> ProtocolResult<(Number, usize)> {
        let b = self.src.as_bytes();
        let digits = |mut i: usize| {
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            i
        };
        let bad = || self.err_at(start, "malformed number");
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(c) if c.is_ascii_digit() => i = digits(i),
            _ => return Err(bad()),
        }
        if b.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return Err(bad());
            }
            i = end;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return Err(bad());
            }
            i = end;
        }
        let text = self.src.get(start..i).ok_or_else(bad)?;
        // Integers stay exact when they fit 64 bits; everything else becomes an
        // f64, parsed with std's correctly rounded parser so printing and
        // re-parsing gives the same value.
        let int = if text.starts_with('-') {
            text.parse::<i64>().ok().map(Number::from)
        } else {
            text.parse::<u64>().ok().map(Number::from)
        };
        let n = int
            .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64))
            .ok_or_else(|| self.err_at(start, "number out of range"))?;
        Ok((n, i))
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.' | b'$')
}

/// Shortens what is quoted back to the client.
pub(super) fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_ECHO {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX_ECHO).collect();
        out.push('…');
        out
    }
}

pub(super) fn describe(tok: &Tok) -> String {
    match tok {
        Tok::LParen => "'('".to_owned(),
        Tok::RParen => "')'".to_owned(),
        Tok::LBracket => "'['".to_owned(),
        Tok::RBracket => "']'".to_owned(),
        Tok::Dot => "'.'".to_owned(),
        Tok::Word(w) => format!("'{}'", clip(w)),
        // String values are never echoed: they may carry personal data.
        Tok::Str(_) => "a string".to_owned(),
        Tok::Num(_) => "a number".to_owned(),
        Tok::Eof => "the end of the input".to_owned(),
    }
}
