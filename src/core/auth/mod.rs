//! Who is asking: passwords, sessions, API tokens, login throttling, and the
//! per-request [`Actor`](actor::Actor).

pub mod actor;
pub mod api;
pub mod login;
pub mod password;
pub mod session;
pub mod token;
