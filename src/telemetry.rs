//! Logging set-up: `RUST_LOG`-style filtering, `info` by default.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are ignored (tests call it repeatedly).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// For commands whose standard output is their result (`texml preview`): logs go to
/// standard error, warnings and errors only unless `RUST_LOG` says otherwise.
pub fn init_for_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}
