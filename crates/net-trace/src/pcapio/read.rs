//! Reading pcap and pcapng files record by record, as tshark reads them.
//!
//! Incomplete input is a normal state: a file that ends at a record
//! boundary ends cleanly; one that ends inside a record gives every complete
//! frame, then the end plus a warning (tshark's "cut short in the middle of
//! a packet"). Only input that is not a capture at all, or whose bytes
//! contradict themselves, is an error.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Frame;
use crate::Error;
use crate::decode::LinkType;

/// Largest record (pcap) or block (pcapng) accepted, 256 MiB: far above
/// any real frame (libpcap keeps at most 256 KiB, D-Bus captures 128 MiB),
/// low enough that garbage read as a length is refused rather than
/// allocated.
pub const MAX_RECORD_LEN: u32 = 256 * 1024 * 1024;

/// Records up to this size get their whole buffer at once; longer ones
/// grow it as their bytes actually arrive, so a lying length in a cut file
/// costs no more memory than the file holds.
const EAGER_ALLOCATION: usize = 16 * 1024 * 1024;

/// Read buffer: large enough that a file is read in few system calls, small
/// enough to be irrelevant to memory use.
const READ_BUFFER: usize = 256 * 1024;

/// The warning for a file that ends inside a record (tshark's words).
pub(super) const CUT_SHORT: &str =
    "the capture file appears to have been cut short in the middle of a packet";

/// pcapng block types (pcapng specification, section 11.1).
mod block {
    pub(crate) const SECTION_HEADER: u32 = 0x0A0D_0D0A;
    pub(crate) const INTERFACE: u32 = 1;
    pub(crate) const OBSOLETE_PACKET: u32 = 2;
    pub(crate) const SIMPLE_PACKET: u32 = 3;
    pub(crate) const ENHANCED_PACKET: u32 = 6;
}

/// The pcapng byte-order magic, read in the section's own byte order.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// pcapng option codes used here.
mod option {
    pub(crate) const END: u16 = 0;
    pub(crate) const COMMENT: u16 = 1;
    pub(crate) const IF_NAME: u16 = 2;
    pub(crate) const IF_TSRESOL: u16 = 9;
    pub(crate) const IF_TSOFFSET: u16 = 14;
}

type Input = BufReader<Box<dyn Read + Send>>;

/// A capture file read frame by frame, in constant memory: one record's
/// bytes at a time, its buffers reused.
pub struct FileReader {
    path: PathBuf,
    input: Input,
    format: Format,
    /// Options and skipped bytes of the current block.
    scratch: Vec<u8>,
    warnings: Vec<String>,
    /// The end was reached (or the file was cut short, or found damaged):
    /// nothing more is read.
    done: bool,
    /// Number of the record (pcap) or block (pcapng) being read, from 1,
    /// and the byte offset where it starts: a damaged file's error says
    /// where, so the damage can be looked at (`xxd -s OFFSET`).
    record: u64,
    record_at: u64,
    /// Byte offset of the record or block after it.
    next_at: u64,
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("path", &self.path)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
enum Format {
    Pcap(Pcap),
    PcapNg(PcapNg),
}

/// What a classic pcap's header says about every record.
#[derive(Debug)]
struct Pcap {
    big_endian: bool,
    nanos: bool,
    link: LinkType,
    /// Bytes after the 16-byte record header that are not the frame: 0
    /// but in the old variants (see [`MODIFIED_EXTRA`] and the next ones).
    extra: usize,
    /// The longest frame a record can hold (see [`max_frame`]).
    max_caplen: u32,
}

/// The current pcapng section.
#[derive(Debug)]
struct PcapNg {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Interfaces of the earlier sections: frame interface numbers count
    /// across sections, as tshark's do.
    earlier_interfaces: u32,
}

#[derive(Debug)]
struct Interface {
    link: LinkType,
    snaplen: u32,
    clock: Clock,
}

/// Turns an interface's raw 64-bit time stamps into time since the epoch.
#[derive(Debug, Clone, Copy)]
struct Clock {
    /// Time stamp units in a second (10^n or 2^n).
    units_per_sec: u64,
    /// Nanoseconds in a unit when that is a whole number (units no finer
    /// than a nanosecond, base 10), else 0.
    nanos_per_unit: u64,
    /// `if_tsoffset`: seconds added to every time stamp.
    offset_secs: i64,
}

impl Clock {
    /// From an `if_tsresol` value: 10^-n seconds, or 2^-n when bit 0x80 is
    /// set. `None` for a unit no 64-bit count can use (finer than 10^-19 or
    /// 2^-63 s).
    fn from_tsresol(resol: u8) -> Option<Clock> {
        let exponent = u32::from(resol & 0x7f);
        let units_per_sec = if resol & 0x80 == 0 {
            10u64.checked_pow(exponent)?
        } else {
            1u64.checked_shl(exponent)?
        };
        let nanos_per_unit = if units_per_sec <= 1_000_000_000 && 1_000_000_000 % units_per_sec == 0
        {
            1_000_000_000 / units_per_sec
        } else {
            0
        };
        Some(Clock {
            units_per_sec,
            nanos_per_unit,
            offset_secs: 0,
        })
    }

