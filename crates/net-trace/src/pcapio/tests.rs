// Test code: an unwrap is an assertion with the error shown.
#![allow(clippy::unwrap_used)]

use std::io::Cursor;
use std::time::Duration;

use super::read::CUT_SHORT;
use super::*;
use crate::decode::build;

/// A frame to put in files: a UDP datagram over Ethernet, `n` payload bytes.
fn udp(n: usize) -> Vec<u8> {
    build::udp(
        "127.0.0.1:40000".parse().unwrap(),
        "127.0.0.1:12000".parse().unwrap(),
        &vec![b'x'; n],
    )
}

fn reader(bytes: Vec<u8>) -> Result<FileReader, Error> {
    FileReader::from_reader("memory", Cursor::new(bytes))
}

/// Every frame, then the warnings.
fn read_all(bytes: Vec<u8>) -> (Vec<Frame>, Vec<String>) {
    let mut r = reader(bytes).unwrap();
    let mut frames = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        frames.push(f);
    }
    (frames, r.take_warnings())
}

fn reason(e: Error) -> String {
    match e {
        Error::File { reason, .. } => reason,
        other => panic!("not a file error: {other}"),
    }
}

// ---------------------------------------------------------------------------
// Classic pcap, built by hand.

struct Pcap {
    big: bool,
    bytes: Vec<u8>,
}

impl Pcap {
    fn new(big: bool, magic: u32, snaplen: u32, link: u32) -> Pcap {
        let mut p = Pcap {
            big,
            bytes: Vec::new(),
        };
        p.u32(magic);
        p.u16(2);
        p.u16(4);
        p.u32(0);
        p.u32(0);
        p.u32(snaplen);
        p.u32(link);
        p
    }

    fn u16(&mut self, v: u16) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.bytes.extend_from_slice(&b);
    }

    fn u32(&mut self, v: u32) {
        let b = if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.bytes.extend_from_slice(&b);
    }

    fn record(&mut self, secs: u32, fraction: u32, data: &[u8], wire_len: u32) -> &mut Pcap {
        self.u32(secs);
        self.u32(fraction);
        self.u32(data.len() as u32);
        self.u32(wire_len);
        self.bytes.extend_from_slice(data);
        self
    }
}

#[test]
fn pcap_in_both_byte_orders_and_resolutions() {
    let frame = udp(10);
    for big in [false, true] {
        for (magic, fraction, want) in [
            (
                0xa1b2_c3d4,
                250_000,
                Duration::new(1_700_000_000, 250_000_000),
            ),
            (
                0xa1b2_3c4d,
                250_000_001,
                Duration::new(1_700_000_000, 250_000_001),
            ),
        ] {
            let mut p = Pcap::new(big, magic, 65_535, 1);
            p.record(1_700_000_000, fraction, &frame, frame.len() as u32);
            p.record(1_700_000_001, 0, &frame, frame.len() as u32);
            let (frames, warnings) = read_all(p.bytes);
            assert_eq!(frames.len(), 2, "big endian {big}, magic {magic:#x}");
            assert_eq!(frames[0].time, want);
            assert_eq!(frames[1].time, Duration::from_secs(1_700_000_001));
            assert_eq!(frames[0].data, frame);
            assert_eq!(frames[0].wire_len, frame.len() as u32);
            assert_eq!(frames[0].link, LinkType::Ethernet);
            assert_eq!(frames[0].interface, 0);
            assert_eq!(frames[0].comment, None);
            assert!(warnings.is_empty(), "{warnings:?}");
        }
    }
}

#[test]
fn pcap_records_cut_by_the_snap_length_and_longer_than_it() {
    let long = udp(1_472);
    // tcpdump -s 60: 60 bytes kept of 1514.
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 60, 1);
    p.record(1, 0, &long[..60], long.len() as u32);
    // A record longer than the header's snap length (a 64 KiB loopback
    // frame in a -s 65535 file): read as it is.
    let mut p2 = Pcap::new(false, 0xa1b2_c3d4, 100, 1);
    p2.record(1, 0, &long, long.len() as u32);
    let (frames, warnings) = read_all(p.bytes);
    assert_eq!(frames[0].data, &long[..60]);
    assert_eq!(frames[0].wire_len, 1_514);
    assert!(warnings.is_empty());
    let (frames, _) = read_all(p2.bytes);
    assert_eq!(frames[0].data, long);
}

