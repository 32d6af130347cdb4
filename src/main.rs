//! The `slotline` binary: parse the command line, load settings, run.

use std::{path::Path, process::ExitCode};

use clap::Parser;
use slotline::{
    call,
    cli::{Cli, Command, PreviewStep, TexmlCommand},
    clock::Clock,
    config::Settings,
    db::{self, Db},
    domain::TenantSpec,
    flow::preview,
    startup::{AppState, Application},
    telemetry,
    texml::docs,
};

// Requests are served on threads of their own (`serve`); this runtime runs the background
// work (SMS worker, call log, checkpoints, document polling).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Some(Command::Texml { .. } | Command::Call { .. })
    ) {
        telemetry::init_for_cli();
    } else {
        telemetry::init();
    }
    let mut settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("slotline: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command.unwrap_or(Command::Serve {
        demo: false,
        demo_file: "data/demo-tenant.json".into(),
    }) {
        Command::Serve { demo, demo_file } => {
            settings.demo = demo;
            serve(settings, demo.then_some(demo_file)).await
        }
        Command::Call {
            to,
            server,
            admin,
            from,
            answers,
            yes,
            no,
            key_file,
            token,
        } => {
            let request = call::Request {
                server,
                admin,
                from,
                to,
                key_file,
                token,
            };
            let confirm = (yes || no).then_some(yes);
            return place_call(request, &settings, &answers, confirm).await;
        }
        Command::Migrate {
            from: Some(from),
            to: Some(to),
        } => copy_to_postgres(&from, &to).await,
        Command::Migrate { .. } => migrate(&settings).await,
        Command::Backup { path } => backup(&settings, &path),
        Command::Restore { from } => restore(&settings, &from),
        Command::Texml {
            command: TexmlCommand::Check { dir },
        } => return texml_check(&dir.unwrap_or_else(|| settings.texml_dir.clone())),
        Command::Texml {
            command: TexmlCommand::Preview { tenant, step, at },
        } => texml_preview(settings, &tenant, step, at.as_deref()).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("slotline: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `slotline migrate --from FILE --to URL`: the copy, then what it copied.
async fn copy_to_postgres(from: &Path, to: &str) -> Result<(), String> {
    if !slotline::db::postgres::is_url(to) {
        return Err(format!(
            "--to must be a postgres:// URL (got {to:?}); --from names the SQLite file"
        ));
    }
    let copied = slotline::db::postgres::copy::copy(from, to)
        .await
        .map_err(|e| e.to_string())?;
    let rows: i64 = copied.tables.iter().map(|(_, n)| n).sum();
    for (table, n) in &copied.tables {
        println!("{table:<24} {n:>10}");
    }
    println!(
        "copied {rows} rows in {} tables from {}; counts match and no appointments overlap",
        copied.tables.len(),
        from.display()
    );
    Ok(())
}

/// `slotline call`: exit 0 when the call booked, 3 when it ended without a booking, 1 on
/// an error (with a message saying what to fix).
async fn place_call(
    request: call::Request,
    settings: &Settings,
    flags: &[String],
    confirm: Option<bool>,
) -> ExitCode {
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("slotline call: {e}");
        ExitCode::FAILURE
    };
    let opts = match call::Options::resolve(request, settings) {
        Ok(o) => o,
        Err(e) => return fail(&e),
    };
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut answers = if flags.is_empty() && confirm.is_none() {
        call::Answers::Prompted { input: &mut input }
    } else {
        match call::Answers::scripted(flags, confirm) {
            Ok(a) => a,
            Err(e) => return fail(&e),
        }
    };
    let mut out = std::io::stdout();
    match call::place(&opts, &mut answers, &mut out).await {
        Ok(call::Outcome::Booked(_)) => ExitCode::SUCCESS,
        Ok(call::Outcome::NotBooked) => ExitCode::from(3),
        Err(e) => fail(&e),
    }
}

/// `slotline migrate`: brings `SLOTLINE_DB`'s schema, a SQLite file's or a PostgreSQL
/// database's, to this binary's version.
async fn migrate(settings: &Settings) -> Result<(), String> {
    match &settings.db_url {
        Some(url) => {
            slotline::db::postgres::Pg::open(url)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "database {} is up to date",
                slotline::db::postgres::redacted(url)
            );
        }
        None => {
            Db::open(&settings.db_path).map_err(|e| e.to_string())?;
            println!("database {} is up to date", settings.db_path.display());
        }
    }
    Ok(())
}

