//! Capture files: classic pcap and pcapng in, streaming; classic pcap and
//! pcapng (with a process comment per packet) out.
//!
//! Both formats are read and written by this module's own small codec
//! rather than the pcap-file crate, whose reader refuses what Wireshark
//! reads without complaint: records cut by the snap length
//! (`orig_len > snaplen`), records longer than the header's snap length
//! (loopback during a big transfer) and files cut mid-record (a capture
//! still being written). The formats are small; owning them also keeps the
//! reader streaming, record by record, with its buffers reused.
//!
//! # Layout
//! - [`FileReader`] (`read.rs`): pcap (µs and ns, both byte orders,
//!   Kuznetzov's modified pcap) and pcapng (sections, interfaces with their
//!   own link type and time resolution, EPB, SPB, the obsolete Packet
//!   Block).
//! - [`PcapOut`] (here) and [`PcapNgOut`] (`pcapng_out.rs`): writers that put
//!   each frame on disk as it comes, so a capture stopped any way is
//!   complete up to its last frame.
//! - [`process_comment`] / `parse_process_comment`: the text a pcapng
//!   packet carries to name its sending process.

mod pcapng_out;
mod read;

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use pcapng_out::{MAX_OPTION_LEN, PcapNgOut};
pub use read::{FileReader, MAX_RECORD_LEN};

use crate::Error;
use crate::decode::LinkType;

/// Largest frame kept by a live capture, and the snap length written in
/// the files net-trace makes: libpcap's own default, so every frame of a
/// 64 KiB loopback MTU (and GRO-merged ones) fits whole.
pub(crate) const SNAPLEN: u32 = 262_144;

/// A frame read from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Capture time (since the epoch).
    pub time: Duration,
    /// Length on the wire, as the file records it.
    pub wire_len: u32,
    /// Link type of the data (its interface's, in a pcapng).
    pub link: LinkType,
    /// The frame bytes as captured (`data.len() < wire_len` when cut by
    /// the snap length).
    pub data: Vec<u8>,
    /// The interface it was captured on: 0 in a classic pcap; in a pcapng
    /// the interfaces of every section counted in file order, so the
    /// number is unique in the file (tshark 4.0's `frame.interface_id`
    /// restarts at 0 in each section; it is the same in a one-section
    /// file).
    pub(crate) interface: u32,
    /// The packet's first pcapng comment (`opt_comment`), if any:
    /// net-trace writes the sending process there.
    pub(crate) comment: Option<String>,
}

impl Default for Frame {
    /// An empty Ethernet frame at time zero: a buffer for
    /// [`FileReader::read_frame`] to fill.
    fn default() -> Frame {
        Frame {
            time: Duration::ZERO,
            wire_len: 0,
            link: LinkType::Ethernet,
            data: Vec::new(),
            interface: 0,
            comment: None,
        }
    }
}

/// The error for a file that cannot be written.
fn write_error(path: &Path, source: std::io::Error) -> Error {
    Error::FileIo {
        path: path.to_path_buf(),
        source,
    }
}

/// A classic pcap file (microsecond time stamps, this machine's link
/// type numbering) being written. Frames are gathered in a buffer of
/// [`PCAP_BUFFER`] bytes (a write per frame cost more than the rest of
/// saving it), written out when it fills, at [`PcapOut::flush`] (a live
/// capture's quiet moments and its end) and when the writer is dropped, so
/// whatever stops the capture — a count, a time-out, Ctrl-C, an error —
/// the file is complete up to the last frame.
pub struct PcapOut {
    file: std::io::BufWriter<File>,
    path: PathBuf,
}

/// The pcap writer's buffer: a few hundred small frames.
pub const PCAP_BUFFER: usize = 64 << 10;

impl fmt::Debug for PcapOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcapOut").field("path", &self.path).finish()
    }
}

/// The classic pcap magic number for microsecond time stamps.
const PCAP_MAGIC_MICROS: u32 = 0xa1b2_c3d4;