#[test]
fn records_longer_than_the_read_buffer() {
    // 1 MiB: past the read buffer; 17 MiB: past the eager allocation too.
    for len in [1 << 20, 17 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        // D-Bus (231): a link type whose frames may be that long.
        let mut p = Pcap::new(false, 0xa1b2_c3d4, 262_144, 231);
        p.record(1, 0, &data, len as u32);
        p.record(2, 0, b"after", 5);
        let (frames, warnings) = read_all(p.bytes.clone());
        assert_eq!(frames.len(), 2);
        assert!(frames[0].data == data, "{len} bytes read back");
        assert_eq!(frames[1].data, b"after");
        // Only that net-trace does not decode D-Bus.
        assert!(warnings.len() == 1 && warnings[0].contains("link type is 231"));
        // Cut inside the long record.
        let (frames, warnings) = read_all(p.bytes[..24 + 16 + len / 2].to_vec());
        assert!(frames.is_empty());
        assert_eq!(warnings[1..], [CUT_SHORT]);
        let mut ng = Ng::new();
        ng.section(false)
            .interface(1, 0, &[])
            .epb(0, 1, &data, &[(1, b"big")]);
        let (frames, _) = read_all(ng.bytes);
        assert!(frames[0].data == data);
        assert_eq!(frames[0].comment.as_deref(), Some("big"));
    }
}

#[test]
fn pcap_with_an_unsupported_link_type_is_read_with_a_warning() {
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 65_535, 147);
    p.record(1, 0, b"abc", 3);
    let (frames, warnings) = read_all(p.bytes);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].link, LinkType::Other(147));
    assert_eq!(
        warnings,
        [
            "the file's link type is 147, which net-trace cannot decode; its frames are shown undecoded"
        ]
    );
}

#[test]
fn pcap_link_type_ignores_the_fcs_bits() {
    let mut p = Pcap::new(true, 0xa1b2_c3d4, 65_535, 0x1000_0000 | 276);
    p.record(1, 0, b"abc", 3);
    let (frames, warnings) = read_all(p.bytes);
    assert_eq!(frames[0].link, LinkType::LinuxSll2);
    assert!(warnings.is_empty());
}

#[test]
fn old_pcap_variants_are_told_apart_by_their_records() {
    // (magic, bytes between record header and frame): Kuznetzov's
    // modified pcap, SuSE 6.3, standard, Red Hat 6.1, Nokia.
    for (magic, extra) in [
        (0xa1b2_cd34u32, 8),
        (0xa1b2_cd34, 12),
        (0xa1b2_c3d4, 0),
        (0xa1b2_c3d4, 8),
        (0xa1b2_c3d4, 4),
    ] {
        let mut p = Pcap::new(false, magic, 65_535, 1);
        let frames: Vec<Vec<u8>> = (0..4).map(|n| udp(n * 7)).collect();
        for (secs, frame) in frames.iter().enumerate() {
            p.u32(secs as u32);
            p.u32(999_999);
            p.u32(frame.len() as u32);
            p.u32(frame.len() as u32);
            // What those variants keep there: an interface index, a
            // protocol, a packet type (non-zero, as real ones are).
            p.bytes.extend((0..extra).map(|i| i as u8 + 1));
            p.bytes.extend_from_slice(frame);
        }
        let (got, warnings) = read_all(p.bytes);
        assert!(warnings.is_empty(), "{magic:#x}+{extra}: {warnings:?}");
        let data: Vec<Vec<u8>> = got.iter().map(|f| f.data.clone()).collect();
        assert_eq!(data, frames, "{magic:#x}+{extra}");
        assert_eq!(got[3].time, Duration::new(3, 999_999_000));
    }
}

#[test]
fn a_record_longer_than_any_frame_is_damage_after_the_good_frames() {
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 65_535, 1);
    p.record(1, 0, b"abc", 3);
    p.u32(2);
    p.u32(0);
    p.u32(MAX_RECORD_LEN + 1);
    p.u32(MAX_RECORD_LEN + 1);
    let mut r = reader(p.bytes).unwrap();
    assert!(r.next_frame().unwrap().is_some());
    let e = reason(r.next_frame().unwrap_err());
    assert!(e.contains("damaged or corrupt"), "{e}");
    // Nothing after the damage.
    assert!(r.next_frame().unwrap().is_none());
}

