//! The organisation: departments, users and roles.

pub mod departments;
pub mod roles;
pub mod users;
