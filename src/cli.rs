//! Command line: `slotline [serve [--demo]]`, `slotline migrate`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// slotline: the AI phone line that books appointments.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve {
        /// Load the demo tenant from data/demo-tenant.json into an empty database.
        #[arg(long)]
        demo: bool,
        /// Demo tenant file.
        #[arg(long, default_value = "data/demo-tenant.json")]
        demo_file: PathBuf,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
}
