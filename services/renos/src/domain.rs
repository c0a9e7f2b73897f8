//! RenOS's rules, free of storage: pricing, lead scoring, reading e-mails and chatbot events,
//! and what messages signal.

pub mod mail;
pub mod pricing;
pub mod scoring;
pub mod signals;
pub mod wotnot;
