//! What a message tells beyond its words: its tone (a small Danish and English lexicon with
//! negation), whether it is urgent, and the CVR numbers it mentions (checksum-valid only).

use tekup_types::Cvr;

/// How a message reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    /// -1 (very negative) to 1 (very positive).
    pub sentiment: f32,
    pub urgent: bool,
}

impl Signals {
    /// Negative or urgent messages are escalated.
    pub fn escalate(&self) -> bool {
        self.sentiment <= NEGATIVE || self.urgent
    }

    /// The escalation's severity: urgent and negative is high, either alone medium.
    pub fn severity(&self) -> &'static str {
        match (self.urgent, self.sentiment <= NEGATIVE) {
            (true, true) => "high",
            (true, false) | (false, true) => "medium",
            (false, false) => "low",
        }
    }
}

/// At or below this a message counts as negative.
pub const NEGATIVE: f32 = -0.3;

const NEGATIVE_WORDS: &[&str] = &[
    // Danish
    "utilfreds",
    "utilfredse",
    "utilfredshed",
    "klage",
    "klager",
    "klagen",
    "skuffet",
    "skuffede",
    "skuffende",
    "dårlig",
    "dårligt",
    "dårlige",
    "elendig",
    "elendigt",
    "sjusket",
    "sjusk",
    "beskidt",
    "beskidte",
    "snavset",
    "snavs",
    "uacceptabel",
    "uacceptabelt",
    "vred",
    "sur",
    "irriteret",
    "frustreret",
    "problem",
    "problemer",
    "fejl",
    "mangler",
    "manglede",
    "glemt",
    "glemte",
    "ødelagt",
    "ødelagde",
    "skade",
    "skadet",
    "opsige",
    "opsiger",
    "opsigelse",
    "refusion",
    "penge tilbage",
    "aldrig igen",
    "ikke tilfreds",
    "ikke i orden",
    "udeblev",
    "kom ikke",
    "forsinket",
    // English
    "unhappy",
    "dissatisfied",
    "complaint",
    "complain",
    "disappointed",
    "disappointing",
    "bad",
    "terrible",
    "awful",
    "horrible",
    "dirty",
    "unacceptable",
    "angry",
    "frustrated",
    "broken",
    "damaged",
    "refund",
    "cancel",
    "never again",
    "not satisfied",
    "missed",
    "late",
];

const POSITIVE_WORDS: &[&str] = &[
    "tak",
    "tusind tak",
    "glad",
    "glade",
    "tilfreds",
    "tilfredse",
    "super",
    "perfekt",
    "flot",
    "fint",
    "god",
    "godt",
    "gode",
    "fantastisk",
    "dejlig",
    "dejligt",
    "anbefale",
    "thanks",
    "thank you",
    "great",
    "perfect",
    "happy",
    "satisfied",
    "excellent",
    "good",
    "lovely",
];

const URGENT_WORDS: &[&str] = &[
    "haster",
    "hurtigst muligt",
    "snarest",
    "akut",
    "straks",
    "omgående",
    "i dag",
    "nu",
    "urgent",
    "asap",
    "immediately",
    "emergency",
    "right away",
    "today",
];

const NEGATIONS: &[&str] = &["ikke", "ingen", "aldrig", "not", "no", "never"];

/// Reads a message's tone and urgency.
pub fn read(text: &str) -> Signals {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let joined = format!(" {} ", words.join(" "));
    let mut score = 0.0f32;
    let mut hits = 0u32;
    for (lexicon, weight) in [(NEGATIVE_WORDS, -1.0f32), (POSITIVE_WORDS, 1.0f32)] {
        for term in lexicon {
            let needle = format!(" {term} ");
            let mut from = 0;
            while let Some(pos) = joined[from..].find(&needle) {
                let start = from + pos;
                // A negation just before flips the term ("ikke tilfreds", "not bad").
                let before = joined[..start].split_whitespace().next_back();
                let negated = before.is_some_and(|w| NEGATIONS.contains(&w)) && !term.contains(' ');
                score += if negated { -weight } else { weight };
                hits += 1;
                from = start + needle.len() - 1;
            }
        }
    }
    let sentiment = if hits == 0 {
        0.0
    } else {
        (score / (hits as f32).max(2.0)).clamp(-1.0, 1.0)
    };
    let urgent = URGENT_WORDS
        .iter()
        .any(|term| joined.contains(&format!(" {term} ")))
        || text.contains("!!");
    Signals { sentiment, urgent }
}

