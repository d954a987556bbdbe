//! profile tests.
