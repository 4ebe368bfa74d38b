//! pcap-filter(7) grammar, as libpcap's parser reads it: `and` and `or`
//! bind equally and associate left to right, `not` binds tightest, and a
//! bare value after `and`/`or`/`not` takes the qualifiers of the primitive
//! before it (`host a or b`, `port 80 or 443`, `src net 10/8 and not 11`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Error;
use super::ast::{Arith, BinOp, Dir, Expr, Family, Layer, NetProto, PortProto, Prim, Proto, Rel};
use super::lex::{Kind, Token, lex};

/// Parses a whole expression.
pub(crate) fn parse(text: &str) -> Result<Expr, Error> {
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Err(Error::new("the filter expression is empty"));
    }
    if tokens.len() > MAX_TOKENS {
        return Err(Error::new(&format!(
            "longer than {MAX_TOKENS} words and operators"
        )));
    }
    let mut p = Parser {
        t: tokens,
        pos: 0,
        depth: 0,
    };
    let (e, _) = p.expr(None)?;
    match p.t.get(p.pos) {
        None => Ok(e),
        Some(tok) if tok.kind == Kind::RParen => Err(Error::at(&tok.text, "no `(` to close")),
        Some(tok) => Err(Error::at(&tok.text, "expected `and`, `or` or the end here")),
    }
}

/// The most tokens an expression may have. The parser and the compiler
/// recurse once per nesting level, so this bounds their stack; and an
/// expression this long already compiles to more instructions than the
/// kernel takes (4,096).
pub(crate) const MAX_TOKENS: usize = 1000;

/// How deep parentheses, `not` and unary minus may nest: far beyond any
/// expression a person writes, and within a thread's stack for the
/// recursive parser and compiler.
pub(crate) const MAX_DEPTH: usize = 100;

/// The protocol qualifier of a primitive (`ether`, `ip`, `tcp`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PQual {
    Ether,
    Proto(Proto),
}

/// Which kind of value a primitive takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AQual {
    Default,
    Host,
    Net,
    Port,
    PortRange,
    Proto,
}

/// The qualifiers in force: the last primitive's, for a bare value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quals {
    proto: Option<PQual>,
    dir: Dir,
    addr: AQual,
}

/// Words libpcap knows that net-trace does not take: named in the error
/// as unsupported rather than unknown.
const UNSUPPORTED: &[&str] = &[
    "gateway",
    "protochain",
    "inbound",
    "outbound",
    "ifindex",
    "ifname",
    "on",
    "rnr",
    "rulenum",
    "reason",
    "rset",
    "ruleset",
    "srnr",
    "subrulenum",
    "subrule",
    "action",
    "mpls",
    "pppoed",
    "pppoes",
    "geneve",
    "llc",
    "iso",
    "esis",
    "es-is",
    "isis",
    "is-is",
    "clnp",
    "decnet",
    "lat",
    "moprc",
    "mopdl",
    "atalk",
    "aarp",
    "ipx",
    "netbeui",
    "stp",
    "wlan",
    "type",
    "subtype",
    "dir",
    "ra",
    "ta",
    "addr1",
    "addr2",
    "addr3",
    "addr4",
    "fddi",
    "tr",
    "radio",
    "slip",
    "vpi",
    "vci",
    "lane",
    "oamf4",
    "oamf4s",
    "oamf4e",
    "oam",
    "metac",
    "bcc",
    "sc",
    "ilmic",
    "connectmsg",
    "metaconnect",
    "fisu",
    "lssu",
    "msu",
    "sio",
    "opc",
    "dpc",
    "sls",
    "hfisu",
    "hlssu",
    "hmsu",
    "hsio",
    "hopc",
    "hdpc",
    "hsls",
    "carp",
    "vrrp",
    "pim",
    "ah",
    "esp",
    "l1",
    "l2",
    "iih",
    "lsp",
    "snp",
    "csnp",
    "psnp",
    "icmp6type",
    "ip6multicast",
];

