//! The web console in headless Chromium (Debian's `chromium`, driven by Playwright's
//! `playwright-core` from npm): sign in, pay with a 3-D Secure card (the sandbox's, and
//! Stripe's against localstripe), capture, refund and see the balance change, against the
//! real binary. Needs Node.js and
//! /usr/bin/chromium (`.ci/run` installs both); the npm package is installed on first run.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::Path;
use std::process::Command;

use support::DevServer;

/// Runs the console test against a dev server started with `env`, its cards going to
/// `provider`.
fn console_checkout(provider: &str, env: &[(&str, &str)]) {
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
    let server = DevServer::start(dir.path(), env);
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("console-{provider}.png"));
    let output = Command::new("node")
        .args(["--test", "console.test.mjs"])
        .current_dir(&e2e)
        .env("OBOL_URL", &server.base)
        .env("OBOL_EMAIL", &server.email)
        .env("OBOL_PASSWORD", &server.password)
        .env("OBOL_SCREENSHOT", &screenshot)
        .env("OBOL_PROVIDER", provider)
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

#[test]
fn console_checkout_with_three_d_secure_capture_and_refund() {
    console_checkout("sandbox", &[]);
}

#[test]
fn console_checkout_through_stripe_against_localstripe() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let localstripe = runtime.block_on(obol_stripe::testing::Localstripe::start());
    // The runtime holds localstripe's process handle: it lives until the end of the test.
    let returned = format!("{}/returned", localstripe.base);
    console_checkout(
        "stripe",
        &[
            ("OBOL_STRIPE_API_BASE", &localstripe.base),
            (
                "OBOL_STRIPE_SECRET_KEY",
                obol_stripe::testing::TEST_SECRET_KEY,
            ),
            (
                "OBOL_STRIPE_WEBHOOK_SECRET",
                obol_stripe::testing::TEST_WEBHOOK_SECRET,
            ),
            ("OBOL_STRIPE_RETURN_URL", &returned),
        ],
    );
    drop(localstripe);
}
