//! Whole-stack test harness: the card lab (pcscd + virtual readers + virtual
//! cards) for the tests in `tests/tests/`.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod lab;
pub mod proxy;
pub mod station;
pub mod tools;
pub mod window;
