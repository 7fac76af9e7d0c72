//! The shared kernel every business module leans on.

pub mod access;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod db;
pub mod error;
pub mod fields;
pub mod follows;
pub mod health;
pub mod i18n;
pub mod jobs;
pub mod list;
pub mod listing;
pub mod openapi;
pub mod org;
pub mod records;
pub mod settings;
pub mod setup;
pub mod sql;
pub mod telemetry;
pub mod text;
pub mod time;
pub mod tls;
pub mod views;
pub mod web;
