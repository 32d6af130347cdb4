//! `slotline texml check` and `slotline texml preview`, run as the built binary against a
//! temp database and a temp documents directory.

use std::{ffi::OsStr, path::Path, process::Command};

use serde_json::Value;
use slotline::{domain::TenantSpec, texml::docs};

use crate::{helpers::*, postgres::Scratch};

const SAY_DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n  <Say voice=\"{voice}\">MARKER at {business}.</Say>\n  <Hangup/>\n</Response>\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn slotline(args: &[&str], db: impl AsRef<OsStr>, dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slotline"))
        .args(args)
        .env("SLOTLINE_DB", db)
        .env("SLOTLINE_TEXML_DIR", dir)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn texml_check_prints_file_line_and_column_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("texml");
    write(
        &dir.join("_default/fallback.xml"),
        docs::built_in("fallback").unwrap(),
    );
    write(
        &dir.join("bella-salon/closed.xml"),
        "<Response>\n  <Say>Hi {nme}</Say>\n</Response>\n",
    );
    write(
        &dir.join("bella-salon/fallbak.xml"),
        docs::built_in("fallback").unwrap(),
    );
    let (code, out, _) = slotline(
        &["texml", "check", dir.to_str().unwrap()],
        tmp.path().join("x.db"),
        &dir,
    );
    assert_eq!(code, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    let closed = dir.join("bella-salon/closed.xml").display().to_string();
    let fallbak = dir.join("bella-salon/fallbak.xml").display().to_string();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(&format!("{closed}:2:11: {{nme}} is not a placeholder")),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{fallbak}:1:1: slotline uses no document named \"fallbak\""
        )),
        "{out}"
    );
}

#[test]
fn texml_check_passes_the_shipped_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("texml");
    let (code, out, err) = slotline(&["texml", "check"], tmp.path().join("x.db"), &shipped);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("OK: 5 TeXML document(s)"), "{out}");
}

#[test]
fn texml_preview_prints_exactly_what_a_caller_would_get() {
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("p.db");
    let db = slotline::db::Db::open(&db_path).unwrap();
    let spec = TenantSpec::from_json(&demo_tenant()).unwrap();
    db.run_blocking(|c| slotline::db::tenants::insert(c, &spec))
        .unwrap();
    previews_what_a_caller_would_get(&db_path, &tmp.path().join("texml"));
}

#[tokio::test]
async fn texml_preview_on_postgres_prints_what_a_caller_would_get_and_writes_nothing() {
    let Some(scratch) = Scratch::new().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("texml");
    // Not migrated yet: refused, saying what to run, and nothing is created.
    let (code, _, err) = slotline(
        &["texml", "preview", "--tenant", "bella-salon"],
        &scratch.url,
        &dir,
    );
    assert_eq!(code, 1);
    assert!(err.contains("run `slotline migrate` first"), "{err}");
    let client = scratch.client().await;
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "a preview created nothing");

    let store = slotline::db::store::Store::Postgres(
        slotline::db::postgres::Pg::open(&scratch.url)
            .await
            .unwrap(),
    );
    let spec = TenantSpec::from_json(&demo_tenant()).unwrap();
    store.tenants().insert(spec).await.unwrap();
    previews_what_a_caller_would_get(&scratch.url, &dir);
    // Read only: no URL secret was stored for the tokens it signed.
    assert_eq!(store.tenants().stored_url_secret().await.unwrap(), None);
    // The URL is shown without its password.
    let url = scratch
        .url
        .replacen("://postgres@", "://postgres:hunter22@", 1);
    let (code, _, err) = slotline(&["texml", "preview", "--tenant", "nobody"], &url, &dir);
    assert_eq!(code, 1);
    assert!(
        err.contains("no tenant \"nobody\" in postgres://postgres:***@"),
        "{err}"
    );
    assert!(!err.contains("hunter22"), "{err}");
    drop(client);
    scratch.drop_database().await;
}

/// Each step's preview of the demo tenant (in `db`, a file or a URL), with an edited
/// fallback in `dir`.
fn previews_what_a_caller_would_get(db: impl AsRef<OsStr> + Copy, dir: &Path) {
    write(
        &dir.join("bella-salon/fallback.xml"),
        &SAY_DOC.replace("MARKER", "Previewed"),
    );
    let preview = |step: &[&str]| {
        let args = [&["texml", "preview", "--tenant", "bella-salon"][..], step].concat();
        slotline(&args, db, dir)
    };
    let (code, out, err) = preview(&["--at", "2026-11-24T15:00"]);
    assert_eq!(code, 0, "{err}");
    assert_valid(out.trim_end());
    let params: Value = serde_json::from_str(&texts(&out, "Parameters")[0]).unwrap();
    let date_help = params["properties"]["preferred_date"]["description"]
        .as_str()
        .unwrap();
    assert!(date_help.contains("Tuesday, 2026-11-24"), "{date_help}");
    assert!(
        attr(&out, "AIGather", "action")
            .unwrap()
            .contains("/texml/gather?s=")
    );
    let (_, out, _) = preview(&["--step", "fallback"]);
    assert!(out.contains("Previewed at Bella Salon."), "{out}");
    let (_, out, _) = preview(&["--step", "gather"]);
    assert!(
        texts(&out, "Greeting")[0].starts_with("Sorry, I didn't catch all of that."),
        "{out}"
    );
    let (_, out, _) = preview(&["--step", "closed"]);
    assert!(out.contains("We are closed"), "{out}");
    let (code, _, err) = slotline(&["texml", "preview", "--tenant", "nobody"], db, dir);
    assert_eq!(code, 1);
    assert!(err.contains("no tenant \"nobody\""), "{err}");
}
