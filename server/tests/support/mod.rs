//! Runs the real `obol` binary for tests: `serve --dev` on a free port in a data directory,
//! with the address and credentials it prints, stopped by SIGTERM.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A JSON request (blocking): the status and the JSON answer (`null` if none).
pub fn http(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.request(method.parse().unwrap(), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(serde_json::Value::Null))
}

/// The binary with a clean environment and a data directory.
pub fn obol(data: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_obol"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OBOL_DATA_DIR", data)
        .env("OBOL_LOG", "warn");
    command
}

/// A running `obol serve --dev`.
pub struct DevServer {
    pub child: Child,
    /// `http://127.0.0.1:port`
    pub base: String,
    pub email: String,
    pub password: String,
    /// The gRPC address (`127.0.0.1:port`, mutual TLS with the dev certificates).
    pub grpc: Option<String>,
}

impl DevServer {
    /// Starts the server with `env` added and waits for its banner.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> Self {
        let mut command = obol(data);
        command
            .env("OBOL_HTTP_ADDR", "127.0.0.1:0")
            .env("OBOL_GRPC_ADDR", "127.0.0.1:0");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command
            .args(["serve", "--dev"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let base = first
            .strip_prefix("Obol is running: ")
            .unwrap()
            .trim_end_matches('/')
            .to_owned();
        let mut grpc = None;
        let sign_in = lines
            .by_ref()
            .map(Result::unwrap)
            .find(|l| {
                if let Some(rest) = l.trim_start().strip_prefix("gRPC") {
                    grpc = rest.split_whitespace().next().map(str::to_owned);
                }
                l.contains("dev sign-in:")
            })
            .unwrap();
        let (email, password) = sign_in
            .split_once(": ")
            .unwrap()
            .1
            .split_once(" / ")
            .unwrap();
        let (email, password) = (email.to_owned(), password.to_owned());
        // Keep reading, so the server never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        DevServer {
            child,
            base,
            email,
            password,
            grpc,
        }
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "a graceful stop exits 0: {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
