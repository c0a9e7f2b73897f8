//! The sales pipeline: ordered stages, each open, won or lost, with a win probability.

use serde::{Deserialize, Serialize};
use tekup_runtime::problem::FieldError;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Lower-case identifier used on deals, e.g. `proposal`.
    pub key: String,
    pub name: String,
    /// 0–100: how likely a deal in this stage is to be won.
    pub probability: i32,
    /// `open`, `won` or `lost`.
    pub outcome: String,
}

/// The pipeline an organization has until an administrator sets its own.
pub fn defaults() -> Vec<Stage> {
    [
        ("lead", "Lead", 10, "open"),
        ("qualified", "Kvalificeret", 25, "open"),
        ("proposal", "Tilbud sendt", 50, "open"),
        ("negotiation", "Forhandling", 75, "open"),
        ("won", "Vundet", 100, "won"),
        ("lost", "Tabt", 0, "lost"),
    ]
    .into_iter()
    .map(|(key, name, probability, outcome)| Stage {
        key: key.into(),
        name: name.into(),
        probability,
        outcome: outcome.into(),
    })
    .collect()
}

/// Checks a proposed pipeline: unique well-formed keys, names, probabilities in 0–100, known
/// outcomes, and at least one open, one won and one lost stage.
pub fn validate(stages: &[Stage]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, stage) in stages.iter().enumerate() {
        let at = |field: &str| format!("stages[{n}].{field}");
        let key_ok = stage.key.len() <= 40
            && stage.key.starts_with(|c: char| c.is_ascii_lowercase())
            && stage
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            errors.push(FieldError::new(
                at("key"),
                "must be lower-case letters, digits or _ (1–40)",
            ));
        } else if !seen.insert(stage.key.as_str()) {
            errors.push(FieldError::new(at("key"), "is used twice"));
        }
        if !(1..=100).contains(&stage.name.trim().chars().count()) {
            errors.push(FieldError::new(at("name"), "must be 1 to 100 characters"));
        }
        if !(0..=100).contains(&stage.probability) {
            errors.push(FieldError::new(
                at("probability"),
                "must be between 0 and 100",
            ));
        }
        if !["open", "won", "lost"].contains(&stage.outcome.as_str()) {
            errors.push(FieldError::new(at("outcome"), "must be open, won or lost"));
        }
    }
    for outcome in ["open", "won", "lost"] {
        if !stages.iter().any(|s| s.outcome == outcome) {
            errors.push(FieldError::new(
                "stages",
                format!("needs at least one {outcome} stage"),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_a_valid_pipeline() {
        assert!(validate(&defaults()).is_empty());
    }

    #[test]
    fn every_flaw_is_named() {
        let mut stages = defaults();
        stages[1].key = "lead".into();
        stages[2].probability = 120;
        stages.retain(|s| s.outcome != "lost");
        let fields: Vec<_> = validate(&stages).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["stages[1].key", "stages[2].probability", "stages"]);
    }
}
