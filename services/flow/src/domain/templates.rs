//! Built-in workflows an organization installs with one call.

use serde_json::{Value, json};

pub struct Template {
    pub name: &'static str,
    pub description: &'static str,
    pub definition: Value,
}

pub fn all() -> Vec<Template> {
    vec![Template {
        name: "lead-validation",
        description: "A business lead from renos: check its CVR number (modulus 11), look the \
            company up in the CVR registry when the variable cvr_registry_lookup is true (through \
            the http integration cvr-registry, e.g. https://cvrapi.dk with a User-Agent header), \
            and ask crm to open a deal for it.",
        definition: json!({
            "trigger": {
                "type": "event",
                "event": "tekup.renos.v1.LeadCreated",
                "filter": "trim(input.cvr) != ''"
            },
            "steps": [
                {"id": "validate", "type": "transform",
                 "set": {"cvr": "{{ trim(input.cvr) }}", "valid": "{{ cvr_valid(input.cvr) }}"}},
                {"id": "valid", "type": "condition", "if": "steps.validate.valid", "else": "end"},
                {"id": "lookup", "type": "condition",
                 "if": "default(vars.cvr_registry_lookup, false)", "else": "deal"},
                {"id": "registry", "type": "http", "method": "GET", "integration": "cvr-registry",
                 "url": "/api?search={{ steps.validate.cvr }}&country=dk",
                 "retry": {"max_attempts": 3, "non_retryable": ["http_4xx"]}},
                {"id": "deal", "type": "emit", "event": "tekup.flow.v1.DealRequested",
                 "payload": {
                     "cvr": "{{ steps.validate.cvr }}",
                     "title": "{{ 'Lead: ' + default(steps.registry.body.name, steps.validate.cvr) }}",
                     "value_ore": 0,
                     "source": "{{ 'lead:' + input.lead_id }}"
                 }}
            ]
        }),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_a_valid_definition() {
        for template in all() {
            if let Err(errors) = crate::domain::definition::parse(&template.definition) {
                panic!("{}: {errors:?}", template.name);
            }
        }
    }
}
