//! Words and operators of a pcap-filter(7) expression, split as libpcap's
//! scanner splits them: a word runs over letters, digits and `-_.:`
//! (`tcp-syn`, `10.0.0.1`, `fe80::1`, `00:11:22:33:44:55`, `10-20`), and
//! a `:` ends it unless the word is an IPv6 or MAC address (`tcp[13:1]`).

use super::Error;

/// One token, with the text it came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// What it is.
    pub(crate) kind: Kind,
    /// As written.
    pub(crate) text: String,
}

/// Token kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A keyword, number, address or name; the parser tells them apart.
    Word,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `:` (the size in `proto[expr:size]`).
    Colon,
    /// `and` or `&&`.
    And,
    /// `or` or `||`.
    Or,
    /// `not` or `!`.
    Not,
    /// An arithmetic operator: `+ - * / % & | ^ << >>`.
    Arith(super::ast::BinOp),
    /// A comparison: `> >= < <= = == !=`.
    Rel(super::ast::Rel),
}

fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

/// Splits `text` into tokens.
pub(crate) fn lex(text: &str) -> Result<Vec<Token>, Error> {
    use super::ast::{BinOp, Rel};
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let run_end = |from: usize| {
            let mut end = from;
            while end < chars.len() && word_char(chars[end]) {
                end += 1;
            }
            end
        };
        let v6_start = c == ':'
            && chars[i..run_end(i)]
                .iter()
                .collect::<String>()
                .parse::<std::net::Ipv6Addr>()
                .is_ok();
        // `\tcp`: a protocol name as a value (`ip proto \tcp`), not the
        // keyword; the word keeps its backslash for the parser to see.
        if c == '\\' && chars.get(i + 1).is_some_and(char::is_ascii_alphanumeric) {
            let end = run_end(i + 1);
            let word: String = chars[i..end].iter().collect();
            i = end;
            out.push(Token {
                kind: Kind::Word,
                text: word,
            });
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || v6_start {
            let mut end = i;
            while end < chars.len() && word_char(chars[end]) {
                end += 1;
            }
            let mut word: String = chars[i..end].iter().collect();
            // A trailing `-` belongs to the arithmetic (`len-` is `len -`).
            while word.ends_with('-') {
                word.pop();
            }
            if word.contains(':') && !is_colon_address(&word) {
                word.truncate(word.find(':').unwrap_or(word.len()));
            }
            i += word.chars().count();
            out.push(Token {
                kind: if word == "and" {
                    Kind::And
                } else if word == "or" {
                    Kind::Or
                } else if word == "not" {
                    Kind::Not
                } else {
                    Kind::Word
                },
                text: word,
            });
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let (kind, len) = match two.as_str() {
            "&&" => (Kind::And, 2),
            "||" => (Kind::Or, 2),
            "<<" => (Kind::Arith(BinOp::Shl), 2),
            ">>" => (Kind::Arith(BinOp::Shr), 2),
            ">=" => (Kind::Rel(Rel::Ge), 2),
            "<=" => (Kind::Rel(Rel::Le), 2),
            "==" => (Kind::Rel(Rel::Eq), 2),
            "!=" => (Kind::Rel(Rel::Ne), 2),
            _ => match c {
                '(' => (Kind::LParen, 1),
                ')' => (Kind::RParen, 1),
                '[' => (Kind::LBracket, 1),
                ']' => (Kind::RBracket, 1),
                ':' => (Kind::Colon, 1),
                '!' => (Kind::Not, 1),
                '>' => (Kind::Rel(Rel::Gt), 1),
                '<' => (Kind::Rel(Rel::Lt), 1),
                '=' => (Kind::Rel(Rel::Eq), 1),
                '+' => (Kind::Arith(BinOp::Add), 1),
                '-' => (Kind::Arith(BinOp::Sub), 1),
                '*' => (Kind::Arith(BinOp::Mul), 1),
                '/' => (Kind::Arith(BinOp::Div), 1),
                '%' => (Kind::Arith(BinOp::Mod), 1),
                '&' => (Kind::Arith(BinOp::And), 1),
                '|' => (Kind::Arith(BinOp::Or), 1),
                '^' => (Kind::Arith(BinOp::Xor), 1),
                _ => {
                    return Err(Error::at(
                        &c.to_string(),
                        "this character has no meaning here",
                    ));
                }
            },
        };
        out.push(Token {
            kind,
            text: chars[i..i + len].iter().collect(),
        });
        i += len;
    }
    Ok(out)
}

/// An IPv6 address or a MAC address (the words that may hold `:`).
fn is_colon_address(w: &str) -> bool {
    w.parse::<std::net::Ipv6Addr>().is_ok() || super::parse::mac(w).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(s: &str) -> Vec<String> {
        lex(s).unwrap().into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn splits_as_libpcap_does() {
        assert_eq!(
            texts("tcp[13:1]&(tcp-syn|tcp-fin)!=0"),
            [
                "tcp", "[", "13", ":", "1", "]", "&", "(", "tcp-syn", "|", "tcp-fin", ")", "!=",
                "0"
            ]
        );
        assert_eq!(
            texts("host fe80::1 or ::1"),
            ["host", "fe80::1", "or", "::1"]
        );
        assert_eq!(texts("net 10.0.0.0/8"), ["net", "10.0.0.0", "/", "8"]);
        assert_eq!(texts("portrange 10-20"), ["portrange", "10-20"]);
        assert_eq!(
            texts("!tcp&&udp||len -1>2"),
            ["!", "tcp", "&&", "udp", "||", "len", "-", "1", ">", "2"]
        );
        assert_eq!(
            texts("ether host 00:11:22:33:44:55"),
            ["ether", "host", "00:11:22:33:44:55"]
        );
    }

    #[test]
    fn a_stray_character_is_named() {
        let e = lex("port 80 ; ls").unwrap_err();
        assert!(e.to_string().contains("';'"), "{e}");
    }
}
