//! Log lines in nats-server's format, `[<pid>] 2006/01/02 15:04:05.000000 [INF] msg`,
//! to stderr or to the `-l` file (spec D-04). The engine logs through the `log` facade;
//! this is the one sink.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Logger {
    pid: u32,
    time: bool,
    utc: bool,
    out: Mutex<Option<File>>,
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
    fn write(&self, tag: &str, msg: &std::fmt::Arguments) {
        let ts = if self.time {
            timestamp(self.utc)
        } else {
            String::new()
        };
        let line = format!("[{}] {}{} {}\n", self.pid, ts, tag, msg);
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        match out.as_mut() {
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
        Some(path) => Some(OpenOptions::new().create(true).append(true).open(path)?),
        None => None,
    };
    let logger = LOGGER.get_or_init(|| Logger {
        pid: std::process::id(),
        time: o.logtime,
        utc: o.utc,
        out: Mutex::new(file),
    });
    let _ = log::set_logger(logger);
    log::set_max_level(if o.trace {
        LevelFilter::Trace
    } else if o.debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    });
    Ok(())
}

/// A fatal line (`[FTL]`), as nats-server prints before exiting 1.
pub fn fatal(msg: &str) {
    match LOGGER.get() {
        Some(l) => l.write("[FTL]", &format_args!("{msg}")),
        None => eprintln!("nats-server: {msg}"),
    }
}
