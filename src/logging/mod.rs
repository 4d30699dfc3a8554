//! Log lines in nats-server's format, `[<pid>] 2006/01/02 15:04:05.000000 [INF] msg`, to
//! stderr, to the `-l` file (with `log_size_limit` rotation, see [`file`]), or to syslog
//! (`-s`, `-r`, see [`syslog`]) (spec D-04, §3). The engine logs through the `log` facade;
//! this is the one sink. Like nats-server, a log file wins over remote syslog, which wins
//! over local syslog.

mod clock;
mod file;
mod syslog;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

use clock::Now;
use file::FileLog;
use syslog::{Severity, SysLog};

struct Logger {
    /// `[<pid>] `.
    pid: String,
    /// nats-server's debug and trace switches are independent (`-V` alone logs no
    /// `[DBG]`), where the `log` crate's levels nest: `enabled` checks both.
    debug: AtomicBool,
    trace: AtomicBool,
    /// Everything a reload (SIGHUP) may change.
    inner: Mutex<Inner>,
}

struct Inner {
    time: bool,
    utc: bool,
    sink: Sink,
}

enum Sink {
    Stderr,
    File(FileLog),
    Syslog(SysLog),
}

/// Logging settings from flags and config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    pub debug: bool,
    pub trace: bool,
    /// `-VV`, `-DVV`, `trace_verbose`: nats-server then traces its system account too;
    /// nats-tpc has none, so beyond `trace` this is only reported (reload).
    pub trace_verbose: bool,
    pub logtime: bool,
    pub utc: bool,
    pub file: Option<String>,
    /// `log_size_limit`, bytes; rotation only when > 0 and logging to a file.
    pub size_limit: i64,
    /// `log_max_num`: rotated files kept, counting the live one; 0 keeps all.
    pub max_files: i64,
    /// `-s`, `syslog`.
    pub syslog: bool,
    /// `-r`, `remote_syslog`; empty is none.
    pub remote_syslog: String,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            debug: false,
            trace: false,
            trace_verbose: false,
            logtime: true,
            utc: false,
            file: None,
            size_limit: 0,
            max_files: 0,
            syslog: false,
            remote_syslog: String::new(),
        }
    }
}

/// Which level, and how each sink labels it.
#[derive(Clone, Copy)]
enum Sev {
    Fatal,
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Sev {
    fn label(self) -> &'static str {
        match self {
            Sev::Fatal => "[FTL]",
            Sev::Error => "[ERR]",
            Sev::Warn => "[WRN]",
            Sev::Info => "[INF]",
            Sev::Debug => "[DBG]",
            Sev::Trace => "[TRC]",
        }
    }

    /// logger/syslog.go: traces go out as notices, fatal errors as critical.
    fn syslog(self) -> Severity {
        match self {
            Sev::Fatal => Severity::Crit,
            Sev::Error => Severity::Err,
            Sev::Warn => Severity::Warning,
            Sev::Info | Sev::Trace => Severity::Notice,
            Sev::Debug => Severity::Debug,
        }
    }
}

impl Logger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, sev: Sev, msg: &std::fmt::Arguments) {
        let mut inner = self.lock();
        if let Sink::Syslog(s) = &mut inner.sink {
            s.write(sev.syslog(), &msg.to_string());
            return;
        }
        let ts = match (inner.time, inner.utc) {
            (false, _) => String::new(),
            (true, false) => Now::local().log_prefix(),
            (true, true) => Now::utc().log_prefix(),
        };
        let line = format!("{}{ts}{} {msg}\n", self.pid, sev.label());
        match &mut inner.sink {
            Sink::File(f) => f.write(line.as_bytes()),
            _ => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        match m.level() {
            Level::Trace => self.trace.load(Ordering::Relaxed),
            Level::Debug => self.debug.load(Ordering::Relaxed),
            _ => true,
        }
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let sev = match r.level() {
            Level::Error => Sev::Error,
            Level::Warn => Sev::Warn,
            Level::Info => Sev::Info,
            Level::Debug => Sev::Debug,
            Level::Trace => Sev::Trace,
        };
        self.write(sev, r.args());
    }

    fn flush(&self) {}
}

static LOGGER: std::sync::OnceLock<Logger> = std::sync::OnceLock::new();

fn pid_prefix() -> String {
    format!("[{}] ", std::process::id())
}

/// The sink `o` asks for, as nats-server's `ConfigureLogger` picks it. The bool says the
/// file is already past its size limit (`Rotating logfile...` is due). The error is the text
/// nats-server's fatal line carries.
fn open_sink(o: &LogOptions) -> Result<(Sink, bool), String> {
    if let Some(path) = &o.file {
        let mut f = FileLog::open(path, &pid_prefix(), o.logtime)?;
        let rotate_now = o.size_limit > 0 && f.set_limit(o.size_limit);
        if o.max_files > 0 {
            f.set_max_files(o.max_files);
        }
        return Ok((Sink::File(f), rotate_now));
    }
    if !o.remote_syslog.is_empty() {
        return Ok((
            Sink::Syslog(SysLog::remote(&o.remote_syslog, &syslog::tag())?),
            false,
        ));
    }
    if o.syslog {
        return Ok((Sink::Syslog(SysLog::local(&syslog::tag())?), false));
    }
    Ok((Sink::Stderr, false))
}

