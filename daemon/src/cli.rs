//! Command-line parsing (DESIGN §6). Hand-written: the binary stays small and errors are ours.

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: wgclusterd <command> [options]

commands:
  run [--config FILE] [--witness]     run the daemon in the foreground (SIGHUP reloads, SIGTERM exits)
  init [--config FILE]                make this router a new one-router cluster
  join --token TOKEN --peer HOST:PORT [--config FILE]
                                      join an existing cluster
  status [--config FILE]              show the cluster as this router sees it
  rpcd list | rpcd call METHOD [--config FILE]
                                      the rpcd exec-plugin protocol (JSON on stdin and stdout)
  vrrp-notify [--config FILE] CONFIG MASTER|BACKUP|FAULT|MASTER_RX_LOWER_PRI
                                      keepalived's notify hook: tell the daemon this router's
                                      VRRP state for CONFIG's floating address
  --version                           print the version

FILE defaults to /etc/config/wgcluster (UCI).";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cli {
    Version,
    Help,
    Run { config: PathBuf, witness: bool },
    Init { config: PathBuf },
    Join { config: PathBuf, token: String, peer: String },
    Status { config: PathBuf },
    RpcdList { config: PathBuf },
    RpcdCall { config: PathBuf, method: String },
    VrrpNotify { config: PathBuf, group: String, state: String },
}

pub fn parse(args: &[String]) -> Result<Cli, String> {
    let mut config: Option<PathBuf> = None;
    let mut token = None;
    let mut peer = None;
    let mut witness = false;
    let mut positional: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--version" | "-V" => return Ok(Cli::Version),
            "--help" | "-h" | "help" => return Ok(Cli::Help),
            "--config" | "-c" => config = Some(PathBuf::from(value("--config")?)),
            "--token" => token = Some(value("--token")?),
            "--peer" => peer = Some(value("--peer")?),
            "--witness" => witness = true,
            s if s.starts_with("--config=") => config = Some(PathBuf::from(&s["--config=".len()..])),
            s if s.starts_with('-') => return Err(format!("unknown option '{s}'")),
            s => positional.push(s.to_string()),
        }
    }
    let config = config.unwrap_or_else(|| PathBuf::from(crate::config::DEFAULT_CONFIG_PATH));
    let pos: Vec<&str> = positional.iter().map(String::as_str).collect();
    let cli = match pos.as_slice() {
        [] => return Err("no command given".into()),
        ["run"] => Cli::Run { config, witness },
        ["init"] => Cli::Init { config },
        ["status"] => Cli::Status { config },
        ["join"] => Cli::Join {
            config,
            token: token.clone().ok_or("join needs --token TOKEN")?,
            peer: peer.clone().ok_or("join needs --peer HOST:PORT")?,
        },
        ["rpcd", "list"] => Cli::RpcdList { config },
        ["rpcd", "call", method] => Cli::RpcdCall { config, method: method.to_string() },
        ["rpcd", ..] => return Err("usage: wgclusterd rpcd list | rpcd call METHOD".into()),
        ["vrrp-notify", group, state] => Cli::VrrpNotify { config, group: group.to_string(), state: state.to_string() },
        ["vrrp-notify", ..] => {
            return Err("usage: wgclusterd vrrp-notify [--config FILE] CONFIG MASTER|BACKUP|FAULT|MASTER_RX_LOWER_PRI".into())
        }
        [other, ..] if !["run", "init", "status", "join"].contains(other) => return Err(format!("unknown command '{other}'")),
        [cmd, ..] => return Err(format!("'{cmd}' takes no other arguments")),
    };
    if witness && !matches!(cli, Cli::Run { .. }) {
        return Err("--witness only applies to 'run'".into());
    }
    if (token.is_some() || peer.is_some()) && !matches!(cli, Cli::Join { .. }) {
        return Err("--token and --peer only apply to 'join'".into());
    }
    Ok(cli)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Cli, String> {
        parse(&s.split_whitespace().map(String::from).collect::<Vec<_>>())
    }

    #[test]
    fn table() {
        let d = || PathBuf::from("/etc/config/wgcluster");
        let f = || PathBuf::from("/tmp/x");
        let cases: Vec<(&str, Result<Cli, ()>)> = vec![
            ("--version", Ok(Cli::Version)),
            ("run", Ok(Cli::Run { config: d(), witness: false })),
            ("run --config /tmp/x", Ok(Cli::Run { config: f(), witness: false })),
            ("--config=/tmp/x run --witness", Ok(Cli::Run { config: f(), witness: true })),
            ("init -c /tmp/x", Ok(Cli::Init { config: f() })),
            ("status", Ok(Cli::Status { config: d() })),
            ("join --token t --peer h:1", Ok(Cli::Join { config: d(), token: "t".into(), peer: "h:1".into() })),
            ("rpcd list", Ok(Cli::RpcdList { config: d() })),
            ("rpcd call status --config /tmp/x", Ok(Cli::RpcdCall { config: f(), method: "status".into() })),
            ("", Err(())),
            ("frob", Err(())),
            ("run extra", Err(())),
            ("run --config", Err(())),
            ("init --witness", Err(())),
            ("join --token t", Err(())),
            ("run --bogus", Err(())),
            ("rpcd", Err(())),
            ("vrrp-notify --config /tmp/x wg0 MASTER", Ok(Cli::VrrpNotify { config: f(), group: "wg0".into(), state: "MASTER".into() })),
            ("vrrp-notify wg0", Err(())),
        ];
        for (args, want) in cases {
            assert_eq!(p(args).map_err(|_| ()), want, "{args}");
        }
    }
}
