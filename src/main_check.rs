//! The binary's `check` subcommand (a module of `main.rs` only): load the configuration
//! (or start the demo), run [`cds_redis_backup_exporter::check::run`] with a progress
//! spinner when stderr is a terminal, print the report (fitted to the terminal's width
//! unless `--wide`) and turn it into an exit code.

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use cds_redis_backup_exporter::check::{self, Verdict};
use cds_redis_backup_exporter::config::Config;
use cds_redis_backup_exporter::{demo, report};

use super::{Args, CheckArgs, Output};

/// Exit code of a usage or configuration error.
const USAGE: u8 = 2;

/// `quiet`: the log shows warnings at most, so a progress spinner does not tear it.
pub fn run(args: &Args, c: &CheckArgs, quiet: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(USAGE);
        }
    };
    let code = runtime.block_on(async {
        // The demo's fakes live as long as the check.
        let (_demo, config) = if args.demo {
            match demo::start(Duration::from_secs(24 * 3600), Duration::ZERO).await {
                Ok((d, config)) => (Some(d), config),
                Err(e) => {
                    eprintln!("error: starting the demo's fake CDS API: {e:#}");
                    return USAGE;
                }
            }
        } else {
            let env = |k: &str| std::env::var(k).ok();
            match Config::load(&args.config_file, &env) {
                Ok(config) => {
                    for w in config.example_credentials() {
                        eprintln!("warning: {w}");
                    }
                    (None, config)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return USAGE;
                }
            }
        };
        let bar = (quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            bar
        });
        if let Some(uuid) = &c.drill {
            return drill(config, uuid, c.output, bar).await;
        }
        let progress = |calls: u64, elapsed: Duration| {
            if let Some(b) = &bar {
                b.set_message(format!("{calls} CDS calls, {:.0}s", elapsed.as_secs_f64()));
                b.tick();
            }
        };
        let within = (!c.no_verify).then_some(c.verify_within);
        let fleet = match check::run(config, within, &progress).await {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e:#}");
                return USAGE;
            }
        };
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let borders = report::charset_from_locale(&|k| std::env::var(k).ok());
        let style = check::Style {
            color: std::io::stdout().is_terminal() && !no_color,
            borders,
            // Plain output asked for: icons any terminal shows.
            icons: if no_color {
                report::Charset::Ascii
            } else {
                borders
            },
        };
        match c.output {
            Output::Table => {
                let width = if c.wide {
                    check::Width::Wide
                } else {
                    check::Width::Columns(terminal_width())
                };
                print!("{}", check::table(&fleet, style, width));
            }
            Output::Json => print!("{}", check::json(&fleet)),
        }
        Verdict::of(&fleet) as u8
    });
    ExitCode::from(code)
}

/// `check --drill`'s exit code when SIGINT or SIGTERM stopped it (128 + SIGINT, as a
/// shell reports an interrupted command).
const INTERRUPTED: u8 = 130;

/// `check --drill`: one drill, a progress line (calls, then bytes downloaded, then
/// loading) when stderr is a terminal, the result and its exit code.
async fn drill(
    config: Config,
    uuid: &str,
    output: Output,
    bar: Option<indicatif::ProgressBar>,
) -> u8 {
    let progress = |p: check::drill::Progress| {
        let Some(b) = &bar else { return };
        b.set_message(p.text());
        b.tick();
    };
    // Ctrl-C or SIGTERM mid-drill drops the drill: its scratch server is killed and
    // its files removed before the exit (the default action would leave both behind).
    let result = tokio::select! {
        r = check::drill::run(config, uuid, &progress) => Some(r),
        () = super::shutdown_signal() => None,
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let Some(result) = result else {
        eprintln!("error: interrupted: the drill was stopped, its redis-server killed and its scratch files removed");
        return INTERRUPTED;
    };
    match result {
        Ok(run) => {
            match output {
                Output::Table => print!("{}", check::drill::text(&run)),
                Output::Json => print!("{}", check::drill::json(&run)),
            }
            run.exit_code()
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// The width the table fits: stdout's terminal, else `COLUMNS` (a positive number),
/// else [`check::DEFAULT_WIDTH`].
fn terminal_width() -> usize {
    if let Some((_rows, cols)) = console::Term::stdout().size_checked() {
        return usize::from(cols);
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .unwrap_or(check::DEFAULT_WIDTH)
}