#[test]
fn a_record_longer_than_its_link_type_allows_is_damage_not_a_cut() {
    // tshark: "File has 100000000-byte packet, bigger than maximum of
    // 262144", however short the file.
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 262_144, 1);
    p.record(1, 0, b"abc", 3);
    p.u32(2);
    p.u32(0);
    p.u32(100_000_000);
    p.u32(100_000_000);
    p.bytes.extend_from_slice(&[0; 64]);
    let mut r = reader(p.bytes).unwrap();
    assert!(r.next_frame().unwrap().is_some());
    let e = reason(r.next_frame().unwrap_err());
    assert_eq!(
        e,
        "the capture file appears to be damaged or corrupt (record 2 at byte 43: a frame of \
         100000000 bytes, more than the 262144 a frame of its link type can have)"
    );
    assert!(r.take_warnings().is_empty());
    // The longest frame an Ethernet capture can hold is still read.
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 262_144, 1);
    p.record(1, 0, &vec![0; 262_144], 262_144);
    assert_eq!(read_all(p.bytes).0.len(), 1);
}

#[test]
fn a_block_whose_two_lengths_differ_is_damage_naming_it() {
    let frame = udp(5);
    // Each kind of block, damaged, after a section, an interface and a
    // frame (blocks 1 to 3, 88 + 32 + 72 bytes, frame block 72 bytes).
    type AddBlock = fn(&mut Ng, &[u8]);
    let bad: [(&str, AddBlock); 5] = [
        ("interface", |ng, _| {
            ng.interface(1, 0, &[]);
        }),
        ("enhanced packet", |ng, f| {
            ng.epb(0, 2, f, &[]);
        }),
        ("obsolete packet", |ng, f| {
            ng.obsolete(0, 2, f, &[]);
        }),
        ("simple packet", |ng, f| {
            ng.spb(f.len() as u32, f);
        }),
        ("statistics", |ng, _| {
            ng.block(5, &[0; 8]);
        }),
    ];
    for big in [false, true] {
        for (what, add) in bad {
            let mut ng = Ng::new();
            ng.section(big).interface(1, 0, &[]).epb(0, 1, &frame, &[]);
            let at = ng.bytes.len();
            add(&mut ng, &frame);
            let end = ng.bytes.len();
            let trailer = ng.u32((end - at) as u32 + 4);
            ng.bytes[end - 4..].copy_from_slice(&trailer);
            ng.epb(0, 3, &frame, &[]);
            let mut r = reader(ng.bytes).unwrap();
            assert!(r.next_frame().unwrap().is_some(), "{what}");
            let e = reason(r.next_frame().unwrap_err());
            let want = format!(
                "(block 4 at byte {at}: its trailing length {} differs from its leading length {})",
                end - at + 4,
                end - at
            );
            assert!(e.ends_with(&want), "{what}, big endian {big}: {e}");
            assert!(r.next_frame().unwrap().is_none());
        }
    }
    // A later section header too.
    let mut ng = Ng::new();
    ng.section(false)
        .interface(1, 0, &[])
        .epb(0, 1, &frame, &[]);
    let at = ng.bytes.len();
    ng.section(false);
    let end = ng.bytes.len();
    ng.bytes[end - 4..].copy_from_slice(&0u32.to_le_bytes());
    let mut r = reader(ng.bytes).unwrap();
    assert!(r.next_frame().unwrap().is_some());
    let e = reason(r.next_frame().unwrap_err());
    assert!(
        e.ends_with(&format!(
            "(block 4 at byte {at}: its trailing length 0 differs from its leading length {})",
            end - at
        )),
        "{e}"
    );
}

/// A file cut at every length: every complete frame, then the end, with
/// the warning exactly when the cut is inside a record.
fn check_every_cut(bytes: &[u8], header_len: usize, ends: &[usize]) {
    for len in 0..=bytes.len() {
        let cut = bytes[..len].to_vec();
        if len < header_len {
            let e = reason(reader(cut).unwrap_err());
            assert!(e.starts_with("not a readable capture ("), "{len}: {e}");
            continue;
        }
        let (frames, warnings) = read_all(cut);
        let complete = ends.iter().filter(|&&end| end <= len).count();
        assert_eq!(frames.len(), complete, "cut at {len}");
        let at_boundary = len == header_len || ends.contains(&len);
        if at_boundary {
            assert!(warnings.is_empty(), "cut at {len}: {warnings:?}");
        } else {
            assert_eq!(warnings, [CUT_SHORT], "cut at {len}");
        }
    }
}

