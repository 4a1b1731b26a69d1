//! A fresh schema on the local PostgreSQL server for each store a test opens.

pub use obol_postgres::testing::{fresh_schema, store_in};
