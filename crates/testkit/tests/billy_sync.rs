//! billy against a local fake of the Billy.dk API (real shapes: paging, errors, 429), end to
//! end through the broker: an invoice issued in renos appears exactly once in Billy.dk even when
//! the answer to its creation is lost, renos shows it synced and, once Billy.dk reports it
//! paid, paid; an invoice of an organization that has not connected is reported back as failed
//! and goes through after connecting; every page of a 1,500-record list is read, and a 429
//! holds the organization's calls back.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tekup_testkit::fake_billy::{FakeBilly, Fault, TOKEN};
use tekup_testkit::identity::{Identity, call, expect};
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};

const CVR: &str = "13585628";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// billy's timeout per Billy.dk request in these tests.
const TIMEOUT_MS: u64 = 800;

struct World {
    db: Arc<TestDb>,
    identity: Identity,
    renos: TestApp,
    billy: TestApp,
    fake: FakeBilly,
}

impl World {
    async fn new() -> Self {
        let db = Arc::new(TestDb::new().await.unwrap());
        let identity = Identity::start(Arc::clone(&db), 17, &[]).await.unwrap();
        let jwks = identity.jwks_url();
        let fake = FakeBilly::start().await.unwrap();
        let renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
            .await
            .unwrap();
        let timeout = TIMEOUT_MS.to_string();
        let billy = spawn_app_on::<billy::Billy>(
            Arc::clone(&db),
            &[
                ("AUTH__JWKS_URL", &jwks),
                ("APP__TOKEN_KEY", KEY),
                ("APP__API__BASE_URL", &fake.base_url),
                ("APP__API__TIMEOUT_MS", &timeout),
                ("APP__API__RETRY_BACKOFF_MS", "50"),
                ("APP__PUSH__POLL_INTERVAL_MS", "50"),
                ("APP__PUSH__RETRY_BACKOFF_MS", "100"),
                ("APP__PUSH__MAX_ATTEMPTS", "3"),
                ("APP__SYNC__ENABLED", "false"),
            ],
        )
        .await
        .unwrap();
        Self {
            db,
            identity,
            renos,
            billy,
            fake,
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db.admin_count(sql).await.unwrap()
    }

    async fn admin(&self) -> String {
        let org = self.identity.org("Rendetalje ApS").await.unwrap();
        self.identity
            .user(&org, "admin@rendetalje.dk", "admin")
            .await
            .unwrap()
            .1
    }

    async fn connect(&self, admin: &str) -> Value {
        expect(
            &self.billy,
            Method::PUT,
            "/v1/billy/connection",
            admin,
            Some(json!({"access_token": TOKEN})),
            200,
        )
        .await
    }

    /// A business customer with one completed visit, invoiced and issued; returns the invoice.
    async fn issue_invoice(&self, admin: &str) -> Value {
        let renos = &self.renos;
        expect(renos, Method::POST, "/v1/services", admin,
            Some(json!({"code": "office", "name": "Kontorrengøring", "pricing": "hourly", "unit_price_ore": 45000})), 201)
            .await;
        let customer = expect(
            renos,
            Method::POST,
            "/v1/customers",
            admin,
            Some(json!({"cvr": CVR, "name": "Fjordbyg ApS", "email": "bogholderi@fjordbyg.dk"})),
            201,
        )
        .await;
        let cleaner = uuid::Uuid::now_v7();
        let booking = expect(renos, Method::POST, "/v1/bookings", admin, Some(json!({
                "customer_id": customer["id"], "service": "office", "starts_at": "2026-11-16T08:00:00Z",
                "duration_minutes": 120, "cleaner_id": cleaner, "price_ore": 90000})), 201)
            .await;
        expect(
            renos,
            Method::POST,
            &format!(
                "/v1/bookings/{}/executions",
                booking["id"].as_str().unwrap()
            ),
            admin,
            Some(
                json!({"cleaner_id": cleaner, "started_at": "2026-11-16T08:00:00Z",
                               "finished_at": "2026-11-16T10:00:00Z"}),
            ),
            201,
        )
        .await;
        let draft = expect(
            renos,
            Method::POST,
            "/v1/invoices",
            admin,
            Some(json!({"customer_id": customer["id"]})),
            201,
        )
        .await;
        expect(
            renos,
            Method::POST,
            &format!("/v1/invoices/{}/issue", draft["id"].as_str().unwrap()),
            admin,
            None,
            200,
        )
        .await
    }

    async fn invoice(&self, admin: &str, id: &str) -> Value {
        expect(
            &self.renos,
            Method::GET,
            &format!("/v1/invoices/{id}"),
            admin,
            None,
            200,
        )
        .await
    }
}

#[tokio::test]
async fn an_issued_invoice_appears_once_in_billy_even_when_the_answer_is_lost() {
    let world = World::new().await;
    let admin = world.admin().await;

    let (status, problem) = call(
        &world.billy,
        Method::PUT,
        "/v1/billy/connection",
        &admin,
        Some(json!({"access_token": "not-the-token"})),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "access_token");
    let connection = world.connect(&admin).await;
    assert_eq!(connection["connected"], true);
    assert_eq!(connection["billy_organization_id"], "org-fake");
    assert!(connection.get("access_token").is_none());
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM billy.users WHERE email = 'birthe@rendetalje.dk'")
            .await,
        1,
        "whose Billy.dk account the token is"
    );

