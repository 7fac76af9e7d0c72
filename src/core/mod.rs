//! The shared kernel every business module leans on.

pub mod access;
pub mod audit;
pub mod auth;
pub mod db;
pub mod error;
pub mod health;
pub mod i18n;
pub mod jobs;
pub mod org;
pub mod settings;
pub mod setup;
pub mod telemetry;
pub mod tls;
pub mod web;
