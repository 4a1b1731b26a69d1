//! Runs the binding scenario in each language against the library this build made: the
//! bindings are generated into a temporary directory beside a copy of the library.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;

use camino::Utf8PathBuf;
use uniffi::{GenerateOptions, TargetLanguage};

/// `target/<profile>/libobol_ffi.so`, built with this test (the lib target is also a cdylib).
fn library() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let name = format!(
        "{}obol_ffi{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let library = profile.join(name);
    // `cargo test` links the crate as an rlib and leaves the cdylib alone, so it is built
    // by `cargo build -p obol-ffi` before the tests (README's test command does).
    let built = std::fs::metadata(&library)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build -p obol-ffi`",
                library.display()
            )
        });
    assert!(
        built >= newest_source(),
        "{} is older than its sources: run `cargo build -p obol-ffi`",
        library.display()
    );
    library
}

/// When the newest file of the crate's `src/` changed.
fn newest_source() -> std::time::SystemTime {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    std::fs::read_dir(src)
        .expect("bindings/ffi/src")
        .filter_map(|entry| entry.ok()?.metadata().ok()?.modified().ok())
        .max()
        .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
}

/// Generates `language`'s bindings and copies the library next to them.
fn generate(language: TargetLanguage, out: &Path) {
    let library = library();
    uniffi::generate(GenerateOptions {
        languages: vec![language],
        source: Utf8PathBuf::from_path_buf(library.clone()).expect("UTF-8 library path"),
        out_dir: Utf8PathBuf::from_path_buf(out.to_path_buf()).expect("UTF-8 output path"),
        config_override: None,
        format: false,
        crate_filter: None,
        metadata_no_deps: true,
    })
    .expect("generate the bindings");
    std::fs::copy(
        &library,
        out.join(library.file_name().expect("library name")),
    )
    .expect("copy the library beside the bindings");
}

/// Runs a program to success and answers what it printed.
fn run(command: &mut Command) -> String {
    let output = command.output().expect("start the test program");
    assert!(
        output.status.success(),
        "{:?} failed\n--- stdout\n{}\n--- stderr\n{}",
        command,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What every example checkout prints last: the paid order's 42.50 USD, the declined one
/// adding nothing.
const CHECKOUT_BALANCE: &str = "merchant balance: 4250 minor units of USD";

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn scenarios() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

#[test]
fn python_runs_the_scenario_and_the_example() {
    let out = tempfile::tempdir().expect("temporary directory");
    generate(TargetLanguage::Python, out.path());
    run(Command::new("python3")
        .arg(scenarios().join("python/test_scenario.py"))
        .env("PYTHONPATH", out.path()));
    let printed = run(Command::new("python3")
        .arg(examples().join("python/checkout.py"))
        .env("PYTHONPATH", out.path()));
    assert!(printed.contains(CHECKOUT_BALANCE), "{printed}");
}

/// The Kotlin compiler from npm (`kotlin-compiler`, which ships kotlinx-coroutines),
/// installed into `tests/kotlin` on first use.
fn kotlin_home() -> PathBuf {
    let dir = scenarios().join("kotlin");
    let home = dir.join("node_modules/kotlin-compiler");
    if !home.join("bin/kotlinc").exists() {
        run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir));
    }
    home
}

/// JNA, which the generated Kotlin loads the library with (Debian's `libjna-java`).
fn jna() -> PathBuf {
    let jar = std::env::var_os("JNA_JAR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java/jna.jar"));
    assert!(
        jar.exists(),
        "{} is missing: install Debian's libjna-java (or set JNA_JAR)",
        jar.display()
    );
    jar
}

/// Compiles `source` with the generated Kotlin bindings in `out` and runs its `main`.
fn run_kotlin(out: &Path, source: &Path, main: &str) -> String {
    let home = kotlin_home();
    let lib = home.join("lib");
    let classpath = |extra: &[PathBuf]| {
        let mut parts = vec![jna(), lib.join("kotlinx-coroutines-core-jvm.jar")];
        parts.extend_from_slice(extra);
        std::env::join_paths(parts).expect("classpath")
    };
    let jar = out.join(format!("{main}.jar"));
    run(Command::new(home.join("bin/kotlinc"))
        .arg(out.join("dev/obol/obol_ffi.kt"))
        .arg(source)
        .arg("-nowarn")
        .arg("-cp")
        .arg(classpath(&[]))
        .arg("-d")
        .arg(&jar));
    run(Command::new("java")
        .arg(format!("-Djna.library.path={}", out.display()))
        .arg("-cp")
        .arg(classpath(&[jar.clone(), lib.join("kotlin-stdlib.jar")]))
        .arg(main))
}

#[test]
fn kotlin_runs_the_scenario() {
    let out = tempfile::tempdir().expect("temporary directory");
    generate(TargetLanguage::Kotlin, out.path());
    run_kotlin(
        out.path(),
        &scenarios().join("kotlin/Scenario.kt"),
        "ScenarioKt",
    );
}

#[test]
fn kotlin_runs_the_example() {
    let out = tempfile::tempdir().expect("temporary directory");
    generate(TargetLanguage::Kotlin, out.path());
    let printed = run_kotlin(
        out.path(),
        &examples().join("kotlin/Checkout.kt"),
        "CheckoutKt",
    );
    assert!(printed.contains(CHECKOUT_BALANCE), "{printed}");
}

#[test]
fn swift_sources_are_generated() {
    // No Swift compiler exists on this machine: check the sources are produced and complete.
    let out = tempfile::tempdir().expect("temporary directory");
    generate(TargetLanguage::Swift, out.path());
    let swift = std::fs::read_to_string(out.path().join("Obol.swift")).expect("Obol.swift");
    for name in [
        "class Obol",
        "class Tenant",
        "func openObol(",
        "func actAs(",
        "func authenticate(",
        "enum LedgerError",
        "func transfer(",
        "func createCustomer(",
        "func events(",
    ] {
        assert!(swift.contains(name), "Obol.swift lacks {name}");
    }
    let header = std::fs::read_to_string(out.path().join("ObolFFI.h")).expect("ObolFFI.h");
    assert!(header.contains("uniffi_obol_ffi_fn_method_tenant_transfer"));
}
