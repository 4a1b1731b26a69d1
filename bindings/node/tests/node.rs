//! Runs the Node scenario (`__test__/scenario.test.mjs`, `node:test`) against the addon this
//! build made: a copy of it, named as the committed loader (`index.js`) expects, in a
//! temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/libobol_node.so`, built by `cargo build -p obol-node` (README's test
/// command runs it first; `cargo test` does not build a cdylib-only crate's library).
fn addon() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let library = profile.join(format!(
        "{}obol_node{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let built = std::fs::metadata(&library)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build -p obol-node`",
                library.display()
            )
        });
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let newest = std::fs::read_dir(src)
        .expect("bindings/node/src")
        .filter_map(|entry| entry.ok()?.metadata().ok()?.modified().ok())
        .max()
        .expect("sources");
    assert!(
        built >= newest,
        "{} is older than its sources: run `cargo build -p obol-node`",
        library.display()
    );
    library
}

/// A temporary package of the committed loader (`index.js`) and a copy of the addon, named
/// as the loader expects.
fn package() -> tempfile::TempDir {
    let package = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().expect("temporary directory");
    std::fs::copy(package.join("index.js"), out.path().join("index.js")).expect("copy index.js");
    std::fs::copy(addon(), out.path().join("obol.linux-x64-gnu.node")).expect("copy the addon");
    out
}

/// Runs `node` with `args`, OBOL_NODE pointing at `package`, to success; answers its output.
fn node(package: &Path, args: &[&Path]) -> String {
    let output = Command::new("node")
        .args(args)
        .env("OBOL_NODE", package.join("index.js"))
        .output()
        .expect("run node (install Node.js 18 or later)");
    assert!(
        output.status.success(),
        "node {args:?} failed\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn node_runs_the_scenario() {
    let out = package();
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("__test__/scenario.test.mjs");
    node(out.path(), &[Path::new("--test"), &scenario]);
}

#[test]
fn node_runs_the_example() {
    let out = package();
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/node/checkout.mjs");
    let printed = node(out.path(), &[&example]);
    assert!(
        printed.contains("merchant balance: 4250 minor units of USD"),
        "{printed}"
    );
}
