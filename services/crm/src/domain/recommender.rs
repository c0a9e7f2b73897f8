//! The next-step recommender: a few explainable rules over a company's recent data. Each
//! candidate carries the rule that made it, the reason in words, and the item it is about, so
//! a completed or skipped step is recognised and never proposed again.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

/// What the rules look at, gathered for one company.
#[derive(Debug, Default)]
pub struct Facts {
    pub today: NaiveDate,
    pub now: DateTime<Utc>,
    pub open_tasks: Vec<OpenTask>,
    pub open_deals: Vec<OpenDeal>,
    pub recent_interactions: Vec<RecentInteraction>,
    pub last_activity: Option<DateTime<Utc>>,
    /// Recent items that resemble earlier ones of the company (from vault).
    pub similar_items: Vec<SimilarCase>,
    /// Conversations and e-mail threads (from renos) where the customer spoke last.
    pub awaiting_reply: Vec<AwaitingReply>,
}

/// A chatbot conversation or e-mail thread whose last message is the customer's.
#[derive(Debug, Clone)]
pub struct AwaitingReply {
    pub id: Uuid,
    /// conversation or email_thread.
    pub kind: String,
    pub title: String,
    pub customer_email: Option<String>,
    pub last_at: DateTime<Utc>,
}

/// A recent item (conversation, thread, e-mail, ...) much like an earlier one of the company.
#[derive(Debug, Clone)]
pub struct SimilarCase {
    pub document_id: Uuid,
    pub kind: String,
    pub name: String,
    pub at: DateTime<Utc>,
    pub earlier_id: Uuid,
    pub earlier_kind: String,
    pub earlier_name: String,
    pub earlier_at: DateTime<Utc>,
    pub score: f64,
}

#[derive(Debug, Clone)]
pub struct OpenTask {
    pub id: Uuid,
    pub title: String,
    pub due_date: Option<NaiveDate>,
}

#[derive(Debug, Clone)]
pub struct OpenDeal {
    pub id: Uuid,
    pub title: String,
    pub value_ore: i64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct RecentInteraction {
    pub id: Uuid,
    pub channel: String,
    pub content: Option<String>,
    pub score: Option<f64>,
    pub at: DateTime<Utc>,
}

/// A proposed next step.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub rule: &'static str,
    pub source_ref: String,
    pub text: String,
    pub reason: String,
    pub confidence: f64,
    /// The renos conversation or e-mail thread it is about.
    pub based_on_conversation_id: Option<Uuid>,
    pub based_on_thread_id: Option<Uuid>,
}

const STALLED_AFTER_DAYS: i64 = 14;
/// An answer is due after this long.
const REPLY_WITHIN_HOURS: i64 = 24;
const QUIET_AFTER_DAYS: i64 = 30;
const NEGATIVE_BELOW: f64 = -0.3;