    fn time(self, raw: u64) -> Duration {
        let secs = raw / self.units_per_sec;
        let rem = raw % self.units_per_sec;
        let nanos = if self.nanos_per_unit != 0 {
            rem * self.nanos_per_unit
        } else {
            // rem < units_per_sec, so the quotient is below 10^9.
            (u128::from(rem) * 1_000_000_000 / u128::from(self.units_per_sec)) as u64
        };
        Duration::new(secs.saturating_add_signed(self.offset_secs), nanos as u32)
    }
}

/// The default pcapng resolution: microseconds.
const DEFAULT_CLOCK: Clock = Clock {
    units_per_sec: 1_000_000,
    nanos_per_unit: 1_000,
    offset_secs: 0,
};

/// How a read that may meet the end of the input went.
enum Got {
    /// Everything asked for.
    All,
    /// Nothing: the input ended right there.
    Nothing,
    /// Part of it: the input ended inside.
    Part,
}

/// Reads `buf.len()` bytes unless the input ends first.
#[inline]
fn read_up_to(input: &mut Input, buf: &mut [u8]) -> io::Result<Got> {
    // Fast path: the bytes are already buffered (nearly every record).
    let available = input.buffer();
    if available.len() >= buf.len() {
        buf.copy_from_slice(&available[..buf.len()]);
        input.consume(buf.len());
        return Ok(Got::All);
    }
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(if got == buf.len() {
        Got::All
    } else if got == 0 {
        Got::Nothing
    } else {
        Got::Part
    })
}

/// Reads `len` bytes into `vec` (replacing its content, reusing its
/// allocation); `false` when the input ended first.
fn read_vec(input: &mut Input, vec: &mut Vec<u8>, len: usize) -> io::Result<bool> {
    // Fast path: the bytes are already buffered; copied without zeroing
    // the destination first.
    let available = input.buffer();
    if available.len() >= len {
        vec.clear();
        vec.extend_from_slice(&available[..len]);
        input.consume(len);
        return Ok(true);
    }
    if len <= EAGER_ALLOCATION {
        // Resizing a reused buffer down costs nothing; only growth zeroes.
        vec.resize(len, 0);
        return Ok(matches!(read_up_to(input, vec)?, Got::All));
    }
    vec.clear();
    let got = input.by_ref().take(len as u64).read_to_end(vec)?;
    Ok(got == len)
}

/// Skips `len` bytes; `false` when the input ended first.
fn skip(input: &mut Input, len: u64) -> io::Result<bool> {
    let available = input.buffer().len() as u64;
    if available >= len {
        input.consume(len as usize);
        return Ok(true);
    }
    let skipped = io::copy(&mut input.by_ref().take(len), &mut io::sink())?;
    Ok(skipped == len)
}

fn u16_at(bytes: &[u8], at: usize, big_endian: bool) -> u16 {
    let mut b = [0u8; 2];
    if let Some(s) = bytes.get(at..at + 2) {
        b.copy_from_slice(s);
    }
    if big_endian {
        u16::from_be_bytes(b)
    } else {
        u16::from_le_bytes(b)
    }
}

fn u32_at(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = bytes.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// pcapng options (code, value) from an options area; stops at
/// `opt_endofopt`, or at an option running past the area's end.
struct Options<'a> {
    bytes: &'a [u8],
    big_endian: bool,
}

impl<'a> Iterator for Options<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<(u16, &'a [u8])> {
        let code = u16_at(self.bytes, 0, self.big_endian);
        let len = usize::from(u16_at(self.bytes, 2, self.big_endian));
        if self.bytes.len() < 4 || code == option::END {
            return None;
        }
        let value = self.bytes.get(4..4 + len)?;
        let padded = 4 + len.next_multiple_of(4);
        self.bytes = self.bytes.get(padded..).unwrap_or(&[]);
        Some((code, value))
    }
}

