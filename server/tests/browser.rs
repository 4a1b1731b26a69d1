//! The web console in headless Chromium (Debian's `chromium`, driven by Playwright's
//! `playwright-core` from npm): sign in, pay with the 3-D Secure sandbox card, capture,
//! refund and see the balance change, against the real binary. Needs Node.js and
//! /usr/bin/chromium (`.ci/run` installs both); the npm package is installed on first run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;
use std::process::Command;

use support::DevServer;

#[test]
fn console_checkout_with_three_d_secure_capture_and_refund() {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does"
    );
    if !e2e.join("node_modules/playwright-core").exists() {
        let installed = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&e2e)
            .status()
            .expect("npm is needed for the browser test");
        assert!(installed.success(), "npm ci in server/e2e failed");
    }
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path(), &[]);
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png");
    let output = Command::new("node")
        .args(["--test", "console.test.mjs"])
        .current_dir(&e2e)
        .env("OBOL_URL", &server.base)
        .env("OBOL_EMAIL", &server.email)
        .env("OBOL_PASSWORD", &server.password)
        .env("OBOL_SCREENSHOT", &screenshot)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(screenshot.exists(), "the screenshot was saved");
    server.stop();
}
