//! use_case tests.