fn options(bytes: &[u8], big_endian: bool) -> Options<'_> {
    Options { bytes, big_endian }
}

/// Extra record bytes of Kuznetzov's modified pcap (interface index,
/// protocol, packet type, padding); its own magic number.
const MODIFIED_EXTRA: usize = 8;
/// The same fields in Red Hat 6.1's tcpdump, under the standard magic.
const RH_6_1_EXTRA: usize = 8;
/// Nokia IPSO's tcpdump: 4 bytes, under the standard magic.
const NOKIA_EXTRA: usize = 4;
/// SuSE 6.3's tcpdump: 12 bytes (CPU numbers too), under the modified magic.
const SUSE_6_3_EXTRA: usize = 12;

/// Records checked to tell the record layouts sharing a magic number apart.
const RECORDS_CHECKED: usize = 16;

/// Whether the records at the start of `window` (bytes after the file
/// header) make sense when each carries `extra` bytes after its header:
/// fractions below a second, captured lengths within the on-wire length
/// and the snap length. `Some(n)`: they do, and `n` of them lie whole in
/// the window (`usize::MAX` when they end exactly at its end, which for a
/// short file is its end). This is how Wireshark tells the old
/// distributions' pcap variants apart.
fn plausible_records(
    window: &[u8],
    extra: usize,
    big_endian: bool,
    nanos: bool,
    snaplen: u32,
) -> Option<usize> {
    let second = if nanos { 1_000_000_000 } else { 1_000_000 };
    let mut at = 0usize;
    for whole in 0..RECORDS_CHECKED {
        if at == window.len() {
            return Some(usize::MAX);
        }
        let Some(header) = window.get(at..at + 16) else {
            return Some(whole);
        };
        let fraction = u32_at(header, 4, big_endian);
        let caplen = u32_at(header, 8, big_endian);
        let wire_len = u32_at(header, 12, big_endian);
        if fraction >= second
            || caplen > wire_len
            || caplen > snaplen.max(super::SNAPLEN)
            || wire_len > MAX_RECORD_LEN
        {
            return None;
        }
        at += 16 + extra + caplen as usize;
        if at > window.len() {
            return Some(whole);
        }
    }
    Some(RECORDS_CHECKED)
}

/// The record layout of a pcap whose records start `window`, among
/// `layouts` (the usual one first): another is taken only when the usual
/// one makes no sense and it does, over at least two records or the whole
/// file, so that one damaged record does not change how all are read.
fn record_layout(
    window: &[u8],
    layouts: &[usize],
    big_endian: bool,
    nanos: bool,
    snaplen: u32,
) -> usize {
    let usual = layouts.first().copied().unwrap_or(0);
    if plausible_records(window, usual, big_endian, nanos, snaplen).is_some() {
        return usual;
    }
    layouts
        .iter()
        .copied()
        .skip(1)
        .find(|&extra| {
            plausible_records(window, extra, big_endian, nanos, snaplen).is_some_and(|n| n >= 2)
        })
        .unwrap_or(usual)
}

/// LINKTYPE_DBUS: a D-Bus message may be up to 128 MiB.
const LINKTYPE_DBUS: u32 = 231;
/// LINKTYPE_USBPCAP: Windows USB captures, up to 128 MiB a transfer.
const LINKTYPE_USBPCAP: u32 = 249;
/// LINKTYPE_EBHSCR: automotive bus traces, up to 8 MiB a frame.
const LINKTYPE_EBHSCR: u32 = 279;

/// The longest frame a pcap record of link type `number` can hold, as
/// Wireshark bounds it: 256 KiB (what libpcap captures at most), more for
/// the few link types whose messages are larger. A record claiming more is
/// damage (a length read from garbage), not a frame cut by the file's end.
fn max_frame(number: u32) -> u32 {
    match number {
        LINKTYPE_DBUS | LINKTYPE_USBPCAP => 128 * 1024 * 1024,
        LINKTYPE_EBHSCR => 8 * 1024 * 1024,
        _ => super::SNAPLEN,
    }
}

