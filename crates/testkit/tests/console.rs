//! The CRM web console in a real browser (headless Chromium through WebDriver) against the real
//! platform: shared signs users in, renos and flow bring a chatbot conversation and an e-mail
//! thread onto the company's timeline, vault finds an uploaded document by a paraphrase, and
//! crm moves a deal. Tenancy holds in the browser too: a read-only user sees no edit controls
//! and cannot post, a user without the grant gets "not found", a forged form is refused, and
//! after logout the back button shows nothing private. Each main page is saved as a screenshot
//! under target/screenshots/ and checked for basic accessibility, including a walk through it
//! with the Tab key.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tekup_testkit::browser::Browser;
use tekup_testkit::fixtures::{QUOTE_REQUEST, mbox, wotnot_batch};
use tekup_testkit::identity::{Identity, PASSWORD, call, expect};
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};
use uuid::Uuid;

const CVR: &str = "13585628";
/// A company of the same organization that the salesperson is not granted.
const OTHER_CVR: &str = "29000018";
const WINDOWS: &str = "Our office windows are washed every other Tuesday by the facility team. \
     They start on the top floor and finish before lunch.";

/// Basic accessibility of the current page: every visible form control has a label, there is
/// one h1 and heading levels never skip, controls are native (no click handlers on divs) and
/// none is taken out of the keyboard order. Returns the problems found.
const A11Y: &str = r#"
const problems = [];
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden') continue;
  const labelled = (el.id && document.querySelector('label[for="' + el.id + '"]'))
    || el.getAttribute('aria-label') || el.closest('label');
  if (!labelled) problems.push('no label: ' + el.outerHTML.slice(0, 80));
}
const headings = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1]);
if (headings.filter(l => l === 1).length !== 1) problems.push('h1 count: ' + headings.filter(l => l === 1).length);
for (let i = 1; i < headings.length; i++) {
  if (headings[i] > headings[i - 1] + 1) problems.push('heading skips from h' + headings[i - 1] + ' to h' + headings[i]);
}
for (const el of document.querySelectorAll('[onclick], [tabindex]')) {
  if (el.getAttribute('tabindex') !== null && +el.getAttribute('tabindex') < 0) problems.push('out of tab order: ' + el.outerHTML.slice(0, 80));
  if (el.hasAttribute('onclick') && !['A', 'BUTTON', 'INPUT', 'SELECT', 'TEXTAREA', 'SUMMARY'].includes(el.tagName)) problems.push('click handler on ' + el.tagName);
}
if (!document.documentElement.lang) problems.push('no lang on html');
return problems;
"#;

struct Platform {
    identity: Identity,
    crm: TestApp,
    vault: TestApp,
    renos: TestApp,
    flow: TestApp,
}

async fn start() -> Platform {
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(Arc::clone(&db), 61, &[]).await.unwrap();
    let jwks = identity.jwks_url();
    let auth = [("AUTH__JWKS_URL", jwks.as_str())];
    let vault = spawn_app_on::<vault::Vault>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let flow = spawn_app_on::<flow::Flow>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let crm = spawn_app_on::<crm::Crm>(
        Arc::clone(&db),
        &[
            ("AUTH__JWKS_URL", jwks.as_str()),
            ("APP__WEB__SHARED_URL", identity.shared.url.as_str()),
            ("APP__WEB__VAULT_URL", vault.url.as_str()),
        ],
    )
    .await
    .unwrap();
    Platform {
        identity,
        crm,
        vault,
        renos,
        flow,
    }
}

impl Platform {
    /// A user of `org` with `role`: their id and access token.
    async fn user(&self, org: &str, email: &str, role: &str) -> (Uuid, String) {
        self.identity.user(org, email, role).await.unwrap()
    }

    async fn register(&self, admin: &str, cvr: &str, name: &str) {
        expect(
            &self.identity.shared,
            Method::POST,
            "/v1/companies",
            admin,
            Some(json!({"cvr": cvr, "name": name})),
            201,
        )
        .await;
    }

    async fn grant(&self, admin: &str, cvr: &str, user: Uuid, level: &str) {
        expect(
            &self.identity.shared,
            Method::PUT,
            &format!("/v1/companies/{cvr}/grants/{user}"),
            admin,
            Some(json!({"access_level": level})),
            200,
        )
        .await;
    }