/// Candidates, most confident first.
pub fn recommend(facts: &Facts) -> Vec<Candidate> {
    let mut candidates = Vec::new();
    for task in &facts.open_tasks {
        if let Some(due) = task.due_date.filter(|due| *due < facts.today) {
            let days = (facts.today - due).num_days();
            candidates.push(Candidate {
                rule: "overdue_task",
                source_ref: task.id.to_string(),
                text: format!("Følg op på opgaven «{}»", task.title),
                reason: format!("Opgaven var forfalden {due} ({days} dage siden)."),
                confidence: (0.8 + 0.01 * days.min(15) as f64).min(0.95),
                based_on_conversation_id: None,
                based_on_thread_id: None,
            });
        }
    }
    for deal in &facts.open_deals {
        let idle = (facts.now - deal.updated_at).num_days();
        if idle >= STALLED_AFTER_DAYS {
            // Bigger deals first: up to +0.2 for a deal of 100,000 DKK or more.
            let weight = (deal.value_ore as f64 / 10_000_000.0).min(1.0) * 0.2;
            candidates.push(Candidate {
                rule: "stalled_deal",
                source_ref: deal.id.to_string(),
                text: format!("Genoptag dialogen om «{}»", deal.title),
                reason: format!("Handlen har stået stille i {idle} dage."),
                confidence: 0.6 + weight,
                based_on_conversation_id: None,
                based_on_thread_id: None,
            });
        }
    }
    for interaction in &facts.recent_interactions {
        if let Some(score) = interaction.score.filter(|s| *s < NEGATIVE_BELOW) {
            let excerpt: String = interaction
                .content
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(80)
                .collect();
            candidates.push(Candidate {
                rule: "negative_sentiment",
                source_ref: interaction.id.to_string(),
                text: format!(
                    "Kontakt kunden om en negativ oplevelse ({})",
                    interaction.channel
                ),
                reason: format!(
                    "Stemning {score:.2} den {}: «{excerpt}».",
                    interaction.at.date_naive()
                ),
                confidence: (0.75 + (-score - 0.3) * 0.3).min(0.95),
                based_on_conversation_id: None,
                based_on_thread_id: None,
            });
        }
    }
    for case in &facts.similar_items {
        candidates.push(Candidate {
            rule: "similar_case",
            source_ref: format!("{}:{}", case.document_id, case.earlier_id),
            text: format!(
                "Se hvordan «{}» blev håndteret, før «{}» besvares",
                case.earlier_name, case.name
            ),
            reason: format!(
                "«{}» ({}, {}) ligner «{}» ({}, {}) med {:.0} % ifølge søgningen.",
                case.name,
                kind_da(&case.kind),
                case.at.date_naive(),
                case.earlier_name,
                kind_da(&case.earlier_kind),
                case.earlier_at.date_naive(),
                case.score * 100.0
            ),
            confidence: (0.3 + 0.4 * case.score).min(0.7),
            based_on_conversation_id: None,
            based_on_thread_id: None,
        });
    }
    for item in &facts.awaiting_reply {
        let hours = (facts.now - item.last_at).num_hours();
        if hours < REPLY_WITHIN_HOURS {
            continue;
        }
        let days = hours / 24;
        let conversation = item.kind == "conversation";
        candidates.push(Candidate {
            rule: "awaiting_reply",
            // A later message from the customer is a new question.
            source_ref: format!("{}:{}", item.id, item.last_at.timestamp()),
            text: format!(
                "Besvar {} «{}»{}",
                kind_da(&item.kind),
                item.title,
                item.customer_email
                    .as_deref()
                    .map(|e| format!(" fra {e}"))
                    .unwrap_or_default()
            ),
            reason: format!(
                "Kunden skrev sidst den {} og har ventet på svar i {} {}.",
                item.last_at.date_naive(),
                if days >= 1 { days } else { hours },
                if days >= 1 { "dage" } else { "timer" }
            ),
            confidence: (0.7 + 0.03 * days as f64).min(0.9),
            based_on_conversation_id: conversation.then_some(item.id),
            based_on_thread_id: (!conversation).then_some(item.id),
        });
    }
    if !facts.open_deals.is_empty() {
        let quiet = facts
            .last_activity
            .map_or(i64::MAX, |at| (facts.now - at).num_days());
        if quiet >= QUIET_AFTER_DAYS {
            let since = facts
                .last_activity
                .map_or_else(|| "aldrig".to_owned(), |at| at.date_naive().to_string());
            candidates.push(Candidate {
                rule: "no_recent_activity",
                source_ref: facts.today.format("%Y-%m").to_string(),
                text: "Tag kontakt: der er åbne handler, men ingen aktivitet".to_owned(),
                reason: format!("Seneste aktivitet: {since}."),
                confidence: 0.5,
                based_on_conversation_id: None,
                based_on_thread_id: None,
            });
        }
    }
    candidates.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    candidates
}

