//! Obol's reference server: one binary, `obol`, exposing the engine over REST (and gRPC),
//! with its admin commands. Thin by design: every rule lives in the engine.

pub mod certs;
pub mod cli;
pub mod config;
pub mod dev;
pub mod engine;
pub mod grpc;
pub mod metrics;
pub mod rest;
pub mod secrets;
pub mod serve;
pub mod services;
