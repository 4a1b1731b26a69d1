//! Passwords: the strength rules (8–128 characters, not a common password) and argon2id
//! hashing with OWASP's parameters (m = 19 MiB, t = 2, p = 1), stored as PHC strings so the
//! parameters travel with each hash and can be raised later.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

/// Shortest password accepted, in characters (NIST SP 800-63B, OWASP).
pub const MIN_LENGTH: usize = 8;
/// Longest password accepted, in characters (bounds the hashing work an attacker can ask for).
pub const MAX_LENGTH: usize = 128;

/// OWASP's argon2id minimum: 19 MiB of memory, 2 passes, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over memory.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;

const COMMON: &str = include_str!("common_passwords.txt");

/// A password in memory. Debug never shows it.
pub struct Password(SecretString);

/// Cloned only to hand the password to the blocking hasher thread; both copies are wiped.
impl Clone for Password {
    fn clone(&self) -> Self {
        Password(self.0.clone())
    }
}

impl From<&str> for Password {
    fn from(text: &str) -> Self {
        Password::new(text)
    }
}

/// Takes the string: its buffer is wiped when the password drops (shrinking it to fit may
/// free spare capacity unwiped; `Password::new` copies instead).
impl From<String> for Password {
    fn from(text: String) -> Self {
        Password(SecretString::from(text))
    }
}

/// Written as a JSON string only to cross the service seam (gateway to auth service, over
/// mutual TLS); no answer or log holds a password.
impl serde::Serialize for Password {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

/// Read from a JSON string, straight into wiped memory.
impl<'de> serde::Deserialize<'de> for Password {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        SecretString::deserialize(deserializer).map(Password)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

impl Password {
    /// Wraps what the user typed (not yet checked).
    pub fn new(text: &str) -> Self {
        Password(SecretString::from(text))
    }

    /// Checks the strength rules for a new password.
    pub fn check_strength(&self) -> Result<()> {
        let length = self.0.expose_secret().chars().count();
        if length < MIN_LENGTH {
            return Err(weak(&format!("at least {MIN_LENGTH} characters")));
        }
        if length > MAX_LENGTH {
            return Err(weak(&format!("at most {MAX_LENGTH} characters")));
        }
        let lowered = zeroize::Zeroizing::new(self.0.expose_secret().to_lowercase());
        let common = COMMON
            .lines()
            .filter(|line| !line.starts_with('#'))
            .any(|line| line == lowered.as_str());
        if common {
            return Err(weak("one of the most common passwords"));
        }
        Ok(())
    }

    /// The password's text, for a keyed fingerprint or a host's own hand-over; never log it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    fn bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

fn weak(rule: &str) -> Error {
    Error::WeakPassword {
        reason: format!("a password must be {rule}"),
    }
}

/// argon2id with fixed parameters.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    /// A hash of a random password, verified against when the user does not exist, so an
    /// unknown email costs the same work as a wrong password.
    dummy: String,
}

impl PasswordHasher {
    /// A hasher with OWASP's parameters.
    pub fn new() -> Result<Self> {
        Self::with_params(MEMORY_KIB, ITERATIONS, PARALLELISM)
    }

    /// A hasher with other parameters (tests use cheap ones; production never goes below
    /// OWASP's).
    pub fn with_params(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self> {
        let params =
            Params::new(memory_kib, iterations, parallelism, None).map_err(|e| Error::Config {
                reason: format!("argon2 parameters: {e}"),
            })?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hasher = PasswordHasher {
            argon2,
            dummy: String::new(),
        };
        let mut random = [0u8; 24];
        rand::rng().fill_bytes(&mut random);
        hasher.dummy = hasher.hash(&Password::new(&hex::encode(random)))?;
        Ok(hasher)
    }

    /// Hashes a password with a fresh random salt; returns the PHC string.
    pub fn hash(&self, password: &Password) -> Result<String> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| Error::corrupt(format!("salt: {e}")))?;
        Ok(self
            .argon2
            .hash_password(password.bytes(), &salt)
            .map_err(|e| Error::corrupt(format!("argon2: {e}")))?
            .to_string())
    }

    /// True when `password` matches the stored PHC hash (parameters are read from the hash).
    pub fn verify(&self, password: &Password, stored: &str) -> Result<bool> {
        let parsed = PasswordHash::new(stored)
            .map_err(|_| Error::corrupt("a stored password hash is malformed"))?;
        Ok(self
            .argon2
            .verify_password(password.bytes(), &parsed)
            .is_ok())
    }

    /// Does the work of a verification against nothing: call it when the user is unknown.
    pub fn verify_dummy(&self, password: &Password) -> Result<bool> {
        self.verify(password, &self.dummy).map(|_| false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::with_params(1024, 1, 1).unwrap()
    }

    #[test]
    fn strength_rules() {
        assert!(
            Password::new("correct horse battery")
                .check_strength()
                .is_ok()
        );
        for weak in ["short", "Password123", "QWERTYUIOP", "12345678"] {
            let err = Password::new(weak).check_strength().unwrap_err();
            assert_eq!(err.code(), "weak_password", "{weak}");
            assert!(!err.to_string().contains(weak));
        }
        let long = "x".repeat(MAX_LENGTH + 1);
        assert!(Password::new(&long).check_strength().is_err());
        // Characters, not bytes: 8 two-byte letters are long enough.
        assert!(Password::new("éééééééé").check_strength().is_ok());
    }

    #[test]
    fn hashes_verify_and_never_show_the_password() {
        let hasher = cheap();
        let password = Password::new("tr0ub4dor&3-horse");
        let stored = hasher.hash(&password).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$"));
        assert!(!stored.contains("tr0ub4dor"));
        assert!(hasher.verify(&password, &stored).unwrap());
        assert!(
            !hasher
                .verify(&Password::new("tr0ub4dor&4-horse"), &stored)
                .unwrap()
        );
        assert_ne!(hasher.hash(&password).unwrap(), stored, "salts differ");
        assert!(!hasher.verify_dummy(&password).unwrap());
        assert_eq!(format!("{password:?}"), "Password(…)");
        assert!(!format!("{hasher:?}").contains("tr0ub4dor"));
    }

    #[test]
    fn owasp_parameters_are_the_default() {
        let hasher = PasswordHasher::new().unwrap();
        let stored = hasher.hash(&Password::new("a long enough one")).unwrap();
        assert!(stored.contains("m=19456,t=2,p=1"), "{stored}");
    }
}
