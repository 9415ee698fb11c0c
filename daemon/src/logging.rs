//! A tiny stderr logger (procd collects stderr into the system log). Level changes on SIGHUP.
//! Nothing logs secrets: keys and tokens have redacting `Debug` impls or are never formatted.

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, m: &Metadata) -> bool {
        m.level() <= log::max_level() && (m.target().starts_with("wgcluster") || m.level() <= log::Level::Warn)
    }
    fn log(&self, r: &Record) {
        if self.enabled(r.metadata()) {
            eprintln!("wgclusterd {:<5} {}", r.level(), r.args());
        }
    }
    fn flush(&self) {}
}

static LOGGER: StderrLogger = StderrLogger;

pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}
