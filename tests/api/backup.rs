//! `slotline backup` and `slotline restore`: a backup taken while callers book restores to
//! a database where every booking has its texts and no provider is double-booked; restore
//! refuses while a server holds the database, and refuses copies that are not whole.

use std::{path::Path, process::Command};

use rusqlite::Connection;
use slotline::backup;

use crate::helpers::*;

/// Runs `slotline ARGS` against the database at `db`: (exit code, stdout, stderr).
fn slotline(args: &[&str], db: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slotline"))
        .args(args)
        .env("SLOTLINE_DB", db)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A booked appointment: (id, provider, start, blocked until).
type Booked = (i64, i64, i64, i64);

/// Booked appointments by id, and (appointment, kind) of their texts, in the database at `db`.
fn bookings_and_texts(db: &Path) -> (Vec<Booked>, Vec<(i64, String)>) {
    let c = Connection::open(db).unwrap();
    let appts = c
        .prepare("SELECT id, provider_id, start_at, blocked_until FROM appointments WHERE status = 'booked' ORDER BY provider_id, start_at")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let texts = c
        .prepare("SELECT appointment_id, kind FROM outbox WHERE appointment_id IS NOT NULL")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (appts, texts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_a_booking_burst_restores_to_a_consistent_database() {
    let app = burst_line("burst", "+13125550190", &["Ana", "Bo", "Cy"]).await;
    let callers = book_burst(&app, "+13125550190", 48, 6);
    // The copy is taken while the callers are still booking: once a few have booked.
    for _ in 0..500 {
        if bookings_and_texts(&app.db_path).0.len() >= 8 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.db");
    let (db, dest) = (app.db_path.clone(), copy.clone());
    let written = tokio::task::spawn_blocking(move || backup::backup(&db, &dest))
        .await
        .unwrap()
        .unwrap();
    assert!(written.bytes > 0);
    for c in callers {
        assert!(c.await.unwrap().contains("is booked for"));
    }

    let restored = dir.path().join("restored/slotline.db");
    let done = backup::restore(&copy, &restored, 0).unwrap();
    assert_eq!(done.set_aside, None);
    let (appts, texts) = bookings_and_texts(&restored);
    // Every booking in the copy came with its confirmation, and every text with its booking.
    for (id, ..) in &appts {
        let kinds: Vec<&str> = texts
            .iter()
            .filter(|(a, _)| a == id)
            .map(|(_, k)| k.as_str())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| **k == "confirmation").count(),
            1,
            "appointment {id}: {kinds:?}"
        );
    }
    for (a, kind) in &texts {
        assert!(
            appts.iter().any(|(id, ..)| id == a),
            "{kind} text of a missing booking {a}"
        );
    }
    for w in appts.windows(2) {
        let ((_, p1, _, end1), (_, p2, start2, _)) = (w[0], w[1]);
        assert!(
            p1 != p2 || start2 >= end1,
            "double booking in the copy: {w:?}"
        );
    }
    // The copy is a snapshot of the live database: nothing in it that the server lacks.
    let (live, _) = bookings_and_texts(&app.db_path);
    assert_eq!(live.len(), 48);
    assert!(
        (8..=live.len()).contains(&appts.len()),
        "the copy holds {} of the {} bookings",
        appts.len(),
        live.len()
    );
    for a in &appts {
        assert!(
            live.contains(a),
            "{a:?} is in the copy but not in the database"
        );
    }
    // The restored database opens and migrates like any other.
    slotline::db::Db::open(&restored).unwrap();
}

#[tokio::test]
async fn restore_refuses_while_a_server_serves_the_database_and_backup_works_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with(Options {
        db_path: Some(dir.path().join("slotline.db")),
        ..Options::default()
    })
    .await;
    let copy = dir.path().join("nightly.db");
    let (code, out, err) = slotline(&["backup", copy.to_str().unwrap()], &app.db_path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("written to") && out.contains("1 tenants"),
        "{out}"
    );
    let (code, _, err) = slotline(&["backup", copy.to_str().unwrap()], &app.db_path);
    assert_eq!(code, 1);
    assert!(
        err.contains("already exists; give the backup a new name"),
        "{err}"
    );

    let (code, _, err) = slotline(&["restore", copy.to_str().unwrap()], &app.db_path);
    assert_eq!(code, 1);
    assert!(err.contains("a slotline server is serving"), "{err}");
    assert!(err.contains("stop it first"), "{err}");

    // Once it has stopped, the copy goes in and the old database is set aside.
    let db_path = app.db_path.clone();
    app.shut_down().await;
    let (code, out, err) = slotline(&["restore", copy.to_str().unwrap()], &db_path);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("integrity ok"), "{out}");
    assert!(out.contains("the database it replaced is kept as"), "{out}");
}

#[tokio::test]
async fn restore_refuses_a_copy_that_is_not_a_whole_slotline_database() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("slotline.db");
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![7u8; 8192]).unwrap();
    let (code, _, err) = slotline(&["restore", garbage.to_str().unwrap()], &target);
    assert_eq!(code, 1);
    assert!(err.contains("cannot be restored"), "{err}");
    let empty = dir.path().join("other.db");
    Connection::open(&empty)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let (code, _, err) = slotline(&["restore", empty.to_str().unwrap()], &target);
    assert_eq!(code, 1);
    assert!(err.contains("it is not a slotline database"), "{err}");
    assert!(!target.exists(), "nothing was put in place");
    let (code, _, err) = slotline(&["restore", "/nonexistent/copy.db"], &target);
    assert_eq!(code, 1);
    assert!(err.contains("no file at /nonexistent/copy.db"), "{err}");
}
