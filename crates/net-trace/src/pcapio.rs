//! Capture files: classic pcap and pcapng in, classic pcap out (pcap-file).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};

use crate::Error;
use crate::decode::LinkType;

/// Largest frame kept (and the snap length written).
pub const SNAPLEN: u32 = 262_144;

/// A frame read from a file.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Capture time (since the epoch).
    pub time: Duration,
    /// Length on the wire.
    pub wire_len: u32,
    /// Link type of the data (its interface's, in a pcapng).
    pub link: LinkType,
    /// The frame bytes as captured (`data.len() < wire_len` when cut by
    /// the snap length).
    pub data: Vec<u8>,
    /// The pcapng interface it was captured on (0 in a classic pcap).
    pub interface: u32,
    /// The packet's pcapng comment (`opt_comment`), if any: net-trace
    /// writes the sending process there.
    pub comment: Option<String>,
}

/// A capture file read frame by frame, in constant memory.
#[derive(Debug)]
pub struct FileReader {
    frames: std::collections::VecDeque<Frame>,
    warnings: Vec<String>,
}

impl FileReader {
    /// Opens a classic pcap or pcapng file; an error when it is not one.
    pub fn open(path: &Path) -> Result<FileReader, Error> {
        Ok(FileReader {
            frames: read_file(path)?.into(),
            warnings: Vec::new(),
        })
    }

    /// The next frame; `Ok(None)` at the end of the file, also when the
    /// file was cut mid-record (a warning says so).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, Error> {
        Ok(self.frames.pop_front())
    }

    /// One-line warnings gathered so far (a file cut short, an interface
    /// with an unsupported link type), each reported once.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

fn link_type(dl: DataLink) -> Option<LinkType> {
    Some(LinkType::from_number(u32::from(dl))).filter(|l| l.is_supported())
}

/// Reads every frame of a classic pcap or pcapng file.
pub fn read_file(path: &Path) -> Result<Vec<Frame>, Error> {
    let file_err = |e: std::io::Error| Error::File {
        path: path.to_path_buf(),
        reason: net_core::error::describe(&e),
    };
    let mut file = BufReader::new(File::open(path).map_err(file_err)?);
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic).map_err(|_| Error::File {
        path: path.to_path_buf(),
        reason: "too short to be a capture file".into(),
    })?;
    let file = BufReader::new(std::io::Cursor::new(magic).chain(file));
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        read_pcapng(file, path)
    } else {
        read_pcap(file, path)
    }
}

fn bad(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::File {
        path: path.to_path_buf(),
        reason: format!("not a readable capture ({e})"),
    }
}

fn read_pcap<R: Read>(r: R, path: &Path) -> Result<Vec<Frame>, Error> {
    let mut reader = PcapReader::new(r).map_err(|e| bad(path, e))?;
    let header = reader.header();
    let link = link_type(header.datalink).ok_or_else(|| Error::File {
        path: path.to_path_buf(),
        reason: format!("link type {:?} is not supported", header.datalink),
    })?;
    let mut frames = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(|e| bad(path, e))?;
        frames.push(Frame {
            time: packet.timestamp,
            wire_len: packet.orig_len,
            link,
            data: packet.data.into_owned(),
            interface: 0,
            comment: None,
        });
    }
    Ok(frames)
}