fn pname(w: &str) -> Option<PQual> {
    Some(match w {
        "ether" | "link" => PQual::Ether,
        "ip" => PQual::Proto(Proto::Ip),
        "ip6" => PQual::Proto(Proto::Ip6),
        "arp" => PQual::Proto(Proto::Arp),
        "rarp" => PQual::Proto(Proto::Rarp),
        "tcp" => PQual::Proto(Proto::Tcp),
        "udp" => PQual::Proto(Proto::Udp),
        "sctp" => PQual::Proto(Proto::Sctp),
        "icmp" => PQual::Proto(Proto::Icmp),
        "icmp6" => PQual::Proto(Proto::Icmp6),
        "igmp" => PQual::Proto(Proto::Igmp),
        _ => return None,
    })
}

fn layer(q: PQual) -> Layer {
    match q {
        PQual::Ether => Layer::Link,
        PQual::Proto(p) => match p {
            Proto::Ip => Layer::Ip,
            Proto::Ip6 => Layer::Ip6,
            Proto::Arp => Layer::Arp,
            Proto::Rarp => Layer::Rarp,
            Proto::Tcp => Layer::Tcp,
            Proto::Udp => Layer::Udp,
            Proto::Sctp => Layer::Sctp,
            Proto::Icmp => Layer::Icmp,
            Proto::Icmp6 => Layer::Icmp6,
            Proto::Igmp => Layer::Igmp,
        },
    }
}

/// Named constants of byte tests, as libpcap spells them.
fn constant(w: &str) -> Option<u32> {
    Some(match w {
        "icmptype" | "icmp6type" => 0,
        "icmpcode" | "icmp6code" => 1,
        "tcpflags" => 13,
        "tcp-fin" => 0x01,
        "tcp-syn" => 0x02,
        "tcp-rst" => 0x04,
        "tcp-push" => 0x08,
        "tcp-ack" => 0x10,
        "tcp-urg" => 0x20,
        "tcp-ece" => 0x40,
        "tcp-cwr" => 0x80,
        "icmp-echoreply" => 0,
        "icmp-unreach" => 3,
        "icmp-sourcequench" => 4,
        "icmp-redirect" => 5,
        "icmp-echo" => 8,
        "icmp-routeradvert" => 9,
        "icmp-routersolicit" => 10,
        "icmp-timxceed" => 11,
        "icmp-paramprob" => 12,
        "icmp-tstamp" => 13,
        "icmp-tstampreply" => 14,
        "icmp-ireq" => 15,
        "icmp-ireqreply" => 16,
        "icmp-maskreq" => 17,
        "icmp-maskreply" => 18,
        "icmp6-destinationunreach" => 1,
        "icmp6-packettoobig" => 2,
        "icmp6-timeexceeded" => 3,
        "icmp6-parameterproblem" => 4,
        "icmp6-echo" => 128,
        "icmp6-echoreply" => 129,
        "icmp6-multicastlistenerquery" => 130,
        "icmp6-multicastlistenerreportv1" => 131,
        "icmp6-multicastlistenerdone" => 132,
        "icmp6-routersolicit" => 133,
        "icmp6-routeradvert" => 134,
        "icmp6-neighborsolicit" => 135,
        "icmp6-neighboradvert" => 136,
        "icmp6-redirect" => 137,
        _ => return None,
    })
}

/// Port names, as /etc/services gives them for both TCP and UDP. Only
/// common ones: other names are an error rather than a lookup.
const PORT_NAMES: &[(&str, u16)] = &[
    ("echo", 7),
    ("ftp-data", 20),
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("pop3", 110),
    ("ntp", 123),
    ("imap", 143),
    ("snmp", 161),
    ("https", 443),
];

/// A number as libpcap reads one: decimal, `0x` hex, or `0`-led octal.
pub(crate) fn number(w: &str) -> Option<u32> {
    if let Some(hex) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        return u32::from_str_radix(hex, 16).ok();
    }
    if w.len() > 1 && w.starts_with('0') {
        return u32::from_str_radix(&w[1..], 8).ok();
    }
    if !w.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    w.parse().ok()
}

