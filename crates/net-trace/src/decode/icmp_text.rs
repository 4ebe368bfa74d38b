//! ICMP and ICMPv6 messages in the words of tshark's Info column.

use std::fmt::Write;

use super::Icmp;
use super::bytes::mac;

impl Icmp {
    /// tshark's Info text: `Destination unreachable (Port unreachable)`,
    /// `Echo (ping) request  id=0x0001, seq=1/256, ttl=64`,
    /// `Echo (ping) request id=0x1234, seq=1, hop limit=64`,
    /// `Neighbor Solicitation for fd77::2 from f2:d0:e4:4f:af:14`. ICMP (v4)
    /// type names are padded to 20 characters, as tshark pads them.
    pub(crate) fn describe(&self) -> String {
        if self.v6 {
            self.describe_v6()
        } else {
            self.describe_v4()
        }
    }

    fn describe_v4(&self) -> String {
        let mut s = format!("{:<20}", v4_type(self.kind));
        if let Some((id, seq)) = self.echo {
            let _ = write!(
                s,
                " id=0x{id:04x}, seq={seq}/{}, ttl={}",
                seq.swap_bytes(),
                self.ttl
            );
        } else if let Some(table) = v4_codes(self.kind) {
            match table.iter().find(|(c, _)| *c == self.code) {
                Some((_, name)) => {
                    let _ = write!(s, " ({name})");
                }
                None => {
                    let _ = write!(s, " (Unknown code: {})", self.code);
                }
            }
        }
        s
    }

    fn describe_v6(&self) -> String {
        let mut s = v6_type(self.kind).to_string();
        let code = self.code;
        match self.kind {
            1 => {
                let name = V6_UNREACH
                    .get(usize::from(code))
                    .copied()
                    .unwrap_or("Unknown");
                let _ = write!(s, " ({name})");
            }
            3 | 4 => {
                let table: &[&str] = if self.kind == 3 { &V6_TIME } else { &V6_PARAM };
                match table.get(usize::from(code)) {
                    Some(name) => {
                        let _ = write!(s, " ({name})");
                    }
                    None => {
                        let _ = write!(s, " (Unknown ({code}))");
                    }
                }
            }
            128 | 129 => {
                if let Some((id, seq)) = self.echo {
                    let _ = write!(s, " id=0x{id:04x}, seq={seq}, hop limit={}", self.ttl);
                }
            }
            133..=136 => {
                let Some(nd) = self.ndp else { return s };
                if let Some(t) = nd.target {
                    let _ = write!(s, "{}{t}", if self.kind == 135 { " for " } else { " " });
                }
                if self.kind == 136 {
                    let names: Vec<&str> = [(4, "rtr"), (2, "sol"), (1, "ovr")]
                        .into_iter()
                        .filter_map(|(bit, n)| (nd.flags & bit != 0).then_some(n))
                        .collect();
                    if names.is_empty() {
                        s.push_str(" (none)");
                    } else {
                        let _ = write!(s, " ({})", names.join(", "));
                    }
                }
                if let Some(ll) = nd.lladdr {
                    let word = if self.kind == 136 { "is at" } else { "from" };
                    let _ = write!(s, " {word} {}", mac(ll));
                }
            }
            160 | 161 if code == 0 => s.push_str(" (No error)"),
            kind if v6_type(kind) == "Unknown" => {
                let _ = write!(s, " ({kind})");
            }
            _ => {}
        }
        s
    }
}

fn v4_type(kind: u8) -> &'static str {
    match kind {
        0 => "Echo (ping) reply",
        1 | 2 | 7 => "Reserved",
        3 => "Destination unreachable",
        4 => "Source quench (flow control)",
        5 => "Redirect",
        6 => "Alternate host address",
        8 => "Echo (ping) request",
        9 => "Router advertisement",
        10 => "Router solicitation",
        11 => "Time-to-live exceeded",
        12 => "Parameter problem",
        13 => "Timestamp request",
        14 => "Timestamp reply",
        15 => "Information request",
        16 => "Information reply",
        17 => "Address mask request",
        18 => "Address mask reply",
        30 => "Traceroute",
        40 => "Photuris",
        42 => "Extended Echo request",
        43 => "Extended Echo reply",
        _ => "Unknown ICMP (obsolete or malformed?)",
    }
}