    // Billy.dk carries out the first create but its answer comes after billy's timeout.
    world.fault(
        "POST",
        "invoices",
        Fault::Slow(Duration::from_millis(TIMEOUT_MS * 3)),
    );
    let issued = world.issue_invoice(&admin).await;
    let id = issued["id"].as_str().unwrap().to_owned();
    wait_until(
        "renos shows the invoice synced",
        Duration::from_secs(30),
        async || world.invoice(&admin, &id).await["billy_id"].is_string(),
    )
    .await;

    let invoices = world.fake.invoices();
    assert_eq!(
        invoices.len(),
        1,
        "exactly one invoice in Billy.dk: {invoices:?}"
    );
    let billy_invoice = &invoices[0];
    assert_eq!(billy_invoice["externalId"], id.as_str());
    assert_eq!(billy_invoice["state"], "approved");
    assert_eq!(billy_invoice["invoiceNo"], "1");
    assert_eq!(billy_invoice["entryDate"].as_str().unwrap().len(), 10);
    let billed: f64 = billy_invoice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["unitPrice"].as_f64().unwrap() * l["quantity"].as_f64().unwrap())
        .sum();
    assert_eq!(
        billed,
        issued["net_ore"].as_f64().unwrap() / 100.0,
        "{billy_invoice}"
    );
    assert_eq!(world.fake.requests("POST", "/v2/invoices"), 1);
    let contacts = world.fake.contacts();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["registrationNo"], CVR);
    assert_eq!(
        contacts[0]["contactPersons"][0]["email"],
        "bogholderi@fjordbyg.dk"
    );
    let synced = world.invoice(&admin, &id).await;
    assert_eq!(synced["billy_id"], billy_invoice["id"]);
    assert!(synced["synced_at"].is_string());
    assert_eq!(synced["status"], "issued");

    // The lost answer is in the audit log: an unanswered create, then the look-up that found it.
    let audit = expect(
        &world.billy,
        Method::GET,
        "/v1/billy/audit-logs?status=0",
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(audit["items"][0]["operation"], "create invoice", "{audit}");
    assert_eq!(audit["items"][0]["path"], "/invoices");

    // Billy.dk reports it paid at the next poll: renos marks it paid.
    world.fake.pay(billy_invoice["id"].as_str().unwrap());
    let outcome = expect(
        &world.billy,
        Method::POST,
        "/v1/billy/sync",
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(outcome["invoices"], 1, "{outcome}");
    wait_until(
        "renos shows the invoice paid",
        Duration::from_secs(30),
        async || world.invoice(&admin, &id).await["status"] == "paid",
    )
    .await;
    let cached = expect(
        &world.billy,
        Method::GET,
        "/v1/billy/invoices",
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(cached["items"][0]["data"]["isPaid"], true);
    let pushes = expect(
        &world.billy,
        Method::GET,
        "/v1/billy/pushes",
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(pushes["items"][0]["status"], "synced");
    assert_eq!(pushes["items"][0]["attempts"], 2, "{pushes}");
}

#[tokio::test]
async fn an_invoice_of_an_unconnected_organization_is_reported_and_goes_through_later() {
    let world = World::new().await;
    let admin = world.admin().await;
    let issued = world.issue_invoice(&admin).await;
    let id = issued["id"].as_str().unwrap().to_owned();
    wait_until(
        "renos shows why the sync failed",
        Duration::from_secs(30),
        async || {
            world.invoice(&admin, &id).await["billy_sync_error"]
                .as_str()
                .is_some_and(|e| e.contains("not connected"))
        },
    )
    .await;
    assert!(world.fake.invoices().is_empty());

    world.connect(&admin).await;
    expect(
        &world.billy,
        Method::POST,
        &format!("/v1/billy/pushes/{id}/retry"),
        &admin,
        None,
        202,
    )
    .await;
    wait_until(
        "renos shows the invoice synced",
        Duration::from_secs(30),
        async || world.invoice(&admin, &id).await["billy_id"].is_string(),
    )
    .await;
    let synced = world.invoice(&admin, &id).await;
    assert!(synced["billy_sync_error"].is_null(), "{synced}");
    assert_eq!(world.fake.invoices().len(), 1);
    let (status, _) = call(
        &world.billy,
        Method::POST,
        &format!("/v1/billy/pushes/{id}/retry"),
        &admin,
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "only failed pushes are retried"
    );
}

#[tokio::test]
async fn every_page_is_read_and_a_429_holds_the_organization_back() {
    let world = World::new().await;
    let admin = world.admin().await;
    world.fake.seed_contacts("Kunde", 1_500);
    world.connect(&admin).await;
    world.fault("GET", "contacts", Fault::Status(429, Some(1)));
    world.fault("GET", "products", Fault::Status(503, None));

    let started = std::time::Instant::now();
    let outcome = expect(
        &world.billy,
        Method::POST,
        "/v1/billy/sync",
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(outcome["customers"], 1_500, "{outcome}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the 429's Retry-After was honoured"
    );
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM billy.cached_customers")
            .await,
        1_500
    );
    // One refused page, then both pages of 1,000 and 500.
    assert_eq!(world.fake.requests("GET", "/v2/contacts"), 3);
    assert_eq!(world.fake.requests("GET", "/v2/products"), 2);
    let limited = expect(
        &world.billy,
        Method::GET,
        "/v1/billy/audit-logs?status=429",
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(limited["items"].as_array().unwrap().len(), 1);
    assert_eq!(limited["items"][0]["error_code"], "FAULT");
    let usage = expect(
        &world.billy,
        Method::GET,
        "/v1/billy/usage",
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(usage[0]["rate_limited"], 1, "{usage}");
    assert_eq!(usage[0]["errors"], 2);
    assert!(usage[0]["calls"].as_i64().unwrap() >= 6);
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM billy.rate_limits WHERE blocked_until > now() - interval '1 minute'")
            .await,
        1
    );

    // Each contact announced once; an unchanged second read announces nothing.
    let announced = "SELECT count(*) AS n FROM billy.outbox WHERE topic = 'tekup.billy.contact'";
    assert_eq!(world.count(announced).await, 1_500);
    let again = expect(
        &world.billy,
        Method::POST,
        "/v1/billy/sync",
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(again["changed"], 0, "{again}");
    assert_eq!(world.count(announced).await, 1_500);

    // Another organization sees none of it.
    let other = world.identity.org("Konkurrent A/S").await.unwrap();
    let (_, outsider) = world
        .identity
        .user(&other, "admin@konkurrent.dk", "admin")
        .await
        .unwrap();
    let theirs = expect(
        &world.billy,
        Method::GET,
        "/v1/billy/customers",
        &outsider,
        None,
        200,
    )
    .await;
    assert_eq!(theirs["items"], json!([]));
    let connection = expect(
        &world.billy,
        Method::GET,
        "/v1/billy/connection",
        &outsider,
        None,
        200,
    )
    .await;
    assert_eq!(connection["connected"], false);
}

/// Billy.dk's contacts and invoices follow the company grants: a user granted one company reads
/// its contact and invoice and the private customer's, never another company's; an
/// administrator reads them all.
#[tokio::test]
async fn billy_records_are_read_only_where_their_company_is_granted() {
    const GRANTED: &str = "13585628";
    const OTHER: &str = "25313763";
    let world = World::new().await;
    let org = world.identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = world
        .identity
        .user(&org, "admin@rendetalje.dk", "admin")
        .await
        .unwrap();
    let (reader_id, reader) = world
        .identity
        .user(&org, "laeser@rendetalje.dk", "viewer")
        .await
        .unwrap();
    for cvr in [GRANTED, OTHER] {
        expect(
            &world.identity.shared,
            Method::POST,
            "/v1/companies",
            &admin,
            Some(json!({"cvr": cvr, "name": format!("Kunde {cvr}")})),
            201,
        )
        .await;
    }
    expect(
        &world.identity.shared,
        Method::PUT,
        &format!("/v1/companies/{GRANTED}/grants/{reader_id}"),
        &admin,
        Some(json!({"access_level": "read"})),
        200,
    )
    .await;
    // As typed into Billy.dk: the granted company with prefix and spaces.
    let granted = world
        .fake
        .add_contact("Kontor ApS", "DK 13 58 56 28", "kontor@kunde.dk");
    let other = world.fake.add_contact("Anden ApS", OTHER, "anden@kunde.dk");
    world.fake.seed_contacts("Privat", 1);
    let private = world.fake.contacts().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invoices: Vec<String> = [&granted, &other, &private]
        .map(|contact| world.fake.add_invoice(contact))
        .into();
    world.connect(&admin).await;
    expect(
        &world.billy,
        Method::POST,
        "/v1/billy/sync",
        &admin,
        None,
        200,
    )
    .await;

    let ids = async |token: &str, resource: &str| -> Vec<String> {
        let page = expect(
            &world.billy,
            Method::GET,
            &format!("/v1/billy/{resource}"),
            token,
            None,
            200,
        )
        .await;
        let mut ids: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["billy_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    wait_until("the grant in billy", Duration::from_secs(30), async || {
        ids(&reader, "customers").await.contains(&granted)
    })
    .await;
    assert_eq!(
        ids(&reader, "customers").await,
        sorted(vec![granted.clone(), private.clone()])
    );
    assert_eq!(
        ids(&reader, "invoices").await,
        sorted(vec![invoices[0].clone(), invoices[2].clone()])
    );
    assert_eq!(
        ids(&admin, "customers").await,
        sorted(vec![granted, other, private])
    );
    assert_eq!(ids(&admin, "invoices").await, sorted(invoices));
    assert_eq!(
        world
            .count(&format!(
                "SELECT count(*) AS n FROM billy.cached_customers WHERE cvr = '{GRANTED}'"
            ))
            .await,
        1,
        "the CVR is kept as its 8 digits"
    );
}

/// The product invoice lines are booked on must exist in Billy.dk: checked when connecting,
/// refused with a 422 naming the field, and nothing stored.
#[tokio::test]
async fn a_product_billy_does_not_know_is_refused_when_connecting() {
    let world = World::new().await;
    let admin = world.admin().await;
    for product in ["", "../organization", "p-404"] {
        let (status, problem) = call(
            &world.billy,
            Method::PUT,
            "/v1/billy/connection",
            &admin,
            Some(json!({"access_token": TOKEN, "product_id": product})),
        )
        .await
        .unwrap();
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{product}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], "product_id", "{problem}");
    }
    let connection = expect(
        &world.billy,
        Method::GET,
        "/v1/billy/connection",
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(connection["connected"], false, "nothing was stored");
    let product = world.fake.add_product("Vinduespudsning");
    let connected = expect(
        &world.billy,
        Method::PUT,
        "/v1/billy/connection",
        &admin,
        Some(json!({"access_token": TOKEN, "product_id": product})),
        200,
    )
    .await;
    assert_eq!(connected["product_id"], product.as_str());
}

impl World {
    fn fault(&self, method: &str, resource: &str, fault: Fault) {
        self.fake.fault(method, resource, fault);
    }
}
