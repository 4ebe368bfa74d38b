//! The frames shown, saved as classic pcap and as pcapng (with each
//! frame's process as a packet comment).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{End, Shown, Sink};
use crate::Error;
use crate::analyze::Row;
use crate::decode::LinkType;
use crate::owners::Owner;
use crate::pcapio::{PcapNgOut, PcapOut, process_comment};

/// The frames shown, saved to a classic pcap file.
#[derive(Debug)]
pub struct Pcap {
    path: PathBuf,
    out: Option<PcapOut>,
    /// A write-out at an idle moment failed.
    failed: Option<Error>,
}

impl Pcap {
    /// Saves to `path` (created when the source opens).
    pub fn new(path: &Path) -> Self {
        Pcap {
            path: path.to_path_buf(),
            out: None,
            failed: None,
        }
    }
}

impl Sink for Pcap {
    fn open(&mut self, link: LinkType) -> Result<(), Error> {
        self.out = Some(PcapOut::create(&self.path, link)?);
        Ok(())
    }

    fn row(&mut self, frame: &Shown<'_>, _: &Row, _: Option<&Owner>) -> Result<(), Error> {
        self.frame(frame)
    }

    fn needs_rows(&self) -> bool {
        false
    }

    fn frame(&mut self, frame: &Shown<'_>) -> Result<(), Error> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        match self.out.as_mut() {
            Some(out) => out.write(frame.time, frame.data, frame.wire_len),
            None => Ok(()),
        }
    }

    fn idle(&mut self) {
        // A quiet moment: the frames so far reach the file; a failure is
        // reported with the next frame or at the end.
        if let Some(Err(e)) = self.out.as_mut().map(PcapOut::flush) {
            self.failed.get_or_insert(e);
        }
    }

    fn finish(&mut self, _: &End<'_>) -> Result<(), Error> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.out.as_mut().map_or(Ok(()), PcapOut::flush)
    }
}

/// The frames shown, saved to a pcapng file, each with the process that
/// sent it as a packet comment (Wireshark shows it).
#[derive(Debug)]
pub struct PcapNg {
    path: PathBuf,
    out: Option<PcapNgOut>,
    /// The file's interface number of each interface seen.
    ifaces: HashMap<Arc<str>, u32>,
}

impl PcapNg {
    /// Saves to `path` (created when the source opens).
    pub fn new(path: &Path) -> Self {
        PcapNg {
            path: path.to_path_buf(),
            out: None,
            ifaces: HashMap::new(),
        }
    }
}

impl Sink for PcapNg {
    fn open(&mut self, _: LinkType) -> Result<(), Error> {
        // Interfaces are described as their first frame comes, so each
        // frame names its own and a one-interface file stays readable by
        // tcpdump.
        self.out = Some(PcapNgOut::create(&self.path)?);
        Ok(())
    }

    fn needs_rows(&self) -> bool {
        false
    }

    fn frame(&mut self, frame: &Shown<'_>) -> Result<(), Error> {
        self.save(frame, None)
    }

    fn row(&mut self, frame: &Shown<'_>, _: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        self.save(frame, sender)
    }

    fn finish(&mut self, _: &End<'_>) -> Result<(), Error> {
        self.out.as_mut().map_or(Ok(()), PcapNgOut::flush)
    }
}

impl PcapNg {
    /// Saves one frame, with its sender as a comment when known.
    fn save(&mut self, frame: &Shown<'_>, sender: Option<&Owner>) -> Result<(), Error> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        let comment = sender.map(|o| {
            let cmd = o.cmd.clone().unwrap_or_else(|| o.name.clone());
            process_comment(o.pid, &cmd, &o.args)
        });
        let id = match self.ifaces.get(frame.iface) {
            Some(id) => *id,
            None => {
                let id = out.add_interface(frame.iface, frame.link)?;
                self.ifaces.insert(frame.iface.clone(), id);
                id
            }
        };
        out.write(
            id,
            frame.time,
            frame.data,
            frame.wire_len,
            comment.as_deref(),
        )
    }
}
