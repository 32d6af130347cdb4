//! Command line: `slotline [serve [--demo]]`, `slotline migrate`, `slotline texml check`,
//! `slotline texml preview`.

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
    /// Check or preview the operator-edited TeXML documents.
    Texml {
        /// What to do with them.
        #[command(subcommand)]
        command: TexmlCommand,
    },
}

/// `slotline texml …`.
#[derive(Debug, Subcommand)]
pub enum TexmlCommand {
    /// Check every document under DIR; print each problem as FILE:LINE:COL: message and
    /// exit 1 if there is any.
    Check {
        /// The documents directory (default: SLOTLINE_TEXML_DIR, or texml).
        dir: Option<PathBuf>,
    },
    /// Print exactly the document a caller of tenant SLUG would get at a step.
    Preview {
        /// Tenant slug (or id).
        #[arg(long)]
        tenant: String,
        /// Which answer: the first one, the re-prompt after an unreadable answer, the
        /// fallback URL's document, or the closed notice.
        #[arg(long, value_enum, default_value_t = PreviewStep::Voice)]
        step: PreviewStep,
        /// The time of the call, in the tenant's zone (default: now), e.g. 2026-11-24T15:00.
        #[arg(long)]
        at: Option<String>,
    },
}

/// The steps `texml preview` can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PreviewStep {
    /// The voice URL's answer (`closed.xml` while the tenant is closed).
    Voice,
    /// The re-prompt after an answer slotline could not read.
    Gather,
    /// The fallback URL's document.
    Fallback,
    /// The closed notice, whether or not the tenant is closed now.
    Closed,
}
