//! TLS to the PostgreSQL server (`sslmode`, `sslrootcert` in `SLOTLINE_DB`), against a
//! real server with `ssl = on` and a certificate made when it started
//! (`.ci/postgres start-tls DIR`, which sets `SLOTLINE_TEST_POSTGRES_TLS` and
//! `SLOTLINE_TEST_POSTGRES_TLS_CA`), and the plain one of the other tests
//! (`SLOTLINE_TEST_POSTGRES`). Without them a test is skipped, outside CI; under `CI=true`
//! it fails.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use slotline::db::{
    DbError, deadline,
    postgres::{self, Pg, changes},
    store::Store,
};

use crate::{postgres_cli::slotline, store::SEED};

/// The TLS server's URL (with a password, which trust authentication ignores, so tests
/// can look for it in messages) and the file of the CA that signed its certificate.
fn tls_server() -> Option<(String, PathBuf)> {
    let url = std::env::var("SLOTLINE_TEST_POSTGRES_TLS").ok();
    let ca = std::env::var("SLOTLINE_TEST_POSTGRES_TLS_CA").ok();
    match (url, ca) {
        (Some(url), Some(ca)) if !url.is_empty() && !ca.is_empty() => Some((
            url.replacen("://postgres@", "://postgres:s3cret@", 1),
            ca.into(),
        )),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "SLOTLINE_TEST_POSTGRES_TLS is not set; .ci/run starts a PostgreSQL cluster with ssl on (.ci/postgres start-tls) and sets it"
        ),
        _ => {
            eprintln!(
                "skipped: SLOTLINE_TEST_POSTGRES_TLS is not set (eval \"$(.ci/postgres start-tls DIR)\" starts a cluster)"
            );
            None
        }
    }
}