/// New logging settings with their sink already open, ready to be put in force.
pub struct Prepared {
    opts: LogOptions,
    sink: Sink,
    /// The file is already past its size limit: `Rotating logfile...` is due.
    rotate_now: bool,
}

/// Opens the sink `o` asks for without putting it in force, so a reload can fail before
/// it changes anything. The error is the text of nats-server's fatal line: the log file
/// cannot be opened, or syslog cannot be reached.
pub fn prepare(o: &LogOptions) -> Result<Prepared, String> {
    let (sink, rotate_now) = open_sink(o)?;
    Ok(Prepared {
        opts: o.clone(),
        sink,
        rotate_now,
    })
}

/// Puts prepared settings in force (the old sink is closed after the swap).
pub fn apply(p: Prepared) {
    let Prepared {
        opts: o,
        sink,
        rotate_now,
    } = p;
    let mut sink = Some(sink);
    let logger = LOGGER.get_or_init(|| Logger {
        pid: pid_prefix(),
        debug: AtomicBool::new(o.debug),
        trace: AtomicBool::new(o.trace),
        inner: Mutex::new(Inner {
            time: o.logtime,
            utc: o.utc,
            sink: sink.take().unwrap_or(Sink::Stderr),
        }),
    });
    if let Some(sink) = sink {
        let old = {
            let mut inner = logger.lock();
            inner.time = o.logtime;
            inner.utc = o.utc;
            std::mem::replace(&mut inner.sink, sink)
        };
        drop(old);
    }
    let _ = log::set_logger(logger);
    logger.debug.store(o.debug, Ordering::Relaxed);
    logger.trace.store(o.trace, Ordering::Relaxed);
    set_level(&o);
    if rotate_now {
        logger.write(Sev::Info, &format_args!("Rotating logfile..."));
    }
}

/// Installs the logger; the error is as [`prepare`]'s, for [`exit_go_fatal`].
pub fn init(o: &LogOptions) -> Result<(), String> {
    apply(prepare(o)?);
    Ok(())
}

/// The `log` crate's cheap first filter: the most verbose level either switch allows.
fn set_level(o: &LogOptions) {
    log::set_max_level(if o.trace {
        LevelFilter::Trace
    } else if o.debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    });
}

/// A fatal line (`[FTL]`, or a critical syslog message), as nats-server prints before
/// exiting 1.
pub fn fatal(msg: &str) {
    match LOGGER.get() {
        Some(l) => l.write(Sev::Fatal, &format_args!("{msg}")),
        None => eprintln!("nats-server: {msg}"),
    }
}

/// Go's `log.Fatalf` before the server's logger exists: `2006/01/02 15:04:05 msg` on
/// stderr, exit 1.
pub fn exit_go_fatal(msg: &str) -> ! {
    eprintln!("{} {msg}", Now::local().std_log());
    std::process::exit(1);
}

/// SIGUSR1: reopens the log file by name, so that after a rotation (`mv log log.1`) new lines
/// go to a new file, with nats-server's lines (log.go `ReOpenLogFile`).
pub fn reopen() {
    let Some(l) = LOGGER.get() else { return };
    let (path, time) = {
        let inner = l.lock();
        match &inner.sink {
            Sink::File(f) => (f.path().to_string(), inner.time),
            _ => {
                drop(inner);
                log::info!("File log re-open ignored, not a file logger");
                return;
            }
        }
    };
    match FileLog::open(&path, &l.pid, time) {
        Ok(mut f) => {
            let rotate_now = {
                let mut inner = l.lock();
                // nats-server's reopen re-applies the size limit only; keeping `log_max_num`
                // too is deliberate (purging should not stop after a SIGUSR1).
                if let Sink::File(old) = &inner.sink {
                    f.keep_limits_of(old);
                }
                let rotate_now = f.past_limit();
                inner.sink = Sink::File(f);
                rotate_now
            };
            if rotate_now {
                l.write(Sev::Info, &format_args!("Rotating logfile..."));
            }
            log::info!("File log re-opened");
        }
        // nats-server's NewFileLogger calls log.Fatalf: Go's standard logger line on
        // stderr, exit 1.
        Err(e) => exit_go_fatal(&e),
    }
}

/// An I/O error as Go's `os` package words it: `<op> <path>: <reason>`.
fn go_error(op: &str, path: &str, e: &std::io::Error) -> String {
    format!("{op} {path}: {}", go_error_text(e))
}

/// The reason of an I/O error as Go's `syscall.Errno` prints it (`no such file or
/// directory`): Rust's text lower-cased, without ` (os error N)`.
fn go_error_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = s.split(" (os error").next().unwrap_or(&s);
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}
