//! `tekup seed`: realistic, deterministic Danish test data through the services' own APIs (so
//! every event, projection and index follows as in production): an organization with an
//! administrator, an analyst and a viewer; companies with valid CVR numbers; contacts with
//! Danish names; deals, activities, customers with addresses, leads; e-mail threads in Danish
//! and English through renos's ingestion, chatbot conversations through flow's WotNot webhook.
//! `--scale` multiplies the counts; the same scale gives the same data.

use std::io::Write;

use anyhow::{Context, bail};
use reqwest::{Client, Method};
use serde_json::{Value, json};

pub struct Urls {
    pub shared: String,
    pub crm: String,
    pub renos: String,
    pub flow: String,
}

pub struct Options {
    pub scale: u32,
    pub org_name: String,
    pub operator_token: String,
    pub password: String,
}

const FIRST: [&str; 12] = [
    "Mette", "Søren", "Anne", "Jens", "Lars", "Kirsten", "Mads", "Sofie", "Åse", "Niels", "Freja",
    "Rasmus",
];
const LAST: [&str; 12] = [
    "Hansen",
    "Jensen",
    "Nielsen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Østergaard",
    "Kjær",
    "Mølgaard",
];
const STREETS: [&str; 6] = [
    "Vesterbrogade",
    "Nørrebrogade",
    "Østergade",
    "Algade",
    "Søndergade",
    "Åboulevarden",
];
const CITIES: [(&str, &str); 5] = [
    ("1620", "København V"),
    ("2200", "København N"),
    ("8000", "Aarhus C"),
    ("5000", "Odense C"),
    ("9000", "Aalborg"),
];
const TRADES: [&str; 6] = [
    "Rengøring ApS",
    "Byg A/S",
    "Café ApS",
    "Revision I/S",
    "Tandklinik ApS",
    "Auto ApS",
];

/// A small deterministic generator (xorshift): the same scale seeds the same data.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = usize::try_from(self.next() % items.len() as u64).unwrap_or(0);
        items[i]
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The `n`th valid CVR number from `start` (modulus 11 with weights 2,7,6,5,4,3,2,1).
fn cvr(start: u32, n: usize) -> String {
    let mut found = 0;
    let mut base = start;
    loop {
        let digits: Vec<u32> = format!("{base:07}")
            .chars()
            .filter_map(|c| c.to_digit(10))
            .collect();
        let sum: u32 = digits
            .iter()
            .zip([2, 7, 6, 5, 4, 3, 2])
            .map(|(d, w)| d * w)
            .sum();
        let check = (11 - sum % 11) % 11;
        if check < 10 && digits[0] != 0 {
            if found == n {
                return format!("{base:07}{check}");
            }
            found += 1;
        }
        base += 1;
    }
}