    /// What renos does for a customer of the company: a price calculation, a quote sent on it,
    /// a visit booked and carried out, and its invoice issued and paid.
    async fn sell_and_clean(&self, admin: &str, customer_id: &str) -> Value {
        let renos = |method: Method, path: &str, body: Option<Value>, status: u16| {
            let path = path.to_owned();
            async move { expect(&self.renos, method, &path, admin, body, status).await }
        };
        renos(
            Method::POST,
            "/v1/services",
            Some(json!({
            "code": "office", "name": "Kontorrengøring", "pricing": "per_m2",
            "unit_price_ore": 1250,
            "extras": [{"code": "windows", "name": "Vinduer", "price_ore": 30000}]})),
            201,
        )
        .await;
        let calc = renos(
            Method::POST,
            "/v1/price-calculations",
            Some(
                json!({"service": "office", "customer_id": customer_id, "area_m2": 120,
                        "frequency": "biweekly", "extras": ["windows"]}),
            ),
            201,
        )
        .await;
        let quote = renos(
            Method::POST,
            "/v1/quotes",
            Some(json!({"price_calculation_id": calc["id"], "customer_id": customer_id})),
            201,
        )
        .await;
        renos(
            Method::POST,
            &format!("/v1/quotes/{}/send", quote["id"].as_str().unwrap()),
            None,
            200,
        )
        .await;
        let cleaner = Uuid::now_v7();
        let booking = renos(
            Method::POST,
            "/v1/bookings",
            Some(json!({"customer_id": customer_id, "service": "office",
                        "starts_at": "2026-11-02T08:00:00Z", "duration_minutes": 180,
                        "cleaner_id": cleaner, "price_ore": 166_500})),
            201,
        )
        .await;
        renos(
            Method::POST,
            &format!(
                "/v1/bookings/{}/executions",
                booking["id"].as_str().unwrap()
            ),
            Some(
                json!({"cleaner_id": cleaner, "started_at": "2026-11-02T08:00:00Z",
                        "finished_at": "2026-11-02T11:00:00Z"}),
            ),
            201,
        )
        .await;
        let invoice = renos(
            Method::POST,
            "/v1/invoices",
            Some(json!({"customer_id": customer_id})),
            201,
        )
        .await;
        let id = invoice["id"].as_str().unwrap();
        renos(Method::POST, &format!("/v1/invoices/{id}/issue"), None, 200).await;
        renos(Method::POST, &format!("/v1/invoices/{id}/pay"), None, 200).await;
        calc
    }

    /// Waits until crm's timeline of `cvr` (as `token`) has an item of each of `kinds`.
    async fn timeline_has(&self, token: &str, kinds: &[&str]) {
        wait_until(
            "the items on crm's timeline",
            Duration::from_secs(60),
            async || {
                let Ok((status, page)) = call(
                    &self.crm,
                    Method::GET,
                    &format!("/v1/companies/{CVR}/timeline?limit=200"),
                    token,
                    None,
                )
                .await
                else {
                    return false;
                };
                let items = page["items"].as_array().cloned().unwrap_or_default();
                status.is_success() && kinds.iter().all(|k| items.iter().any(|i| i["kind"] == *k))
            },
        )
        .await;
    }
}

/// An amount as the console writes it in Danish: `2.081,25 kr.`.
fn danish_kroner(ore: i64) -> String {
    let whole = (ore / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(digit);
    }
    format!("{grouped},{:02} kr.", ore % 100)
}

async fn sign_in(browser: &Browser, crm: &TestApp, email: &str, password: &str) {
    browser.goto(&crm.at("/app/login")).await.unwrap();
    browser.fill("#email", email).await.unwrap();
    browser.fill("#password", password).await.unwrap();
    let submit = browser.find("main form button[type=submit]").await.unwrap();
    browser.click(&submit).await.unwrap();
}

/// Fills in and sends the administrator's new-user form (Lise Holm, an analyst).
async fn create_user(browser: &Browser, email: &str) {
    browser.fill("#user-email", email).await.unwrap();
    browser.fill("#user-first", "Lise").await.unwrap();
    browser.fill("#user-last", "Holm").await.unwrap();
    browser
        .fill("#user-password", "en-lang-adgangskode")
        .await
        .unwrap();
    let create = browser
        .find("form[action='/app/admin/users'] button")
        .await
        .unwrap();
    browser.click(&create).await.unwrap();
}

async fn sign_out(browser: &Browser) {
    let button = browser
        .find("header form[action='/app/logout'] button")
        .await
        .unwrap();
    browser.click(&button).await.unwrap();
    browser
        .wait_for("#email", Duration::from_secs(10))
        .await
        .unwrap();
}

async fn accessible(browser: &Browser, page: &str) {
    let problems = browser.execute(A11Y).await.unwrap();
    assert_eq!(problems, json!([]), "accessibility of {page}");
    keyboard_reaches_every_control(browser, page).await;
}