/// What a section header block gave.
enum Section {
    Read,
    Cut,
    Bad(String),
}

impl FileReader {
    /// Opens a classic pcap or pcapng file and reads its header; an error
    /// when the file cannot be read or is not a capture.
    pub fn open(path: &Path) -> Result<FileReader, Error> {
        let file = File::open(path).map_err(|source| Error::FileIo {
            path: path.to_path_buf(),
            source,
        })?;
        FileReader::from_reader(path, file)
    }

    /// Reads a capture from any byte stream (standard input, a pipe, bytes
    /// in memory); `name` names it in errors.
    pub fn from_reader(
        name: impl Into<PathBuf>,
        reader: impl Read + Send + 'static,
    ) -> Result<FileReader, Error> {
        let mut reader = FileReader {
            path: name.into(),
            input: BufReader::with_capacity(READ_BUFFER, Box::new(reader)),
            format: Format::Pcap(Pcap {
                big_endian: false,
                nanos: false,
                link: LinkType::Ethernet,
                extra: 0,
                max_caplen: MAX_RECORD_LEN,
            }),
            scratch: Vec::new(),
            warnings: Vec::new(),
            done: false,
            record: 0,
            record_at: 0,
            next_at: 0,
        };
        reader.read_file_header()?;
        Ok(reader)
    }