/// `url` with `query` (`key=value&…`) added.
fn with(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// The unrelated CA `.ci/postgres start-tls` makes beside the right one.
fn other_ca(ca: &Path) -> PathBuf {
    ca.with_file_name("other-ca.crt")
}

/// A new empty database on the TLS server, made and dropped over a verified connection.
struct TlsScratch {
    admin: tokio_postgres::Client,
    name: String,
    /// Its URL, with no TLS settings yet.
    url: String,
    ca: PathBuf,
}

impl TlsScratch {
    async fn new() -> Option<Self> {
        let (server, ca) = tls_server()?;
        let admin = postgres::connect(&with(
            &server,
            &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
        ))
        .await
        .unwrap();
        let name = format!("slotline_tls_{:016x}", rand::random::<u64>());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = server.rsplit_once('/').unwrap().0;
        let url = format!("{base}/{name}");
        Some(Self {
            admin,
            name,
            url,
            ca,
        })
    }

    /// Its URL with `sslmode=MODE` and the right CA.
    fn verified(&self, mode: &str) -> String {
        with(
            &self.url,
            &format!("sslmode={mode}&sslrootcert={}", self.ca.display()),
        )
    }

    async fn drop_database(self) {
        self.admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .unwrap();
    }
}

/// Whether the pool's connection is encrypted, as the server sees it.
async fn encrypted(pg: &Pg) -> bool {
    pg.run(async |c| {
        Ok(c.query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await?
        .get(0))
    })
    .await
    .unwrap()
}

fn refusal(opened: Result<Pg, DbError>) -> String {
    match opened {
        Ok(_) => panic!("connected, and should have been refused"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn postgres_tls_with_sslmode_require_and_the_right_ca_the_store_works_encrypted() {
    let Some(scratch) = TlsScratch::new().await else {
        return;
    };
    for mode in ["require", "verify-ca", "verify-full"] {
        let pg = Pg::open(&scratch.verified(mode)).await.unwrap();
        assert!(encrypted(&pg).await, "{mode}");
    }
    let pg = Pg::open(&scratch.verified("require")).await.unwrap();
    pg.write(async |tx| Ok(tx.batch_execute(SEED).await?))
        .await
        .unwrap();
    let store = Store::Postgres(pg);
    let feed = store
        .feeds()
        .create(1, None, "full", [1; 32], 1)
        .await
        .unwrap();
    let access = store.feeds().for_url(feed.id).await.unwrap().unwrap();
    assert_eq!(access.secret_hash, [1; 32]);
    scratch.drop_database().await;
}

#[tokio::test]
async fn postgres_tls_a_statement_past_its_deadline_is_cancelled_over_tls_too() {
    let Some(scratch) = TlsScratch::new().await else {
        return;
    };
    let url = scratch.verified("verify-full");
    let store = Store::Postgres(Pg::open(&url).await.unwrap());
    let pg = Pg::open(&url).await.unwrap();
    pg.write(async |tx| Ok(tx.batch_execute(SEED).await?))
        .await
        .unwrap();
    let feed = store
        .feeds()
        .create(1, None, "full", [1; 32], 1)
        .await
        .unwrap();
    let mut blocker = postgres::connect(&url).await.unwrap();
    let lock = blocker.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM feeds WHERE id = $1 FOR UPDATE", &[&feed.id])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_millis(300);
    let rotated = deadline::scope(deadline, store.feeds().rotate(1, feed.id, [2; 32], 2)).await;
    assert!(matches!(rotated, Err(DbError::Deadline)), "{rotated:?}");
    // The cancel reached the server over TLS: the rotation stops waiting while the lock
    // is still held (a dropped connection alone would leave it waiting).
    let waiting = async || -> i64 {
        lock.query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE wait_event_type = 'Lock' AND datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
    };
    let mut polls = 0;
    while waiting().await > 0 {
        polls += 1;
        assert!(
            polls < 200,
            "the statement past its deadline was never cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lock.commit().await.unwrap();
    let access = store.feeds().for_url(feed.id).await.unwrap().unwrap();
    assert_eq!(
        access.secret_hash, [1; 32],
        "the late rotation wrote nothing"
    );
    scratch.drop_database().await;
}

#[tokio::test]
async fn postgres_tls_the_change_listener_connects_with_the_urls_tls() {
    let Some(scratch) = TlsScratch::new().await else {
        return;
    };
    let url = scratch.verified("verify-full");
    let pg = Pg::open(&url).await.unwrap();
    let (heard, mut hear) = tokio::sync::mpsc::unbounded_channel();
    let listener = changes::listen(url.clone(), Duration::from_secs(60), move |c| {
        let _ = heard.send(c);
    });
    assert_eq!(hear.recv().await, Some(changes::Change::Everything));
    let ssl: bool = pg
        .run(async |c| {
            Ok(c.query_one(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                 WHERE a.application_name = $1 AND a.datname = current_database()",
                &[&changes::LISTENER],
            )
            .await?
            .get(0))
        })
        .await
        .unwrap();
    assert!(ssl, "the listener's connection is encrypted");
    listener.abort();
    // Refused by the CA, the listener keeps trying and reports nothing.
    let (heard, mut hear) = tokio::sync::mpsc::unbounded_channel();
    let wrong = with(
        &scratch.url,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            other_ca(&scratch.ca).display()
        ),
    );
    let listener = changes::listen(wrong, Duration::from_secs(60), move |c| {
        let _ = heard.send(c);
    });
    let nothing = tokio::time::timeout(Duration::from_millis(500), hear.recv()).await;
    assert!(nothing.is_err(), "{nothing:?}");
    listener.abort();
    scratch.drop_database().await;
}

#[tokio::test]
async fn postgres_tls_a_certificate_from_another_ca_is_refused_saying_which_file_to_fix() {
    let Some(scratch) = TlsScratch::new().await else {
        return;
    };
    let other = other_ca(&scratch.ca);
    for mode in ["require", "verify-ca", "verify-full"] {
        let url = with(
            &scratch.url,
            &format!("sslmode={mode}&sslrootcert={}", other.display()),
        );
        let e = refusal(Pg::open(&url).await);
        assert!(
            e.contains(&format!(
                "not signed by a CA in sslrootcert={}",
                other.display()
            )),
            "{mode}: {e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
    }
    // A CA file that is not there, or not a certificate, is named before connecting.
    let missing = scratch.ca.with_file_name("no-such-ca.crt");
    let e = refusal(
        Pg::open(&with(
            &scratch.url,
            &format!("sslmode=verify-full&sslrootcert={}", missing.display()),
        ))
        .await,
    );
    assert!(
        e.contains(&format!("cannot read sslrootcert={}", missing.display())),
        "{e}"
    );
    assert!(!e.contains("s3cret"), "{e}");
    scratch.drop_database().await;
}

#[tokio::test]
async fn postgres_tls_verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let Some(scratch) = TlsScratch::new().await else {
        return;
    };
    // The certificate names localhost and 127.0.0.1; this URL reaches the same server as
    // db.invalid.
    let (scheme, rest) = scratch.url.split_once("://").unwrap();
    let (user, at) = rest.split_once('@').unwrap();
    let (hostport, db) = at.split_once('/').unwrap();
    let port = hostport.rsplit_once(':').unwrap().1;
    let renamed = format!("{scheme}://{user}@db.invalid:{port}/{db}?hostaddr=127.0.0.1");
    let ca = scratch.ca.display();
    let e = refusal(
        Pg::open(&with(
            &renamed,
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ))
        .await,
    );
    assert!(e.contains("does not name the host in the URL"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
    let pg = Pg::open(&with(
        &renamed,
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ))
    .await
    .unwrap();
    assert!(encrypted(&pg).await);
    scratch.drop_database().await;
}

#[tokio::test]
async fn postgres_tls_sslmode_require_against_a_server_without_tls_is_refused() {
    let Some(server) = crate::postgres::server() else {
        return;
    };
    let url = with(
        &server.replacen("://postgres@", "://postgres:s3cret@", 1),
        "sslmode=require",
    );
    let e = refusal(Pg::open(&url).await);
    assert!(e.contains("the server offers none"), "{e}");
    assert!(e.contains("turn ssl on"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
    // prefer (the default) connects to it plain, as libpq does.
    let admin = postgres::connect(&server).await.unwrap();
    let ssl: bool = admin
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!ssl);
}

#[tokio::test]
async fn postgres_tls_sslmode_disable_connects_plain_and_prefer_encrypts_unverified() {
    let Some(scratch) = TlsScratch::new().await else {
        return;
    };
    let plain = Pg::open(&with(&scratch.url, "sslmode=disable"))
        .await
        .unwrap();
    assert!(!encrypted(&plain).await);
    // Without sslmode (libpq's prefer) a server offering TLS is spoken to in TLS, its
    // certificate unchecked without a CA file; with one, checked.
    let preferred = Pg::open(&scratch.url).await.unwrap();
    assert!(encrypted(&preferred).await);
    let e = refusal(
        Pg::open(&with(
            &scratch.url,
            &format!("sslrootcert={}", other_ca(&scratch.ca).display()),
        ))
        .await,
    );
    assert!(e.contains("not signed by a CA"), "{e}");
    scratch.drop_database().await;
}

#[tokio::test]
async fn postgres_tls_cli_migrate_and_the_copy_from_sqlite_use_the_urls_tls() {
    let Some(scratch) = TlsScratch::new().await else {
        return;
    };
    let url = scratch.verified("verify-full");
    let (code, out, err) = slotline(&["migrate"], &url);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("is up to date"), "{out}");
    assert!(!out.contains("s3cret"), "{out}");
    let wrong = with(
        &scratch.url,
        &format!(
            "sslmode=verify-full&sslrootcert={}",
            other_ca(&scratch.ca).display()
        ),
    );
    let (code, out, err) = slotline(&["migrate"], &wrong);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("not signed by a CA in sslrootcert="), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    // The copy refuses the wrong CA the same way, and copies over the right one.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("s.db");
    slotline::db::Db::open(&file).unwrap();
    let from = file.to_str().unwrap();
    let (code, _, err) = slotline(&["migrate", "--from", from, "--to", &wrong], "data/x.db");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not signed by a CA in sslrootcert="), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    let fresh = TlsScratch::new().await.unwrap();
    let (code, out, err) = slotline(
        &[
            "migrate",
            "--from",
            from,
            "--to",
            &fresh.verified("verify-full"),
        ],
        "data/x.db",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("counts match"), "{out}");
    fresh.drop_database().await;
    scratch.drop_database().await;
}

#[tokio::test]
async fn postgres_tls_a_pool_connection_refused_after_start_says_why() {
    let Some(scratch) = TlsScratch::new().await else {
        return;
    };
    let pg = Pg::open(&scratch.verified("verify-full")).await.unwrap();
    let allow = async |yes: bool| {
        scratch
            .admin
            .batch_execute(&format!(
                "ALTER DATABASE {} ALLOW_CONNECTIONS {yes}",
                scratch.name
            ))
            .await
            .unwrap();
    };
    allow(false).await;
    let e = pg
        .run(async |c| Ok(c.batch_execute("SELECT 1").await?))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("cannot connect to PostgreSQL")
            && e.contains("not currently accepting connections"),
        "{e}"
    );
    assert!(!e.contains("s3cret"), "{e}");
    allow(true).await;
    scratch.drop_database().await;
}