fn v4_codes(kind: u8) -> Option<&'static [(u8, &'static str)]> {
    Some(match kind {
        3 => &[
            (0, "Network unreachable"),
            (1, "Host unreachable"),
            (2, "Protocol unreachable"),
            (3, "Port unreachable"),
            (4, "Fragmentation needed"),
            (5, "Source route failed"),
            (6, "Destination network unknown"),
            (7, "Destination host unknown"),
            (8, "Source host isolated"),
            (9, "Network administratively prohibited"),
            (10, "Host administratively prohibited"),
            (11, "Network unreachable for TOS"),
            (12, "Host unreachable for TOS"),
            (13, "Communication administratively filtered"),
            (14, "Host precedence violation"),
            (15, "Precedence cutoff in effect"),
        ],
        5 => &[
            (0, "Redirect for network"),
            (1, "Redirect for host"),
            (2, "Redirect for TOS and network"),
            (3, "Redirect for TOS and host"),
        ],
        6 => &[(0, "Alternate address for host")],
        9 => &[
            (0, "Normal router advertisement"),
            (16, "Does not route common traffic"),
        ],
        11 => &[
            (0, "Time to live exceeded in transit"),
            (1, "Fragment reassembly time exceeded"),
        ],
        12 => &[
            (0, "Pointer indicates the error"),
            (1, "Required option missing"),
            (2, "Bad length"),
        ],
        40 => &[
            (0, "Bad SPI"),
            (1, "Authentication failed"),
            (2, "Decompression failed"),
            (3, "Decryption failed"),
            (4, "Need authentication"),
            (5, "Need authorization"),
        ],
        42 | 43 => &[(0, "No error")],
        _ => return None,
    })
}

const V6_UNREACH: [&str; 8] = [
    "no route to destination",
    "Administratively prohibited",
    "Beyond scope of source address",
    "Address unreachable",
    "Port unreachable",
    "Source address failed ingress/egress policy",
    "Reject route to destination",
    "Error in Source Routing Header",
];
const V6_TIME: [&str; 2] = [
    "hop limit exceeded in transit",
    "fragment reassembly time exceeded",
];
const V6_PARAM: [&str; 4] = [
    "erroneous header field encountered",
    "unrecognized Next Header type encountered",
    "unrecognized IPv6 option encountered",
    "IPv6 First Fragment has incomplete IPv6 Header Chain",
];

fn v6_type(kind: u8) -> &'static str {
    match kind {
        1 => "Destination Unreachable",
        2 => "Packet Too Big",
        3 => "Time Exceeded",
        4 => "Parameter Problem",
        100 | 101 | 200 | 201 => "Private experimentation",
        128 => "Echo (ping) request",
        129 => "Echo (ping) reply",
        130 => "Multicast Listener Query",
        131 => "Multicast Listener Report",
        132 => "Multicast Listener Done",
        133 => "Router Solicitation",
        134 => "Router Advertisement",
        135 => "Neighbor Solicitation",
        136 => "Neighbor Advertisement",
        137 => "Redirect",
        138 => "Router Renumbering",
        139 => "Node Information Query",
        140 => "Node Information Reply",
        141 => "Inverse Neighbor Discovery Solicitation",
        142 => "Inverse Neighbor Discovery Advertisement",
        143 => "Multicast Listener Report Message v2",
        144 => "Home Agent Address Discovery Request",
        145 => "Home Agent Address Discovery Reply",
        146 => "Mobile Prefix Solicitation",
        147 => "Mobile Prefix Advertisement",
        148 => "Certification Path Solicitation",
        149 => "Certification Path Advertisement",
        151 => "Multicast Router Advertisement",
        152 => "Multicast Router Solicitation",
        153 => "Multicast Router Termination",
        155 => "RPL Control",
        160 => "Extended Echo request",
        161 => "Extended Echo reply",
        _ => "Unknown",
    }
}