fn kind_da(kind: &str) -> &str {
    match kind {
        "conversation" => "samtale",
        "email_thread" => "mailtråd",
        "email" => "e-mail",
        "activity" => "aktivitet",
        _ => "dokument",
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn facts() -> Facts {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        Facts {
            today: now.date_naive(),
            now,
            ..Facts::default()
        }
    }

    #[test]
    fn nothing_to_do_means_no_steps() {
        assert!(recommend(&facts()).is_empty());
    }

    #[test]
    fn each_rule_explains_itself_and_the_most_urgent_comes_first() {
        let mut facts = facts();
        facts.open_tasks.push(OpenTask {
            id: Uuid::now_v7(),
            title: "Send tilbud".into(),
            due_date: NaiveDate::from_ymd_opt(2026, 11, 13),
        });
        facts.open_tasks.push(OpenTask {
            id: Uuid::now_v7(),
            title: "Ikke forfalden".into(),
            due_date: NaiveDate::from_ymd_opt(2026, 12, 1),
        });
        facts.open_deals.push(OpenDeal {
            id: Uuid::now_v7(),
            title: "Kontorrengøring".into(),
            value_ore: 5_000_000,
            updated_at: facts.now - chrono::Duration::days(20),
        });
        facts.recent_interactions.push(RecentInteraction {
            id: Uuid::now_v7(),
            channel: "email".into(),
            content: Some("Vinduerne var beskidte".into()),
            score: Some(-0.7),
            at: facts.now,
        });
        let steps = recommend(&facts);
        let rules: Vec<_> = steps.iter().map(|s| s.rule).collect();
        assert_eq!(
            rules,
            [
                "overdue_task",
                "negative_sentiment",
                "stalled_deal",
                "no_recent_activity"
            ]
        );
        assert!(steps[0].reason.contains("10 dage"), "{}", steps[0].reason);
        assert!(steps[2].reason.contains("20 dage"));
    }

    #[test]
    fn a_customer_waiting_for_an_answer_gets_one() {
        let mut facts = facts();
        let thread = Uuid::now_v7();
        facts.awaiting_reply.push(AwaitingReply {
            id: thread,
            kind: "email_thread".into(),
            title: "Tilbud på rengøring".into(),
            customer_email: Some("soren@fjordbyg.dk".into()),
            last_at: facts.now - chrono::Duration::days(3),
        });
        facts.awaiting_reply.push(AwaitingReply {
            id: Uuid::now_v7(),
            kind: "conversation".into(),
            title: "Just now".into(),
            customer_email: None,
            last_at: facts.now - chrono::Duration::hours(2),
        });
        let steps = recommend(&facts);
        assert_eq!(steps.len(), 1, "a fresh message is not overdue yet");
        assert_eq!(steps[0].rule, "awaiting_reply");
        assert_eq!(steps[0].based_on_thread_id, Some(thread));
        assert!(
            steps[0]
                .text
                .contains("mailtråd «Tilbud på rengøring» fra soren@fjordbyg.dk")
        );
        assert!(steps[0].reason.contains("3 dage"), "{}", steps[0].reason);
    }

    #[test]
    fn a_case_like_an_earlier_one_points_to_it() {
        let mut facts = facts();
        facts.similar_items.push(SimilarCase {
            document_id: Uuid::now_v7(),
            kind: "email_thread".into(),
            name: "Klage over vinduer".into(),
            at: facts.now,
            earlier_id: Uuid::now_v7(),
            earlier_kind: "conversation".into(),
            earlier_name: "Stribede ruder i marts".into(),
            earlier_at: facts.now - chrono::Duration::days(200),
            score: 0.82,
        });
        let steps = recommend(&facts);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].rule, "similar_case");
        assert!(steps[0].text.contains("Stribede ruder i marts"));
        assert!(steps[0].reason.contains("82 %"), "{}", steps[0].reason);
        assert!((steps[0].confidence - 0.628).abs() < 1e-9);
    }
}
