//! The `-l` log file with nats-server's size rotation (logger/log.go `fileLogger`): after a
//! write takes the file past `log_size_limit`, it is renamed to
//! `<file>.YYYY.MM.DD.hh.mm.ss.nnnnnnnnn`, a new file is opened, and with `log_max_num` the
//! oldest backups beyond `log_max_num - 1` are removed.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use shards::goquote::quote;

use super::clock::{self, Now};
use super::go_error;

/// nats-server creates log files with `defaultLogPerms`.
const LOG_FILE_MODE: u32 = 0o640;

fn open_log(path: &str) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(LOG_FILE_MODE)
        .open(path)
}

/// An open log file and its rotation state.
pub struct FileLog {
    /// The name as given (`-l`), relative or not: backups and the purge go by it.
    path: String,
    f: File,
    /// Bytes in the current file, counting what was there when it was opened.
    out: i64,
    /// Rotate once `out` passes this; 0 never rotates. Doubled while rotation fails.
    limit: i64,
    /// `log_size_limit` as configured.
    olimit: i64,
    /// `log_max_num`: backups kept are one fewer; 0 keeps them all.
    max_files: usize,
    /// `[pid] `, and whether lines carry a timestamp, for the lines the rotation writes.
    pid: String,
    time: bool,
}

impl FileLog {
    /// Opens (creating, appending) `path`. The error is nats-server's fatal text.
    pub fn open(path: &str, pid: &str, time: bool) -> Result<FileLog, String> {
        let opened = open_log(path).and_then(|f| Ok((f.metadata()?.len(), f)));
        let (size, f) =
            opened.map_err(|e| format!("error opening file: {}", go_error("open", path, &e)))?;
        Ok(FileLog {
            path: path.to_string(),
            f,
            out: size as i64,
            limit: 0,
            olimit: 0,
            max_files: 0,
            pid: pid.to_string(),
            time,
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Sets `log_size_limit` (> 0). True when the file is already past it: the caller logs
    /// `Rotating logfile...`, whose write rotates, as nats-server's `setLimit` does.
    pub fn set_limit(&mut self, limit: i64) -> bool {
        self.limit = limit;
        self.olimit = limit;
        self.out > limit
    }

    /// Sets `log_max_num` (> 0; a value that does not fit means no maximum).
    pub fn set_max_files(&mut self, max: i64) {
        self.max_files = usize::try_from(max).unwrap_or(0);
    }

    /// Keeps the rotation settings of `old` (a reopen on SIGUSR1 after `mv`).
    pub fn keep_limits_of(&mut self, old: &FileLog) {
        self.olimit = old.olimit;
        self.limit = old.olimit;
        self.max_files = old.max_files;
    }

    /// Whether the file is past the size limit already (checked when one is set).
    pub fn past_limit(&self) -> bool {
        self.limit > 0 && self.out > self.limit
    }

    /// Writes one log line, then rotates if it took the file past the limit.
    pub fn write(&mut self, line: &[u8]) {
        if self.f.write_all(line).is_err() {
            return;
        }
        self.out += line.len() as i64;
        if self.limit > 0 && self.out > self.limit {
            self.rotate();
        }
    }

    fn rotate(&mut self) {
        let bak = format!("{}.{}", self.path, Now::local().backup_suffix());
        // nats-server ignores a failed rename: it reopens the same name and logs the
        // rotation all the same.
        let _ = std::fs::rename(&self.path, &bak);
        match open_log(&self.path) {
            Ok(f) => self.f = f,
            Err(e) => {
                // nats-server panics here. A server should not die for its log: keep the
                // old (renamed) file and try again at twice the size, as nats-server does
                // when the close before the rename fails.
                self.limit = self.limit.saturating_mul(2);
                let msg = format!(
                    "Unable to re-open the logfile {} after rotation: {}, will attempt next rotation at size {}",
                    quote(self.path.as_bytes()),
                    go_error("open", &self.path, &e),
                    self.limit
                );
                self.log_direct("[ERR] ", &msg);
                return;
            }
        }
        let n = self.log_direct(
            "[INF] ",
            &format!("Rotated log, backup saved as {}", quote(bak.as_bytes())),
        );
        self.out = n as i64;
        self.limit = self.olimit;
        if self.max_files > 0 {
            self.purge();
        }
    }

    /// A line the rotation itself writes, past the size accounting, as nats-server's
    /// `logDirect`: always local time, and ended by `\r\n`. Returns its length.
    fn log_direct(&mut self, label: &str, msg: &str) -> usize {
        let ts = if self.time {
            Now::local().log_prefix()
        } else {
            String::new()
        };
        let entry = format!("{}{ts}{label}{msg}\r\n", self.pid);
        let _ = self.f.write_all(entry.as_bytes());
        entry.len()
    }

    /// Removes the oldest backups so that `max_files - 1` remain. Backups are the entries
    /// named `<file>.<rotation suffix>` next to the file; their names sort oldest first.
    fn purge(&mut self) {
        let p = Path::new(&self.path);
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let base = p
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir_s = dir.to_string_lossy().into_owned();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                let msg = format!(
                    "Unable to read directory {} for log purge ({}), will attempt next rotation",
                    quote(dir_s.as_bytes()),
                    go_error("open", &dir_s, &e)
                );
                self.log_direct("[ERR] ", &msg);
                return;
            }
        };
        let prefix = format!("{base}.");
        let mut backups: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.strip_prefix(&prefix).is_some_and(clock::is_backup_suffix))
            .collect();
        backups.sort();
        let keep = self.max_files - 1;
        if backups.len() <= keep {
            return;
        }
        let excess = backups.len() - keep;
        for name in &backups[..excess] {
            let full = dir.join(name);
            if let Err(e) = std::fs::remove_file(&full) {
                let full_s = if dir_s == "." {
                    name.clone()
                } else {
                    full.to_string_lossy().into_owned()
                };
                let msg = format!(
                    "Unable to remove backup log file {} ({}), will attempt next rotation",
                    quote(name.as_bytes()),
                    go_error("remove", &full_s, &e)
                );
                self.log_direct("[ERR] ", &msg);
                return;
            }
            self.log_direct(
                "[INF] ",
                &format!("Purged log file {}", quote(name.as_bytes())),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nats-tpc-filelog-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotates_past_the_limit_and_purges_down_to_max_minus_one() {
        let dir = temp_dir("rotate");
        let path = dir.join("s.log").to_string_lossy().into_owned();
        // Entries that look like backups but are not: never purged.
        std::fs::write(dir.join("s.log.old"), "x").unwrap();
        std::fs::write(dir.join("s.log.2026.01.01.00.00.00.1.gz"), "x").unwrap();
        let mut f = FileLog::open(&path, "[7] ", false).unwrap();
        assert!(!f.set_limit(100));
        f.set_max_files(2);
        let line = [b'a'; 60];
        f.write(&line);
        assert_eq!(names(&dir).len(), 3, "no rotation at 60 of 100 bytes");
        f.write(&line);
        let after_one = names(&dir);
        assert_eq!(after_one.len(), 4, "{after_one:?}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("[7] [INF] Rotated log, backup saved as \"")
                && text.ends_with("\"\r\n"),
            "{text:?}"
        );
        // Two more rotations: only the newest backup survives (log_max_num 2 = 1 backup).
        for _ in 0..4 {
            std::thread::sleep(std::time::Duration::from_millis(2));
            f.write(&line);
        }
        let now = names(&dir);
        let backups: Vec<&String> = now
            .iter()
            .filter(|n| n.starts_with("s.log.20") && !n.ends_with(".gz"))
            .collect();
        assert_eq!(backups.len(), 1, "{now:?}");
        assert!(now.contains(&"s.log.old".to_string()));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("[7] [INF] Purged log file \"s.log.20"),
            "{text:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_already_past_the_limit_asks_for_rotation() {
        let dir = temp_dir("past");
        let path = dir.join("s.log").to_string_lossy().into_owned();
        std::fs::write(&path, [b'x'; 50]).unwrap();
        let mut f = FileLog::open(&path, "", false).unwrap();
        assert!(f.set_limit(10));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