/// `slotline backup PATH`: one line saying what was written.
fn backup(settings: &Settings, path: &std::path::Path) -> Result<(), String> {
    settings.sqlite_file("backup").map_err(|e| e.to_string())?;
    let done = slotline::backup::backup(&settings.db_path, path).map_err(|e| e.to_string())?;
    println!(
        "backup of {} written to {} ({} bytes, schema version {}, {} tenants, {} appointments) in {} ms",
        settings.db_path.display(),
        path.display(),
        done.bytes,
        done.checked.version,
        done.checked.tenants,
        done.checked.appointments,
        done.took.as_millis()
    );
    Ok(())
}

/// `slotline restore FROM`: checks the copy, puts it in place, says where the old one went.
fn restore(settings: &Settings, from: &std::path::Path) -> Result<(), String> {
    settings.sqlite_file("restore").map_err(|e| e.to_string())?;
    let now = jiff::Timestamp::now().as_second();
    let done =
        slotline::backup::restore(from, &settings.db_path, now).map_err(|e| e.to_string())?;
    println!(
        "restored {} as {} (schema version {} of {}, {} tenants, {} appointments; integrity ok)",
        from.display(),
        settings.db_path.display(),
        done.checked.version,
        done.checked.current,
        done.checked.tenants,
        done.checked.appointments
    );
    if let Some(aside) = done.set_aside {
        println!("the database it replaced is kept as {}", aside.display());
    }
    if done.checked.version < done.checked.current {
        println!(
            "it will be migrated to version {} when slotline starts",
            done.checked.current
        );
    }
    Ok(())
}