/// Walks the page with the Tab key from the top: every visible link, button and form control
/// gets the focus, in document order.
async fn keyboard_reaches_every_control(browser: &Browser, page: &str) {
    let controls = browser
        .execute(
            "const all = [...document.querySelectorAll('a[href], button, input, select, textarea')] \
               .filter(e => e.type !== 'hidden' && e.getClientRects().length > 0); \
             all.forEach((e, i) => e.dataset.kb = i); \
             document.activeElement && document.activeElement.blur(); \
             window.scrollTo(0, 0); \
             return all.length;",
        )
        .await
        .unwrap()
        .as_u64()
        .unwrap();
    // A date field takes a Tab per part (day, month, year): a control may hold the focus for
    // a few presses in a row, but the next control must follow it.
    let mut reached: Vec<Option<u64>> = Vec::new();
    for _ in 0..controls * 4 {
        if reached.len() as u64 == controls {
            break;
        }
        browser.tab().await.unwrap();
        let at = browser
            .execute("return document.activeElement.dataset.kb ?? null;")
            .await
            .unwrap();
        let at = at.as_str().and_then(|i| i.parse::<u64>().ok());
        if reached.last() != Some(&at) {
            reached.push(at);
        }
    }
    if let Some(at) = (0..controls).find(|&i| reached.get(i as usize) != Some(&Some(i))) {
        let stuck = browser
            .execute(&format!(
                "const e = document.querySelector('[data-kb=\"{}\"]'); return e ? e.outerHTML : '';",
                at.saturating_sub(1)
            ))
            .await
            .unwrap();
        panic!("the Tab key on the {page} goes {reached:?}; after {stuck} comes no control {at}");
    }
}

/// The `action` of every next step's form on the company page, in page order; `None` while
/// no company page is shown (between a click and the page that answers it).
async fn step_forms(browser: &Browser) -> Option<Vec<String>> {
    let actions = browser
        .execute(
            "if (!document.querySelector('#timeline')) return null; \
             return [...document.querySelectorAll(\"form[action*='/steps/']\")] \
               .map(form => form.getAttribute('action'));",
        )
        .await
        .ok()?;
    serde_json::from_value(actions).ok()
}

/// A form post from inside the page with a token of our choosing; the answer's status.
async fn post_form(browser: &Browser, path: &str, fields: Value) -> u64 {
    let script = format!(
        "return fetch({path:?}, {{method: 'POST', body: new URLSearchParams({fields}), \
         redirect: 'manual'}}).then(r => r.status);"
    );
    browser.execute(&script).await.unwrap().as_u64().unwrap()
}