#[test]
fn a_pcap_cut_anywhere_gives_its_complete_frames() {
    let mut p = Pcap::new(false, 0xa1b2_c3d4, 65_535, 1);
    let mut ends = Vec::new();
    for n in [3, 0, 5] {
        p.record(1, 0, &udp(n), 100);
        ends.push(p.bytes.len());
    }
    check_every_cut(&p.bytes, 24, &ends);
}

#[test]
fn what_is_not_a_capture_is_an_error_at_open() {
    for (bytes, why) in [
        (&b""[..], "the file is empty"),
        (b"ab", "too short"),
        (
            b"hello, this is text",
            "neither pcap nor pcapng: it begins with the text \"hell\"",
        ),
        (
            b"\x00\x01\x02\x03\x04",
            "it begins with the bytes 00 01 02 03",
        ),
        (b"\x1f\x8b\x08\x00\x00\x00", "gzip"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "header is cut short"),
        (
            b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x00\x00\x00\x00",
            "byte-order magic",
        ),
    ] {
        let e = reason(reader(bytes.to_vec()).unwrap_err());
        assert!(e.starts_with("not a readable capture ("), "{e}");
        assert!(e.contains(why), "{e}");
    }
    let e = FileReader::open(Path::new("/nonexistent/x.pcap")).unwrap_err();
    assert!(matches!(e, Error::FileIo { .. }));
}

// ---------------------------------------------------------------------------
// pcapng, built by hand.

struct Ng {
    big: bool,
    bytes: Vec<u8>,
}

/// An option: code and value.
type Opt<'a> = (u16, &'a [u8]);

impl Ng {
    fn new() -> Ng {
        Ng {
            big: false,
            bytes: Vec::new(),
        }
    }

    fn u16(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn options(&self, opts: &[Opt<'_>]) -> Vec<u8> {
        let mut b = Vec::new();
        for (code, value) in opts {
            b.extend_from_slice(&self.u16(*code));
            b.extend_from_slice(&self.u16(value.len() as u16));
            b.extend_from_slice(value);
            b.resize(b.len().next_multiple_of(4), 0);
        }
        if !opts.is_empty() {
            b.extend_from_slice(&[0; 4]);
        }
        b
    }

    fn block(&mut self, kind: u32, body: &[u8]) -> &mut Ng {
        let total = 12 + body.len() as u32;
        let (k, t) = (self.u32(kind), self.u32(total));
        self.bytes.extend_from_slice(&k);
        self.bytes.extend_from_slice(&t);
        self.bytes.extend_from_slice(body);
        self.bytes.extend_from_slice(&t);
        self
    }

    fn section(&mut self, big: bool) -> &mut Ng {
        self.big = big;
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32(0x1A2B_3C4D));
        body.extend_from_slice(&self.u16(1));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&[0xff; 8]);
        body.extend(self.options(&[(4, b"test")]));
        self.block(0x0A0D_0D0A, &body)
    }

