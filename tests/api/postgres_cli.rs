//! The command line with `SLOTLINE_DB` naming a PostgreSQL database (issue 16):
//! `slotline migrate` brings its schema up to date, and the commands that work on a SQLite
//! file only (backup, restore) say so and what to use instead, without showing the
//! password. (`texml preview` on it: tests/api/texml_cli.rs; TLS: tests/api/postgres_tls.rs.) (`slotline serve` runs on it: tests/api/nodes.rs.)

use std::process::Command;

use slotline::db::postgres::migrations;

use crate::postgres::Scratch;

/// Runs `slotline ARGS` with `SLOTLINE_DB=db`: (exit code, stdout, stderr).
pub(crate) fn slotline(args: &[&str], db: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slotline"))
        .args(args)
        .current_dir(dir.path())
        .env("SLOTLINE_DB", db)
        .env("SLOTLINE_LISTEN", "127.0.0.1:0")
        .env("SLOTLINE_SMS_DRY_RUN", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `url` with a password (the test server trusts local connections, so any will do).
fn with_password(url: &str) -> String {
    url.replacen("://postgres@", "://postgres:hunter22@", 1)
}

#[tokio::test]
async fn cli_migrate_brings_a_postgres_database_up_to_date_and_file_commands_refuse_it_plainly() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let url = with_password(&scratch.url);
    assert_ne!(url, scratch.url, "the URL carries a password");
    let (code, out, err) = slotline(&["migrate"], &url);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("is up to date"), "{out}");
    assert!(
        !out.contains("hunter22") && !err.contains("hunter22"),
        "{out}{err}"
    );
    let client = scratch.client().await;
    assert_eq!(
        migrations::version(&client).await.unwrap(),
        migrations::MIGRATIONS.len() as i64
    );
    let (code, _, _) = slotline(&["migrate"], &url);
    assert_eq!(code, 0, "a second run finds nothing to do");

    for (args, hint) in [
        (&["backup", "copy.db"][..], "pg_dump"),
        (&["restore", "copy.db"][..], "pgBackRest"),
    ] {
        let (code, out, err) = slotline(args, &url);
        assert_ne!(code, 0, "{args:?}: {out}");
        assert!(
            err.contains("SLOTLINE_DB") && err.contains(hint),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("postgres:***@"),
            "{args:?}: the URL shown without its password: {err}"
        );
        assert!(!err.contains("hunter22"), "{args:?}: {err}");
    }
    drop(client);
    scratch.drop_database().await;
}

#[test]
fn cli_serve_on_a_postgres_server_that_does_not_answer_says_so_and_exits() {
    let (code, out, err) = slotline(&["serve"], "postgres://app:hunter22@127.0.0.1:1/slotline");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("database: cannot connect to PostgreSQL"),
        "{err}"
    );
    assert!(
        !err.contains("hunter22") && !out.contains("hunter22"),
        "{out}{err}"
    );
}
