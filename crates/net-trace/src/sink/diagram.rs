//! The SVG ladder diagram, written at the end.

use std::path::{Path, PathBuf};

use super::{End, Shown, Sink};
use crate::Error;
use crate::analyze::Row;
use crate::owners::Owner;

/// The SVG ladder diagram of each connection (or one), written at the end.
#[derive(Debug)]
pub struct Diagram {
    path: PathBuf,
    only: Option<usize>,
    ladders: crate::diagram::Collector,
}

impl Diagram {
    /// Draws connection `only`, or the first
    /// `MAX_LADDERS`, into `path`.
    pub fn new(path: &Path, only: Option<usize>) -> Self {
        Diagram {
            path: path.to_path_buf(),
            only,
            ladders: crate::diagram::Collector::new(only),
        }
    }
}

impl Sink for Diagram {
    fn row(&mut self, _: &Shown<'_>, row: &Row, sender: Option<&Owner>) -> Result<(), Error> {
        self.ladders.push(row, sender);
        Ok(())
    }

    fn finish(&mut self, _: &End<'_>) -> Result<(), Error> {
        let path = self.path.display();
        if self.ladders.is_empty() {
            if let Some(k) = self.only {
                return Err(Error::Diagram(format!(
                    "no connection {k} in this capture (the summary numbers them); {path} not written"
                )));
            }
            eprintln!("warning: no connection to draw; {path} not written");
            return Ok(());
        }
        std::fs::write(&self.path, self.ladders.svg()).map_err(|source| Error::FileIo {
            path: self.path.clone(),
            source,
        })?;
        eprintln!("diagram written to {path}");
        Ok(())
    }
}
