//! Customers (客户): companies or people the company sells to.

pub mod api;
pub mod model;
pub mod store;

pub use api::routes;