struct Api {
    client: Client,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        url: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.client.request(method.clone(), url);
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {url}: {status} {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn progress(what: &str, done: usize, total: usize) {
    eprint!("\r  {what:<22} {done:>6}/{total}");
    if done == total {
        eprintln!();
    }
    let _ = std::io::stderr().flush();
}

/// What was seeded.
#[derive(Debug, Default, serde::Serialize)]
pub struct Seeded {
    pub org_id: String,
    pub admin_email: String,
    pub companies: usize,
    pub contacts: usize,
    pub deals: usize,
    pub activities: usize,
    pub customers: usize,
    pub leads: usize,
    pub email_threads: usize,
    pub conversations: usize,
}

pub async fn run(urls: &Urls, options: &Options) -> anyhow::Result<Seeded> {
    let api = Api {
        client: Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?,
    };
    let scale = usize::try_from(options.scale.max(1)).unwrap_or(1);
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ u64::from(options.scale));
    let mut seeded = Seeded::default();

    let org = api
        .call(
            Method::POST,
            &format!("{}/v1/organizations", urls.shared),
            &options.operator_token,
            Some(json!({"name": options.org_name})),
        )
        .await?;
    let org_id = org["id"].as_str().context("organization id")?.to_owned();
    // The users' addresses are the organization's own (addresses are unique platform-wide).
    let slug: String = options
        .org_name
        .split_whitespace()
        .next()
        .map(ascii)
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let domain = format!("{}.dk", if slug.is_empty() { "tekup" } else { &slug });
    let mut tokens = Vec::new();
    for (role, first, last) in [
        ("admin", "Mette", "Hansen"),
        ("analyst", "Søren", "Jensen"),
        ("viewer", "Anne", "Nielsen"),
    ] {
        let email = format!("{role}@{domain}");
        api.call(
            Method::POST,
            &format!("{}/v1/organizations/{org_id}/users", urls.shared),
            &options.operator_token,
            Some(
                json!({"email": email, "password": options.password, "first_name": first,
                        "last_name": last, "role": role}),
            ),
        )
        .await?;
        let login = api
            .call(
                Method::POST,
                &format!("{}/v1/auth/login", urls.shared),
                "",
                Some(json!({"email": email, "password": options.password})),
            )
            .await?;
        tokens.push(
            login["access_token"]
                .as_str()
                .context("access token")?
                .to_owned(),
        );
    }
    let admin = tokens[0].clone();
    seeded.org_id.clone_from(&org_id);
    seeded.admin_email = format!("admin@{domain}");

    // Companies, in shared; crm makes their records from shared's events.
    let companies: Vec<(String, String)> = (0..10 * scale)
        .map(|i| {
            let name = format!("{} {}", dice.pick(&LAST), dice.pick(&TRADES));
            (cvr(1_000_000 + (options.scale % 100) * 10_000, i), name)
        })
        .collect();
    for (i, (number, name)) in companies.iter().enumerate() {
        api.call(
            Method::POST,
            &format!("{}/v1/companies", urls.shared),
            &admin,
            Some(json!({"cvr": number, "name": name})),
        )
        .await?;
        progress("companies", i + 1, companies.len());
    }
    seeded.companies = companies.len();
    // Wait for crm's records (events) of every company before adding to them: the events are
    // spread over partitions by CVR, so the last company's may arrive before the first's.
    let started = std::time::Instant::now();
    for (number, _) in &companies {
        while api
            .call(
                Method::GET,
                &format!("{}/v1/companies/{number}", urls.crm),
                &admin,
                None,
            )
            .await
            .is_err()
        {
            if started.elapsed() > std::time::Duration::from_secs(60) {
                bail!("crm has not received the companies from shared's events within a minute");
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    let total = 30 * scale;
    for i in 0..total {
        let (number, _) = &companies[i % companies.len()];
        let (first, last) = (dice.pick(&FIRST), dice.pick(&LAST));
        let email = format!("{}.{}{i}@{}", ascii(first), ascii(last), "kunde.dk");
        api.call(
            Method::POST,
            &format!("{}/v1/companies/{number}/contacts", urls.crm),
            &admin,
            Some(
                json!({"first_name": first, "last_name": last, "email": email,
                        "phone": format!("+45 {:02} {:02} {:02} {:02}", 20 + dice.below(70),
                            dice.below(100), dice.below(100), dice.below(100))}),
            ),
        )
        .await?;
        progress("contacts", i + 1, total);
    }
    seeded.contacts = total;
    let total = 10 * scale;
    for i in 0..total {
        let (number, name) = &companies[i % companies.len()];
        api.call(
            Method::POST,
            &format!("{}/v1/companies/{number}/deals", urls.crm),
            &admin,
            Some(json!({"title": format!("Fast rengøring hos {name}"),
                        "value_ore": 100_000 * (1 + dice.below(50))})),
        )
        .await?;
        progress("deals", i + 1, total);
    }
    seeded.deals = total;
    let notes = [
        (
            "call",
            "Opkald om tilbud",
            "Kunden ønsker tilbud på ugentlig rengøring af 240 m² kontor.",
        ),
        (
            "meeting",
            "Besigtigelse",
            "Vi så lokalerne; vinduespudsning hver anden måned.",
        ),
        (
            "note",
            "Follow-up",
            "Customer asked for an English quote for their Copenhagen office.",
        ),
        (
            "email",
            "Faktura spørgsmål",
            "Spørgsmål til faktura 1042: moms og betalingsbetingelser.",
        ),
    ];
    let total = 20 * scale;
    for i in 0..total {
        let (number, _) = &companies[i % companies.len()];
        let (kind, subject, body) = notes[i % notes.len()];
        api.call(
            Method::POST,
            &format!("{}/v1/companies/{number}/activities", urls.crm),
            &admin,
            Some(json!({"kind": kind, "subject": subject, "body": body})),
        )
        .await?;
        progress("activities", i + 1, total);
    }
    seeded.activities = total;

    let total = 10 * scale;
    for i in 0..total {
        let (zip, city) = CITIES[i % CITIES.len()];
        let business = i % 2 == 0;
        let (first, last) = (dice.pick(&FIRST), dice.pick(&LAST));
        let body = if business {
            let (number, name) = &companies[i % companies.len()];
            json!({"cvr": number, "name": name, "email": format!("kontakt{i}@kunde.dk"),
                   "street": format!("{} {}", dice.pick(&STREETS), 1 + dice.below(120)),
                   "zipcode": zip, "city": city})
        } else {
            json!({"name": format!("{first} {last}"), "email": format!("{}{i}@privat.dk", ascii(first)),
                   "street": format!("{} {}", dice.pick(&STREETS), 1 + dice.below(120)),
                   "zipcode": zip, "city": city})
        };
        // A business customer exists once per company: later rounds of the same company are
        // private customers instead.
        let body = if business && i >= companies.len() * 2 {
            json!({"name": format!("{first} {last}"), "zipcode": zip, "city": city})
        } else {
            body
        };
        api.call(
            Method::POST,
            &format!("{}/v1/customers", urls.renos),
            &admin,
            Some(body),
        )
        .await?;
        progress("customers", i + 1, total);
    }
    seeded.customers = total;
    let messages = [
        (
            "web",
            "Vi har 120 m² kontor og vil have rengøring hver anden uge.",
        ),
        ("chatbot", "Kan I pudse vinduer i næste uge?"),
        (
            "email",
            "We need weekly cleaning of our office in Aarhus, about 300 m2.",
        ),
        ("phone", "Trappevask i opgang med 12 lejligheder."),
    ];
    let total = 20 * scale;
    for i in 0..total {
        let (source, message) = messages[i % messages.len()];
        let (number, name) = &companies[i % companies.len()];
        let body = if i % 3 == 0 {
            json!({"source": source, "name": format!("{} {}", dice.pick(&FIRST), dice.pick(&LAST)),
                   "email": format!("lead{i}@privat.dk"), "message": message})
        } else {
            json!({"source": source, "name": name, "cvr": number,
                   "email": format!("lead{i}@kunde.dk"), "message": message})
        };
        api.call(
            Method::POST,
            &format!("{}/v1/leads", urls.renos),
            &admin,
            Some(body),
        )
        .await?;
        progress("leads", i + 1, total);
    }
    seeded.leads = total;

    // E-mail threads: a customer's question and our reply, through renos's ingestion.
    let total = 5 * scale;
    for i in 0..total {
        let (number, name) = &companies[i % companies.len()];
        let id = format!("seed-{}-{i}@{domain}", options.scale);
        let (subject, text) = if i % 2 == 0 {
            (
                format!("Tilbud på rengøring til {name}"),
                format!(
                    "Hej\n\nKan I give et tilbud på rengøring af vores kontor?\n\nMvh\n{name}\nCVR {number}\n"
                ),
            )
        } else {
            (
                format!("Cleaning quote for {name}"),
                format!(
                    "Hello,\n\nCould you send a quote for weekly cleaning?\n\nBest regards\n{name}\nCVR {number}\n"
                ),
            )
        };
        let question = format!(
            "From: {name} <kontakt{i}@kunde.dk>\r\nTo: kontakt@{domain}\r\nSubject: {subject}\r\n\
             Message-ID: <{id}>\r\nDate: Mon, 2 Nov 2026 09:{:02}:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}",
            i % 60
        );
        let reply = format!(
            "From: Rendetalje <kontakt@{domain}>\r\nTo: kontakt{i}@kunde.dk\r\nSubject: Re: {subject}\r\n\
             Message-ID: <reply-{id}>\r\nIn-Reply-To: <{id}>\r\nDate: Mon, 2 Nov 2026 11:{:02}:00 +0100\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\nTak for din henvendelse. Vi vender tilbage i morgen.\r\n",
            i % 60
        );
        for message in [question, reply] {
            let response = api
                .client
                .post(format!("{}/v1/email/ingest", urls.renos))
                .bearer_auth(&admin)
                .header("content-type", "message/rfc822")
                .body(message)
                .send()
                .await?;
            if !response.status().is_success() {
                bail!(
                    "ingesting an e-mail: {} {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                );
            }
        }
        progress("e-mail threads", i + 1, total);
    }
    seeded.email_threads = total;

    // Chatbot conversations: WotNot batches to flow's webhook, as WotNot sends them.
    let hook = api
        .call(
            Method::POST,
            &format!("{}/v1/webhooks", urls.flow),
            &admin,
            Some(json!({"name": "WotNot chatbot", "format": "wotnot"})),
        )
        .await?;
    let path = hook["path"].as_str().context("webhook path")?.to_owned();
    let token = hook["secret"]
        .as_str()
        .context("webhook secret")?
        .to_owned();
    let total = 5 * scale;
    for i in 0..total {
        let (number, name) = &companies[i % companies.len()];
        let key = format!("seed{}c{i}", options.scale);
        let at = |second: u64| format!("2026-11-16 09:{:02}:{second:02}.000000", i % 60);
        let batch = json!({"events": [
            {"event": {"type": "conversation_create", "payload": {
                "created_at": at(0), "title": format!("Visitor - {key}"), "external_key": key,
                "is_closed": 0, "is_new_visitor": true,
                "variables": [
                    {"type": "text", "name": "visitor_name", "value": name},
                    {"type": "text", "name": "email", "value": format!("chat{i}@kunde.dk")},
                    {"type": "text", "name": "cvr", "value": number}
                ]}}},
            {"event": {"type": "message", "payload": {
                "external_key": key, "created_at": at(30),
                "message": {"id": format!("{key}-1"), "text": "Hej, hvad koster en hovedrengøring af 80 m²?",
                            "sender": {"type": "visitor"}}}}},
            {"event": {"type": "message", "payload": {
                "external_key": key, "created_at": at(40),
                "message": {"id": format!("{key}-2"), "text": "Tak! En af vores konsulenter kontakter dig i dag.",
                            "sender": {"type": "bot"}}}}}
        ]});
        let response = api
            .client
            .post(format!("{}{path}", urls.flow))
            .bearer_auth(&token)
            .json(&batch)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!(
                "delivering a chatbot batch: {} {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        progress("chatbot conversations", i + 1, total);
    }
    seeded.conversations = total;
    Ok(seeded)
}

/// A name in ASCII, for e-mail addresses.
fn ascii(name: &str) -> String {
    name.to_lowercase()
        .replace('æ', "ae")
        .replace('ø', "oe")
        .replace('å', "aa")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cvr_numbers_are_valid_and_distinct() {
        let numbers: Vec<String> = (0..50).map(|n| cvr(2_500_000, n)).collect();
        for number in &numbers {
            assert!(tekup_types::Cvr::parse(number).is_ok(), "{number}");
        }
        let mut unique = numbers.clone();
        unique.dedup();
        assert_eq!(unique.len(), numbers.len());
        assert_eq!(ascii("Søren Åse Kjær"), "soeren aase kjaer");
    }
}
