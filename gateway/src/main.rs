//! `layers-gateway`: `serve`, `migrate`, `worker`, `openapi` and the operator `admin` commands.

use std::process::ExitCode;

use clap::Parser;
use layers_gateway::cli::{self, Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.to_string();
            let line = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("{} (see --help)", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    layers_gateway::telemetry::init();
    let outcome = match cli.command {
        Command::Serve => cli::serve().await.map(|()| None),
        Command::Migrate => cli::migrate().await.map(Some),
        Command::Worker => cli::worker().await.map(|()| None),
        Command::Admin { command } => cli::admin(command).await.map(Some),
        Command::Openapi => {
            println!("{}", layers_gateway::openapi::json());
            Ok(None)
        }
    };
    match outcome {
        Ok(Some(json)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(cli::Failure(reason)) => {
            eprintln!("{}", reason.lines().next().unwrap_or("failed"));
            ExitCode::FAILURE
        }
    }
}
