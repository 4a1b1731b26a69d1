//! Debug for the generated messages that may carry a secret: their size or a header's name,
//! never the secret (the build script turns prost's own Debug off for them).

use std::fmt;

use super::proto::{AuthenticateRequest, Header, RefreshTokenRequest, Value, Values};

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Value")
            .field("json_bytes", &self.json.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values")
            .field("count", &self.json.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for AuthenticateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthenticateRequest")
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for RefreshTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenRequest")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::proto::LoginRequest;

    #[test]
    fn secrets_in_grpc_messages_stay_out_of_debug_output() {
        let password = "correct horse battery staple";
        let login = LoginRequest {
            request: Some(Value {
                json: format!(r#"{{"email":"a@b.test","password":"{password}"}}"#).into_bytes(),
            }),
            source: None,
        };
        let token = "rt_secret-refresh-token";
        let shown = [
            format!("{login:?}"),
            format!(
                "{:?}",
                RefreshTokenRequest {
                    refresh_token: token.into()
                }
            ),
            format!(
                "{:?}",
                AuthenticateRequest {
                    credential: token.into()
                }
            ),
            format!(
                "{:?}",
                Header {
                    name: "authorization".into(),
                    value: format!("Bearer {token}"),
                }
            ),
        ];
        for text in &shown {
            assert!(!text.contains(password) && !text.contains(token), "{text}");
            // Bytes printed as numbers would hide the text from a plain search, not from a
            // reader: no byte list either.
            assert!(!text.contains("99, 111"), "{text}");
        }
        let values = Values {
            json: vec![token.as_bytes().to_vec()],
        };
        assert_eq!(format!("{values:?}"), "Values { count: 1, .. }");
        assert_eq!(
            shown[0],
            "LoginRequest { request: Some(Value { json_bytes: 62, .. }), source: None }"
        );
    }
}
