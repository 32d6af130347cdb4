//! `slotline texml check` and `slotline texml preview`, run as the built binary against a
//! temp database and a temp documents directory.

use std::{path::Path, process::Command};

use serde_json::Value;
use slotline::{domain::TenantSpec, texml::docs};

use crate::helpers::*;

const SAY_DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>\n  <Say voice=\"{voice}\">MARKER at {business}.</Say>\n  <Hangup/>\n</Response>\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn slotline(args: &[&str], db: &Path, dir: &Path) -> (i32, String, String) {
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
        &tmp.path().join("x.db"),
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
    let (code, out, err) = slotline(&["texml", "check"], &tmp.path().join("x.db"), &shipped);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("OK: 5 TeXML document(s)"), "{out}");
}

#[test]
fn texml_preview_prints_exactly_what_a_caller_would_get() {
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("p.db");
    let dir = tmp.path().join("texml");
    let db = slotline::db::Db::open(&db_path).unwrap();
    let spec = TenantSpec::from_json(&demo_tenant()).unwrap();
    db.run_blocking(|c| slotline::db::tenants::insert(c, &spec))
        .unwrap();
    write(
        &dir.join("bella-salon/fallback.xml"),
        &SAY_DOC.replace("MARKER", "Previewed"),
    );

    let (code, out, err) = slotline(
        &[
            "texml",
            "preview",
            "--tenant",
            "bella-salon",
            "--at",
            "2026-11-24T15:00",
        ],
        &db_path,
        &dir,
    );
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

    let (_, out, _) = slotline(
        &[
            "texml",
            "preview",
            "--tenant",
            "bella-salon",
            "--step",
            "fallback",
        ],
        &db_path,
        &dir,
    );
    assert!(out.contains("Previewed at Bella Salon."), "{out}");
    let (_, out, _) = slotline(
        &[
            "texml",
            "preview",
            "--tenant",
            "bella-salon",
            "--step",
            "gather",
        ],
        &db_path,
        &dir,
    );
    assert!(
        texts(&out, "Greeting")[0].starts_with("Sorry, I didn't catch all of that."),
        "{out}"
    );
    let (_, out, _) = slotline(
        &[
            "texml",
            "preview",
            "--tenant",
            "bella-salon",
            "--step",
            "closed",
        ],
        &db_path,
        &dir,
    );
    assert!(out.contains("We are closed"), "{out}");
    let (code, _, err) = slotline(&["texml", "preview", "--tenant", "nobody"], &db_path, &dir);
    assert_eq!(code, 1);
    assert!(err.contains("no tenant \"nobody\""), "{err}");
}
