//! `wgclusterd`: the entry point. Parses the command line and hands off; nothing else lives here.

mod cli;
mod cluster;
mod config;
mod control;
mod datadir;
#[cfg(test)]
mod fuzz_tests;
mod http;
#[cfg(test)]
mod in_process_tests;
mod init;
mod logging;
mod probe;
mod reload;
mod rpcd; // rpcd bridge (luci)
mod startup;
mod status;

use cli::Cli;
use std::process::ExitCode;

fn load_config(path: &std::path::Path) -> Result<config::DaemonConfig, ExitCode> {
    match config::load(path) {
        Ok(c) => {
            for w in &c.warnings {
                log::warn!("{w}");
            }
            Ok(c)
        }
        Err(e) => {
            eprintln!("wgclusterd: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cli = match cli::parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wgclusterd: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    logging::init(log::LevelFilter::Info);
    match cli {
        Cli::Version => {
            println!("wgclusterd {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Cli::Help => {
            println!("{}", cli::USAGE);
            ExitCode::SUCCESS
        }
        Cli::Run { config, witness } => {
            let cfg = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            logging::set_level(cfg.log_level);
            match startup::run(&config, cfg, witness) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("wgclusterd: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cli::Init { config } => {
            let cfg = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match init::init(&cfg) {
                Ok(token) => {
                    println!("initialised a one-router cluster in {}", cfg.data_dir.display());
                    println!("admin token written to {} (mode 0600)", token.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("wgclusterd: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cli::Join { config, token, peer } => {
            let cfg = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match cluster::join::join(&cfg, &token, &peer) {
                Ok(()) => {
                    println!("joined; start the daemon (`wgclusterd run`) to become a member");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("wgclusterd: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cli::Status { config } => {
            let cfg = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            status::run(&cfg)
        }
        // rpcd bridge (luci): exactly one JSON object on stdout, exit 0 (see rpcd/mod.rs).
        Cli::RpcdList { .. } => rpcd::list(),
        Cli::RpcdCall { config, method } => rpcd::call(&config, &method),
        Cli::VrrpNotify { config, group, state } => {
            let cfg = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            status::vrrp_notify(&cfg, &group, &state)
        }
    }
}