    fn interface(&mut self, link: u16, snaplen: u32, opts: &[Opt<'_>]) -> &mut Ng {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16(link));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u32(snaplen));
        body.extend(self.options(opts));
        self.block(1, &body)
    }

    fn packet_fields(
        &self,
        id: &[u8],
        raw_time: u64,
        data: &[u8],
        wire: u32,
        opts: &[Opt<'_>],
    ) -> Vec<u8> {
        let mut body = id.to_vec();
        body.extend_from_slice(&self.u32((raw_time >> 32) as u32));
        body.extend_from_slice(&self.u32(raw_time as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(wire));
        body.extend_from_slice(data);
        body.resize(body.len().next_multiple_of(4), 0);
        body.extend(self.options(opts));
        body
    }

    fn epb(&mut self, id: u32, raw_time: u64, data: &[u8], opts: &[Opt<'_>]) -> &mut Ng {
        let id = self.u32(id);
        let body = self.packet_fields(&id, raw_time, data, data.len() as u32, opts);
        self.block(6, &body)
    }

    fn obsolete(&mut self, id: u16, raw_time: u64, data: &[u8], opts: &[Opt<'_>]) -> &mut Ng {
        let mut fields = self.u16(id).to_vec();
        fields.extend_from_slice(&self.u16(0)); // drops
        let body = self.packet_fields(&fields, raw_time, data, data.len() as u32, opts);
        self.block(2, &body)
    }

    fn spb(&mut self, wire: u32, data: &[u8]) -> &mut Ng {
        let mut body = self.u32(wire).to_vec();
        body.extend_from_slice(data);
        body.resize(body.len().next_multiple_of(4), 0);
        self.block(3, &body)
    }
}

#[test]
fn pcapng_default_resolution_and_comments() {
    let frame = udp(5);
    let mut ng = Ng::new();
    ng.section(false)
        .interface(1, 0, &[])
        .epb(0, 2_000_000, &frame, &[])
        .epb(0, 2_500_001, &frame, &[(1, b"first\0"), (1, b"second")]);
    let (frames, warnings) = read_all(ng.bytes);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].time, Duration::from_secs(2));
    assert_eq!(frames[1].time, Duration::new(2, 500_001_000));
    assert_eq!(frames[0].data, frame);
    assert_eq!(frames[0].comment, None);
    assert_eq!(frames[1].comment.as_deref(), Some("first"));
    assert!(warnings.is_empty());
}

#[test]
fn pcapng_time_resolutions_and_offsets() {
    // (if_tsresol, if_tsoffset, raw time, expected)
    let cases: [(u8, i64, u64, Duration); 6] = [
        (
            9,
            0,
            1_700_000_000_123_456_789,
            Duration::new(1_700_000_000, 123_456_789),
        ),
        (
            3,
            0,
            1_700_000_000_123,
            Duration::new(1_700_000_000, 123_000_000),
        ),
        (0, 0, 17, Duration::from_secs(17)),
        // Picoseconds: finer than Duration; cut to nanoseconds.
        (12, 0, 5_000_000_000_001_999, Duration::new(5_000, 1)),
        // 2^-10 s: 1536 units are 1.5 s.
        (0x80 | 10, 0, 1_536, Duration::from_millis(1_500)),
        // 2^-30 s units with an offset of 100 s.
        (0x80 | 30, 100, 3 << 29, Duration::from_millis(101_500)),
    ];
    for (resol, offset, raw, want) in cases {
        let mut ng = Ng::new();
        ng.section(true);
        let offset = ng_i64(&ng, offset);
        ng.interface(101, 0, &[(9, &[resol]), (14, &offset)])
            .epb(0, raw, b"x", &[]);
        let (frames, _) = read_all(ng.bytes);
        assert_eq!(frames[0].time, want, "if_tsresol {resol:#x}");
        assert_eq!(frames[0].link, LinkType::RawIp);
    }
}

fn ng_i64(ng: &Ng, v: i64) -> [u8; 8] {
    if ng.big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    }
}

#[test]
fn pcapng_resolution_too_fine_is_damage() {
    let mut ng = Ng::new();
    ng.section(false).interface(1, 0, &[(9, &[20])]);
    let mut r = reader(ng.bytes).unwrap();
    let e = reason(r.next_frame().unwrap_err());
    assert!(e.contains("time resolution"), "{e}");
}

#[test]
fn pcapng_sections_interfaces_and_packet_kinds() {
    let eth = udp(1);
    let mut ng = Ng::new();
    // Section 1, little-endian: Ethernet "lo" in µs, then an interface of
    // a link type net-trace cannot decode.
    ng.section(false)
        .interface(1, 0, &[(2, b"lo")])
        .interface(147, 0, &[(2, b"eth0")])
        .epb(0, 1_000_000, &eth, &[])
        .epb(1, 2_000_000, b"odd", &[])
        // An unknown block (custom, 0x40000BAD) is skipped by its length.
        .block(0x4000_0BAD, &[1, 2, 3, 4, 5, 6, 7, 8])
        .obsolete(0, 3_000_000, &eth, &[(1, b"old")]);
    // Section 2, big-endian: its interfaces replace the first section's.
    ng.section(true)
        .interface(276, 4, &[(2, b"any"), (9, &[9])])
        .spb(10, b"0123456789")
        .epb(0, 4_000_000_000, b"sll2", &[]);
    let (frames, warnings) = read_all(ng.bytes);
    let seen: Vec<(u32, LinkType, Duration, &[u8])> = frames
        .iter()
        .map(|f| (f.interface, f.link, f.time, &f.data[..]))
        .collect();
    assert_eq!(
        seen,
        [
            (0, LinkType::Ethernet, Duration::from_secs(1), &eth[..]),
            (1, LinkType::Other(147), Duration::from_secs(2), &b"odd"[..]),
            (0, LinkType::Ethernet, Duration::from_secs(3), &eth[..]),
            // The SPB keeps interface 0's snap length (4) of its 10 bytes.
            (2, LinkType::LinuxSll2, Duration::ZERO, &b"0123"[..]),
            (2, LinkType::LinuxSll2, Duration::from_secs(4), &b"sll2"[..]),
        ]
    );
    assert_eq!(frames[2].comment.as_deref(), Some("old"));
    assert_eq!(frames[3].wire_len, 10);
    assert_eq!(
        warnings,
        [
            "interface 1 (eth0) has link type 147, which net-trace cannot decode; its frames are shown undecoded"
        ]
    );
}

#[test]
fn pcapng_packet_on_an_undescribed_interface_is_damage() {
    let mut ng = Ng::new();
    ng.section(false)
        .interface(1, 0, &[])
        .epb(0, 1, b"a", &[])
        .epb(1, 1, b"b", &[]);
    let mut r = reader(ng.bytes).unwrap();
    assert!(r.next_frame().unwrap().is_some());
    let e = reason(r.next_frame().unwrap_err());
    assert!(
        e.contains("interface 1") && e.contains("only 1 interface"),
        "{e}"
    );
}

#[test]
fn pcapng_lengths_that_cannot_be_are_damage() {
    for bad in [5u32, 13, 8] {
        let mut ng = Ng::new();
        ng.section(false).interface(1, 0, &[]);
        let (k, t) = (ng.u32(6), ng.u32(bad));
        ng.bytes.extend_from_slice(&k);
        ng.bytes.extend_from_slice(&t);
        ng.bytes.extend_from_slice(&[0; 64]);
        let mut r = reader(ng.bytes).unwrap();
        assert!(r.next_frame().is_err(), "block length {bad}");
    }
    // A captured length past the block's end.
    let mut ng = Ng::new();
    ng.section(false).interface(1, 0, &[]);
    let mut body = ng.packet_fields(&ng.u32(0), 0, b"abcd", 4, &[]);
    body[12..16].copy_from_slice(&ng.u32(400));
    ng.block(6, &body);
    let e = reason(reader(ng.bytes).unwrap().next_frame().unwrap_err());
    assert!(e.contains("400 bytes"), "{e}");
}

#[test]
fn a_pcapng_cut_anywhere_gives_its_complete_frames() {
    let mut ng = Ng::new();
    ng.section(false);
    let header_len = ng.bytes.len();
    ng.interface(1, 0, &[(2, b"lo")]);
    let mut ends = Vec::new();
    ng.epb(0, 1, &udp(3), &[(1, b"a comment")]);
    ends.push(ng.bytes.len());
    ng.spb(5, b"12345");
    ends.push(ng.bytes.len());
    ng.section(true).interface(1, 0, &[]).epb(0, 2, b"xyz", &[]);
    ends.push(ng.bytes.len());
    // Cuts between blocks that carry no frame are clean ends too.
    let bytes = ng.bytes.clone();
    for len in header_len..=bytes.len() {
        let (frames, warnings) = read_all(bytes[..len].to_vec());
        assert_eq!(
            frames.len(),
            ends.iter().filter(|&&e| e <= len).count(),
            "cut at {len}"
        );
        assert!(
            warnings.is_empty() || warnings == [CUT_SHORT],
            "cut at {len}: {warnings:?}"
        );
        if ends.contains(&len) {
            assert!(warnings.is_empty(), "cut at {len}");
        }
    }
    check_every_cut(&bytes[..header_len], header_len, &[]);
}

// ---------------------------------------------------------------------------
// Writing, and reading back.

#[test]
fn pcap_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pcap");
    let frame = udp(20);
    let mut out = PcapOut::create(&path, LinkType::LinuxSll2).unwrap();
    out.write(
        Duration::new(1_500_000_000, 123_456_789),
        &frame,
        frame.len() as u32,
    )
    .unwrap();
    out.write(Duration::from_micros(1_600_000), &frame[..10], 9_000)
        .unwrap();
    out.flush().unwrap();
    let mut r = FileReader::open(&path).unwrap();
    let a = r.next_frame().unwrap().unwrap();
    let b = r.next_frame().unwrap().unwrap();
    assert!(r.next_frame().unwrap().is_none());
    assert!(r.take_warnings().is_empty());
    assert_eq!(a.data, frame);
    assert_eq!(a.link, LinkType::LinuxSll2);
    // Microseconds kept.
    assert_eq!(a.time, Duration::new(1_500_000_000, 123_456_000));
    assert_eq!((b.data.len(), b.wire_len), (10, 9_000));
    assert_eq!(b.time, Duration::from_micros(1_600_000));
}

/// Writes a pcapng with two interfaces and commented packets.
fn write_pcapng(path: &Path) -> Vec<u8> {
    let frame = udp(30);
    let mut out = PcapNgOut::create(path).unwrap();
    assert_eq!(out.add_interface("lo", LinkType::Ethernet).unwrap(), 0);
    assert_eq!(out.add_interface("any", LinkType::LinuxSll2).unwrap(), 1);
    let comment = process_comment(
        4242,
        "/usr/bin/curl",
        &["curl".into(), "-s".into(), "a b".into()],
    );
    out.write(
        0,
        Duration::new(1_700_000_000, 1),
        &frame,
        frame.len() as u32,
        Some(&comment),
    )
    .unwrap();
    out.write(
        1,
        Duration::new(1_700_000_001, 999_999_999),
        &frame[..7],
        100,
        None,
    )
    .unwrap();
    out.write(
        0,
        Duration::new(1_700_000_002, 0),
        &frame,
        frame.len() as u32,
        Some("é"),
    )
    .unwrap();
    assert!(out.write(2, Duration::ZERO, &frame, 1, None).is_err());
    out.flush().unwrap();
    frame
}

#[test]
fn pcapng_round_trip_with_comments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pcapng");
    let frame = write_pcapng(&path);
    let mut r = FileReader::open(&path).unwrap();
    let mut frames = Vec::new();
    let mut f = Frame::default();
    while r.read_frame(&mut f).unwrap() {
        frames.push(f.clone());
    }
    assert!(r.take_warnings().is_empty());
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0].data, frame);
    assert_eq!(frames[0].time, Duration::new(1_700_000_000, 1));
    let who = parse_process_comment(frames[0].comment.as_deref().unwrap()).unwrap();
    assert_eq!(
        who,
        ProcessComment {
            pid: 4242,
            cmd: "/usr/bin/curl".into(),
            args: "curl -s a b".into()
        }
    );
    assert_eq!(frames[1].link, LinkType::LinuxSll2);
    assert_eq!(frames[1].interface, 1);
    assert_eq!((frames[1].data.len(), frames[1].wire_len), (7, 100));
    assert_eq!(frames[1].time, Duration::new(1_700_000_001, 999_999_999));
    assert_eq!(frames[1].comment, None);
    assert_eq!(frames[2].comment.as_deref(), Some("é"));
}

