//! Every topic of the platform, by the service that publishes it. Like the contracts in
//! `proto/`, this is shared knowledge: consumers that want everything (the audit trail)
//! subscribe to all of them, and a service adds its topics here when it starts publishing.

use crate::kafka::topic;

/// `(service, aggregate)` of every topic; the topic is `tekup.<service>.<aggregate>`.
const TOPICS: &[(&str, &str)] = &[
    ("shared", "organization"),
    ("shared", "user"),
    ("shared", "company"),
    ("shared", "access"),
    ("shared", "gdpr"),
    ("crm", "company"),
    ("crm", "contact"),
    ("crm", "deal"),
    ("crm", "activity"),
    ("crm", "process_step"),
    ("crm", "email"),
    ("crm", "gdpr"),
    ("renos", "lead"),
    ("renos", "customer"),
    ("renos", "price_calculation"),
    ("renos", "quote"),
    ("renos", "plan"),
    ("renos", "booking"),
    ("renos", "invoice"),
    ("renos", "conversation"),
    ("renos", "email_thread"),
    ("renos", "gdpr"),
    ("billy", "invoice"),
    ("billy", "contact"),
    ("billy", "gdpr"),
    ("flow", "webhook"),
    ("flow", "gdpr"),
    ("flow", "workflow"),
    ("vault", "document"),
    ("vault", "similarity"),
    ("vault", "gdpr"),
];

/// Every topic name of the platform.
pub fn all() -> Vec<String> {
    TOPICS
        .iter()
        .map(|(service, aggregate)| topic(service, aggregate))
        .collect()
}

/// The topics one service publishes.
pub fn of(service: &str) -> Vec<String> {
    TOPICS
        .iter()
        .filter(|(s, _)| *s == service)
        .map(|(s, aggregate)| topic(s, aggregate))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_is_named_after_its_service_and_aggregate() {
        assert!(all().contains(&"tekup.shared.access".to_owned()));
        assert_eq!(
            of("crm"),
            [
                "tekup.crm.company",
                "tekup.crm.contact",
                "tekup.crm.deal",
                "tekup.crm.activity",
                "tekup.crm.process_step",
                "tekup.crm.email",
                "tekup.crm.gdpr"
            ]
        );
    }
}
