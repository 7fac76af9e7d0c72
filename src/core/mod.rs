//! The shared kernel every business module leans on.

pub mod db;
pub mod error;
pub mod health;
pub mod settings;
pub mod telemetry;
pub mod tls;
