//! Log lines in nats-server's format, `[<pid>] 2006/01/02 15:04:05.000000 [INF] msg`,
//! to stderr or to the `-l` file (spec D-04). The engine logs through the `log` facade;
//! this is the one sink.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Logger {
    pid: u32,
    /// Everything a reload (SIGHUP) may change.
    inner: Mutex<Inner>,
}

struct Inner {
    time: bool,
    utc: bool,
    /// The `-l` file, reopened on SIGUSR1.
    path: Option<String>,
    out: Option<File>,
}

/// nats-server creates log files with `defaultLogPerms`.
const LOG_FILE_MODE: u32 = 0o640;

fn open_log(path: &str) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(LOG_FILE_MODE)
        .open(path)
}

fn timestamp(utc: bool) -> String {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both calls only write the structs we pass.
    unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
        if utc {
            libc::gmtime_r(&ts.tv_sec, &mut tm);
        } else {
            libc::localtime_r(&ts.tv_sec, &mut tm);
        }
    }
    format!(
        "{:04}/{:02}/{:02} {:02}:{:02}:{:02}.{:06} ",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        ts.tv_nsec / 1000
    )
}

impl Logger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, tag: &str, msg: &std::fmt::Arguments) {
        let mut inner = self.lock();
        let ts = if inner.time {
            timestamp(inner.utc)
        } else {
            String::new()
        };
        let line = format!("[{}] {}{} {}\n", self.pid, ts, tag, msg);
        match inner.out.as_mut() {
            Some(f) => {
                let _ = f.write_all(line.as_bytes());
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let tag = match r.level() {
            Level::Error => "[ERR]",
            Level::Warn => "[WRN]",
            Level::Info => "[INF]",
            Level::Debug => "[DBG]",
            Level::Trace => "[TRC]",
        };
        self.write(tag, r.args());
    }

    fn flush(&self) {}
}

static LOGGER: std::sync::OnceLock<Logger> = std::sync::OnceLock::new();

/// Logging settings from flags and config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    pub debug: bool,
    pub trace: bool,
    pub logtime: bool,
    pub utc: bool,
    pub file: Option<String>,
}

/// Installs the logger. Fails only when the log file cannot be opened.
pub fn init(o: &LogOptions) -> std::io::Result<()> {
    let file = match &o.file {
        Some(path) => Some(open_log(path)?),
        None => None,
    };
    let logger = LOGGER.get_or_init(|| Logger {
        pid: std::process::id(),
        inner: Mutex::new(Inner {
            time: o.logtime,
            utc: o.utc,
            path: o.file.clone(),
            out: file,
        }),
    });
    let _ = log::set_logger(logger);
    set_level(o);
    Ok(())
}

fn set_level(o: &LogOptions) {
    log::set_max_level(if o.trace {
        LevelFilter::Trace
    } else if o.debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    });
}

/// A reload: applies new logging settings to the installed logger (a new log file is
/// opened before the old one is let go, so a failure leaves logging as it was).
pub fn reconfigure(o: &LogOptions) -> std::io::Result<()> {
    let Some(l) = LOGGER.get() else {
        return init(o);
    };
    let file = match &o.file {
        Some(path) => Some(open_log(path)?),
        None => None,
    };
    {
        let mut inner = l.lock();
        inner.time = o.logtime;
        inner.utc = o.utc;
        inner.path = o.file.clone();
        inner.out = file;
    }
    set_level(o);
    Ok(())
}

/// A fatal line (`[FTL]`), as nats-server prints before exiting 1.
pub fn fatal(msg: &str) {
    match LOGGER.get() {
        Some(l) => l.write("[FTL]", &format_args!("{msg}")),
        None => eprintln!("nats-server: {msg}"),
    }
}

/// SIGUSR1: reopens the log file by name, so that after a rotation (`mv log log.1`) new lines
/// go to a new file, with nats-server's lines (log.go `ReOpenLogFile`).
pub fn reopen() {
    let Some(l) = LOGGER.get() else { return };
    let Some(path) = l.lock().path.clone() else {
        log::info!("File log re-open ignored, not a file logger");
        return;
    };
    match open_log(&path) {
        Ok(f) => {
            l.lock().out = Some(f);
            log::info!("File log re-opened");
        }
        Err(e) => {
            // nats-server's NewFileLogger calls log.Fatalf: Go's standard logger line on
            // stderr, exit 1.
            let ts = timestamp(false);
            let err = e.to_string();
            let err = err.split(" (os error").next().unwrap_or(&err).to_string();
            eprintln!(
                "{} error opening file: open {path}: {}",
                &ts[..19],
                lower_first(&err)
            );
            std::process::exit(1);
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}
