//! Writing pcapng: one section, interfaces added as they are met, packets
//! with nanosecond time stamps and an optional comment (the sending
//! process, which Wireshark shows as the packet comment).

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{SNAPLEN, write_error};
use crate::Error;
use crate::decode::LinkType;

/// Longest option value a pcapng option can hold (its length is 16 bits):
/// a longer comment is cut, at a character boundary.
pub const MAX_OPTION_LEN: usize = u16::MAX as usize;

const SECTION_HEADER: u32 = 0x0A0D_0D0A;
const INTERFACE: u32 = 1;
const ENHANCED_PACKET: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
/// `if_tsresol` 9: time stamps count nanoseconds.
const NANOSECONDS: u8 = 9;

/// A pcapng file being written. Each block reaches the file in one write
/// as it comes (no buffer), so a capture stopped any way leaves a file
/// complete up to its last frame.
pub struct PcapNgOut {
    file: File,
    path: PathBuf,
    interfaces: u32,
    /// One block, reused block after block.
    block: Vec<u8>,
}

impl fmt::Debug for PcapNgOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcapNgOut")
            .field("path", &self.path)
            .field("interfaces", &self.interfaces)
            .finish()
    }
}

/// Starts a block of type `kind` in `buf` (its length patched by
/// [`end_block`]).
fn begin_block(buf: &mut Vec<u8>, kind: u32) {
    buf.clear();
    buf.extend_from_slice(&kind.to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
}

/// Pads to 32 bits (padding bytes are zero).
fn pad(buf: &mut Vec<u8>) {
    buf.resize(buf.len().next_multiple_of(4), 0);
}

fn push_option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    let value = &value[..value.len().min(MAX_OPTION_LEN)];
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    pad(buf);
}

/// Ends the options and the block: writes both copies of its length.
fn end_block(buf: &mut Vec<u8>, with_options: bool) {
    if with_options {
        buf.extend_from_slice(&OPT_END.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
    }
    let total = (buf.len() + 4) as u32;
    buf[4..8].copy_from_slice(&total.to_le_bytes());
    buf.extend_from_slice(&total.to_le_bytes());
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl PcapNgOut {
    /// Creates `path` and writes the section header (this machine's byte
    /// order is not assumed: everything is little-endian).
    pub fn create(path: &Path) -> Result<PcapNgOut, Error> {
        let file = File::create(path).map_err(|e| write_error(path, e))?;
        let mut out = PcapNgOut {
            file,
            path: path.to_path_buf(),
            interfaces: 0,
            block: Vec::new(),
        };
        let b = &mut out.block;
        begin_block(b, SECTION_HEADER);
        b.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        // Section length unknown: the file grows as frames come.
        b.extend_from_slice(&(-1i64).to_le_bytes());
        let app = format!("net-trace {}", env!("CARGO_PKG_VERSION"));
        push_option(b, SHB_USERAPPL, app.as_bytes());
        end_block(b, true);
        out.write_block()?;
        Ok(out)
    }

    /// Describes one more interface (its name and link type, nanosecond
    /// time stamps) and returns the number its packets are written with.
    pub fn add_interface(&mut self, name: &str, link: LinkType) -> Result<u32, Error> {
        let b = &mut self.block;
        begin_block(b, INTERFACE);
        // The block's link type field is 16 bits wide.
        let number = u16::try_from(link.number()).map_err(|_| Error::File {
            path: self.path.clone(),
            reason: format!(
                "link type {} does not fit a pcapng interface",
                link.number()
            ),
        })?;
        b.extend_from_slice(&number.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&SNAPLEN.to_le_bytes());
        push_option(b, IF_NAME, name.as_bytes());
        push_option(b, IF_TSRESOL, &[NANOSECONDS]);
        end_block(b, true);
        self.write_block()?;
        self.interfaces += 1;
        Ok(self.interfaces - 1)
    }

    /// Appends one frame captured on `interface` (a number
    /// [`PcapNgOut::add_interface`] gave): at most `SNAPLEN` bytes of
    /// `data`, its on-wire length, and `comment` as the packet comment.
    pub fn write(
        &mut self,
        interface: u32,
        time: Duration,
        data: &[u8],
        wire_len: u32,
        comment: Option<&str>,
    ) -> Result<(), Error> {
        if interface >= self.interfaces {
            return Err(Error::File {
                path: self.path.clone(),
                reason: format!(
                    "a frame for interface {interface}, but only {} described",
                    self.interfaces
                ),
            });
        }
        let kept = &data[..data.len().min(SNAPLEN as usize)];
        let caplen = kept.len() as u32; // ≤ SNAPLEN, so it fits
        // Nanoseconds since the epoch fit 64 bits until the year 2554.
        let stamp = u64::try_from(time.as_nanos()).unwrap_or(u64::MAX);
        let b = &mut self.block;
        begin_block(b, ENHANCED_PACKET);
        b.extend_from_slice(&interface.to_le_bytes());
        b.extend_from_slice(&((stamp >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(stamp as u32).to_le_bytes());
        b.extend_from_slice(&caplen.to_le_bytes());
        b.extend_from_slice(&wire_len.max(caplen).to_le_bytes());
        b.extend_from_slice(kept);
        pad(b);
        if let Some(text) = comment {
            push_option(b, OPT_COMMENT, cut_at_char(text, MAX_OPTION_LEN).as_bytes());
        }
        end_block(b, comment.is_some());
        self.write_block()
    }

    /// Blocks are written unbuffered, so there is nothing left to flush;
    /// kept so callers need not know that.
    pub fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }

    fn write_block(&mut self) -> Result<(), Error> {
        self.file
            .write_all(&self.block)
            .map_err(|e| write_error(&self.path, e))
    }
}
