//! Whole-stack test harness (being written).
