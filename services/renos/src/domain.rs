//! RenOS's rules, free of storage: pricing and lead scoring.

pub mod pricing;
pub mod scoring;
