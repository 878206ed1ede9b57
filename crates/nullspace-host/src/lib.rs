//! Nullspace host runtime.

pub mod image;
