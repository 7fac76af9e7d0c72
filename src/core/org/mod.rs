//! The organisation: departments, users and roles.

pub mod api;
pub mod departments;
pub mod roles;
pub mod users;