    /// The next frame; `Ok(None)` at the end of the file, also when the
    /// file was cut mid-record (a warning says so). An error only when the
    /// file cannot be read or is damaged (a length that cannot be); frames
    /// before that point were returned.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, Error> {
        let mut frame = Frame::default();
        Ok(self.read_frame(&mut frame)?.then_some(frame))
    }

    /// As [`FileReader::next_frame`], into `frame`, reusing its buffer:
    /// `Ok(false)` at the end. The fastest way through a big file.
    pub fn read_frame(&mut self, frame: &mut Frame) -> Result<bool, Error> {
        if self.done {
            return Ok(false);
        }
        let result = match self.format {
            Format::Pcap(_) => self.pcap_record(frame),
            Format::PcapNg(_) => self.pcapng_block(frame),
        };
        if !matches!(result, Ok(true)) {
            self.done = true;
        }
        result
    }

    /// The link type of a classic pcap, or of the first interface of a
    /// pcapng once its description has been read.
    pub(crate) fn link(&self) -> Option<LinkType> {
        match &self.format {
            Format::Pcap(p) => Some(p.link),
            Format::PcapNg(ng) => ng.interfaces.first().map(|i| i.link),
        }
    }

    /// One-line warnings gathered so far (a file cut short, an interface
    /// with an unsupported link type), each reported once.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    fn not_a_capture(&self, why: &str) -> Error {
        Error::File {
            path: self.path.clone(),
            reason: format!("not a readable capture ({why})"),
        }
    }

    fn damaged(&self, why: &str) -> Error {
        let kind = match self.format {
            Format::Pcap(_) => "record",
            Format::PcapNg(_) => "block",
        };
        Error::File {
            path: self.path.clone(),
            reason: format!(
                "the capture file appears to be damaged or corrupt ({kind} {} at byte {}: {why})",
                self.record, self.record_at
            ),
        }
    }

    /// Starts the next record or block.
    fn next_record(&mut self) {
        self.record += 1;
        self.record_at = self.next_at;
    }

    /// The check every pcapng block ends with: its trailing length repeats
    /// the leading one (tshark refuses the file otherwise).
    fn check_trailer(&self, trailer: &[u8], total: u32, big_endian: bool) -> Result<(), Error> {
        let trailing = u32_at(trailer, 0, big_endian);
        if trailing == total {
            Ok(())
        } else {
            Err(self.damaged(&format!(
                "its trailing length {trailing} differs from its leading length {total}"
            )))
        }
    }

    fn io_error(&self, source: io::Error) -> Error {
        Error::FileIo {
            path: self.path.clone(),
            source,
        }
    }

    /// Records that the file ends inside a record; `Ok(false)`: the end.
    fn cut_short(&mut self) -> Result<bool, Error> {
        self.warnings.push(CUT_SHORT.to_string());
        Ok(false)
    }

    fn read_file_header(&mut self) -> Result<(), Error> {
        let mut magic = [0u8; 4];
        match read_up_to(&mut self.input, &mut magic).map_err(|e| self.io_error(e))? {
            Got::All => {}
            Got::Nothing => return Err(self.not_a_capture("the file is empty")),
            Got::Part => return Err(self.not_a_capture("too short to be a capture file")),
        }
        if magic == block::SECTION_HEADER.to_le_bytes() {
            let mut head = [0u8; 8];
            if !matches!(
                read_up_to(&mut self.input, &mut head).map_err(|e| self.io_error(e))?,
                Got::All
            ) {
                return Err(self.not_a_capture("its section header is cut short"));
            }
            self.next_record();
            self.format = Format::PcapNg(PcapNg {
                big_endian: false,
                interfaces: Vec::new(),
                earlier_interfaces: 0,
            });
            return match self.start_section(&head)? {
                Section::Read => Ok(()),
                Section::Cut => Err(self.not_a_capture("its section header is cut short")),
                Section::Bad(why) => Err(self.not_a_capture(&why)),
            };
        }
        // Record layouts to try, most likely first: bytes between the
        // 16-byte record header and the frame.
        const STANDARD: &[usize] = &[0, RH_6_1_EXTRA, NOKIA_EXTRA];
        const MODIFIED: &[usize] = &[MODIFIED_EXTRA, SUSE_6_3_EXTRA];
        let (big_endian, nanos, layouts) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false, STANDARD),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false, STANDARD),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true, &[0][..]),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true, &[0][..]),
            [0x34, 0xcd, 0xb2, 0xa1] => (false, false, MODIFIED),
            [0xa1, 0xb2, 0xcd, 0x34] => (true, false, MODIFIED),
            [0x1f, 0x8b, ..] => {
                return Err(self.not_a_capture(
                    "it is gzip-compressed; decompress it first, e.g. with gunzip",
                ));
            }
            m if m.iter().all(|b| b.is_ascii_graphic() || *b == b' ') => {
                let text = String::from_utf8_lossy(&m);
                return Err(self.not_a_capture(&format!(
                    "neither pcap nor pcapng: it begins with the text \"{text}\""
                )));
            }
            m => {
                return Err(self.not_a_capture(&format!(
                    "neither pcap nor pcapng: it begins with the bytes {:02x} {:02x} {:02x} {:02x}",
                    m[0], m[1], m[2], m[3]
                )));
            }
        };
        let mut header = [0u8; 20];
        if !matches!(
            read_up_to(&mut self.input, &mut header).map_err(|e| self.io_error(e))?,
            Got::All
        ) {
            return Err(self.not_a_capture("its header is cut short"));
        }
        let major = u16_at(&header, 0, big_endian);
        if major != 2 {
            return Err(self.not_a_capture(&format!("pcap version {major} is unknown")));
        }
        // The link type is the low 16 bits; the high ones may carry the FCS
        // length (LT_FCS_LENGTH), which does not change how frames begin.
        let number = u32_at(&header, 16, big_endian) & 0xffff;
        let link = LinkType::from_number(number);
        if !link.is_supported() {
            self.warnings.push(format!(
                "the file's link type is {number}, which net-trace cannot decode; its frames are shown undecoded"
            ));
        }
        let snaplen = u32_at(&header, 12, big_endian);
        self.next_at = 24;
        let extra = match self.input.fill_buf() {
            Ok(window) => record_layout(window, layouts, big_endian, nanos, snaplen),
            Err(e) => return Err(self.io_error(e)),
        };
        self.format = Format::Pcap(Pcap {
            big_endian,
            nanos,
            link,
            extra,
            max_caplen: max_frame(number),
        });
        Ok(())
    }

    fn pcap_record(&mut self, frame: &mut Frame) -> Result<bool, Error> {
        let Format::Pcap(pcap) = &self.format else {
            return Ok(false);
        };
        let (big_endian, nanos, link, header_len, max_caplen) = (
            pcap.big_endian,
            pcap.nanos,
            pcap.link,
            16 + pcap.extra,
            pcap.max_caplen,
        );
        self.next_record();
        let mut header = [0u8; 16 + SUSE_6_3_EXTRA];
        match read_up_to(&mut self.input, &mut header[..header_len])
            .map_err(|e| self.io_error(e))?
        {
            Got::All => {}
            Got::Nothing => return Ok(false),
            Got::Part => return self.cut_short(),
        }
        let secs = u32_at(&header, 0, big_endian);
        let fraction = u32_at(&header, 4, big_endian);
        let caplen = u32_at(&header, 8, big_endian);
        let wire_len = u32_at(&header, 12, big_endian);
        if caplen > max_caplen {
            return Err(self.damaged(&format!(
                "a frame of {caplen} bytes, more than the {max_caplen} a frame of its link type can have"
            )));
        }
        self.next_at = self.record_at + (header_len as u64) + u64::from(caplen);
        if !read_vec(&mut self.input, &mut frame.data, caplen as usize)
            .map_err(|e| self.io_error(e))?
        {
            return self.cut_short();
        }
        // A fraction of a second too large (from a broken writer) carries
        // into the seconds rather than being refused, as tshark shows it.
        let fraction = if nanos {
            Duration::from_nanos(u64::from(fraction))
        } else {
            Duration::from_micros(u64::from(fraction))
        };
        frame.time = Duration::from_secs(u64::from(secs)) + fraction;
        frame.wire_len = wire_len;
        frame.link = link;
        frame.interface = 0;
        frame.comment = None;
        Ok(true)
    }

    fn pcapng_block(&mut self, frame: &mut Frame) -> Result<bool, Error> {
        loop {
            self.next_record();
            let mut head = [0u8; 8];
            match read_up_to(&mut self.input, &mut head).map_err(|e| self.io_error(e))? {
                Got::All => {}
                Got::Nothing => return Ok(false),
                Got::Part => return self.cut_short(),
            }
            // The section header's type reads the same in both byte
            // orders, and says which one the new section uses.
            if head[..4] == block::SECTION_HEADER.to_le_bytes() {
                // Its length is read once the magic after it tells the
                // byte order.
                let mut rest = [0u8; 8];
                rest[..4].copy_from_slice(&head[4..]);
                match read_up_to(&mut self.input, &mut rest[4..]).map_err(|e| self.io_error(e))? {
                    Got::All => {}
                    Got::Nothing | Got::Part => return self.cut_short(),
                }
                match self.start_section(&rest)? {
                    Section::Read => continue,
                    Section::Cut => return self.cut_short(),
                    Section::Bad(why) => return Err(self.damaged(&why)),
                }
            }
            let Format::PcapNg(ng) = &self.format else {
                return Ok(false);
            };
            let big_endian = ng.big_endian;
            let kind = u32_at(&head, 0, big_endian);
            let total = u32_at(&head, 4, big_endian);
            if total < 12 || !total.is_multiple_of(4) || total > MAX_RECORD_LEN {
                return Err(self.damaged(&format!("a pcapng block of {total} bytes")));
            }
            self.next_at = self.record_at + u64::from(total);
            // The body, then the trailing copy of the length.
            let body = (total - 12) as usize;
            match kind {
                block::ENHANCED_PACKET => return self.packet_block(frame, body, false, big_endian),
                block::OBSOLETE_PACKET => return self.packet_block(frame, body, true, big_endian),
                block::SIMPLE_PACKET => return self.simple_packet_block(frame, body, big_endian),
                block::INTERFACE => {
                    if !read_vec(&mut self.input, &mut self.scratch, body + 4)
                        .map_err(|e| self.io_error(e))?
                    {
                        return self.cut_short();
                    }
                    self.check_trailer(&self.scratch[body..], total, big_endian)?;
                    self.add_interface(big_endian)?;
                }
                // Statistics, name resolution, secrets, custom blocks, and
                // whatever later versions add: their length is enough.
                _ => {
                    if !skip(&mut self.input, body as u64).map_err(|e| self.io_error(e))? {
                        return self.cut_short();
                    }
                    let mut trailer = [0u8; 4];
                    match read_up_to(&mut self.input, &mut trailer).map_err(|e| self.io_error(e))? {
                        Got::All => self.check_trailer(&trailer, total, big_endian)?,
                        Got::Nothing | Got::Part => return self.cut_short(),
                    }
                }
            }
        }
    }

    /// Reads the rest of a section header block, whose length and
    /// byte-order magic are in `head`, and starts the section: its
    /// interfaces replace the last section's.
    fn start_section(&mut self, head: &[u8; 8]) -> Result<Section, Error> {
        let big_endian = match u32_at(head, 4, false) {
            BYTE_ORDER_MAGIC => false,
            m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
            _ => {
                return Ok(Section::Bad(
                    "a pcapng section header without its byte-order magic".into(),
                ));
            }
        };
        let total = u32_at(head, 0, big_endian);
        // Type, length, magic, versions, section length, trailing length.
        if total < 28 || !total.is_multiple_of(4) || total > MAX_RECORD_LEN {
            return Ok(Section::Bad(format!(
                "a pcapng section header of {total} bytes"
            )));
        }
        self.next_at = self.record_at + u64::from(total);
        let rest = (total - 12) as usize;
        if !read_vec(&mut self.input, &mut self.scratch, rest).map_err(|e| self.io_error(e))? {
            return Ok(Section::Cut);
        }
        let trailing = u32_at(&self.scratch, rest - 4, big_endian);
        if trailing != total {
            return Ok(Section::Bad(format!(
                "its trailing length {trailing} differs from its leading length {total}"
            )));
        }
        let major = u16_at(&self.scratch, 0, big_endian);
        if major != 1 {
            return Ok(Section::Bad(format!("pcapng version {major} is unknown")));
        }
        if let Format::PcapNg(ng) = &mut self.format {
            ng.earlier_interfaces += ng.interfaces.len() as u32;
            ng.interfaces.clear();
            ng.big_endian = big_endian;
        }
        Ok(Section::Read)
    }

    /// Reads an interface description block's body (in `scratch`).
    fn add_interface(&mut self, big_endian: bool) -> Result<(), Error> {
        let body = &self.scratch[..self.scratch.len().saturating_sub(4)];
        if body.len() < 8 {
            return Err(self.damaged("an interface description block too short to hold one"));
        }
        let number = u32::from(u16_at(body, 0, big_endian));
        let snaplen = u32_at(body, 4, big_endian);
        let mut clock = DEFAULT_CLOCK;
        let mut name = None;
        let mut offset_secs = 0;
        for (code, value) in options(&body[8..], big_endian) {
            match code {
                option::IF_NAME => {
                    name = Some(
                        String::from_utf8_lossy(value)
                            .trim_end_matches('\0')
                            .to_string(),
                    );
                }
                option::IF_TSRESOL => {
                    let resol = value.first().copied().unwrap_or(6);
                    clock = Clock::from_tsresol(resol).ok_or_else(|| {
                        self.damaged(&format!(
                            "interface time resolution {resol:#04x} is too fine"
                        ))
                    })?;
                }
                option::IF_TSOFFSET if value.len() == 8 => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(value);
                    offset_secs = if big_endian {
                        i64::from_be_bytes(b)
                    } else {
                        i64::from_le_bytes(b)
                    };
                }
                _ => {}
            }
        }
        clock.offset_secs = offset_secs;
        let link = LinkType::from_number(number);
        let Format::PcapNg(ng) = &mut self.format else {
            return Ok(());
        };
        let id = ng.earlier_interfaces + ng.interfaces.len() as u32;
        ng.interfaces.push(Interface {
            link,
            snaplen,
            clock,
        });
        if !link.is_supported() {
            let name = name.map_or(String::new(), |n| format!(" ({n})"));
            self.warnings.push(format!(
                "interface {id}{name} has link type {number}, which net-trace cannot decode; its frames are shown undecoded"
            ));
        }
        Ok(())
    }

    /// An enhanced packet block, or the obsolete packet block whose
    /// fields sit in the same places (a 16-bit interface id, then a drop
    /// count, where the EPB has its 32-bit interface id).
    fn packet_block(
        &mut self,
        frame: &mut Frame,
        body: usize,
        obsolete: bool,
        big_endian: bool,
    ) -> Result<bool, Error> {
        const FIELDS: usize = 20;
        if body < FIELDS {
            return Err(self.damaged("a packet block too short to hold its fields"));
        }
        let mut fields = [0u8; FIELDS];
        if !matches!(
            read_up_to(&mut self.input, &mut fields).map_err(|e| self.io_error(e))?,
            Got::All
        ) {
            return self.cut_short();
        }
        let id = if obsolete {
            u32::from(u16_at(&fields, 0, big_endian))
        } else {
            u32_at(&fields, 0, big_endian)
        };
        let raw_time = (u64::from(u32_at(&fields, 4, big_endian)) << 32)
            | u64::from(u32_at(&fields, 8, big_endian));
        let caplen = u32_at(&fields, 12, big_endian) as usize;
        let wire_len = u32_at(&fields, 16, big_endian);
        if caplen > body - FIELDS {
            return Err(self.damaged(&format!(
                "a packet of {caplen} bytes in a block with room for {}",
                body - FIELDS
            )));
        }
        let (link, clock, global) = self.interface(id)?;
        if !read_vec(&mut self.input, &mut frame.data, caplen).map_err(|e| self.io_error(e))? {
            return self.cut_short();
        }
        // Padding, options, and the trailing length.
        let rest = body - FIELDS - caplen + 4;
        if !read_vec(&mut self.input, &mut self.scratch, rest).map_err(|e| self.io_error(e))? {
            return self.cut_short();
        }
        self.check_trailer(&self.scratch[rest - 4..], body as u32 + 12, big_endian)?;
        let padding = caplen.next_multiple_of(4) - caplen;
        let area = self.scratch.get(padding..rest - 4).unwrap_or(&[]);
        frame.comment = options(area, big_endian)
            .find(|(code, _)| *code == option::COMMENT)
            .map(|(_, text)| {
                String::from_utf8_lossy(text)
                    .trim_end_matches('\0')
                    .to_string()
            });
        frame.time = clock.time(raw_time);
        frame.wire_len = wire_len;
        frame.link = link;
        frame.interface = global;
        Ok(true)
    }

    /// A simple packet block: interface 0's, no time stamp, its frame cut
    /// to that interface's snap length.
    fn simple_packet_block(
        &mut self,
        frame: &mut Frame,
        body: usize,
        big_endian: bool,
    ) -> Result<bool, Error> {
        if body < 4 {
            return Err(self.damaged("a simple packet block too short to hold its length"));
        }
        let mut field = [0u8; 4];
        if !matches!(
            read_up_to(&mut self.input, &mut field).map_err(|e| self.io_error(e))?,
            Got::All
        ) {
            return self.cut_short();
        }
        let wire_len = u32_at(&field, 0, big_endian);
        let (link, _, global) = self.interface(0)?;
        let snaplen = match &self.format {
            Format::PcapNg(ng) => ng.interfaces.first().map_or(0, |i| i.snaplen),
            Format::Pcap(_) => 0,
        };
        let mut caplen = (wire_len as usize).min(body - 4);
        if snaplen != 0 {
            caplen = caplen.min(snaplen as usize);
        }
        if !read_vec(&mut self.input, &mut frame.data, caplen).map_err(|e| self.io_error(e))? {
            return self.cut_short();
        }
        if !skip(&mut self.input, (body - 4 - caplen) as u64).map_err(|e| self.io_error(e))? {
            return self.cut_short();
        }
        let mut trailer = [0u8; 4];
        match read_up_to(&mut self.input, &mut trailer).map_err(|e| self.io_error(e))? {
            Got::All => self.check_trailer(&trailer, body as u32 + 12, big_endian)?,
            Got::Nothing | Got::Part => return self.cut_short(),
        }
        frame.time = Duration::ZERO;
        frame.wire_len = wire_len;
        frame.link = link;
        frame.interface = global;
        frame.comment = None;
        Ok(true)
    }

    /// The link type, clock and file-wide number of the current section's
    /// interface `id`; an error when the section has no such interface
    /// (tshark stops there too).
    fn interface(&self, id: u32) -> Result<(LinkType, Clock, u32), Error> {
        let Format::PcapNg(ng) = &self.format else {
            return Err(self.damaged("a pcapng block in a pcap file"));
        };
        match ng.interfaces.get(id as usize) {
            Some(i) => Ok((i.link, i.clock, ng.earlier_interfaces + id)),
            None => Err(self.damaged(&format!(
                "a packet on interface {id}, but its section describes {}",
                match ng.interfaces.len() {
                    0 => "no interface".to_string(),
                    1 => "only 1 interface".to_string(),
                    n => format!("only {n} interfaces"),
                }
            ))),
        }
    }
}
