//! The console in a real browser: Debian's Chromium driven by `tests/browser/console.cjs`
//! (playwright-core and @axe-core/playwright, installed by `.ci/run` into
//! `target/ci-tools/browser`). Ignored by default because it needs those tools; run it with
//! `cargo test --locked --test api console_browser -- --ignored`. Screenshots go to
//! `docs/screenshots/` (or `SCREENSHOT_DIR`).

use std::{path::PathBuf, process::Stdio};

use crate::{helpers::*, sms::book};

/// Where `.ci/run` installs the browser test's node modules.
fn browser_tools() -> PathBuf {
    if let Some(dir) = std::env::var_os("SLOTLINE_BROWSER_TOOLS") {
        return dir.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("ci-tools/browser")
}

#[tokio::test]
#[ignore = "needs Chromium and the browser tools; .ci/run installs them"]
async fn the_console_works_in_a_real_browser() {
    let app = spawn_app().await;
    book(&app, "v3:browser", "2026-11-23", "10:00").await;
    app.state.calls.flush().await;
    let tools = browser_tools();
    let modules = tools.join("node_modules");
    assert!(
        modules.join("playwright-core").is_dir(),
        "{} has no playwright-core; run .ci/run (it installs the browser tools) or set SLOTLINE_BROWSER_TOOLS",
        tools.display()
    );
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shots = std::env::var_os("SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("docs/screenshots"));

    let status = tokio::process::Command::new("node")
        .arg(manifest.join("tests/browser/console.cjs"))
        .env("NODE_PATH", &modules)
        .env("SLOTLINE_BASE", &app.base)
        .env("SLOTLINE_TOKEN", ADMIN_TOKEN)
        .env("SCREENSHOT_DIR", &shots)
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .status()
        .await
        .expect("node runs");

    assert!(status.success(), "the browser checks failed (see above)");
    let next_call = app
        .voice("v3:after-browser", "+13125550188", "+13125550100")
        .await;
    assert!(
        next_call.contains("Hello from Bella Salon, the browser test speaking."),
        "the next call hears the greeting saved in the browser: {next_call}"
    );
    let list: Vec<serde_json::Value> = app
        .admin_json(reqwest::Method::GET, "/tenants/bella-salon/appointments")
        .await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["provider"], "Marco", "moved in the browser");
    assert_eq!(
        list[0]["status"], "booked",
        "the cross-site cancel changed nothing"
    );
    let fallback = app
        .admin(reqwest::Method::GET, "/tenants/bella-salon/texml/fallback")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        fallback.contains("<Pause length=\"1\"/>"),
        "the restored version is served: {fallback}"
    );
    for page in ["tenants", "day", "texts", "wording", "document"] {
        for width in ["phone", "desktop"] {
            let file = shots.join(format!("{page}-{width}.png"));
            assert!(file.is_file(), "{} was written", file.display());
        }
    }
}
