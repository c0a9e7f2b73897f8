//! Rules without I/O: definitions, expressions, cron schedules, built-in workflows.

pub mod cron;
pub mod definition;
pub mod expr;
pub mod templates;
