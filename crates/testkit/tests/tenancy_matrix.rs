//! The tenancy matrix, generated from the database catalog so that a new table is covered the
//! day it appears: every table with a tenant column (`org_id`) in a service schema has Row
//! Level Security enabled and forced, and as the service's own role
//! - with no settings nothing is visible, also on a connection just used by org A;
//! - with org A's settings only A's rows are visible, and updates, deletes and inserts aimed
//!   at org B's rows change nothing.
//!
//! Two organizations are seeded through the real APIs with the same CVR, so every table holds
//! rows of both.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::Method;
use serde_json::{Value, json};
use tekup_db::Service;
use tekup_db::tenancy::{Context, enter};
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};
use uuid::Uuid;

const OPERATOR: &str = "operator-secret";
const PASSWORD: &str = "rengøring-er-en-kunst";
const CVR: &str = "13585628";

/// Tenant tables that are empty once the seed has settled (work queues, drained by design);
/// every other one must hold rows of both organizations.
const UNSEEDED: [&str; 1] = ["vault.index_queue"];

/// Tables whose `org_id` is not a tenant boundary: the event plumbing.
const NOT_TENANT_TABLES: [&str; 2] = ["outbox", "inbox"];

async fn call(app: &TestApp, method: Method, path: &str, token: &str, body: Value) -> Value {
    let response = app
        .client
        .request(method.clone(), app.at(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{method} {path}: {status} {value}");
    value
}

#[derive(QueryableByName, Debug)]
struct TenantTable {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    rls: bool,
    #[diesel(sql_type = Bool)]
    forced: bool,
    #[diesel(sql_type = Bool)]
    has_id: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(conn: &mut AsyncPgConnection, context: Option<&Context>, sql: &str) -> i64 {
    conn.transaction::<_, diesel::result::Error, _>(async |conn| {
        if let Some(context) = context {
            enter(conn, context).await?;
        }
        let row: Count = diesel::sql_query(sql).get_result(conn).await?;
        Ok(row.n)
    })
    .await
    .unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// Runs `sql` in a transaction that is rolled back; returns the rows it affected, or the error.
async fn attempt(
    conn: &mut AsyncPgConnection,
    context: &Context,
    sql: &str,
) -> Result<usize, String> {
    let mut outcome = Err(String::new());
    let _ = conn
        .transaction::<(), diesel::result::Error, _>(async |conn| {
            enter(conn, context).await?;
            outcome = diesel::sql_query(sql)
                .execute(conn)
                .await
                .map_err(|e| e.to_string());
            Err(diesel::result::Error::RollbackTransaction)
        })
        .await;
    outcome
}

#[tokio::test]
async fn no_tenant_table_of_any_service_lets_one_organization_reach_another() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let seed_key = STANDARD.encode([5u8; 32]);
    let shared = spawn_app_on::<shared::Shared>(
        Arc::clone(&db),
        &[
            ("APP__ADMIN_TOKEN", OPERATOR),
            ("APP__JWT__SIGNING_KEY", &seed_key),
        ],
    )
    .await
    .unwrap();
    let jwks = shared.at("/.well-known/jwks.json");
    let crm = spawn_app_on::<crm::Crm>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
        .await
        .unwrap();
    // The other services keep their projections, so their tables hold both organizations too.
    let vault = spawn_app_on::<vault::Vault>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
        .await
        .unwrap();
    let fake_billy = tekup_testkit::fake_billy::FakeBilly::start().await.unwrap();
    let billy = spawn_app_on::<billy::Billy>(
        Arc::clone(&db),
        &[
            ("AUTH__JWKS_URL", &jwks),
            (
                "APP__TOKEN_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("APP__API__BASE_URL", &fake_billy.base_url),
            ("APP__PUSH__POLL_INTERVAL_MS", "50"),
            ("APP__SYNC__ENABLED", "false"),
        ],
    )
    .await
    .unwrap();
    let renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
        .await
        .unwrap();
    let flow = spawn_app_on::<flow::Flow>(
        Arc::clone(&db),
        &[
            ("AUTH__JWKS_URL", &jwks),
            (
                "APP__SECRET_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            ),
            ("APP__ENGINE__POLL_INTERVAL_MS", "50"),
            // The seed's outgoing webhook goes to flow itself, on this host's loopback.
            ("APP__ENGINE__ALLOWED_PRIVATE_RANGES", "127.0.0.0/8"),
        ],
    )
    .await
    .unwrap();
    let apps = Apps {
        billy: &billy,
        shared: &shared,
        crm: &crm,
        vault: &vault,
        renos: &renos,
        flow: &flow,
    };

    // Grants reach crm by event: wait for the projection before seeding crm rows.
    let (org_a, admin_a, token_a) = seed_when_ready(&db, &apps, "Org A ApS", "a@a.dk").await;
    let (org_b, _admin_b, token_b) = seed_when_ready(&db, &apps, "Org B ApS", "b@b.dk").await;
    // Chatbot conversations travel flow → renos → crm by event.
    for (service, table) in [
        (Service::Renos, "chat_messages"),
        (
            Service::Renos,
            "escalations WHERE conversation_id IS NOT NULL AND org_id",
        ),
        (Service::Crm, "communications"),
        (Service::Crm, "similar_items"),
        (Service::Flow, "outgoing_deliveries"),
        (Service::Flow, "metrics"),
        (Service::Flow, "gdpr_answers"),
        (Service::Billy, "erased_subjects"),
        (Service::Vault, "erased_subjects"),
        (
            Service::Billy,
            "invoice_pushes WHERE status = 'synced' AND org_id",
        ),
    ] {
        let pool = db.pool(service).unwrap();
        let query = format!(
            "SELECT count(DISTINCT org_id) AS n FROM {table} IN ('{org_a}', '{org_b}')",
            table = if table.contains("WHERE") {
                table.to_owned()
            } else {
                format!("{table} WHERE org_id")
            }
        );
        wait_until(
            &format!("both organizations in {table}"),
            Duration::from_secs(60),
            async || {
                let mut conn = pool.get().await.unwrap();
                count(&mut conn, Some(&Context::System), &query).await == 2
            },
        )
        .await;
    }
    // Billy.dk read back into billy's caches for both (the governance tables fill on the way).
    for token in [&token_a, &token_b] {
        call(&billy, Method::POST, "/v1/billy/sync", token, Value::Null).await;
    }

    let mut checked = Vec::new();
    for service in Service::ALL {
        let pool = db.pool(service).unwrap();
        let mut conn = pool.get().await.unwrap();
        let tables: Vec<TenantTable> = diesel::sql_query(
            "SELECT c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, \
                    EXISTS (SELECT 1 FROM pg_attribute i WHERE i.attrelid = c.oid AND i.attname = 'id' \
                            AND NOT i.attisdropped) AS has_id \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
        )
        .bind::<Text, _>(service.schema())
        .load(&mut *conn)
        .await
        .unwrap();
        let user_a = admin_a;
        let a = Context::Tenant {
            org_id: org_a,
            user_id: user_a,
            role: tekup_types::Role::Admin,
        };
        for table in tables
            .iter()
            .filter(|t| !NOT_TENANT_TABLES.contains(&t.name.as_str()))
        {
            let name = format!("{}.{}", service.schema(), table.name);
            assert!(
                table.rls && table.forced,
                "{name}: Row Level Security must be enabled and forced"
            );
            let everything = count(
                &mut conn,
                Some(&Context::System),
                &format!("SELECT count(*) AS n FROM {name}"),
            )
            .await;
            let of_b = count(
                &mut conn,
                Some(&Context::System),
                &format!("SELECT count(*) AS n FROM {name} WHERE org_id = '{org_b}'"),
            )
            .await;
            assert!(
                of_b > 0 || (everything == 0 && UNSEEDED.contains(&name.as_str())),
                "{name}: the seed left org B without rows (seed it, so the matrix checks it)"
            );
            assert_eq!(
                count(
                    &mut conn,
                    Some(&a),
                    &format!(
                        "SELECT count(*) AS n FROM {name} WHERE org_id IS DISTINCT FROM '{org_a}'"
                    )
                )
                .await,
                0,
                "{name}: org A sees rows of another organization"
            );
            // On the connection that just committed org A's transaction, as a pooled one
            // is handed to the next request: a tenant setting that outlived its transaction
            // (set for the session) shows A's rows here.
            assert_eq!(
                count(
                    &mut conn,
                    None,
                    &format!("SELECT count(*) AS n FROM {name}")
                )
                .await,
                0,
                "{name}: visible without settings after a transaction of org A"
            );
            for sql in [
                format!("UPDATE {name} SET org_id = org_id WHERE org_id = '{org_b}'"),
                format!("DELETE FROM {name} WHERE org_id = '{org_b}'"),
            ] {
                let affected = attempt(&mut conn, &a, &sql).await;
                assert!(matches!(affected, Ok(0) | Err(_)), "{sql}: {affected:?}");
            }
            if of_b > 0 && table.has_id {
                // A copy of one of B's rows, with a new id, inserted with A's settings.
                let copy = format!(
                    "INSERT INTO {name} SELECT (jsonb_populate_record(NULL::{name}, \
                     to_jsonb(t) || jsonb_build_object('id', gen_random_uuid()))).* \
                     FROM (SELECT * FROM {name} WHERE org_id = '{org_b}' LIMIT 1) t"
                );
                let inserted = attempt(&mut conn, &a, &copy).await;
                assert!(
                    matches!(inserted, Ok(0) | Err(_)),
                    "{name}: A inserted a row of B: {inserted:?}"
                );
            }
            checked.push(name);
        }
    }
    // The matrix covers what exists; these must be among it.
    for expected in [
        "shared.users",
        "shared.companies",
        "shared.audit_logs",
        "crm.contacts",
        "crm.deals",
        "crm.customer_interactions",
        "vault.access_grants",
        "vault.documents",
        "vault.document_versions",
        "vault.chunks",
        "vault.embeddings",
        "vault.erased_subjects",
        "vault.document_categories",
        "vault.sync_status",
        "renos.customers",
        "renos.leads",
        "renos.price_calculations",
        "renos.quotes",
        "renos.cleaning_plans",
        "renos.cleaning_plan_bookings",
        "renos.bookings",
        "renos.task_executions",
        "renos.cleaning_tasks",
        "renos.invoices",
        "renos.invoice_line_items",
        "renos.invoice_counters",
        "renos.breaks",
        "renos.escalations",
        "renos.competitor_pricing",
        "renos.services",
        "renos.labels",
        "renos.conversations",
        "renos.chat_sessions",
        "renos.chat_messages",
        "renos.email_ingest_runs",
        "renos.email_threads",
        "renos.email_messages",
        "renos.email_templates",
        "renos.email_responses",
        "crm.communications",
        "flow.webhooks",
        "flow.webhook_deliveries",
        "flow.workflows",
        "flow.executions",
        "flow.execution_steps",
        "flow.execution_logs",
        "flow.schedules",
        "flow.integrations",
        "flow.outgoing_deliveries",
        "flow.variables",
        "flow.metrics",
        "flow.gdpr_requests",
        "flow.gdpr_answers",
        "billy.erased_subjects",
        "billy.cached_invoices",
        "billy.cached_customers",
        "billy.cached_products",
        "billy.invoice_pushes",
        "billy.audit_logs",
        "billy.usage_metrics",
        "billy.rate_limits",
        "billy.users",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} not covered: {checked:?}"
        );
    }
    eprintln!(
        "tenancy matrix covered {} tables: {}",
        checked.len(),
        checked.join(", ")
    );
}

struct Apps<'a> {
    billy: &'a TestApp,
    shared: &'a TestApp,
    crm: &'a TestApp,
    vault: &'a TestApp,
    renos: &'a TestApp,
    flow: &'a TestApp,
}

/// Seeds an organization in shared, waits until crm holds its admin's grant, then seeds crm,
/// vault, renos and flow.
/// Returns the organization, its admin and the admin's token.
async fn seed_when_ready(
    db: &TestDb,
    apps: &Apps<'_>,
    name: &str,
    email: &str,
) -> (Uuid, Uuid, String) {
    let Apps {
        billy,
        shared,
        crm,
        vault,
        renos,
        flow,
    } = apps;
    let (org, user, token) = seed_shared_only(shared, name, email).await;
    // Billy.dk connected first, so that the invoice renos issues is put into it.
    call(
        billy,
        Method::PUT,
        "/v1/billy/connection",
        &token,
        json!({"access_token": tekup_testkit::fake_billy::TOKEN}),
    )
    .await;
    let pool = db.pool(Service::Crm).unwrap();
    let query = format!(
        "SELECT count(*) AS n FROM access_grants WHERE user_id = '{user}' AND org_id = '{org}'"
    );
    wait_until("the grant in crm", Duration::from_secs(30), async || {
        let mut conn = pool.get().await.unwrap();
        count(&mut conn, Some(&Context::System), &query).await > 0
    })
    .await;
    seed_crm(crm, &token).await;
    seed_vault(vault, &token).await;
    seed_renos(renos, &token).await;
    seed_communications(flow, renos, &token).await;
    seed_workflows(flow, &token).await;
    (org, user, token)
}

/// A variable, an integration, a workflow run that delivers to it (its steps, logs, delivery
/// and metrics), a schedule and a GDPR request (answered by flow and billy, which remembers
/// the person).
async fn seed_workflows(flow: &TestApp, token: &str) {
    call(
        flow,
        Method::PUT,
        "/v1/variables/greeting",
        token,
        json!({"value": "Hej"}),
    )
    .await;
    // flow's own health endpoint refuses a POST: a delivery attempt with a 4xx answer.
    call(
        flow,
        Method::PUT,
        "/v1/integrations/sink",
        token,
        json!({"kind": "webhook", "url": flow.at("/healthz")}),
    )
    .await;
    call(
        flow,
        Method::POST,
        "/v1/workflows",
        token,
        json!({"name": "seed", "definition": {"trigger": {"type": "manual"}, "steps": [
            {"id": "say", "type": "transform", "set": {"text": "{{ vars.greeting }}"}},
            {"id": "tell", "type": "webhook", "integration": "sink", "event_type": "seed",
             "payload": {"text": "{{ steps.say.text }}"}}
        ]}}),
    )
    .await;
    call(
        flow,
        Method::POST,
        "/v1/workflows/seed/executions",
        token,
        json!({"input": {}}),
    )
    .await;
    call(
        flow,
        Method::POST,
        "/v1/schedules",
        token,
        json!({"workflow": "seed", "cron": "0 3 * * *"}),
    )
    .await;
    call(
        flow,
        Method::POST,
        "/v1/gdpr/requests",
        token,
        json!({"kind": "erasure", "email": "glemt@kunde.dk"}),
    )
    .await;
}

/// A label, a template, an e-mail that gets a suggested answer, and a chatbot conversation
/// through flow's webhook (flow's webhooks and deliveries; renos's conversations, sessions,
/// messages and the complaint's escalation; crm's timeline copy).
async fn seed_communications(flow: &TestApp, renos: &TestApp, token: &str) {
    call(
        renos,
        Method::POST,
        "/v1/labels",
        token,
        json!({"name": "Klage"}),
    )
    .await;
    call(
        renos,
        Method::POST,
        "/v1/email/templates",
        token,
        json!({"name": "Tilbud", "subject": "SV: {{subject}}", "body": "Tak, {{name}}.",
               "keywords": ["tilbud"]}),
    )
    .await;
    // Two threads saying the same: vault finds the second like the first (crm.similar_items).
    for subject in ["Tilbud", "Tilbud igen"] {
        let mail = format!(
            "From: kunde@kunde.dk\r\nTo: kontakt@org.dk\r\nSubject: {subject}\r\n\
             Message-ID: <m-{}@kunde.dk>\r\n\r\nVi vil gerne have et tilbud på rengøring af \
             kontoret.\r\nCVR {CVR}\r\n",
            Uuid::new_v4()
        );
        let ingested = renos
            .client
            .post(renos.at("/v1/email/ingest"))
            .bearer_auth(token)
            .header("content-type", "message/rfc822")
            .body(mail)
            .send()
            .await
            .unwrap();
        assert_eq!(ingested.status().as_u16(), 201);
    }
    let webhook = call(
        flow,
        Method::POST,
        "/v1/webhooks",
        token,
        json!({"name": "WotNot", "format": "wotnot"}),
    )
    .await;
    let batch = json!({"events": [
        {"event": {"type": "conversation_create", "payload": {"external_key": "k1",
            "created_at": "2026-11-16 09:00:00", "title": "Visitor",
            "variables": [{"name": "cvr", "value": CVR}]}}},
        {"event": {"type": "message", "payload": {"external_key": "k1",
            "created_at": "2026-11-16 09:01:00",
            "message": {"text": "Vi er meget utilfredse, det var beskidt.", "sender": {"type": "visitor"}}}}}
    ]});
    let delivered = flow
        .client
        .post(flow.at(webhook["path"].as_str().unwrap()))
        .bearer_auth(webhook["secret"].as_str().unwrap())
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status().as_u16(), 202);
}

/// Every renos table: a lead to an invoice, a plan with a checklist, a break, an escalation,
/// a competitor's price.
async fn seed_renos(renos: &TestApp, token: &str) {
    let post = async |path: &str, body: Value| call(renos, Method::POST, path, token, body).await;
    post(
        "/v1/services",
        json!({"code": "office", "name": "Kontor", "pricing": "fixed",
                                "unit_price_ore": 100000}),
    )
    .await;
    let lead = post(
        "/v1/leads",
        json!({"source": "web", "name": "Kunde ApS", "cvr": CVR}),
    )
    .await;
    let customer = post(
        &format!("/v1/leads/{}/convert", lead["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    let calc = post(
        "/v1/price-calculations",
        json!({"service": "office",
                    "customer_id": customer["id"], "frequency": "monthly"}),
    )
    .await;
    let quote = post(
        "/v1/quotes",
        json!({"price_calculation_id": calc["id"],
                                          "customer_id": customer["id"]}),
    )
    .await;
    let quote_id = quote["id"].as_str().unwrap();
    post(&format!("/v1/quotes/{quote_id}/accept"), Value::Null).await;
    let cleaner = Uuid::now_v7();
    let plan = post(
        "/v1/plans",
        json!({"quote_id": quote_id, "frequency": "monthly",
        "start_date": "2026-01-05", "until_date": "2026-02-05", "local_time": "08:00",
        "duration_minutes": 120, "cleaner_id": cleaner}),
    )
    .await;
    post(
        &format!("/v1/plans/{}/tasks", plan["id"].as_str().unwrap()),
        json!({"title": "Gulve"}),
    )
    .await;
    let booking = plan["bookings"][0]["id"].as_str().unwrap().to_owned();
    post(
        &format!("/v1/bookings/{booking}/executions"),
        json!({"cleaner_id": cleaner,
        "started_at": "2026-01-05T07:00:00Z", "finished_at": "2026-01-05T09:00:00Z"}),
    )
    .await;
    post(
        "/v1/breaks",
        json!({"cleaner_id": cleaner, "starts_at": "2026-03-01T00:00:00Z",
                              "ends_at": "2026-03-02T00:00:00Z"}),
    )
    .await;
    post(
        "/v1/escalations",
        json!({"customer_id": customer["id"], "severity": "low",
                                   "description": "Dør stod åben"}),
    )
    .await;
    post(
        "/v1/competitor-prices",
        json!({"competitor": "X", "service_code": "office",
        "pricing": "fixed", "unit_price_ore": 90000, "observed_at": "2026-01-01"}),
    )
    .await;
    let invoice = post("/v1/invoices", json!({"customer_id": customer["id"]})).await;
    post(
        &format!("/v1/invoices/{}/issue", invoice["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
}

/// A category, an upload in it, a synced item; waits until the upload is indexed.
async fn seed_vault(vault: &TestApp, token: &str) {
    let category = call(
        vault,
        Method::POST,
        "/v1/categories",
        token,
        json!({"name": "Kontrakter", "description": "Aftaler med kunder"}),
    )
    .await;
    let document = call(
        vault,
        Method::POST,
        &format!("/v1/companies/{CVR}/documents"),
        token,
        json!({"name": "aftale", "content": "Vinduespudsning hver anden uge.",
               "category_id": category["id"]}),
    )
    .await;
    call(
        vault,
        Method::PUT,
        "/v1/sources/github/documents",
        token,
        json!({"repository": "tekup/docs", "path": "README.md", "cvr": CVR,
               "name": "README", "content": "Rengøring af trappeopgange."}),
    )
    .await;
    let id = document["id"].as_str().unwrap().to_owned();
    wait_until(
        "the document indexed",
        Duration::from_secs(60),
        async || {
            call(
                vault,
                Method::GET,
                &format!("/v1/documents/{id}"),
                token,
                Value::Null,
            )
            .await["status"]
                == "indexed"
        },
    )
    .await;
}

async fn seed_shared_only(shared: &TestApp, name: &str, email: &str) -> (Uuid, Uuid, String) {
    let org = call(
        shared,
        Method::POST,
        "/v1/organizations",
        OPERATOR,
        json!({"name": name}),
    )
    .await;
    let org_id: Uuid = org["id"].as_str().unwrap().parse().unwrap();
    let user = call(
        shared,
        Method::POST,
        &format!("/v1/organizations/{org_id}/users"),
        OPERATOR,
        json!({"email": email, "password": PASSWORD, "first_name": "A", "last_name": "B", "role": "admin"}),
    )
    .await;
    let admin_id: Uuid = user["id"].as_str().unwrap().parse().unwrap();
    let login = shared
        .client
        .post(shared.at("/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let token = login.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ = shared
        .client
        .post(shared.at("/v1/auth/login"))
        .json(&json!({"email": email, "password": "wrong-password!"}))
        .send()
        .await;
    call(
        shared,
        Method::POST,
        "/v1/companies",
        &token,
        json!({"cvr": CVR, "name": "Kunde ApS"}),
    )
    .await;
    call(
        shared,
        Method::PUT,
        &format!("/v1/companies/{CVR}/grants/{admin_id}"),
        &token,
        json!({"access_level": "admin"}),
    )
    .await;
    (org_id, admin_id, token)
}

async fn seed_crm(crm: &TestApp, token: &str) {
    let base = format!("/v1/companies/{CVR}");
    call(crm, Method::PUT, &base, token, json!({"name": "Kunde ApS"})).await;
    let contact = call(
        crm,
        Method::POST,
        &format!("{base}/contacts"),
        token,
        json!({"first_name": "Mette", "last_name": "Hansen"}),
    )
    .await;
    call(
        crm,
        Method::POST,
        &format!("{base}/deals"),
        token,
        json!({"title": "Rengøring", "value_ore": 1000}),
    )
    .await;
    call(
        crm,
        Method::POST,
        &format!("{base}/activities"),
        token,
        json!({"kind": "note", "subject": "Notat"}),
    )
    .await;
    call(
        crm,
        Method::POST,
        &format!("{base}/tasks"),
        token,
        json!({"title": "Ring", "due_date": "2026-01-01"}),
    )
    .await;
    call(
        crm,
        Method::POST,
        &format!("{base}/emails"),
        token,
        json!({"direction": "inbound", "subject": "Hej", "from": "kunde@kunde.dk", "to": ["salg@firma.dk"], "contact_id": contact["id"]}),
    )
    .await;
    call(
        crm,
        Method::PUT,
        "/v1/customers/kunde-1",
        token,
        json!({"cvr": CVR}),
    )
    .await;
    call(
        crm,
        Method::POST,
        "/v1/customers/kunde-1/interactions",
        token,
        json!({"channel": "chat", "event_type": "message", "content": "Hej"}),
    )
    .await;
    call(
        crm,
        Method::POST,
        "/v1/customers/kunde-1/patterns",
        token,
        json!({"pattern_type": "loyal", "confidence": 0.5, "frequency": 2}),
    )
    .await;
    call(
        crm,
        Method::POST,
        &format!("{base}/process-steps"),
        token,
        json!({"recommendation_text": "Ring", "confidence_score": 0.5}),
    )
    .await;
    call(
        crm,
        Method::PUT,
        "/v1/pipeline",
        token,
        json!({"stages": [
            {"key": "lead", "name": "Lead", "probability": 10, "outcome": "open"},
            {"key": "won", "name": "Vundet", "probability": 100, "outcome": "won"},
            {"key": "lost", "name": "Tabt", "probability": 0, "outcome": "lost"}]}),
    )
    .await;
}
