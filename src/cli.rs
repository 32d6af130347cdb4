//! Command line: `slotline [serve [--demo]]`, `slotline migrate`, `slotline backup`,
//! `slotline restore`, `slotline texml check`, `slotline texml preview`, `slotline call`.

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
    /// Create or upgrade the database schema, then exit. With --from and --to: copy a
    /// SQLite database into a new PostgreSQL one instead.
    Migrate {
        /// The SQLite file to copy (at this slotline's schema version; a server may keep
        /// running on it: the copy is the database as it was when reading began).
        #[arg(long, value_name = "FILE", requires = "to")]
        from: Option<PathBuf>,
        /// The PostgreSQL database to copy into (`postgres://…`), migrated first; it must
        /// hold no rows.
        #[arg(long, value_name = "URL", requires = "from")]
        to: Option<String>,
    },
    /// Write a consistent copy of the database (SLOTLINE_DB) to PATH while the server
    /// runs (`VACUUM INTO`), checked before it gets its name.
    Backup {
        /// Where the copy goes; must not exist yet.
        path: PathBuf,
    },
    /// Check a copy (integrity, schema version) and put it in place as SLOTLINE_DB; the
    /// database it replaces is kept as SLOTLINE_DB.before-restore-<time>. Refused while a
    /// server serves SLOTLINE_DB: stop it first.
    Restore {
        /// The copy to restore, e.g. one `slotline backup` wrote.
        from: PathBuf,
    },
    /// Place a call on a running slotline as Telnyx would and print every turn: what the
    /// caller hears, what the line asks, what the caller answers, then the booking and the
    /// texts queued. Exit status 0: booked; 3: ended without a booking; 1: error.
    Call {
        /// The number dialled: the tenant's phone_number, e.g. +13125550100.
        to: String,
        /// The slotline server (default: http:// and SLOTLINE_LISTEN). Action URLs in its
        /// answers are followed on this server, whatever its public URL.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// The admin API, when the server serves it on its own address (default: http://
        /// and SLOTLINE_ADMIN_LISTEN when set, else --server).
        #[arg(long, value_name = "URL")]
        admin: Option<String>,
        /// The caller's number.
        #[arg(long, value_name = "+E164", default_value = "+13125550199")]
        from: String,
        /// An answer the caller gives whenever the line asks for FIELD (repeatable). With
        /// none (and no --yes/--no), each field is asked in the terminal.
        #[arg(long = "answer", value_name = "FIELD=VALUE")]
        answers: Vec<String>,
        /// Say yes when the line asks to confirm a booking.
        #[arg(long, conflicts_with = "no")]
        yes: bool,
        /// Say no when the line asks to confirm a booking.
        #[arg(long)]
        no: bool,
        /// Ed25519 signing key: base64 (or hex) of the 32-byte seed (default: the demo key,
        /// demo-signing.key beside SLOTLINE_DB).
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
        /// The admin token (default: SLOTLINE_ADMIN_TOKEN, else demo-admin.token beside
        /// SLOTLINE_DB).
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
    },
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