#[test]
fn a_comment_longer_than_an_option_is_cut_at_a_character() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pcapng");
    let mut out = PcapNgOut::create(&path).unwrap();
    out.add_interface("lo", LinkType::Ethernet).unwrap();
    let long = "é".repeat(40_000);
    out.write(0, Duration::ZERO, b"x", 1, Some(&long)).unwrap();
    let f = FileReader::open(&path)
        .unwrap()
        .next_frame()
        .unwrap()
        .unwrap();
    let got = f.comment.unwrap();
    assert_eq!(got.len(), 65_534);
    assert!(long.starts_with(&got));
}

#[test]
#[ignore = "needs tshark"]
fn tshark_opens_the_pcapng_and_shows_the_comment() {
    testkit::need("tshark", "tshark");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pcapng");
    write_pcapng(&path);
    let out = std::process::Command::new("tshark")
        .args(["-r", path.to_str().unwrap(), "-T", "fields"])
        .args(["-e", "frame.interface_name", "-e", "frame.time_epoch"])
        .args([
            "-e",
            "frame.len",
            "-e",
            "frame.cap_len",
            "-e",
            "frame.comment",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0][0], "lo");
    assert!(lines[0][1].starts_with("1700000000.000000001"), "{text}");
    assert_eq!(
        lines[0][4],
        "Process (pid 4242, cmd /usr/bin/curl, args curl -s a b)"
    );
    assert_eq!(lines[1][0], "any");
    assert_eq!((lines[1][2], lines[1][3]), ("100", "7"));
}