impl PcapOut {
    /// Creates `path` and writes the file header for frames of `link`
    /// (Ethernet for one Ethernet or loopback interface, Linux cooked v2
    /// for `any`).
    pub fn create(path: &Path, link: LinkType) -> Result<PcapOut, Error> {
        let mut file = File::create(path).map_err(|e| write_error(path, e))?;
        let mut header = Vec::with_capacity(24);
        header.extend_from_slice(&PCAP_MAGIC_MICROS.to_le_bytes());
        header.extend_from_slice(&2u16.to_le_bytes());
        header.extend_from_slice(&4u16.to_le_bytes());
        header.extend_from_slice(&0i32.to_le_bytes()); // thiszone: UTC
        header.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        header.extend_from_slice(&SNAPLEN.to_le_bytes());
        header.extend_from_slice(&link.number().to_le_bytes());
        file.write_all(&header).map_err(|e| write_error(path, e))?;
        Ok(PcapOut {
            file: std::io::BufWriter::with_capacity(PCAP_BUFFER, file),
            path: path.to_path_buf(),
        })
    }

    /// Appends one frame: at most `SNAPLEN` bytes of `data` are kept, and
    /// `wire_len` (at least what is kept) records its length on the wire.
    pub fn write(&mut self, time: Duration, data: &[u8], wire_len: u32) -> Result<(), Error> {
        let kept = &data[..data.len().min(SNAPLEN as usize)];
        let caplen = kept.len() as u32; // ≤ SNAPLEN, so it fits
        let secs = u32::try_from(time.as_secs()).map_err(|_| Error::File {
            path: self.path.clone(),
            reason: format!(
                "time stamp {}s is past what a classic pcap can hold (year 2106)",
                time.as_secs()
            ),
        })?;
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&time.subsec_micros().to_le_bytes());
        header[8..12].copy_from_slice(&caplen.to_le_bytes());
        header[12..16].copy_from_slice(&wire_len.max(caplen).to_le_bytes());
        self.file
            .write_all(&header)
            .and_then(|()| self.file.write_all(kept))
            .map_err(|e| write_error(&self.path, e))
    }

    /// Writes out the frames gathered so far.
    pub fn flush(&mut self) -> Result<(), Error> {
        self.file.flush().map_err(|e| write_error(&self.path, e))
    }
}

/// Who sent a packet, as a pcapng packet comment says it: see
/// [`process_comment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcessComment {
    /// Process id.
    pub(crate) pid: u32,
    /// The program's path.
    pub(crate) cmd: String,
    /// Its command line (argv joined by spaces, as written; an argument
    /// holding a space cannot be told apart from two, so it stays one
    /// string).
    pub(crate) args: String,
}

impl fmt::Display for ProcessComment {
    /// The comment text, the same as [`process_comment`] writes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Process (pid {}, cmd {}, args {})",
            self.pid, self.cmd, self.args
        )
    }
}

/// The packet comment naming the sending process, in ptcpdump's words:
/// `Process (pid 1234, cmd /path/to/client, args a b c)`. As ptcpdump
/// does, `args` is argv joined by spaces and the `args` field is kept when
/// empty (`args )`), so one pattern reads both tools' comments.
pub fn process_comment(pid: u32, cmd: &str, args: &[String]) -> String {
    ProcessComment {
        pid,
        cmd: cmd.to_string(),
        args: args.join(" "),
    }
    .to_string()
}

/// Reads a comment written by [`process_comment`] back (`None` when it is
/// not one). Also reads the three-line form ptcpdump puts in its pcapng
/// files (`PID: 1234\nCmd: /path\nArgs: a b c`), so its captures keep
/// their names too.
pub(crate) fn parse_process_comment(text: &str) -> Option<ProcessComment> {
    let text = text.trim_end_matches(['\n', '\r', '\0']);
    if let Some(rest) = text.strip_prefix("Process (pid ") {
        let (pid, rest) = rest.split_once(", cmd ")?;
        let rest = rest.strip_suffix(')')?;
        // The program's path comes before the first ", args ": a path
        // holding that text is far less likely than arguments holding it.
        let (cmd, args) = rest.split_once(", args ").unwrap_or((rest, ""));
        return Some(ProcessComment {
            pid: pid.parse().ok()?,
            cmd: cmd.to_string(),
            args: args.to_string(),
        });
    }
    let rest = text.strip_prefix("PID: ")?;
    let (pid, rest) = rest.split_once("\nCmd: ")?;
    let (cmd, args) = match rest.split_once("\nArgs: ") {
        // Further lines (none today) would not be arguments.
        Some((cmd, args)) => (cmd, args.split('\n').next().unwrap_or("")),
        None => (rest, ""),
    };
    Some(ProcessComment {
        pid: pid.parse().ok()?,
        cmd: cmd.to_string(),
        args: args.to_string(),
    })
}

#[cfg(test)]
mod tests;
