//! Lead scoring: a few explainable points, each with its reason, capped at 100.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Reason {
    pub points: i32,
    pub reason: String,
}

pub struct LeadFacts<'a> {
    pub source: &'a str,
    pub has_cvr: bool,
    pub has_email: bool,
    pub has_phone: bool,
    pub message: &'a str,
}

pub fn score(lead: &LeadFacts<'_>) -> (i32, Vec<Reason>) {
    let mut reasons = Vec::new();
    let mut add = |points: i32, reason: &str| {
        reasons.push(Reason {
            points,
            reason: reason.to_owned(),
        })
    };
    match lead.source {
        "referral" => add(30, "referred by a customer"),
        "phone" => add(20, "called us"),
        "chatbot" => add(20, "asked the chatbot"),
        "web" | "email" => add(15, "wrote to us"),
        _ => add(5, "other source"),
    }
    if lead.has_cvr {
        add(20, "a business (CVR given)");
    }
    if lead.has_email {
        add(10, "can be reached by e-mail");
    }
    if lead.has_phone {
        add(10, "can be reached by phone");
    }
    let message = lead.message.to_lowercase();
    if ["m2", "m²", "kvm", "kvadratmeter", "square met"]
        .iter()
        .any(|w| message.contains(w))
    {
        add(10, "gave the area");
    }
    if [
        "hver uge",
        "ugentlig",
        "hver anden uge",
        "månedlig",
        "weekly",
        "every week",
        "biweekly",
        "monthly",
        "fast aftale",
    ]
    .iter()
    .any(|w| message.contains(w))
    {
        add(15, "wants recurring cleaning");
    }
    let total = reasons.iter().map(|r| r.points).sum::<i32>().min(100);
    (total, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_come_with_reasons() {
        let (score, reasons) = score(&LeadFacts {
            source: "chatbot",
            has_cvr: true,
            has_email: true,
            has_phone: false,
            message: "Vi har 250 m2 kontor og vil have rengøring hver uge",
        });
        assert_eq!(score, 75);
        assert_eq!(reasons.len(), 5);
        assert!(
            reasons
                .iter()
                .any(|r| r.reason == "wants recurring cleaning")
        );
    }
}
