//! renos through HTTP with real tokens from shared: lead → price calculation → quote →
//! accepted → recurring plan (across the change from summer time) → executions → invoices
//! numbered without gaps, announced for billy; and the refusals that change nothing.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tekup_testkit::identity::{Identity, call};
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};
use uuid::Uuid;

const CVR: &str = "13585628";

struct World {
    db: Arc<TestDb>,
    identity: Identity,
    renos: TestApp,
}

impl World {
    async fn new() -> Self {
        let db = Arc::new(TestDb::new().await.unwrap());
        let identity = Identity::start(Arc::clone(&db), 7, &[]).await.unwrap();
        let jwks = identity.jwks_url();
        let renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
            .await
            .unwrap();
        Self {
            db,
            identity,
            renos,
        }
    }

    async fn call(
        &self,
        app: &TestApp,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(app, method, path, token, body).await.unwrap()
    }

    async fn renos(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let body = (!body.is_null()).then_some(body);
        self.call(&self.renos, method, path, token, body).await
    }

    /// `renos` expecting `status`; returns the body.
    async fn ok(&self, method: Method, path: &str, token: &str, body: Value, status: u16) -> Value {
        let (got, value) = self.renos(method.clone(), path, token, body).await;
        assert_eq!(got.as_u16(), status, "{method} {path}: {value}");
        value
    }

    async fn org(&self, name: &str) -> String {
        self.identity.org(name).await.unwrap()
    }

    async fn user(&self, org: &str, email: &str, role: &str) -> (Uuid, String) {
        self.identity.user(org, email, role).await.unwrap()
    }