/// The first checksum-valid CVR number in a text: eight digits, optionally prefixed by `DK`
/// or written in pairs (`13 58 56 28`), as signatures do.
pub fn cvr_in_text(text: &str) -> Option<Cvr> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_digit()) {
            let mut digits = String::new();
            let mut j = i;
            while j < chars.len() && digits.len() < 9 {
                if chars[j].is_ascii_digit() {
                    digits.push(chars[j]);
                } else if chars[j] == ' ' && j + 1 < chars.len() && chars[j + 1].is_ascii_digit() {
                    // Pairs separated by single spaces.
                } else {
                    break;
                }
                j += 1;
            }
            if digits.len() == 8
                && let Ok(cvr) = Cvr::parse(&digits)
            {
                return Some(cvr);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

/// Domains of free mail providers: their addresses say nothing about a company.
pub fn is_free_mail(domain: &str) -> bool {
    const FREE: &[&str] = &[
        "gmail.com",
        "googlemail.com",
        "hotmail.com",
        "hotmail.dk",
        "outlook.com",
        "outlook.dk",
        "live.com",
        "live.dk",
        "msn.com",
        "yahoo.com",
        "yahoo.dk",
        "icloud.com",
        "me.com",
        "mail.dk",
        "jubii.dk",
        "ofir.dk",
        "get2net.dk",
        "tdcadsl.dk",
        "stofanet.dk",
        "youmail.dk",
        "protonmail.com",
        "proton.me",
        "gmx.com",
        "gmx.net",
        "aol.com",
    ];
    FREE.contains(&domain.to_lowercase().as_str())
}

/// The domain of an e-mail address, lower-case.
pub fn domain(address: &str) -> Option<String> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim().trim_end_matches('>').to_lowercase())
        .filter(|d| d.contains('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complaints_read_negative_and_thanks_positive() {
        let complaint = read("Vi er meget utilfredse med rengøringen, det var beskidt og sjusket.");
        assert!(complaint.sentiment <= NEGATIVE, "{complaint:?}");
        assert!(complaint.escalate());
        let thanks = read("Tusind tak, det var perfekt og vi er glade!");
        assert!(thanks.sentiment > 0.3, "{thanks:?}");
        assert!(!thanks.escalate());
        assert_eq!(read("Hvornår kommer I på tirsdag?").sentiment, 0.0);
    }

    #[test]
    fn negation_flips_a_term() {
        assert!(read("Vi er ikke tilfredse").sentiment < 0.0);
        assert!(read("not bad at all").sentiment > 0.0);
    }

    #[test]
    fn urgency_is_noticed_in_both_languages() {
        assert!(read("Det haster, vandskade i køkkenet").urgent);
        assert!(read("Please come ASAP").urgent);
        assert!(!read("Kan I komme i næste uge?").urgent);
        assert_eq!(read("Det haster, vi er utilfredse").severity(), "high");
    }

    #[test]
    fn cvr_numbers_are_found_in_signatures_when_their_checksum_holds() {
        assert_eq!(
            cvr_in_text("Fjordbyg ApS, CVR 13585628").unwrap().as_str(),
            "13585628"
        );
        assert_eq!(
            cvr_in_text("CVR-nr.: DK13585628.").unwrap().as_str(),
            "13585628"
        );
        assert_eq!(
            cvr_in_text("cvr 13 58 56 28, tlf 12345678")
                .unwrap()
                .as_str(),
            "13585628"
        );
        assert!(cvr_in_text("Ring på 12345678").is_none());
        assert!(cvr_in_text("ordre 135856281").is_none());
    }

    #[test]
    fn free_mail_says_nothing_about_a_company() {
        assert!(is_free_mail("Gmail.com"));
        assert!(!is_free_mail("fjordbyg.dk"));
        assert_eq!(
            domain("Søren <soren@Fjordbyg.dk>").as_deref(),
            Some("fjordbyg.dk")
        );
    }
}
