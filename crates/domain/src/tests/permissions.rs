//! permissions tests.