    async fn admin_count(&self, sql: &str) -> i64 {
        self.db.admin_count(sql).await.unwrap()
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_lead_becomes_a_recurring_customer_and_is_invoiced() {
    let world = World::new().await;
    let org = world.org("Rendetalje ApS").await;
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    let (viewer_id, viewer) = world.user(&org, "viewer@rendetalje.dk", "viewer").await;
    let other = world.org("Konkurrent A/S").await;
    let (_, outsider) = world.user(&other, "admin@konkurrent.dk", "admin").await;
    let (status, _) = world
        .call(
            &world.identity.shared,
            Method::POST,
            "/v1/companies",
            &admin,
            Some(json!({"cvr": CVR, "name": "Kunde ApS"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = world
        .call(
            &world.identity.shared,
            Method::PUT,
            &format!("/v1/companies/{CVR}/grants/{viewer_id}"),
            &admin,
            Some(json!({"access_level": "read"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    world
        .ok(
            Method::POST,
            "/v1/services",
            &admin,
            json!({
            "code": "office", "name": "Kontorrengøring", "pricing": "per_m2",
            "unit_price_ore": 1250,
            "extras": [{"code": "windows", "name": "Vinduer", "price_ore": 30000},
                       {"code": "soap", "name": "Sæbe", "price_ore": 5000, "labour": false}]}),
            201,
        )
        .await;

    // A lead from the chatbot, scored with its reasons.
    let lead = world
        .ok(
            Method::POST,
            "/v1/leads",
            &admin,
            json!({
            "source": "chatbot", "name": "Kunde ApS", "cvr": CVR, "email": "Mette@Kunde.dk",
            "message": "Vi har 120 m2 kontor og vil have rengøring hver anden uge"}),
            201,
        )
        .await;
    assert_eq!(lead["score"], 75, "{lead}");
    assert_eq!(lead["score_reasons"].as_array().unwrap().len(), 5);
    let lead_id = lead["id"].as_str().unwrap();

    // The price, stored with its parameters, sources and every step; re-running agrees.
    let calc = world
        .ok(
            Method::POST,
            "/v1/price-calculations",
            &admin,
            json!({
            "service": "office", "lead_id": lead_id, "area_m2": 120, "frequency": "biweekly",
            "extras": ["windows", "soap"],
            "data_sources": [{"kind": "conversation", "id": "c-1"}]}),
            201,
        )
        .await;
    assert_eq!(calc["final_price"], 208_125, "{calc}");
    assert_eq!(calc["net_ore"], 166_500);
    assert_eq!(calc["vat_ore"], 41_625);
    assert_eq!(calc["labour_ore"], 162_000);
    assert_eq!(calc["partial_results"].as_array().unwrap().len(), 7);
    assert_eq!(calc["data_sources"][0]["kind"], "conversation");
    let calc_id = calc["id"].as_str().unwrap();
    let rerun = world
        .ok(
            Method::POST,
            &format!("/v1/price-calculations/{calc_id}/rerun"),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(rerun["matches"], true, "{rerun}");

    // A quote needs a customer: the lead is converted (again: the same customer).
    let (status, problem) = world
        .renos(
            Method::POST,
            "/v1/quotes",
            &admin,
            json!({"price_calculation_id": calc_id}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let customer = world
        .ok(
            Method::POST,
            &format!("/v1/leads/{lead_id}/convert"),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(customer["kind"], "business");
    let again = world
        .ok(
            Method::POST,
            &format!("/v1/leads/{lead_id}/convert"),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(again["id"], customer["id"]);
    let customer_id = customer["id"].as_str().unwrap();
    let quote = world
        .ok(
            Method::POST,
            "/v1/quotes",
            &admin,
            json!({"price_calculation_id": calc_id, "customer_id": customer_id}),
            201,
        )
        .await;
    let quote_id = quote["id"].as_str().unwrap();
    world
        .ok(
            Method::POST,
            &format!("/v1/quotes/{quote_id}/send"),
            &admin,
            Value::Null,
            200,
        )
        .await;
    let accepted = world
        .ok(
            Method::POST,
            &format!("/v1/quotes/{quote_id}/accept"),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(accepted["status"], "accepted");
    let (status, _) = world
        .renos(
            Method::POST,
            &format!("/v1/quotes/{quote_id}/decline"),
            &admin,
            Value::Null,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a decided quote stays decided"
    );
    // A second lead of the same company becomes the same customer.
    let second = world
        .ok(
            Method::POST,
            "/v1/leads",
            &admin,
            json!({"source": "email", "name": "Kunde ApS", "cvr": CVR,
                   "message": "Kan I også pudse vinduer?"}),
            201,
        )
        .await;
    let converted = world
        .ok(
            Method::POST,
            &format!("/v1/leads/{}/convert", second["id"].as_str().unwrap()),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(converted["id"], customer["id"], "{converted}");
    // Setting the status a lead has already changes nothing and announces nothing.
    world
        .ok(
            Method::PATCH,
            &format!("/v1/leads/{}", second["id"].as_str().unwrap()),
            &admin,
            json!({"status": "qualified"}),
            200,
        )
        .await;
    // Every status a lead went through is announced, once: each conversion, and the quote's
    // acceptance.
    let announced = |lead: &str, status: &str| {
        format!(
            "SELECT count(*) AS n FROM renos.outbox WHERE event_type = \
             'tekup.renos.v1.LeadStatusChanged' AND aggregate_id = '{lead}' \
             AND strpos(encode(payload, 'escape'), '{status}') > 0"
        )
    };
    for (lead, status) in [
        (lead_id, "qualified"),
        (lead_id, "won"),
        (second["id"].as_str().unwrap(), "qualified"),
    ] {
        assert_eq!(
            world.admin_count(&announced(lead, status)).await,
            1,
            "{lead} {status}"
        );
    }

    // Weekly at 09:00 in Copenhagen across the end of summer time (25 October 2026).
    let cleaner = Uuid::now_v7();
    let plan = world
        .ok(
            Method::POST,
            "/v1/plans",
            &admin,
            json!({
            "quote_id": quote_id, "frequency": "weekly", "start_date": "2026-10-19",
            "until_date": "2026-11-02", "local_time": "09:00", "duration_minutes": 180,
            "cleaner_id": cleaner}),
            201,
        )
        .await;
    let bookings = plan["bookings"].as_array().unwrap().clone();
    let starts: Vec<&str> = bookings
        .iter()
        .map(|b| b["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2026-10-19T07:00:00Z",
            "2026-10-26T08:00:00Z",
            "2026-11-02T08:00:00Z"
        ],
        "09:00 local is 07:00Z in summer, 08:00Z in winter"
    );
    assert!(
        bookings
            .iter()
            .all(|b| b["local_start"].as_str().unwrap().ends_with("T09:00:00"))
    );
    assert!(bookings.iter().all(|b| b["price_ore"] == 166_500));
    let booking_ids = ids(&plan["bookings"]);

    // The same cleaner cannot be in two places: 409, and nothing is booked.
    let (status, problem) = world
        .renos(
            Method::POST,
            "/v1/bookings",
            &admin,
            json!({
            "customer_id": customer_id, "service": "office", "starts_at": "2026-10-26T09:00:00Z",
            "duration_minutes": 60, "cleaner_id": cleaner, "price_ore": 50000}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(
        world
            .admin_count("SELECT count(*) AS n FROM renos.bookings")
            .await,
        3
    );

    // "This and future": from the second visit on, 10:00 local.
    let moved = world
        .ok(
            Method::PATCH,
            &format!("/v1/bookings/{}", booking_ids[1]),
            &admin,
            json!({"local_time": "10:00", "scope": "future"}),
            200,
        )
        .await;
    let moved_starts: Vec<&str> = moved
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        moved_starts,
        ["2026-10-26T09:00:00Z", "2026-11-02T09:00:00Z"]
    );
    let first = world
        .ok(
            Method::GET,
            &format!("/v1/bookings/{}", booking_ids[0]),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(
        first["starts_at"], "2026-10-19T07:00:00Z",
        "the earlier visit stays"
    );

    // The work of two visits, then an invoice of them; the third visit on a second invoice.
    for (id, start) in [
        (&booking_ids[0], "2026-10-19T07:05:00Z"),
        (&booking_ids[1], "2026-10-26T09:00:00Z"),
    ] {
        let done = world
            .ok(
                Method::POST,
                &format!("/v1/bookings/{id}/executions"),
                &admin,
                json!({
                "cleaner_id": cleaner, "started_at": start,
                "finished_at": "2026-10-26T11:40:00Z".replace("2026-10-26", &start[..10]),
                "notes": "Alt i orden"}),
                201,
            )
            .await;
        assert_eq!(done["status"], "completed");
    }
    let invoice = world
        .ok(
            Method::POST,
            "/v1/invoices",
            &admin,
            json!({"customer_id": customer_id}),
            201,
        )
        .await;
    assert_eq!(invoice["lines"].as_array().unwrap().len(), 2, "{invoice}");
    assert_eq!(invoice["net_ore"], 333_000);
    assert_eq!(invoice["vat_ore"], 83_250);
    assert_eq!(invoice["total_ore"], 416_250);
    assert_eq!(invoice["labour_ore"], 324_000);
    assert_eq!(invoice["number"], Value::Null);
    let (status, _) = world
        .renos(
            Method::POST,
            "/v1/invoices",
            &admin,
            json!({"customer_id": customer_id}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "nothing left to invoice"
    );
    let issued = world
        .ok(
            Method::POST,
            &format!("/v1/invoices/{}/issue", invoice["id"].as_str().unwrap()),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(issued["number"], 1);
    assert_eq!(issued["status"], "issued");
    // Work sent again is recorded once (200, no second record or event); work on an invoiced
    // visit is refused.
    let work = json!({"cleaner_id": cleaner, "started_at": "2026-11-02T09:00:00Z",
                      "finished_at": "2026-11-02T12:00:00Z"});
    let completed = |id: &str| {
        format!(
            "SELECT count(*) AS n FROM renos.outbox WHERE aggregate_id = '{id}' \
             AND strpos(encode(payload, 'escape'), 'completed') > 0"
        )
    };
    let (status, problem) = world
        .renos(
            Method::POST,
            &format!("/v1/bookings/{}/executions", booking_ids[0]),
            &admin,
            work.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    world
        .ok(
            Method::POST,
            &format!("/v1/bookings/{}/executions", booking_ids[2]),
            &admin,
            work.clone(),
            201,
        )
        .await;
    let again = world
        .ok(
            Method::POST,
            &format!("/v1/bookings/{}/executions", booking_ids[2]),
            &admin,
            work,
            200,
        )
        .await;
    assert_eq!(again["status"], "completed");
    assert_eq!(
        world
            .admin_count(&format!(
                "SELECT count(*) AS n FROM renos.task_executions WHERE booking_id = '{}'",
                booking_ids[2]
            ))
            .await,
        1
    );
    assert_eq!(world.admin_count(&completed(&booking_ids[2])).await, 1);
    let second = world
        .ok(
            Method::POST,
            "/v1/invoices",
            &admin,
            json!({"customer_id": customer_id}),
            201,
        )
        .await;
    let second = world
        .ok(
            Method::POST,
            &format!("/v1/invoices/{}/issue", second["id"].as_str().unwrap()),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(second["number"], 2, "consecutive numbers");
    let paid = world
        .ok(
            Method::POST,
            &format!("/v1/invoices/{}/pay", second["id"].as_str().unwrap()),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(paid["status"], "paid");

    // billy's events reach the broker.
    wait_until(
        "both invoice.issued events published",
        Duration::from_secs(30),
        async || {
            world
                .admin_count(
                    "SELECT count(*) AS n FROM renos.outbox WHERE event_type = \
                 'tekup.renos.v1.InvoiceIssued' AND published_at IS NOT NULL",
                )
                .await
                == 2
        },
    )
    .await;

    // Access: a reader reads but changes nothing; another organization sees nothing.
    wait_until(
        "the viewer's grant in renos",
        Duration::from_secs(30),
        async || {
            world
                .renos(
                    Method::GET,
                    &format!("/v1/customers/{customer_id}"),
                    &viewer,
                    Value::Null,
                )
                .await
                .0
                == StatusCode::OK
        },
    )
    .await;
    let (status, _) = world
        .renos(
            Method::POST,
            "/v1/quotes",
            &viewer,
            json!({"price_calculation_id": calc_id, "customer_id": customer_id}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for path in [
        format!("/v1/customers/{customer_id}"),
        format!("/v1/quotes/{quote_id}"),
        format!("/v1/price-calculations/{calc_id}"),
        format!("/v1/bookings/{}", booking_ids[0]),
        format!("/v1/invoices/{}", issued["id"].as_str().unwrap()),
    ] {
        let (status, _) = world
            .renos(Method::GET, &path, &outsider, Value::Null)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (_, page) = world
        .renos(Method::GET, "/v1/customers", &outsider, Value::Null)
        .await;
    assert!(page["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let world = World::new().await;
    let org = world.org("Rendetalje ApS").await;
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    world
        .ok(
            Method::POST,
            "/v1/services",
            &admin,
            json!({
            "code": "home", "name": "Hjemmerengøring", "pricing": "hourly",
            "unit_price_ore": 39900}),
            201,
        )
        .await;
    let customer = world
        .ok(
            Method::POST,
            "/v1/customers",
            &admin,
            json!({"name": "Privat Kunde", "email": "privat@kunde.dk"}),
            201,
        )
        .await;
    assert_eq!(customer["kind"], "private");
    let customer_id = customer["id"].as_str().unwrap();

    for (body, field) in [
        (
            json!({"service": "home", "customer_id": customer_id, "minutes": -30}),
            "minutes",
        ),
        (
            json!({"service": "nope", "customer_id": customer_id, "minutes": 60}),
            "service",
        ),
        (
            json!({"service": "home", "customer_id": customer_id}),
            "minutes",
        ),
        (
            json!({"service": "home", "customer_id": customer_id, "minutes": 60,
                "extras": ["gold"]}),
            "extras",
        ),
    ] {
        let (status, problem) = world
            .renos(Method::POST, "/v1/price-calculations", &admin, body)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        assert_eq!(
            world
                .renos
                .client
                .get(world.renos.at("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    // NUL cannot be stored in text or jsonb: a 422 naming it, not a server error.
    for (path, body) in [
        ("/v1/customers", json!({"name": "Nul\u{0}Kunde"})),
        (
            "/v1/price-calculations",
            json!({"service": "home", "customer_id": customer_id,
            "minutes": 60, "data_sources": [{"note": "a\u{0}b"}]}),
        ),
    ] {
        let (status, problem) = world.renos(Method::POST, path, &admin, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        assert!(
            problem["detail"].as_str().unwrap().contains("NUL"),
            "{problem}"
        );
    }
    assert_eq!(
        world
            .admin_count("SELECT count(*) AS n FROM renos.price_calculations")
            .await,
        0
    );
    let (status, problem) = world
        .renos(
            Method::POST,
            "/v1/customers",
            &admin,
            json!({"name": "", "cvr": "12345678", "zipcode": "80"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["cvr", "name", "zipcode"], "{problem}");

    // An expired quote cannot be accepted (409), and stays as it was.
    let calc = world
        .ok(
            Method::POST,
            "/v1/price-calculations",
            &admin,
            json!({"service": "home", "customer_id": customer_id, "minutes": 120, "cleaners": 2}),
            201,
        )
        .await;
    assert_eq!(calc["net_ore"], 159_600);
    let quote = world
        .ok(
            Method::POST,
            "/v1/quotes",
            &admin,
            json!({"price_calculation_id": calc["id"], "customer_id": customer_id}),
            201,
        )
        .await;
    let quote_id = quote["id"].as_str().unwrap();
    world
        .ok(
            Method::POST,
            &format!("/v1/quotes/{quote_id}/send"),
            &admin,
            Value::Null,
            200,
        )
        .await;
    let mut conn = AsyncPgConnection::establish(&world.db.admin_url().unwrap())
        .await
        .unwrap();
    diesel::sql_query(format!(
        "UPDATE renos.quotes SET valid_until = current_date - 1 WHERE id = '{quote_id}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let (status, problem) = world
        .renos(
            Method::POST,
            &format!("/v1/quotes/{quote_id}/accept"),
            &admin,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("expired"));
    let quote = world
        .ok(
            Method::GET,
            &format!("/v1/quotes/{quote_id}"),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(quote["status"], "expired");
    assert_eq!(
        world
            .admin_count("SELECT count(*) AS n FROM renos.quotes WHERE status = 'sent'")
            .await,
        1
    );
    // A plan needs an accepted quote.
    let (status, _) = world
        .renos(
            Method::POST,
            "/v1/plans",
            &admin,
            json!({
            "quote_id": quote_id, "frequency": "weekly", "start_date": "2026-12-01",
            "until_date": "2026-12-31", "local_time": "08:00", "duration_minutes": 120}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        world
            .admin_count("SELECT count(*) AS n FROM renos.bookings")
            .await,
        0
    );
}

#[tokio::test]
async fn checklists_breaks_escalations_figures_and_billys_sync() {
    use tekup_events::kafka::topic;
    use tekup_events::outbox::{self, Outgoing};

    let world = World::new().await;
    let billy = spawn_app_on::<billy::Billy>(Arc::clone(&world.db), &[])
        .await
        .unwrap();
    let org = world.org("Rendetalje ApS").await;
    let org_id: Uuid = org.parse().unwrap();
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    world
        .ok(
            Method::POST,
            "/v1/services",
            &admin,
            json!({
            "code": "home", "name": "Hjemmerengøring", "pricing": "hourly",
            "unit_price_ore": 39900}),
            201,
        )
        .await;
    let customer = world
        .ok(
            Method::POST,
            "/v1/customers",
            &admin,
            json!({"name": "Privat Kunde"}),
            201,
        )
        .await;
    let customer_id = customer["id"].as_str().unwrap();
    let cleaner = Uuid::now_v7();
    let booking = world
        .ok(
            Method::POST,
            "/v1/bookings",
            &admin,
            json!({
            "customer_id": customer_id, "service": "home", "starts_at": "2026-12-01T08:00:00Z",
            "duration_minutes": 180, "cleaner_id": cleaner, "price_ore": 119700,
            "labour_ore": 110000}),
            201,
        )
        .await;
    let booking_id = booking["id"].as_str().unwrap();

    // Breaks: not over a booked visit; a booking not in a break.
    let (status, problem) = world
        .renos(
            Method::POST,
            "/v1/breaks",
            &admin,
            json!({
            "cleaner_id": cleaner, "starts_at": "2026-12-01T09:00:00Z",
            "ends_at": "2026-12-01T10:00:00Z", "reason": "Frokost"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    world
        .ok(
            Method::POST,
            "/v1/breaks",
            &admin,
            json!({
            "cleaner_id": cleaner, "starts_at": "2026-12-02T00:00:00Z",
            "ends_at": "2026-12-03T00:00:00Z", "reason": "Fridag"}),
            201,
        )
        .await;
    let (status, problem) = world
        .renos(
            Method::POST,
            "/v1/bookings",
            &admin,
            json!({
            "customer_id": customer_id, "service": "home", "starts_at": "2026-12-02T08:00:00Z",
            "duration_minutes": 60, "cleaner_id": cleaner, "price_ore": 39900}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("break"),
        "{problem}"
    );
    assert_eq!(
        world
            .admin_count("SELECT count(*) AS n FROM renos.bookings")
            .await,
        1
    );
    assert_eq!(
        world
            .admin_count("SELECT count(*) AS n FROM renos.breaks")
            .await,
        1
    );

    // The visit's checklist, ticked off by the execution.
    let task = world
        .ok(
            Method::POST,
            &format!("/v1/bookings/{booking_id}/tasks"),
            &admin,
            json!({"title": "Støvsug alle rum"}),
            201,
        )
        .await;
    let (status, problem) = world
        .renos(
            Method::POST,
            &format!("/v1/bookings/{booking_id}/executions"),
            &admin,
            json!({
            "cleaner_id": cleaner, "started_at": "2026-12-01T08:00:00Z",
            "finished_at": "2026-12-01T11:00:00Z", "completed_tasks": [Uuid::now_v7()]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    world
        .ok(
            Method::POST,
            &format!("/v1/bookings/{booking_id}/executions"),
            &admin,
            json!({
            "cleaner_id": cleaner, "started_at": "2026-12-01T08:00:00Z",
            "finished_at": "2026-12-01T11:30:00Z", "completed_tasks": [task["id"]]}),
            201,
        )
        .await;
    let tasks = world
        .ok(
            Method::GET,
            &format!("/v1/bookings/{booking_id}/tasks"),
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(tasks[0]["done"], true, "{tasks}");

    // An escalation, handed over and resolved once.
    let escalation = world
        .ok(
            Method::POST,
            "/v1/escalations",
            &admin,
            json!({
            "customer_id": customer_id, "booking_id": booking_id, "severity": "high",
            "description": "Kunden fandt støv under sofaen."}),
            201,
        )
        .await;
    let escalation_id = escalation["id"].as_str().unwrap();
    let open = world
        .ok(
            Method::GET,
            "/v1/escalations?status=open",
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(open["items"].as_array().unwrap().len(), 1);

    // Both lists come a page at a time, in their order, every item once.
    for (severity, text) in [("low", "Dørmåtten mangler."), ("critical", "Alarmen gik.")] {
        world
            .ok(
                Method::POST,
                "/v1/escalations",
                &admin,
                json!({"customer_id": customer_id, "severity": severity, "description": text}),
                201,
            )
            .await;
    }
    for day in ["2026-12-10", "2026-12-11"] {
        world
            .ok(
                Method::POST,
                "/v1/breaks",
                &admin,
                json!({"cleaner_id": cleaner, "starts_at": format!("{day}T11:00:00Z"),
                       "ends_at": format!("{day}T11:30:00Z"), "reason": "Frokost"}),
                201,
            )
            .await;
    }
    let pages = async |path: &str, field: &str| -> Vec<String> {
        let mut seen = Vec::new();
        let mut next = format!("{path}limit=2");
        loop {
            let page = world.ok(Method::GET, &next, &admin, Value::Null, 200).await;
            let items = page["items"].as_array().unwrap();
            assert!(items.len() <= 2, "{page}");
            seen.extend(items.iter().map(|i| i[field].as_str().unwrap().to_owned()));
            match page["next_cursor"].as_str() {
                Some(cursor) => next = format!("{path}limit=2&after={cursor}"),
                None => break seen,
            }
        }
    };
    assert_eq!(
        pages("/v1/escalations?", "severity").await,
        ["critical", "high", "low"]
    );
    assert_eq!(
        pages("/v1/breaks?", "starts_at").await,
        [
            "2026-12-02T00:00:00Z",
            "2026-12-10T11:00:00Z",
            "2026-12-11T11:00:00Z"
        ]
    );
    assert_eq!(
        pages("/v1/breaks?from=2026-12-05T00:00:00Z&", "starts_at").await,
        ["2026-12-10T11:00:00Z", "2026-12-11T11:00:00Z"]
    );
    let resolved = world
        .ok(
            Method::PATCH,
            &format!("/v1/escalations/{escalation_id}"),
            &admin,
            json!({"resolution": "Gratis ekstra besøg aftalt."}),
            200,
        )
        .await;
    assert_eq!(resolved["status"], "resolved");
    let (status, _) = world
        .renos(
            Method::PATCH,
            &format!("/v1/escalations/{escalation_id}"),
            &admin,
            json!({"resolution": "Igen"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Where our hourly price stands: 399 kr against 350 and 450 → 0 % from their average.
    let today = chrono::Utc::now().date_naive().to_string();
    for (competitor, price) in [("Rent & Pænt", 35000), ("Skinnende ApS", 45000)] {
        world
            .ok(
                Method::POST,
                "/v1/competitor-prices",
                &admin,
                json!({
                "competitor": competitor, "service_code": "home", "pricing": "hourly",
                "unit_price_ore": price, "observed_at": today}),
                201,
            )
            .await;
    }
    let pricing = world
        .ok(
            Method::GET,
            "/v1/analytics/pricing",
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(pricing[0]["competitors"], 2, "{pricing}");
    assert_eq!(pricing[0]["avg_ore"], 40000.0);
    assert_eq!(pricing[0]["vs_average_percent"], -0.3);

    // The invoice, issued; billy reports it synced and paid.
    let invoice = world
        .ok(
            Method::POST,
            "/v1/invoices",
            &admin,
            json!({"customer_id": customer_id}),
            201,
        )
        .await;
    let invoice_id = invoice["id"].as_str().unwrap().to_owned();
    world
        .ok(
            Method::POST,
            &format!("/v1/invoices/{invoice_id}/issue"),
            &admin,
            Value::Null,
            200,
        )
        .await;
    let pool = world.db.pool(tekup_db::Service::Billy).unwrap();
    let mut conn = pool.get().await.unwrap();
    let synced = tekup_proto::billy::v1::InvoiceSynced {
        invoice_id: invoice_id.clone(),
        org_id: org.clone(),
        billy_invoice_id: "billy-123".into(),
        synced_at: chrono::Utc::now().to_rfc3339(),
        paid: true,
    };
    AsyncConnection::transaction::<_, diesel::result::Error, _>(&mut *conn, async |conn| {
        tekup_db::tenancy::enter(conn, &tekup_db::tenancy::Context::System).await?;
        outbox::publish(
            conn,
            Outgoing {
                topic: &topic("billy", "invoice"),
                org_id: Some(org_id),
                cvr: None,
                subject: &invoice_id,
                payload: &synced,
            },
        )
        .await
    })
    .await
    .unwrap();
    let path = format!("/v1/invoices/{invoice_id}");
    wait_until(
        "the invoice synced and paid",
        Duration::from_secs(30),
        async || {
            let (_, invoice) = world.renos(Method::GET, &path, &admin, Value::Null).await;
            invoice["status"] == "paid" && invoice["billy_id"] == "billy-123"
        },
    )
    .await;

    // The figures of the period.
    let figures = world
        .ok(
            Method::GET,
            "/v1/analytics?from=2026-11-01&to=2026-12-31",
            &admin,
            Value::Null,
            200,
        )
        .await;
    assert_eq!(figures["bookings_completed"], 1, "{figures}");
    assert_eq!(figures["booked_hours"], 3.0);
    assert_eq!(figures["worked_hours"], 3.5);
    assert_eq!(figures["revenue"][0]["net_ore"], 119_700);
    assert_eq!(figures["revenue"][0]["labour_ore"], 110_000);
    // One cleaner, 44 weekdays in November and December 2026: 3 h of 325.6 h.
    let utilisation = figures["utilisation"].as_f64().unwrap();
    assert!((utilisation - 3.0 / (44.0 * 7.4)).abs() < 1e-9, "{figures}");
    drop(billy);
}