#[test]
#[ignore = "needs tshark"]
fn tshark_opens_the_pcap() {
    testkit::need("tshark", "tshark");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.pcap");
    let frame = udp(4);
    let mut out = PcapOut::create(&path, LinkType::Ethernet).unwrap();
    out.write(
        Duration::new(1_700_000_000, 5_000),
        &frame,
        frame.len() as u32,
    )
    .unwrap();
    out.flush().unwrap();
    let out = std::process::Command::new("tshark")
        .args([
            "-r",
            path.to_str().unwrap(),
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "udp.dstport",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("1700000000.000005"), "{text}");
    assert!(text.trim_end().ends_with("12000"), "{text}");
}

// ---------------------------------------------------------------------------
// Process comments.

#[test]
fn process_comment_in_ptcpdump_words() {
    let args: Vec<String> = ["client", "word", "3"].map(String::from).to_vec();
    assert_eq!(
        process_comment(1234, "/path/to/client", &args),
        "Process (pid 1234, cmd /path/to/client, args client word 3)"
    );
    assert_eq!(
        process_comment(1, "/sbin/init", &[]),
        "Process (pid 1, cmd /sbin/init, args )"
    );
}

#[test]
fn process_comments_read_back() {
    let cases = [
        (
            "Process (pid 7, cmd /bin/x, args x (y), args z)",
            Some((7, "/bin/x", "x (y), args z")),
        ),
        (
            "Process (pid 7, cmd /bin/x, args )",
            Some((7, "/bin/x", "")),
        ),
        ("Process (pid 7, cmd /bin/x)", Some((7, "/bin/x", ""))),
        (
            "PID: 99\nCmd: /usr/bin/curl\nArgs: curl 1.1.1.1",
            Some((99, "/usr/bin/curl", "curl 1.1.1.1")),
        ),
        (
            "PID: 99\nCmd: /usr/bin/curl",
            Some((99, "/usr/bin/curl", "")),
        ),
        ("Process (pid x, cmd /bin/x, args )", None),
        ("Process (pid 7, cmd /bin/x, args y", None),
        ("Process (pid 99999999999, cmd a, args )", None),
        ("a comment", None),
        ("", None),
    ];
    for (text, want) in cases {
        let got = parse_process_comment(text);
        let got = got
            .as_ref()
            .map(|p| (p.pid, p.cmd.as_str(), p.args.as_str()));
        assert_eq!(got, want, "{text:?}");
    }
}

proptest::proptest! {
    #[test]
    fn process_comment_round_trips(pid: u32, cmd in "/[^,]{0,20}", args: Vec<String>) {
        let text = process_comment(pid, &cmd, &args);
        let parsed = parse_process_comment(&text).unwrap();
        proptest::prop_assert_eq!(parsed.to_string(), text);
        proptest::prop_assert_eq!(parsed.pid, pid);
        proptest::prop_assert_eq!(parsed.args, args.join(" "));
    }

    #[test]
    fn parse_process_comment_never_panics(text: String) {
        let _ = parse_process_comment(&text);
    }

    #[test]
    fn garbage_never_panics(bytes: Vec<u8>, pcapng: bool) {
        let mut input = if pcapng {
            let mut ng = Ng::new();
            ng.section(false).interface(1, 0, &[]);
            ng.bytes
        } else {
            Pcap::new(false, 0xa1b2_c3d4, 65_535, 1).bytes
        };
        input.extend_from_slice(&bytes);
        if let Ok(mut r) = reader(input) {
            while let Ok(Some(_)) = r.next_frame() {}
        }
    }
}