/// `slotline texml check [DIR]`: every problem as `FILE:LINE:COL: message` on standard
/// output and exit 1, or a one-line summary and exit 0.
fn texml_check(dir: &std::path::Path) -> ExitCode {
    match docs::check_dir(dir) {
        Ok(count) => {
            println!(
                "OK: {count} TeXML document(s) under {} are valid",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in &problems {
                println!("{p}");
            }
            eprintln!(
                "slotline: {} problem(s) under {}; fix them before they are served (the last good version is served meanwhile)",
                problems.len(),
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}

/// `slotline texml preview`: prints the document a caller would get, byte for byte. The
/// database (a SQLite file or a PostgreSQL URL) is opened read-only: a preview never
/// migrates or writes anything.
async fn texml_preview(
    settings: Settings,
    slug: &str,
    step: PreviewStep,
    at: Option<&str>,
) -> Result<(), String> {
    let db = match &settings.db_url {
        Some(url) => slotline::db::postgres::redacted(url),
        None => settings.db_path.display().to_string(),
    };
    let clock = Clock::manual(jiff::Timestamp::now());
    let state = AppState::read_only(settings, clock.clone())
        .await
        .map_err(|e| e.to_string())?;
    let tenant = state
        .store
        .tenants()
        .find(slug.to_string())
        .await
        .map_err(|e| match e {
            db::DbError::NotFound => {
                format!("no tenant {slug:?} in {db}; list them with GET /tenants")
            }
            other => other.to_string(),
        })?;
    if let Some(at) = at {
        clock.set(preview::local_instant(at, &tenant.spec.timezone)?);
    }
    let doc = preview::document(&state, &tenant, step).map_err(|e| e.to_string())?;
    println!("{}", doc.as_str());
    Ok(())
}

async fn serve(settings: Settings, demo: Option<std::path::PathBuf>) -> Result<(), String> {
    let demo_spec = match &demo {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let json =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(TenantSpec::from_json(&json).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let app = Application::build(settings.clone(), Clock::system())
        .await
        .map_err(|e| e.to_string())?;
    if let Some(spec) = &demo_spec {
        match app.seed_if_empty(spec).await {
            Ok(true) => tracing::info!(slug = %spec.slug, "loaded the demo tenant"),
            Ok(false) => tracing::info!("the database already has tenants; demo tenant not loaded"),
            Err(e) => return Err(format!("loading the demo tenant: {e}")),
        }
    }
    announce(
        &settings,
        app.addr(),
        demo_spec.as_ref(),
        app.state().demo.as_ref(),
    );
    if let Some(admin) = app.admin_addr() {
        println!(
            "  admin API:         http://{admin}   (SLOTLINE_ADMIN_LISTEN; not served on the main listener)"
        );
    }
    app.run_until(shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

/// What an operator needs to know at start: where it listens and what to configure.
fn announce(
    s: &Settings,
    addr: std::net::SocketAddr,
    demo: Option<&TenantSpec>,
    files: Option<&slotline::demo::Demo>,
) {
    let base = &s.public_url;
    println!(
        "slotline {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    match &s.db_url {
        Some(url) => println!(
            "  database:          {}",
            slotline::db::postgres::redacted(url)
        ),
        None => println!("  database:          {}", s.db_path.display()),
    }
    println!("  Telnyx TeXML application settings:");
    println!("    voice URL:       {base}/texml/voice   (method POST)");
    println!("    status callback: {base}/texml/status  (method POST)");
    let slug = demo.map_or("<tenant-slug>", |t| t.slug.as_str());
    println!("    fallback URL:    {base}/texml/doc/{slug}/fallback");
    println!(
        "  TeXML documents:   {} (reloaded on change)",
        s.texml_dir.display()
    );
    println!("  Telnyx messaging profile webhook: {base}/messaging/webhook");
    if let Some(t) = demo {
        println!(
            "  demo tenant:       {} ({}), number {}",
            t.name, t.slug, t.phone_number
        );
    }
    if let (Some(t), Some(files)) = (demo, files) {
        announce_demo(s, addr, t, files);
    }
    if s.insecure_skip_signatures {
        tracing::warn!(
            "SLOTLINE_INSECURE_SKIP_SIGNATURES=1: Telnyx signatures are NOT checked. Anyone can post to /texml/*. Development only; never run like this in production."
        );
        eprintln!(
            "WARNING: signature checks are OFF (SLOTLINE_INSECURE_SKIP_SIGNATURES=1). Development only."
        );
    } else if s.telnyx_public_key.is_none() && files.is_none() {
        tracing::warn!(
            "TELNYX_PUBLIC_KEY is not set: every /texml/* request will be refused with 403. Copy the public key from the Telnyx portal (Keys & Credentials → Public Key)."
        );
    }
    if s.admin_token.is_none() && files.is_none() {
        tracing::warn!(
            "SLOTLINE_ADMIN_TOKEN is not set: the admin API (/tenants) answers 503 until you set one."
        );
    }
    if let Ok(slotline::config::SmsMode::DryRun(why)) = s.sms_mode() {
        tracing::warn!(
            "SMS DRY RUN ({why}): texts are rendered and recorded in the outbox with status dry_run (GET /tenants/{{id}}/messages); nothing is sent. Set TELNYX_API_KEY (and unset SLOTLINE_SMS_DRY_RUN) to send."
        );
        eprintln!("NOTE: SMS dry run ({why}): texts are recorded, not sent.");
    }
}

/// Demo mode's part of the banner: which key signs, where the admin token is, how to call.
fn announce_demo(
    s: &Settings,
    addr: std::net::SocketAddr,
    tenant: &TenantSpec,
    files: &slotline::demo::Demo,
) {
    let key = files.key_path.display();
    let created = if files.key_created {
        " (created now)"
    } else {
        ""
    };
    let also = if s.telnyx_public_key.is_some() {
        ", and TELNYX_PUBLIC_KEY's"
    } else {
        ""
    };
    println!("  demo mode:         signatures ON; accepted: the demo key {key}{created}{also}");
    match (&files.token, &files.token_path) {
        (Some(token), Some(path)) if files.token_created => println!(
            "  admin token:       {}   (new; saved in {}, shown only this once)",
            token.expose(),
            path.display()
        ),
        (Some(_), Some(path)) => println!("  admin token:       in {}", path.display()),
        _ => println!("  admin token:       SLOTLINE_ADMIN_TOKEN"),
    }
    let server = if addr.to_string() == s.listen {
        String::new()
    } else {
        format!("--server http://{addr} ")
    };
    println!(
        "  try a call:        cargo run --release -- call {server}{}   (in another shell; --answer FIELD=VALUE answers without prompts)",
        tenant.phone_number
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down; finishing requests in flight");
}
