//! Rapport: an on-premise CRM appliance in one binary.

pub mod app;
pub mod cli;
pub mod config;
pub mod core;
pub mod crm;
pub mod io;