fn read_pcapng<R: Read>(r: R, path: &Path) -> Result<Vec<Frame>, Error> {
    let mut reader = PcapNgReader::new(r).map_err(|e| bad(path, e))?;
    // Per interface: link type and nanoseconds per timestamp unit.
    let mut interfaces: Vec<(Option<LinkType>, u64)> = Vec::new();
    let mut frames = Vec::new();
    while let Some(block) = reader.next_block() {
        match block.map_err(|e| bad(path, e))? {
            Block::SectionHeader(_) => interfaces.clear(),
            Block::InterfaceDescription(idb) => {
                // if_tsresol: 10^-n seconds (default 6: microseconds).
                let mut unit_ns = 1_000;
                for opt in &idb.options {
                    if let InterfaceDescriptionOption::IfTsResol(r) = opt {
                        unit_ns = if r & 0x80 == 0 && *r <= 9 {
                            10u64.pow(9 - u32::from(*r))
                        } else {
                            1
                        };
                    }
                }
                interfaces.push((link_type(idb.linktype), unit_ns));
            }
            Block::EnhancedPacket(epb) => {
                let Some(&(Some(link), unit_ns)) = interfaces.get(epb.interface_id as usize) else {
                    continue;
                };
                // pcap-file gives the raw timestamp as nanoseconds.
                let raw = epb.timestamp.as_nanos() as u64;
                frames.push(Frame {
                    time: Duration::from_nanos(raw.saturating_mul(unit_ns)),
                    wire_len: epb.original_len,
                    link,
                    data: epb.data.into_owned(),
                    interface: epb.interface_id,
                    comment: None,
                });
            }
            Block::SimplePacket(spb) => {
                if let Some(&(Some(link), _)) = interfaces.first() {
                    frames.push(Frame {
                        time: Duration::ZERO,
                        wire_len: spb.original_len,
                        link,
                        data: spb.data.into_owned(),
                        interface: 0,
                        comment: None,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(frames)
}

/// A classic pcap file (LINKTYPE_ETHERNET, microseconds) being written.
/// Each frame goes straight to the file (no buffer), so whatever stops the
/// capture — a count, a time-out, Ctrl-C, an error — the file is complete
/// up to the last frame.
pub struct PcapOut {
    writer: PcapWriter<File>,
    path: PathBuf,
}

impl std::fmt::Debug for PcapOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapOut").field("path", &self.path).finish()
    }
}

impl PcapOut {
    /// Creates `path` and writes the file header.
    pub fn create(path: &Path) -> Result<PcapOut, Error> {
        let file = File::create(path).map_err(|e| Error::File {
            path: path.to_path_buf(),
            reason: net_core::error::describe(&e),
        })?;
        let header = PcapHeader {
            snaplen: SNAPLEN,
            datalink: DataLink::ETHERNET,
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(file, header).map_err(|e| Error::File {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(PcapOut {
            writer,
            path: path.to_path_buf(),
        })
    }

    /// Appends one frame.
    pub fn write(&mut self, time: Duration, data: &[u8], wire_len: u32) -> Result<(), Error> {
        // Classic pcap has microsecond timestamps by default.
        let time = Duration::from_micros(time.as_micros() as u64);
        self.writer
            .write_packet(&PcapPacket::new(time, wire_len, data))
            .map(|_| ())
            .map_err(|e| Error::File {
                path: self.path.clone(),
                reason: e.to_string(),
            })
    }

    /// Frames are written unbuffered, so there is nothing left to flush;
    /// kept so callers need not know that.
    pub fn flush(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::build;

    #[test]
    fn pcap_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcap");
        let frame = build::tcp(
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            1,
            None,
            "S",
            b"",
        );
        let mut out = PcapOut::create(&path).unwrap();
        out.write(Duration::from_micros(1_500_000), &frame, frame.len() as u32)
            .unwrap();
        out.write(Duration::from_micros(1_600_000), &frame, frame.len() as u32)
            .unwrap();
        out.flush().unwrap();
        let frames = read_file(&path).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].data, frame);
        assert_eq!(frames[1].time, Duration::from_micros(1_600_000));
        assert_eq!(frames[0].link, LinkType::Ethernet);
    }

    #[test]
    fn pcapng_with_default_resolution() {
        use pcap_file::pcapng::PcapNgWriter;
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
        use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.pcapng");
        let frame = build::udp(
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            b"x",
        );
        {
            let mut w = PcapNgWriter::new(File::create(&path).unwrap()).unwrap();
            w.write_pcapng_block(InterfaceDescriptionBlock {
                linktype: DataLink::ETHERNET,
                snaplen: 0,
                options: vec![],
            })
            .unwrap();
            // A raw timestamp of 2,000,000 units: 2 s at the default µs.
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: Duration::from_nanos(2_000_000),
                original_len: frame.len() as u32,
                data: frame.clone().into(),
                options: vec![],
            })
            .unwrap();
        }
        let frames = read_file(&path).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].time, Duration::from_secs(2));
        assert_eq!(frames[0].data, frame);
    }

    #[test]
    fn not_a_capture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, b"hello, this is text").unwrap();
        assert!(matches!(read_file(&path), Err(Error::File { .. })));
        assert!(matches!(
            read_file(&dir.path().join("missing")),
            Err(Error::File { .. })
        ));
    }
}