/// A MAC address: `xx:xx:xx:xx:xx:xx` (or with `-`), or `xxxx.xxxx.xxxx`.
pub(crate) fn mac(w: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = if w.contains('.') {
        let groups: Vec<&str> = w.split('.').collect();
        if groups.len() != 3 || groups.iter().any(|g| g.len() != 4) {
            return None;
        }
        groups.iter().flat_map(|g| [&g[..2], &g[2..]]).collect()
    } else {
        w.split([':', '-']).collect()
    };
    if parts.len() != 6 {
        return None;
    }
    let mut out = [0u8; 6];
    for (o, p) in out.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        *o = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

/// A dotted IPv4 network of 1 to 4 parts (`10`, `10.78`, `10.78.0.1`):
/// the address and how many bits were given.
fn dotted(w: &str) -> Option<(u32, u8)> {
    let parts: Vec<&str> = w.split('.').collect();
    if parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let mut v = 0u32;
    for p in &parts {
        let n = number(p).filter(|&n| n <= 255)?;
        v = v << 8 | n;
    }
    let bits = 8 * parts.len() as u8;
    Some((if bits == 32 { v } else { v << (32 - bits) }, bits))
}

struct Parser {
    t: Vec<Token>,
    pos: usize,
    /// Parentheses, `not`s and unary minuses around the current token.
    depth: usize,
}

impl Parser {
    fn kind(&self, ahead: usize) -> Option<Kind> {
        self.t.get(self.pos + ahead).map(|t| t.kind)
    }

    fn word(&self, ahead: usize) -> Option<&str> {
        self.t
            .get(self.pos + ahead)
            .filter(|t| t.kind == Kind::Word)
            .map(|t| t.text.as_str())
    }

    /// The text of the token at `pos` (or of the last one, at the end).
    fn here(&self) -> &str {
        self.t
            .get(self.pos)
            .or(self.t.last())
            .map_or("", |t| t.text.as_str())
    }

    fn error(&self, reason: &str) -> Error {
        if self.pos >= self.t.len() {
            Error::at_end(self.here(), reason)
        } else {
            Error::at(self.here(), reason)
        }
    }

    fn expect(&mut self, kind: Kind, what: &str) -> Result<(), Error> {
        if self.kind(0) == Some(kind) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {what}")))
        }
    }

    /// Runs `f` one nesting level deeper, refusing beyond [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Error>) -> Result<T, Error> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(&format!("nested more than {MAX_DEPTH} deep")));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn expr(&mut self, q: Option<Quals>) -> Result<(Expr, Option<Quals>), Error> {
        let (mut e, mut q) = self.term(q)?;
        while let Some(op @ (Kind::And | Kind::Or)) = self.kind(0) {
            self.pos += 1;
            if self.pos >= self.t.len() {
                self.pos -= 1;
                return Err(self.error("nothing follows it"));
            }
            let (rhs, q2) = self.term(q)?;
            e = if op == Kind::And {
                Expr::And(Box::new(e), Box::new(rhs))
            } else {
                Expr::Or(Box::new(e), Box::new(rhs))
            };
            q = q2;
        }
        Ok((e, q))
    }

    fn term(&mut self, q: Option<Quals>) -> Result<(Expr, Option<Quals>), Error> {
        if self.kind(0) == Some(Kind::Not) {
            self.pos += 1;
            let (e, q) = self.nested(|p| p.term(q))?;
            return Ok((Expr::Not(Box::new(e)), q));
        }
        self.rterm(q)
    }

    /// An arithmetic operator or comparison comes next.
    fn arith_follows(&self, ahead: usize) -> bool {
        matches!(self.kind(ahead), Some(Kind::Arith(_) | Kind::Rel(_)))
    }

    fn rterm(&mut self, q: Option<Quals>) -> Result<(Expr, Option<Quals>), Error> {
        match self.kind(0) {
            None => Err(self.error("the expression ends too early")),
            Some(Kind::LParen) => {
                let start = self.pos;
                self.pos += 1;
                let inner = self.nested(|p| {
                    let (e, _) = p.expr(q)?;
                    p.expect(Kind::RParen, "`)`")?;
                    Ok(e)
                });
                match inner {
                    Ok(e) if !self.arith_follows(0) => Ok((e, q)),
                    Ok(_) => {
                        self.pos = start;
                        Ok((self.relation()?, None))
                    }
                    Err(boolean) => {
                        self.pos = start;
                        self.relation().map(|r| (r, None)).map_err(|_| boolean)
                    }
                }
            }
            Some(Kind::Arith(BinOp::Sub)) => Ok((self.relation()?, None)),
            Some(Kind::Word) => self.word_term(q),
            Some(_) => Err(self.error("expected a primitive (host, net, port, tcp, …) here")),
        }
    }

    fn word_term(&mut self, q: Option<Quals>) -> Result<(Expr, Option<Quals>), Error> {
        let w = self.word(0).unwrap_or_default().to_string();
        if let Some(p) = pname(&w) {
            if self.kind(1) == Some(Kind::LBracket) {
                return Ok((self.relation()?, None));
            }
            self.pos += 1;
            return match self.word(0) {
                Some("src" | "dst" | "host" | "net" | "port" | "portrange" | "proto") => {
                    self.head(Some(p))
                }
                Some("broadcast") => match p {
                    PQual::Ether => {
                        self.pos += 1;
                        Ok((broadcast(), None))
                    }
                    _ => Err(self.error(
                        "unsupported: an IP broadcast address depends on a netmask net-trace does not know",
                    )),
                },
                Some("multicast") => {
                    self.pos += 1;
                    let prim = match p {
                        PQual::Ether => Prim::EtherMulticast,
                        PQual::Proto(Proto::Ip) => Prim::IpMulticast,
                        PQual::Proto(Proto::Ip6) => Prim::Ip6Multicast,
                        _ => {
                            self.pos -= 1;
                            return Err(self.error(&format!("'{w} multicast' means nothing")));
                        }
                    };
                    Ok((Expr::Prim(prim), None))
                }
                Some(other) if UNSUPPORTED.contains(&other) => {
                    Err(self.error("unsupported by net-trace's filter"))
                }
                _ => match p {
                    PQual::Proto(proto) => Ok((Expr::Prim(Prim::Proto(proto)), None)),
                    PQual::Ether => {
                        self.pos -= 1;
                        Err(self.error(
                            "expected `ether host`, `ether src`, `ether dst`, `ether broadcast`, `ether multicast` or `ether[…]`",
                        ))
                    }
                },
            };
        }
        match w.as_str() {
            "src" | "dst" | "host" | "net" | "port" | "portrange" | "proto" => self.head(None),
            "less" | "greater" => {
                self.pos += 1;
                let n = self
                    .word(0)
                    .and_then(number)
                    .ok_or_else(|| self.error(&format!("`{w}` needs a length")))?;
                self.pos += 1;
                let op = if w == "less" { Rel::Le } else { Rel::Ge };
                Ok((Expr::Rel(Arith::Len, op, Arith::Num(n)), None))
            }
            "vlan" => {
                self.pos += 1;
                let id = match self.word(0).map(number) {
                    Some(Some(id)) if id <= 4095 => {
                        self.pos += 1;
                        Some(id as u16)
                    }
                    Some(Some(_)) => return Err(self.error("a VLAN ID is at most 4095")),
                    _ => None,
                };
                Ok((Expr::Prim(Prim::Vlan(id)), None))
            }
            "broadcast" => {
                self.pos += 1;
                Ok((broadcast(), None))
            }
            "inbound" | "outbound" => {
                self.pos += 1;
                Ok((Expr::Prim(Prim::Outbound(w == "outbound")), None))
            }
            "multicast" => {
                self.pos += 1;
                Ok((Expr::Prim(Prim::EtherMulticast), None))
            }
            "len" => Ok((self.relation()?, None)),
            _ if constant(&w).is_some() || number(&w).is_some() && self.arith_follows(1) => {
                Ok((self.relation()?, None))
            }
            _ if UNSUPPORTED.contains(&w.as_str()) => {
                Err(self.error("unsupported by net-trace's filter"))
            }
            _ if self.arith_follows(1) => Ok((self.relation()?, None)),
            _ => {
                match q {
                    Some(q) => self.value(q).map(|e| (e, Some(q))),
                    None if looks_like_value(&w) => Err(self
                        .error("a value needs a qualifier before it (host, net, port, portrange)")),
                    None => Err(self.error("unknown primitive")),
                }
            }
        }
    }

    /// `[proto] [src|dst|src or dst|src and dst] [host|net|port|portrange|proto] ID`.
    fn head(&mut self, proto: Option<PQual>) -> Result<(Expr, Option<Quals>), Error> {
        let mut q = Quals {
            proto,
            dir: Dir::SrcOrDst,
            addr: AQual::Default,
        };
        if let Some(d @ ("src" | "dst")) = self.word(0).map(str::to_string).as_deref() {
            q.dir = if d == "src" { Dir::Src } else { Dir::Dst };
            self.pos += 1;
            // `src or dst`, `src and dst`: a direction, not two terms.
            let other = if d == "src" { "dst" } else { "src" };
            if let (Some(k @ (Kind::Or | Kind::And)), Some(w)) = (self.kind(0), self.word(1))
                && w == other
            {
                q.dir = if k == Kind::Or {
                    Dir::SrcOrDst
                } else {
                    Dir::SrcAndDst
                };
                self.pos += 2;
            }
        }
        if let Some(a) = self.word(0) {
            let addr = match a {
                "host" => Some(AQual::Host),
                "net" => Some(AQual::Net),
                "port" => Some(AQual::Port),
                "portrange" => Some(AQual::PortRange),
                "proto" => Some(AQual::Proto),
                _ => None,
            };
            if let Some(addr) = addr {
                q.addr = addr;
                self.pos += 1;
            }
        }
        if let Some(w) = self.word(0)
            && (UNSUPPORTED.contains(&w) || w == "broadcast" || w == "multicast")
        {
            return Err(self.error("unsupported by net-trace's filter here"));
        }
        let e = self.id(q)?;
        Ok((e, Some(q)))
    }

    /// A value, `not` a value, or values in parentheses, with `q`.
    fn id(&mut self, q: Quals) -> Result<Expr, Error> {
        match self.kind(0) {
            Some(Kind::Not) => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.nested(|p| p.id(q))?)))
            }
            Some(Kind::LParen) => {
                self.pos += 1;
                self.nested(|p| {
                    let (e, _) = p.expr(Some(q))?;
                    p.expect(Kind::RParen, "`)`")?;
                    Ok(e)
                })
            }
            Some(Kind::Word) => self.value(q),
            _ => Err(self.error("expected an address, a port or a number here")),
        }
    }

    /// One value (with its `/len` or `mask M`), as `q` says.
    fn value(&mut self, q: Quals) -> Result<Expr, Error> {
        let w = self.word(0).unwrap_or_default().to_string();
        let prim = match q.addr {
            AQual::Port | AQual::PortRange => {
                let proto = match q.proto {
                    None => PortProto::Any,
                    Some(PQual::Proto(Proto::Tcp)) => PortProto::Tcp,
                    Some(PQual::Proto(Proto::Udp)) => PortProto::Udp,
                    Some(PQual::Proto(Proto::Sctp)) => PortProto::Sctp,
                    Some(_) => {
                        return Err(self.error("ports are qualified by tcp, udp or sctp only"));
                    }
                };
                let (lo, hi) = if q.addr == AQual::Port {
                    let p = port(&w)
                        .ok_or_else(|| self.error("not a port number or known port name"))?;
                    (p, p)
                } else {
                    range(&w)
                        .ok_or_else(|| self.error("expected a port range such as 6000-6010"))?
                };
                Prim::Port {
                    proto,
                    dir: q.dir,
                    lo,
                    hi,
                }
            }
            AQual::Proto if q.proto == Some(PQual::Ether) => {
                let named = match w.strip_prefix('\\') {
                    Some("ip") => Some(0x0800),
                    Some("ip6") => Some(0x86dd),
                    Some("arp") => Some(0x0806),
                    Some("rarp") => Some(0x8035),
                    Some(_) => None,
                    None => number(&w),
                };
                let ethertype = named.and_then(|n| u16::try_from(n).ok()).ok_or_else(|| {
                    self.error("expected an ethertype (a number, \\ip, \\ip6, \\arp or \\rarp)")
                })?;
                if ethertype < 0x0600 {
                    return Err(self.error("802.3 length values (LLC) are not supported"));
                }
                Prim::EtherProto(ethertype)
            }
            AQual::Proto => {
                let family = match q.proto {
                    None => Family::Both,
                    Some(PQual::Proto(Proto::Ip)) => Family::V4,
                    Some(PQual::Proto(Proto::Ip6)) => Family::V6,
                    Some(_) => {
                        return Err(self.error("`proto` is qualified by ether, ip or ip6 only"));
                    }
                };
                // Names as /etc/protocols spells them (libpcap looks them
                // up there): ICMPv6 is `ipv6-icmp`.
                let named = match w.strip_prefix('\\') {
                    Some("icmp") => Some(1),
                    Some("igmp") => Some(2),
                    Some("tcp") => Some(6),
                    Some("udp") => Some(17),
                    Some("ipv6-frag") => Some(44),
                    Some("esp") => Some(50),
                    Some("ah") => Some(51),
                    Some("ipv6-icmp") => Some(58),
                    Some("sctp") => Some(132),
                    Some(_) => None,
                    None => number(&w),
                };
                let number = named
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| self.error("expected a protocol number (0 to 255) or name (\\tcp, \\udp, \\icmp, \\ipv6-icmp, …)"))?;
                Prim::IpProto { family, number }
            }
            AQual::Host | AQual::Default | AQual::Net => {
                if let Some(m) = mac(&w) {
                    if q.proto != Some(PQual::Ether) || q.addr == AQual::Net {
                        return Err(self.error(
                            "an Ethernet address needs `ether host`, `ether src` or `ether dst`",
                        ));
                    }
                    self.pos += 1;
                    return Ok(Expr::Prim(Prim::Ether { dir: q.dir, mac: m }));
                }
                if q.proto == Some(PQual::Ether) {
                    return Err(self.error("not an Ethernet address"));
                }
                return self.net(q, &w);
            }
        };
        self.pos += 1;
        Ok(Expr::Prim(prim))
    }

    /// An IPv4 or IPv6 host or network.
    fn net(&mut self, q: Quals, w: &str) -> Result<Expr, Error> {
        let word_at = self.pos;
        let v6 = w.parse::<Ipv6Addr>().ok();
        let v4 = if v6.is_some() { None } else { dotted(w) };
        if v6.is_none() && v4.is_none() {
            if q.addr == AQual::Net {
                return Err(self.error("not a network address"));
            }
            return self.host_name(q, w);
        }
        self.pos += 1;
        // An explicit length: `/N` or `mask M`; libpcap takes it after a
        // dotted address only (`10.0/16`, not `10/16`).
        let dotless = v4.is_some() && !w.contains('.');
        if dotless
            && (self.kind(0) == Some(Kind::Arith(BinOp::Div)) || self.word(0) == Some("mask"))
        {
            return Err(self.error("a network with a length is written dotted (10.0.0.0/8)"));
        }
        let explicit: Option<u8> = if self.kind(0) == Some(Kind::Arith(BinOp::Div)) {
            self.pos += 1;
            let max = if v6.is_some() { 128 } else { 32 };
            let n = self
                .word(0)
                .and_then(number)
                .filter(|&n| n <= max)
                .ok_or_else(|| self.error(&format!("expected a prefix length of 0 to {max}")))?;
            self.pos += 1;
            Some(n as u8)
        } else if self.word(0) == Some("mask") {
            if v6.is_some() {
                return Err(self.error("IPv6 networks take /LEN, not mask"));
            }
            self.pos += 1;
            let m = self
                .word(0)
                .and_then(|m| m.parse::<Ipv4Addr>().ok())
                .map(u32::from)
                .ok_or_else(|| self.error("expected a netmask such as 255.255.0.0"))?;
            if m.leading_ones() + m.trailing_zeros() != 32 {
                return Err(self.error("a netmask with holes is not supported"));
            }
            self.pos += 1;
            Some(m.leading_ones() as u8)
        } else {
            None
        };
        if explicit.is_some() && q.addr == AQual::Host {
            return Err(Error::at(w, "a mask is for `net`, not `host`"));
        }
        let (addr, prefix) = match (v4, v6) {
            (Some((a, given)), _) => {
                let prefix = match explicit {
                    Some(p) => p,
                    None if q.addr == AQual::Net => given,
                    None if given == 32 => 32,
                    None => {
                        return Err(Error::at(w, "not a complete IPv4 address"));
                    }
                };
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                if a & !mask != 0 {
                    return Err(Error::at(w, "non-network bits set for its prefix length"));
                }
                (IpAddr::V4(Ipv4Addr::from(a)), prefix)
            }
            (None, Some(a)) => {
                let prefix = explicit.unwrap_or(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                if u128::from(a) & !mask != 0 {
                    return Err(Error::at(w, "non-network bits set for its prefix length"));
                }
                (IpAddr::V6(a), prefix)
            }
            (None, None) => return Err(Error::at(w, "not an address")),
        };
        let proto = match (q.proto, addr) {
            (None, _) => NetProto::Any,
            (Some(PQual::Proto(Proto::Ip)), IpAddr::V4(_)) => NetProto::Ip,
            (Some(PQual::Proto(Proto::Arp)), IpAddr::V4(_)) => NetProto::Arp,
            (Some(PQual::Proto(Proto::Rarp)), IpAddr::V4(_)) => NetProto::Rarp,
            (Some(PQual::Proto(Proto::Ip6)), IpAddr::V6(_)) => NetProto::Ip6,
            _ => {
                self.pos = word_at;
                return Err(self.error("this protocol qualifier does not go with this address"));
            }
        };
        Ok(Expr::Prim(Prim::Net {
            proto,
            dir: q.dir,
            addr,
            prefix,
        }))
    }

    /// `host NAME`: every address the system's resolver gives for it
    /// (as libpcap asks `getaddrinfo`), that the protocol qualifier
    /// allows, any of them matching.
    fn host_name(&mut self, q: Quals, w: &str) -> Result<Expr, Error> {
        use std::net::ToSocketAddrs;
        let unknown = || self.error("unknown host");
        let looks_like_name = w
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !looks_like_name || number(w).is_some() {
            return Err(unknown());
        }
        let proto = match q.proto {
            None => NetProto::Any,
            Some(PQual::Proto(Proto::Ip)) => NetProto::Ip,
            Some(PQual::Proto(Proto::Ip6)) => NetProto::Ip6,
            Some(PQual::Proto(Proto::Arp)) => NetProto::Arp,
            Some(PQual::Proto(Proto::Rarp)) => NetProto::Rarp,
            Some(_) => return Err(self.error("this protocol qualifier does not go with a host")),
        };
        let addrs = (w, 0).to_socket_addrs().map_err(|_| unknown())?;
        let mut seen: Vec<IpAddr> = Vec::new();
        for a in addrs {
            let ip = a.ip();
            let fits = match proto {
                NetProto::Any => true,
                NetProto::Ip6 => ip.is_ipv6(),
                _ => ip.is_ipv4(),
            };
            if fits && !seen.contains(&ip) {
                seen.push(ip);
            }
        }
        let prims = seen.into_iter().map(|addr| {
            Expr::Prim(Prim::Net {
                proto,
                dir: q.dir,
                prefix: if addr.is_ipv4() { 32 } else { 128 },
                addr,
            })
        });
        let e = prims
            .reduce(|a, b| Expr::Or(Box::new(a), Box::new(b)))
            .ok_or_else(unknown)?;
        self.pos += 1;
        Ok(e)
    }

    /// `arith relop arith`.
    fn relation(&mut self) -> Result<Expr, Error> {
        let a = self.arith(1)?;
        let Some(Kind::Rel(op)) = self.kind(0) else {
            return Err(self.error("expected a comparison (=, !=, <, <=, >, >=)"));
        };
        self.pos += 1;
        let b = self.arith(1)?;
        Ok(Expr::Rel(a, op, b))
    }

    /// Arithmetic with operators of precedence `min` or tighter.
    fn arith(&mut self, min: u8) -> Result<Arith, Error> {
        let mut lhs = self.unary()?;
        while let Some(Kind::Arith(op)) = self.kind(0) {
            if op.precedence() < min {
                break;
            }
            self.pos += 1;
            let rhs = self.arith(op.precedence() + 1)?;
            lhs = Arith::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Arith, Error> {
        match self.kind(0) {
            Some(Kind::Arith(BinOp::Sub)) => {
                self.pos += 1;
                Ok(Arith::Neg(Box::new(self.nested(Self::unary)?)))
            }
            Some(Kind::LParen) => {
                self.pos += 1;
                self.nested(|p| {
                    let a = p.arith(1)?;
                    p.expect(Kind::RParen, "`)`")?;
                    Ok(a)
                })
            }
            Some(Kind::Word) => {
                let w = self.word(0).unwrap_or_default().to_string();
                if let Some(p) = pname(&w)
                    && self.kind(1) == Some(Kind::LBracket)
                {
                    self.pos += 2;
                    let index = self.arith(1)?;
                    let size = if self.kind(0) == Some(Kind::Colon) {
                        self.pos += 1;
                        let s = self
                            .word(0)
                            .and_then(number)
                            .filter(|s| matches!(s, 1 | 2 | 4))
                            .ok_or_else(|| self.error("a size is 1, 2 or 4"))?;
                        self.pos += 1;
                        s as u8
                    } else {
                        1
                    };
                    self.expect(Kind::RBracket, "`]`")?;
                    return Ok(Arith::Load {
                        layer: layer(p),
                        index: Box::new(index),
                        size,
                    });
                }
                let value = if w == "len" {
                    Arith::Len
                } else if let Some(n) = constant(&w).or_else(|| number(&w)) {
                    Arith::Num(n)
                } else {
                    return Err(self.error("expected a number, `len` or proto[offset]"));
                };
                self.pos += 1;
                Ok(value)
            }
            _ => Err(self.error("expected a number, `len` or proto[offset]")),
        }
    }
}

fn broadcast() -> Expr {
    Expr::Prim(Prim::Ether {
        dir: Dir::Dst,
        mac: [0xff; 6],
    })
}

fn looks_like_value(w: &str) -> bool {
    w.starts_with(|c: char| c.is_ascii_digit()) || w.contains(':') || w.contains('.')
}

fn port(w: &str) -> Option<u16> {
    match number(w) {
        Some(n) => u16::try_from(n).ok(),
        None => PORT_NAMES.iter().find(|(n, _)| *n == w).map(|&(_, p)| p),
    }
}

/// `LO-HI` (either may be a name holding `-`, as `ftp-data`); libpcap
/// takes the ends in either order.
fn range(w: &str) -> Option<(u16, u16)> {
    w.match_indices('-').find_map(|(i, _)| {
        let (a, b) = (port(&w[..i])?, port(&w[i + 1..])?);
        Some((a.min(b), a.max(b)))
    })
}