async fn csrf_of(browser: &Browser) -> String {
    browser
        .execute("return document.querySelector('input[name=csrf]').value;")
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

async fn deal_stage(p: &Platform, token: &str, id: &str) -> String {
    let deal = expect(
        &p.crm,
        Method::GET,
        &format!("/v1/companies/{CVR}/deals/{id}"),
        token,
        None,
        200,
    )
    .await;
    deal["stage"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_salesperson_works_a_company_in_the_console_and_tenancy_holds() {
    let p = start().await;
    let org = p.identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = p.user(&org, "admin@rendetalje.dk", "admin").await;
    let (seller_id, seller) = p.user(&org, "mette@rendetalje.dk", "analyst").await;
    let (viewer_id, _) = p.user(&org, "jonas@rendetalje.dk", "viewer").await;
    let (outsider_id, _) = p.user(&org, "karin@rendetalje.dk", "analyst").await;
    let (leaver_id, _) = p.user(&org, "ole@rendetalje.dk", "analyst").await;
    p.register(&admin, CVR, "Fjordbyg ApS").await;
    p.register(&admin, OTHER_CVR, "Nordlys Café ApS").await;
    // The registry lists the company as protected from advertising.
    expect(
        &p.identity.shared,
        Method::PATCH,
        &format!("/v1/companies/{CVR}"),
        &admin,
        Some(json!({"advertising_protected": true})),
        200,
    )
    .await;
    p.grant(&admin, CVR, seller_id, "write").await;
    p.grant(&admin, CVR, viewer_id, "read").await;
    p.grant(&admin, OTHER_CVR, outsider_id, "write").await;
    expect(
        &p.identity.shared,
        Method::PATCH,
        &format!("/v1/users/{leaver_id}"),
        &admin,
        Some(json!({"active": false})),
        200,
    )
    .await;

    // The outside world: a WotNot conversation through flow's webhook, an e-mail through
    // renos's ingestion; both tied to the company by the customer's e-mail address.
    let customer = expect(
        &p.renos,
        Method::POST,
        "/v1/customers",
        &admin,
        Some(json!({"cvr": CVR, "name": "Fjordbyg ApS", "email": "soren@fjordbyg.dk"})),
        201,
    )
    .await;
    let calc = p
        .sell_and_clean(&admin, customer["id"].as_str().unwrap())
        .await;
    let hook = expect(
        &p.flow,
        Method::POST,
        "/v1/webhooks",
        &admin,
        Some(json!({"name": "WotNot", "format": "wotnot"})),
        201,
    )
    .await;
    let delivered = reqwest::Client::new()
        .post(p.flow.at(hook["path"].as_str().unwrap()))
        .bearer_auth(hook["secret"].as_str().unwrap())
        .header("content-type", "application/json")
        .body(wotnot_batch())
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status().as_u16(), 202);
    let ingested = reqwest::Client::new()
        .post(p.renos.at("/v1/email/ingest"))
        .bearer_auth(&admin)
        .header("content-type", "application/mbox")
        .body(mbox(&[QUOTE_REQUEST]))
        .send()
        .await
        .unwrap();
    assert_eq!(ingested.status().as_u16(), 201);
    let deal = expect(
        &p.crm,
        Method::POST,
        &format!("/v1/companies/{CVR}/deals"),
        &seller,
        Some(json!({"title": "Ugentlig kontorrengøring", "value_ore": 4_810_000})),
        201,
    )
    .await;
    let deal_id = deal["id"].as_str().unwrap().to_owned();
    expect(
        &p.crm,
        Method::POST,
        &format!("/v1/companies/{OTHER_CVR}/deals"),
        &admin,
        Some(json!({"title": "Caféaftale", "value_ore": 1_200_000})),
        201,
    )
    .await;
    p.timeline_has(
        &seller,
        &[
            "conversation",
            "email_thread",
            "deal",
            "price_calculation",
            "quote",
            "booking",
            "invoice",
        ],
    )
    .await;
    wait_until(
        "the registry's facts in crm",
        Duration::from_secs(30),
        async || {
            call(
                &p.crm,
                Method::GET,
                &format!("/v1/companies/{CVR}"),
                &seller,
                None,
            )
            .await
            .is_ok_and(|(_, company)| company["advertising_protected"] == true)
        },
    )
    .await;
    let proposed = expect(
        &p.crm,
        Method::POST,
        &format!("/v1/companies/{CVR}/process-steps/recommend"),
        &seller,
        None,
        200,
    )
    .await;
    assert!(!proposed.as_array().unwrap().is_empty(), "{proposed}");

    let browser = Browser::start().await.unwrap();

    // Signed out, every page leads to the sign-in form.
    browser.goto(&p.crm.at("/app")).await.unwrap();
    browser
        .wait_for("#email", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(browser.url().await.unwrap().ends_with("/app/login"));
    accessible(&browser, "sign-in").await;
    browser.screenshot("sign-in").await.unwrap();

    // A wrong password and a deactivated account each get their own clear message.
    sign_in(&browser, &p.crm, "mette@rendetalje.dk", "wrong password").await;
    let error = browser
        .wait_for("#login-error", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        browser.text_of(&error).await.unwrap(),
        "E-mail eller adgangskode er forkert."
    );
    sign_in(&browser, &p.crm, "ole@rendetalje.dk", PASSWORD).await;
    let error = browser
        .wait_for("#login-error", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        browser
            .text_of(&error)
            .await
            .unwrap()
            .contains("deaktiveret"),
        "a deactivated user is told so"
    );

    // The salesperson: the switcher shows the granted company only.
    sign_in(&browser, &p.crm, "mette@rendetalje.dk", PASSWORD).await;
    browser
        .wait_for("#switch-q", Duration::from_secs(10))
        .await
        .unwrap();
    let text = browser.text().await.unwrap();
    assert!(
        text.contains("Fjordbyg ApS") && text.contains(CVR),
        "{text}"
    );
    assert!(text.contains("Skrive"), "the access level is shown: {text}");
    assert!(
        !text.contains("Nordlys"),
        "an ungranted company is not listed"
    );
    accessible(&browser, "switcher").await;
    browser.screenshot("switcher").await.unwrap();

    // Typing a valid CVR that is not granted: "not found", nothing of it.
    browser.fill("#switch-q", OTHER_CVR).await.unwrap();
    let go = browser.find("form[action='/app'] button").await.unwrap();
    browser.click(&go).await.unwrap();
    browser
        .wait_for("main h1", Duration::from_secs(10))
        .await
        .unwrap();
    let text = browser.text().await.unwrap();
    assert!(text.contains("Ikke fundet"), "{text}");
    assert!(!text.contains("Nordlys"), "{text}");

    // The company page: the conversation and the e-mail thread are on the timeline.
    browser.goto(&p.crm.at("/app")).await.unwrap();
    let link = browser
        .find(&format!("a[href='/app/companies/{CVR}']"))
        .await
        .unwrap();
    browser.click(&link).await.unwrap();
    browser
        .wait_for("#timeline", Duration::from_secs(10))
        .await
        .unwrap();
    let text = browser.text().await.unwrap();
    assert!(text.contains("Chatsamtale"), "{text}");
    assert!(
        text.contains("Tilbud på rengøring"),
        "the e-mail thread: {text}"
    );
    assert!(
        text.contains("Ugentlig kontorrengøring"),
        "the deal: {text}"
    );
    // The header: the registry's status and its advertising protection.
    let protection = browser.find("#advertising-protection").await.unwrap();
    assert_eq!(
        browser.text_of(&protection).await.unwrap(),
        "Ja – ingen markedsføring"
    );
    // What renos did for the company: the calculation, the quote, the visit, the invoice.
    let timeline = browser.find("#timeline").await.unwrap();
    let text = browser.text_of(&timeline).await.unwrap();
    for shown in [
        "Prisberegning for office",
        "Tilbud",
        "Sendt",
        "Rengøring 2.11.2026 09:00",
        "Faktura nr. 1",
        "Betalt",
    ] {
        assert!(text.contains(shown), "{shown} on the timeline: {text}");
    }
    accessible(&browser, "company page").await;
    browser.screenshot("company").await.unwrap();

    // The calculation opens to its inputs, every partial result and the logic's version.
    let calculation = browser
        .find(&format!(
            "a[href$='/records/{}']",
            calc["id"].as_str().unwrap()
        ))
        .await
        .unwrap();
    browser.click(&calculation).await.unwrap();
    browser
        .wait_for("main table", Duration::from_secs(10))
        .await
        .unwrap();
    let text = browser.text().await.unwrap();
    let total = calc["final_price"].as_i64().unwrap();
    for shown in [
        "Forudsætninger".to_owned(),
        "120 m²".to_owned(),
        "Vinduer".to_owned(),
        calc["logic_version"].as_str().unwrap().to_owned(),
        danish_kroner(total),
    ] {
        assert!(text.contains(&shown), "{shown} on the calculation: {text}");
    }
    let steps = calc["partial_results"].as_array().unwrap();
    assert_eq!(
        browser.find_all("main tbody tr").await.unwrap().len(),
        steps.len(),
        "one row per partial result"
    );
    for step in steps {
        let explanation = step["explanation"].as_str().unwrap();
        assert!(text.contains(explanation), "{explanation}: {text}");
    }
    accessible(&browser, "price calculation").await;
    browser.screenshot("price-calculation").await.unwrap();
    browser.back().await.unwrap();

    // A next step is completed with its button and leaves the list. The step is followed by
    // its own form: steps that vault finds meanwhile may join the list, and the page the click
    // left keeps its `#timeline` until the answer replaces it.
    let before = step_forms(&browser).await.expect("the company page");
    let done = before
        .first()
        .expect("a next step on the company page")
        .clone();
    let complete = browser
        .find(&format!("form[action='{done}'] button[value=complete]"))
        .await
        .unwrap();
    browser.click(&complete).await.unwrap();
    wait_until(
        "the completed step gone",
        Duration::from_secs(10),
        async || {
            step_forms(&browser)
                .await
                .is_some_and(|listed| !listed.contains(&done))
        },
    )
    .await;
    let after = step_forms(&browser).await.expect("the company page");
    for other in &before[1..] {
        assert!(after.contains(other), "{other} stays listed: {after:?}");
    }

    // The conversation opens to its messages.
    let conversation = browser
        .execute(
            "return [...document.querySelectorAll('#timeline li')] \
               .find(li => li.querySelector('.kind').textContent === 'Chatsamtale') \
               .querySelector('a').getAttribute('href');",
        )
        .await
        .unwrap();
    browser
        .goto(&p.crm.at(conversation.as_str().unwrap()))
        .await
        .unwrap();
    browser
        .wait_for("main ol.timeline", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        browser
            .text()
            .await
            .unwrap()
            .contains("striber på alle ruderne")
    );
    browser.back().await.unwrap();

    // A note, added with the form, is on the timeline.
    browser
        .wait_for("#note-subject", Duration::from_secs(10))
        .await
        .unwrap();
    browser
        .fill("#note-subject", "Ringede til Søren")
        .await
        .unwrap();
    browser
        .fill("#note-body", "Han vil have tilbuddet i dag.")
        .await
        .unwrap();
    let save = browser.find("form[action$='/notes'] button").await.unwrap();
    browser.click(&save).await.unwrap();
    wait_until(
        "the note on the timeline",
        Duration::from_secs(10),
        async || match browser.find("#timeline").await {
            Ok(timeline) => browser
                .text_of(&timeline)
                .await
                .is_ok_and(|text| text.contains("Ringede til Søren")),
            Err(_) => false,
        },
    )
    .await;

    // Older history: the first page shows 50 items, "load more" (htmx) appends the next page.
    {
        use diesel_async::{AsyncConnection, SimpleAsyncConnection};
        let mut admin_db =
            diesel_async::AsyncPgConnection::establish(&p.crm.db.admin_url().unwrap())
                .await
                .unwrap();
        admin_db
            .batch_execute(&format!(
                "INSERT INTO crm.activities (id, org_id, cvr, kind, subject, occurred_at) \
                 SELECT gen_random_uuid(), '{org}', '{CVR}', 'call', 'Opkald nr. ' || n, \
                        now() - interval '400 days' - n * interval '1 day' \
                 FROM generate_series(1, 60) AS n"
            ))
            .await
            .unwrap();
    }
    browser
        .goto(&p.crm.at(&format!("/app/companies/{CVR}")))
        .await
        .unwrap();
    let first_page = browser.find_all("#timeline > li[id]").await.unwrap().len();
    assert_eq!(first_page, 50);
    let more = browser.find("#timeline li.more a").await.unwrap();
    browser.click(&more).await.unwrap();
    wait_until(
        "the next page appended",
        Duration::from_secs(10),
        async || browser.find_all("#timeline > li[id]").await.unwrap().len() > 50,
    )
    .await;
    assert!(browser.text().await.unwrap().contains("Opkald nr. 60"));
    assert!(
        browser
            .url()
            .await
            .unwrap()
            .ends_with(&format!("/app/companies/{CVR}")),
        "htmx loaded the page in place"
    );

    // A forged form (a token not of this session) changes nothing.
    let notes_before = p
        .identity
        .shared
        .db
        .admin_count("SELECT count(*) AS n FROM crm.activities")
        .await
        .unwrap();
    let status = post_form(
        &browser,
        &format!("/app/companies/{CVR}/notes"),
        json!({"csrf": "forged", "subject": "Forfalsket"}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        p.identity
            .shared
            .db
            .admin_count("SELECT count(*) AS n FROM crm.activities")
            .await
            .unwrap(),
        notes_before
    );

    // A document uploaded in the browser is found by a paraphrase of its content.
    let file = std::env::temp_dir().join(format!("windows-{}.txt", Uuid::now_v7()));
    std::fs::write(&file, WINDOWS).unwrap();
    let input = browser.find("#upload-file").await.unwrap();
    browser
        .type_into(&input, file.to_str().unwrap())
        .await
        .unwrap();
    let upload = browser
        .find("form[action*='/documents'] button")
        .await
        .unwrap();
    browser.click(&upload).await.unwrap();
    let done = browser
        .wait_for("#upload-result .notice", Duration::from_secs(20))
        .await
        .unwrap();
    assert!(browser.text_of(&done).await.unwrap().contains("uploadet"));
    let progress = browser
        .execute("return document.querySelector('#upload-progress').value;")
        .await
        .unwrap();
    assert_eq!(progress, json!(100), "the progress bar reached the end");
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    let paraphrase = "How often does somebody clean the glass panes at our workplace?";
    let search = format!(
        "/app/search?cvr={CVR}&q={}",
        paraphrase.replace(' ', "+").replace('?', "%3F")
    );
    wait_until(
        "the document found by meaning",
        Duration::from_secs(60),
        async || {
            browser.goto(&p.crm.at(&search)).await.unwrap();
            browser.text().await.unwrap().contains(&name)
        },
    )
    .await;
    accessible(&browser, "search results").await;
    browser.screenshot("search").await.unwrap();
    let result = browser
        .find("#results a[href*='/documents/']")
        .await
        .unwrap();
    browser.click(&result).await.unwrap();
    let text = browser
        .wait_for("#document-text", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        browser.text_of(&text).await.unwrap(),
        WINDOWS.replace("     ", " ")
    );

    // The document is on the company's timeline once indexed, and leaves it when deleted.
    let document = browser.url().await.unwrap();
    let document_id = document.rsplit('/').next().unwrap().to_owned();
    p.timeline_has(&seller, &["document"]).await;
    browser
        .goto(&p.crm.at(&format!("/app/companies/{CVR}?kind=document")))
        .await
        .unwrap();
    let entry = browser
        .find(&format!("#timeline a[href$='/documents/{document_id}']"))
        .await
        .unwrap();
    assert_eq!(browser.text_of(&entry).await.unwrap(), name);
    expect(
        &p.vault,
        Method::DELETE,
        &format!("/v1/documents/{document_id}"),
        &seller,
        None,
        204,
    )
    .await;
    wait_until(
        "the deleted document off the timeline",
        Duration::from_secs(30),
        async || {
            let (_, page) = call(
                &p.crm,
                Method::GET,
                &format!("/v1/companies/{CVR}/timeline?kind=document"),
                &seller,
                None,
            )
            .await
            .unwrap();
            page["items"].as_array().is_some_and(Vec::is_empty)
        },
    )
    .await;

    // The pipeline board: the deal moves to "won".
    browser
        .goto(&p.crm.at(&format!("/app/companies/{CVR}/pipeline")))
        .await
        .unwrap();
    let select = browser.find(&format!("#move-{deal_id}")).await.unwrap();
    let won = browser
        .find(&format!("#move-{deal_id} option[value=won]"))
        .await
        .unwrap();
    browser.click(&select).await.unwrap();
    browser.click(&won).await.unwrap();
    let move_button = browser
        .find(&format!("#deal-{deal_id} button"))
        .await
        .unwrap();
    browser.click(&move_button).await.unwrap();
    browser
        .wait_for(
            &format!("#stage-won ~ #deal-{deal_id}"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(deal_stage(&p, &seller, &deal_id).await, "won");
    accessible(&browser, "pipeline board").await;
    browser.screenshot("pipeline").await.unwrap();

    // The organization's board: every granted company's deals, and only theirs.
    let all = browser.find("a[href='/app/pipeline']").await.unwrap();
    browser.click(&all).await.unwrap();
    browser
        .wait_for(&format!("#deal-{deal_id}"), Duration::from_secs(10))
        .await
        .unwrap();
    let text = browser.text().await.unwrap();
    assert!(text.contains("Fjordbyg ApS"), "the deal's company: {text}");
    assert!(
        !text.contains("Caféaftale"),
        "an ungranted company's deal: {text}"
    );
    let lost = browser
        .find(&format!("#move-{deal_id} option[value=lost]"))
        .await
        .unwrap();
    browser.click(&lost).await.unwrap();
    let move_button = browser
        .find(&format!("#deal-{deal_id} button"))
        .await
        .unwrap();
    browser.click(&move_button).await.unwrap();
    browser
        .wait_for(
            &format!("#stage-lost ~ #deal-{deal_id}"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(browser.url().await.unwrap().ends_with("/app/pipeline"));
    assert_eq!(deal_stage(&p, &seller, &deal_id).await, "lost");
    accessible(&browser, "organization's board").await;

    // Logout: the back button shows nothing private, the old session is dead.
    sign_out(&browser).await;
    browser.back().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = browser.text().await.unwrap();
    assert!(
        !text.contains("Fjordbyg"),
        "after logout, back shows: {text}"
    );
    browser
        .goto(&p.crm.at(&format!("/app/companies/{CVR}")))
        .await
        .unwrap();
    assert!(browser.url().await.unwrap().ends_with("/app/login"));

    // The read-only user: no edit controls, and a post with a valid form token is refused.
    sign_in(&browser, &p.crm, "jonas@rendetalje.dk", PASSWORD).await;
    browser
        .wait_for("#switch-q", Duration::from_secs(10))
        .await
        .unwrap();
    browser
        .goto(&p.crm.at(&format!("/app/companies/{CVR}")))
        .await
        .unwrap();
    browser
        .wait_for("#timeline", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        browser
            .find_all("main form[method=post]")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(browser.text().await.unwrap().contains("Læse"));
    let csrf = csrf_of(&browser).await;
    let status = post_form(
        &browser,
        &format!("/app/companies/{CVR}/notes"),
        json!({"csrf": csrf, "subject": "Må jeg?"}),
    )
    .await;
    assert_eq!(status, 403);
    browser
        .goto(&p.crm.at(&format!("/app/companies/{CVR}/pipeline")))
        .await
        .unwrap();
    assert!(browser.find_all("main select").await.unwrap().is_empty());
    sign_out(&browser).await;

    // A user granted only the other company types this one's address: not found.
    sign_in(&browser, &p.crm, "karin@rendetalje.dk", PASSWORD).await;
    browser
        .wait_for("#switch-q", Duration::from_secs(10))
        .await
        .unwrap();
    browser
        .goto(&p.crm.at(&format!("/app/companies/{CVR}")))
        .await
        .unwrap();
    let text = browser.text().await.unwrap();
    assert!(
        text.contains("Ikke fundet") && !text.contains("Fjordbyg"),
        "{text}"
    );
    // The error page keeps the navigation: back to the companies, and logout works from it.
    browser.find("header nav a[href='/app']").await.unwrap();
    sign_out(&browser).await;

    // The administrator: users, grants and the audit log; a grant made in the form.
    sign_in(&browser, &p.crm, "admin@rendetalje.dk", PASSWORD).await;
    browser
        .wait_for("#switch-q", Duration::from_secs(10))
        .await
        .unwrap();
    browser.goto(&p.crm.at("/app/admin")).await.unwrap();
    browser
        .wait_for("#grants", Duration::from_secs(10))
        .await
        .unwrap();
    browser
        .execute(&format!(
            "document.querySelector('#grant-user').value = '{outsider_id}'; return true;"
        ))
        .await
        .unwrap();
    browser.fill("#grant-cvr", CVR).await.unwrap();
    let grant = browser
        .find("form[action='/app/admin/grants'] button[value=grant]")
        .await
        .unwrap();
    browser.click(&grant).await.unwrap();
    browser
        .wait_for("#grants", Duration::from_secs(10))
        .await
        .unwrap();
    wait_until("the grant in crm", Duration::from_secs(30), async || {
        browser.goto(&p.crm.at("/app/admin")).await.unwrap();
        let grants = browser.find("#grants").await.unwrap();
        let text = browser.text_of(&grants).await.unwrap();
        text.lines()
            .any(|l| l.contains(CVR) && l.contains("karin@rendetalje.dk"))
    })
    .await;
    let audit = browser.find("#audit").await.unwrap();
    assert!(
        browser
            .text_of(&audit)
            .await
            .unwrap()
            .contains("AccessGranted")
    );
    accessible(&browser, "administration").await;
    browser.screenshot("admin-grants").await.unwrap();

    // A new user, created with the form, signs in; deactivated with a button, they cannot.
    create_user(&browser, "lise@rendetalje.dk").await;
    wait_until("the new user listed", Duration::from_secs(10), async || {
        browser
            .text()
            .await
            .is_ok_and(|t| t.contains("lise@rendetalje.dk"))
    })
    .await;
    let users = browser.find("#users-h + table").await.unwrap();
    let text = browser.text_of(&users).await.unwrap();
    let row = text
        .lines()
        .find(|l| l.contains("lise@rendetalje.dk"))
        .unwrap_or_else(|| panic!("the new user is listed: {text}"));
    assert!(
        row.contains("Sælger/analytiker") && row.contains("Ja"),
        "{row}"
    );
    // The same e-mail again: refused with the reason, the navigation still there.
    create_user(&browser, "lise@rendetalje.dk").await;
    let alert = browser
        .wait_for("main p.error", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        browser
            .text_of(&alert)
            .await
            .unwrap()
            .contains("already exists"),
        "a second account with the e-mail is refused"
    );
    browser
        .find("header nav a[href='/app/admin']")
        .await
        .unwrap();
    browser.goto(&p.crm.at("/app/admin")).await.unwrap();
    let lise = browser
        .execute(
            "return [...document.querySelectorAll('#users-h + table tr')] \
               .find(tr => tr.textContent.includes('lise@rendetalje.dk')).id.slice(5);",
        )
        .await
        .unwrap();
    let lise = lise.as_str().unwrap().to_owned();
    let deactivate = browser
        .find(&format!("#user-{lise} button[value=deactivate]"))
        .await
        .unwrap();
    browser.click(&deactivate).await.unwrap();
    browser
        .wait_for(
            &format!("#user-{lise} button[value=activate]"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let user = expect(
        &p.identity.shared,
        Method::GET,
        &format!("/v1/users/{lise}"),
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(user["active"], false, "{user}");
    sign_out(&browser).await;
    sign_in(
        &browser,
        &p.crm,
        "lise@rendetalje.dk",
        "en-lang-adgangskode",
    )
    .await;
    let error = browser
        .wait_for("#login-error", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        browser
            .text_of(&error)
            .await
            .unwrap()
            .contains("deaktiveret")
    );
    sign_in(&browser, &p.crm, "admin@rendetalje.dk", PASSWORD).await;
    browser
        .wait_for("#switch-q", Duration::from_secs(10))
        .await
        .unwrap();

    // The administrator's board has every company's deals.
    browser.goto(&p.crm.at("/app/pipeline")).await.unwrap();
    let text = browser.text().await.unwrap();
    assert!(
        text.contains("Caféaftale") && text.contains("Ugentlig kontorrengøring"),
        "{text}"
    );

    // English on request: amounts and labels follow.
    browser.goto(&p.crm.at("/app/lang/en")).await.unwrap();
    browser
        .goto(&p.crm.at(&format!("/app/companies/{CVR}/pipeline")))
        .await
        .unwrap();
    let text = browser.text().await.unwrap();
    assert!(text.contains("DKK 48,100.00"), "{text}");
    browser.goto(&p.crm.at("/app/lang/da")).await.unwrap();
    browser
        .goto(&p.crm.at(&format!("/app/companies/{CVR}/pipeline")))
        .await
        .unwrap();
    assert!(browser.text().await.unwrap().contains("48.100,00 kr."));

    browser.close().await.unwrap();
    let _ = std::fs::remove_file(file);
    let _ = &p.vault;
}
