//! `reem`: list, read, edit and watch reem messages in Redis, without their Rust types.
//!
//! Every reem message carries its schema (`@schema`), so this tool decodes any of them from
//! Redis alone. Run `reem --help` for the commands and the exit statuses.

#![forbid(unsafe_code)]

mod args;
mod cmd;
mod fail;
mod listen;
mod out;

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use clap::Parser;
use reem::RedisInterface;

use args::{Cli, Command};
use fail::{Code, Failure};
use out::{Palette, View};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let err_palette = Palette::stderr(cli.color);
    match run(&cli, err_palette) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if f.code == Code::Quiet => ExitCode::SUCCESS,
        Err(f) => {
            // If stderr is gone too there is no one left to tell.
            let message = out::printable(&f.message);
            let _ = writeln!(io::stderr(), "{} {message}", err_palette.bad("error:"));
            f.exit_code()
        }
    }
}

fn run(cli: &Cli, err_palette: Palette) -> fail::Result {
    // Reading a file needs no Redis.
    if let Command::Info(a) = &cli.command {
        let mut out = BufWriter::new(io::stdout().lock());
        let result = cmd::info::run(a, &mut out);
        return result.and(out.flush().map_err(Failure::from));
    }
    let iface = connect(&cli.url, cli.cluster)?;
    let palette = Palette::stdout(cli.color);
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut err = io::stderr();
    let view = |full| View { palette, full };
    let result = match &cli.command {
        Command::Ls(a) => cmd::ls::run(&iface, a, &mut out, palette, &mut err),
        Command::Get(a) => cmd::get::run(&iface, a, &mut out, view(a.full)),
        Command::Set(a) => cmd::set::run(&iface, a, &mut out, palette),
        Command::Schema(a) => cmd::schema::run(&iface, a, &mut out, palette),
        Command::Echo(a) => {
            cmd::echo::run(&iface, a, &mut out, view(a.full), &mut err, err_palette)
        }
        Command::Hz(a) => cmd::hz::run(&iface, a, &mut out, palette),
        Command::Record(a) => cmd::record::run(&iface, a, &mut err),
        Command::Play(a) => cmd::play::run(&iface, a, &mut err),
        Command::Info(_) => Ok(()),
    };
    // Print what was written before a failure, then report it.
    let flushed = out.flush().map_err(Failure::from);
    result.and(flushed)
}

/// The interface to the Redis at `url`, or to the Redis Cluster of the comma-separated seed
/// nodes in `url` (when `cluster`, or when there are several).
fn connect(url: &str, cluster: bool) -> fail::Result<RedisInterface> {
    let connected = if cluster || url.contains(',') {
        let seeds: Vec<&str> = url.split(',').map(str::trim).collect();
        RedisInterface::cluster(&seeds)
    } else {
        RedisInterface::new(url)
    };
    connected.map_err(|e| match e {
        reem::Error::InvalidUrl { .. } => Failure::from(e),
        e => Failure::new(
            Code::Redis,
            format!(
                "cannot reach Redis at {}: {}",
                redact(url),
                fail::one_line(&e.to_string())
            ),
        ),
    })
}

/// The URL without its password, for error messages (each of a comma-separated list).
fn redact(url: &str) -> String {
    if url.contains(',') {
        return url.split(',').map(redact).collect::<Vec<_>>().join(",");
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user = url[s + 3..at].split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}
