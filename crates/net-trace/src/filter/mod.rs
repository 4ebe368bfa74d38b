//! tcpdump's filter expressions (pcap-filter(7)): parsed into an `Expr`,
//! compiled to a classic BPF program for a link type or a live socket,
//! and evaluated by running that program.
//!
//! One compiler serves both sides: `capture` attaches the program to its
//! packet socket (the kernel runs it), `read` runs the same program over
//! each frame of the file ([`Matcher`], with `bpf::run_len`), so what a
//! live capture keeps and what a saved one keeps cannot drift apart. The
//! programs follow libpcap 1.10's code generation primitive by primitive
//! (same loads, same order); the tests run them next to `tcpdump -dd`'s
//! programs over the capture fixtures and compare the verdicts frame by
//! frame, and compare the frames kept with `tcpdump -r FILE EXPR`.
//!
//! Why not libpcap itself: linking it (or the `pcap` crate) would add a C
//! library to a crate that builds anywhere with cargo alone, and
//! libpcap's compiler needs a pcap handle per link type; the classic BPF
//! builder here already had to match tcpdump's programs for `--port`.
//!
//! # Layout
//! - `lex`: words and operators, split as libpcap's scanner does.
//! - `parse`: the grammar, tcpdump's precedence and implied qualifiers.
//! - `ast`: what the expression means.
//! - `compile`: BPF for a `Target`.
//!
//! # Example
//! ```
//! use net_trace::decode::LinkType;
//! use net_trace::filter::Filter;
//!
//! let f = Filter::parse("udp and port 12000")?;
//! let mut m = f.matcher();
//! // An IPv4/UDP datagram 127.0.0.1:40000 → 127.0.0.1:12000, "hi".
//! let ip = [
//!     0x45, 0, 0, 30, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
//!     0x9c, 0x40, 0x2e, 0xe0, 0, 10, 0, 0, b'h', b'i',
//! ];
//! assert!(m.matches(LinkType::RawIp, &ip, 30)?);
//! assert!(!Filter::parse("tcp")?.matcher().matches(LinkType::RawIp, &ip, 30)?);
//! # Ok::<(), net_trace::filter::Error>(())
//! ```

pub(crate) mod ast;
mod compile;
mod lex;
mod parse;

use std::collections::HashMap;
use std::fmt;

pub(crate) use ast::Expr;
pub(crate) use compile::Target;

use crate::decode::LinkType;
use crate::live::bpf::{self, Insn};

/// A filter expression that cannot be used: a usage error naming the
/// token at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    message: String,
}

impl Error {
    fn new(message: &str) -> Error {
        Error {
            message: format!("filter expression: {message}"),
        }
    }

    fn at(token: &str, reason: &str) -> Error {
        Error {
            message: format!("filter expression: at '{token}': {reason}"),
        }
    }

    fn at_end(token: &str, reason: &str) -> Error {
        Error {
            message: format!("filter expression: after '{token}': {reason}"),
        }
    }
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    text: String,
    expr: Expr,
}

impl Filter {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Filter, Error> {
        Ok(Filter {
            text: text.trim().to_string(),
            expr: parse::parse(text)?,
        })
    }

    /// The expression from command-line words, joined with spaces as
    /// tcpdump joins them; `None` when there are none.
    pub fn from_words(words: &[String]) -> Result<Option<Filter>, Error> {
        if words.is_empty() {
            return Ok(None);
        }
        Filter::parse(&words.join(" ")).map(Some)
    }

    /// The classic BPF program for `target`: accepts (returns non-zero)
    /// exactly the frames the expression keeps.
    pub(crate) fn program(&self, target: Target) -> Result<Vec<Insn>, Error> {
        compile::compile(&self.expr, target)
    }

    /// A matcher for frames of any link type, compiling once per type.
    pub fn matcher(&self) -> Matcher {
        Matcher {
            filter: self.clone(),
            programs: HashMap::new(),
        }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Decides frames with a [`Filter`]'s program for their link type.
#[derive(Debug, Clone)]
pub struct Matcher {
    filter: Filter,
    programs: HashMap<LinkType, Vec<Insn>>,
}

impl Matcher {
    /// Whether the frame (`data` as captured, `wire_len` on the wire) is
    /// kept. An error when the expression means nothing on `link` (`vlan`
    /// on a cooked capture, …).
    pub fn matches(&mut self, link: LinkType, data: &[u8], wire_len: u32) -> Result<bool, Error> {
        let program = match self.programs.entry(link) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(self.filter.program(Target::Link(link))?)
            }
        };
        Ok(bpf::run_len(program, data, wire_len, bpf::Context::default()).is_some_and(|r| r != 0))
    }
}

#[cfg(test)]
mod against_tcpdump;
#[cfg(test)]
mod tests;
