//! JSON-lines files: one alert, dead letter or row per line.

use super::{with_suffix, LineWriter};
use crate::dataflow::Line;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Writes to `PATH.inprogress`, renamed to `PATH` by [`LineWriter::finish`].
pub struct JsonlWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl JsonlWriter {
    pub fn create(path: &Path) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let tmp = with_suffix(path, ".inprogress");
        let out = BufWriter::with_capacity(1 << 16, File::create(&tmp)?);
        Ok(Self {
            path: path.to_path_buf(),
            tmp,
            out: Some(out),
        })
    }
}

impl LineWriter for JsonlWriter {
    fn write(&mut self, lines: &[Line]) -> io::Result<()> {
        let out = self.out.as_mut().expect("writer is open");
        for l in lines {
            out.write_all(l.text.as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(out) = self.out.take() {
            let file = out.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            fs::rename(&self.tmp, &self.path)?;
        }
        Ok(())
    }

    fn abort(&mut self) {
        if self.out.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
