//! crm's companies and contacts, through HTTP with real tokens from shared and grants that
//! reach crm through Kafka.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tekup_db::Service;
use tekup_db::tenancy::{Context, enter};
use tekup_testkit::identity::{Identity, OPERATOR, call};
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};
use uuid::Uuid;

const CVR: &str = "13585628";

struct World {
    db: Arc<TestDb>,
    identity: Identity,
    crm: TestApp,
}

impl World {
    async fn new() -> Self {
        let db = Arc::new(TestDb::new().await.unwrap());
        let identity = Identity::start(Arc::clone(&db), 3, &[]).await.unwrap();
        let jwks = identity.jwks_url();
        let crm = spawn_app_on::<crm::Crm>(Arc::clone(&db), &[("AUTH__JWKS_URL", &jwks)])
            .await
            .unwrap();
        Self { db, identity, crm }
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

    async fn operator(&self, path: &str, body: Value) -> Value {
        let (status, value) = self
            .call(
                &self.identity.shared,
                Method::POST,
                path,
                OPERATOR,
                Some(body),
            )
            .await;
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    /// A user of `org` with `role`; returns (id, access token).
    async fn user(&self, org: &str, email: &str, role: &str) -> (Uuid, String) {
        self.identity.user(org, email, role).await.unwrap()
    }

    async fn crm(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(&self.crm, method, path, token, body).await
    }

    /// An organization, its administrator's token, and `companies` registered in shared and
    /// present in crm.
    async fn org_with(&self, companies: &[(&str, &str)]) -> (String, String) {
        let org = self
            .operator("/v1/organizations", json!({"name": "Rendetalje ApS"}))
            .await;
        let org = org["id"].as_str().unwrap().to_owned();
        let (_, admin) = self.user(&org, "admin@rendetalje.dk", "admin").await;
        for (cvr, name) in companies {
            let (status, _) = self
                .call(
                    &self.identity.shared,
                    Method::POST,
                    "/v1/companies",
                    &admin,
                    Some(json!({"cvr": cvr, "name": name})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED);
            wait_until(
                "the company's CRM record",
                Duration::from_secs(30),
                async || {
                    self.crm(Method::GET, &format!("/v1/companies/{cvr}"), &admin, None)
                        .await
                        .0
                        == StatusCode::OK
                },
            )
            .await;
        }
        (org, admin)
    }

    /// Grants `user` `level` on `cvr`.
    async fn grant(&self, admin: &str, cvr: &str, user: Uuid, level: &str) {
        let (status, _) = self
            .call(
                &self.identity.shared,
                Method::PUT,
                &format!("/v1/companies/{cvr}/grants/{user}"),
                admin,
                Some(json!({"access_level": level})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }

    /// Grants projected into crm's schema.
    async fn projected_grants(&self) -> i64 {
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let pool = self.db.pool(Service::Crm).unwrap();
        let mut conn = pool.get().await.unwrap();
        diesel_async::AsyncConnection::transaction::<_, diesel::result::Error, _>(
            &mut *conn,
            async |conn| {
                enter(conn, &Context::System).await?;
                let row: Count = diesel::sql_query("SELECT count(*) AS n FROM access_grants")
                    .get_result(conn)
                    .await?;
                Ok(row.n)
            },
        )
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn grants_decide_who_reads_and_who_writes_a_companys_crm_data() {
    let world = World::new().await;
    let org = world
        .operator("/v1/organizations", json!({"name": "Rendetalje ApS"}))
        .await;
    let org = org["id"].as_str().unwrap().to_owned();
    let other = world
        .operator("/v1/organizations", json!({"name": "Konkurrent A/S"}))
        .await;
    let other = other["id"].as_str().unwrap().to_owned();
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    let (writer_id, writer) = world.user(&org, "writer@rendetalje.dk", "analyst").await;
    let (reader_id, reader) = world.user(&org, "reader@rendetalje.dk", "viewer").await;
    let (_, stranger) = world.user(&org, "stranger@rendetalje.dk", "analyst").await;
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
    for (user, level) in [(writer_id, "write"), (reader_id, "read")] {
        let (status, _) = world
            .call(
                &world.identity.shared,
                Method::PUT,
                &format!("/v1/companies/{CVR}/grants/{user}"),
                &admin,
                Some(json!({"access_level": level})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    wait_until("both grants in crm", Duration::from_secs(30), async || {
        world.projected_grants().await == 2
    })
    .await;

    // Registered in shared, the company reaches crm as a record of its own; the writer fills it in.
    wait_until(
        "the company's CRM record",
        Duration::from_secs(30),
        async || {
            world
                .crm(Method::GET, &format!("/v1/companies/{CVR}"), &reader, None)
                .await
                .0
                == StatusCode::OK
        },
    )
    .await;
    let record =
        json!({"name": "Kunde ApS", "segment": "erhverv", "zipcode": "8000", "city": "Aarhus C"});
    let (status, company) = world
        .crm(
            Method::PUT,
            &format!("/v1/companies/{CVR}"),
            &writer,
            Some(record),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{company}");
    assert_eq!(company["city"], "Aarhus C");
    let (status, contact) = world
        .crm(
            Method::POST,
            &format!("/v1/companies/{CVR}/contacts"),
            &writer,
            Some(
                json!({"first_name": "Mette", "last_name": "Hansen", "email": "Mette@Kunde.dk",
                         "phone": "+45 12 34 56 78", "title": "Indkøbschef"}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert_eq!(contact["email"], "mette@kunde.dk");
    let contact_id = contact["id"].as_str().unwrap().to_owned();
    world
        .crm(
            Method::POST,
            &format!("/v1/companies/{CVR}/contacts"),
            &writer,
            Some(json!({"first_name": "Lars", "last_name": "Nielsen"})),
        )
        .await;

    // The reader reads, and cannot change anything.
    let (status, page) = world
        .crm(
            Method::GET,
            &format!("/v1/companies/{CVR}/contacts"),
            &reader,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let (status, found) = world
        .crm(
            Method::GET,
            &format!("/v1/companies/{CVR}/contacts?q=mette"),
            &reader,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["items"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["items"][0]["last_name"], "Hansen");
    for (method, path, body) in [
        (
            Method::PUT,
            format!("/v1/companies/{CVR}"),
            Some(json!({"name": "Overtaget"})),
        ),
        (
            Method::POST,
            format!("/v1/companies/{CVR}/contacts"),
            Some(json!({"first_name": "X", "last_name": "Y"})),
        ),
        (
            Method::PATCH,
            format!("/v1/companies/{CVR}/contacts/{contact_id}"),
            Some(json!({"title": null})),
        ),
        (
            Method::DELETE,
            format!("/v1/companies/{CVR}/contacts/{contact_id}"),
            None,
        ),
    ] {
        let (status, problem) = world.crm(method.clone(), &path, &reader, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {problem}");
    }

    // Users without a grant, and other organizations, see nothing: 404, not 403.
    for token in [&stranger, &outsider] {
        assert_eq!(
            world
                .crm(Method::GET, &format!("/v1/companies/{CVR}"), token, None)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            world
                .crm(
                    Method::GET,
                    &format!("/v1/companies/{CVR}/contacts"),
                    token,
                    None
                )
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            world
                .crm(
                    Method::GET,
                    &format!("/v1/companies/{CVR}/contacts/{contact_id}"),
                    token,
                    None
                )
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        let (_, page) = world.crm(Method::GET, "/v1/companies", token, None).await;
        assert_eq!(page["items"], json!([]));
        let (status, _) = world
            .crm(
                Method::PATCH,
                &format!("/v1/companies/{CVR}/contacts/{contact_id}"),
                token,
                Some(json!({"title": "Hacked"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    // The reader reads one contact; an unknown id is 404.
    let (status, one) = world
        .crm(
            Method::GET,
            &format!("/v1/companies/{CVR}/contacts/{contact_id}"),
            &reader,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["id"], contact_id.as_str());
    let (status, _) = world
        .crm(
            Method::GET,
            &format!("/v1/companies/{CVR}/contacts/{}", uuid::Uuid::now_v7()),
            &reader,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The writer changes and deletes; the org admin sees everything without a grant.
    let (status, changed) = world
        .crm(
            Method::PATCH,
            &format!("/v1/companies/{CVR}/contacts/{contact_id}"),
            &writer,
            Some(json!({"title": null, "phone": "87 65 43 21"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["title"], Value::Null);
    assert_eq!(changed["email"], "mette@kunde.dk");
    assert_eq!(
        world
            .crm(
                Method::DELETE,
                &format!("/v1/companies/{CVR}/contacts/{contact_id}"),
                &writer,
                None
            )
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (_, page) = world
        .crm(
            Method::GET,
            &format!("/v1/companies/{CVR}/contacts"),
            &admin,
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    // Deleting the record takes everything under it; the reader may not, the writer may.
    assert_eq!(
        world
            .crm(
                Method::DELETE,
                &format!("/v1/companies/{CVR}"),
                &reader,
                None
            )
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        world
            .crm(
                Method::DELETE,
                &format!("/v1/companies/{CVR}"),
                &writer,
                None
            )
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        world
            .crm(
                Method::GET,
                &format!("/v1/companies/{CVR}/contacts"),
                &admin,
                None
            )
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Every change was announced through crm's outbox.
    #[derive(QueryableByName)]
    struct Kind {
        #[diesel(sql_type = diesel::sql_types::Text)]
        event_type: String,
    }
    let pool = world.db.pool(Service::Crm).unwrap();
    let mut conn = pool.get().await.unwrap();
    let kinds: Vec<Kind> = diesel::sql_query("SELECT DISTINCT event_type FROM outbox ORDER BY 1")
        .load(&mut conn)
        .await
        .unwrap();
    let kinds: Vec<String> = kinds.into_iter().map(|k| k.event_type).collect();
    assert_eq!(
        kinds,
        [
            "tekup.crm.v1.CompanyDeleted",
            "tekup.crm.v1.CompanyRecorded",
            "tekup.crm.v1.ContactChanged"
        ]
    );
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_changes_nothing() {
    let world = World::new().await;
    let org = world
        .operator("/v1/organizations", json!({"name": "Rendetalje ApS"}))
        .await;
    let org = org["id"].as_str().unwrap().to_owned();
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;

    let (status, problem) = world
        .crm(
            Method::PUT,
            "/v1/companies/13585629",
            &admin,
            Some(json!({"name": "X"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "cvr");
    let (status, problem) = world
        .crm(
            Method::PUT,
            &format!("/v1/companies/{CVR}"),
            &admin,
            Some(json!({"name": " ", "zipcode": "80000"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "zipcode"]);
    let (status, _) = world
        .crm(
            Method::PUT,
            &format!("/v1/companies/{CVR}"),
            &admin,
            Some(json!({"name": "Kunde ApS"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = world
        .crm(Method::POST, &format!("/v1/companies/{CVR}/contacts"), &admin,
             Some(json!({"first_name": "Mette", "last_name": "Hansen", "email": "ikke-en-adresse", "phone": "12"})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "phone"]);
    let (_, page) = world
        .crm(
            Method::GET,
            &format!("/v1/companies/{CVR}/contacts"),
            &admin,
            None,
        )
        .await;
    assert_eq!(page["items"], json!([]));
    let (status, _) = world
        .crm(Method::GET, "/v1/companies", "not-a-token", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deals_move_through_the_organizations_pipeline() {
    let world = World::new().await;
    let org = world
        .operator("/v1/organizations", json!({"name": "Rendetalje ApS"}))
        .await;
    let org = org["id"].as_str().unwrap().to_owned();
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    let (_, analyst) = world.user(&org, "analyst@rendetalje.dk", "analyst").await;
    world
        .crm(
            Method::PUT,
            &format!("/v1/companies/{CVR}"),
            &admin,
            Some(json!({"name": "Kunde ApS"})),
        )
        .await;

    let (status, pipeline) = world.crm(Method::GET, "/v1/pipeline", &analyst, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pipeline["stages"][0]["key"], "lead");

    let (status, deal) = world
        .crm(Method::POST, &format!("/v1/companies/{CVR}/deals"), &admin,
             Some(json!({"title": "Ugentlig kontorrengøring", "value_ore": 1_250_000, "expected_close": "2026-12-31"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{deal}");
    assert_eq!(deal["stage"], "lead");
    assert_eq!(deal["closed_at"], Value::Null);
    let id = deal["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/companies/{CVR}/deals/{id}");

    let (status, problem) = world
        .crm(
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"stage": "dreaming"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"].as_str().unwrap().contains("not a stage"),
        "{problem}"
    );
    let (status, problem) = world
        .crm(Method::PATCH, &path, &admin, Some(json!({"value_ore": -1})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");

    let (_, moved) = world
        .crm(
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"stage": "proposal"})),
        )
        .await;
    assert_eq!(moved["stage"], "proposal");
    let (_, won) = world
        .crm(Method::PATCH, &path, &admin, Some(json!({"stage": "won"})))
        .await;
    assert!(won["closed_at"].is_string(), "{won}");
    let (_, reopened) = world
        .crm(
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"stage": "negotiation"})),
        )
        .await;
    assert_eq!(reopened["closed_at"], Value::Null);
    let (_, in_negotiation) = world
        .crm(
            Method::GET,
            &format!("/v1/companies/{CVR}/deals?stage=negotiation"),
            &admin,
            None,
        )
        .await;
    assert_eq!(in_negotiation["items"].as_array().unwrap().len(), 1);

    // Administrators set their own pipeline; stages in use cannot be dropped.
    let own = json!({"stages": [
        {"key": "kontakt", "name": "Kontakt", "probability": 20, "outcome": "open"},
        {"key": "won", "name": "Vundet", "probability": 100, "outcome": "won"},
        {"key": "lost", "name": "Tabt", "probability": 0, "outcome": "lost"}]});
    assert_eq!(
        world
            .crm(Method::PUT, "/v1/pipeline", &analyst, Some(own.clone()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, problem) = world
        .crm(Method::PUT, "/v1/pipeline", &admin, Some(own.clone()))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    world
        .crm(Method::PATCH, &path, &admin, Some(json!({"stage": "lost"})))
        .await;
    let (status, _) = world
        .crm(Method::PUT, "/v1/pipeline", &admin, Some(own))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, pipeline) = world.crm(Method::GET, "/v1/pipeline", &analyst, None).await;
    assert_eq!(pipeline["stages"][0]["key"], "kontakt");
    let (status, problem) = world
        .crm(
            Method::PUT,
            "/v1/pipeline",
            &admin,
            Some(json!({"stages": [
            {"key": "Kontakt!", "name": "", "probability": 101, "outcome": "maybe"}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["errors"].as_array().unwrap().len() >= 5,
        "{problem}"
    );
}

#[tokio::test]
async fn activities_and_tasks_are_recorded_and_listed() {
    let world = World::new().await;
    let org = world
        .operator("/v1/organizations", json!({"name": "Rendetalje ApS"}))
        .await;
    let org = org["id"].as_str().unwrap().to_owned();
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    world
        .crm(
            Method::PUT,
            &format!("/v1/companies/{CVR}"),
            &admin,
            Some(json!({"name": "Kunde ApS"})),
        )
        .await;
    let base = format!("/v1/companies/{CVR}");

    for (kind, subject, at) in [
        ("call", "Opfølgning på tilbud", "2026-11-20T10:00:00Z"),
        ("meeting", "Besigtigelse", "2026-11-21T09:00:00Z"),
        (
            "note",
            "Ønsker rengøring hver fredag",
            "2026-11-22T12:00:00Z",
        ),
    ] {
        let (status, activity) = world
            .crm(
                Method::POST,
                &format!("{base}/activities"),
                &admin,
                Some(json!({"kind": kind, "subject": subject, "occurred_at": at})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{activity}");
    }
    let (status, problem) = world
        .crm(
            Method::POST,
            &format!("{base}/activities"),
            &admin,
            Some(json!({"kind": "telegram", "subject": "", "occurred_at": "2099-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["kind", "subject", "occurred_at"]);

    // Newest first, two to a page.
    let (_, first) = world
        .crm(
            Method::GET,
            &format!("{base}/activities?limit=2"),
            &admin,
            None,
        )
        .await;
    let subjects: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["Ønsker rengøring hver fredag", "Besigtigelse"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = world
        .crm(
            Method::GET,
            &format!("{base}/activities?limit=2&after={cursor}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(second["items"][0]["subject"], "Opfølgning på tilbud");
    assert!(second["next_cursor"].is_null());
    let (_, calls) = world
        .crm(
            Method::GET,
            &format!("{base}/activities?kind=call"),
            &admin,
            None,
        )
        .await;
    assert_eq!(calls["items"].as_array().unwrap().len(), 1);

    let (status, task) = world
        .crm(
            Method::POST,
            &format!("{base}/tasks"),
            &admin,
            Some(json!({"title": "Send tilbud", "due_date": "2026-11-25"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let task_id = task["id"].as_str().unwrap();
    let (_, done) = world
        .crm(
            Method::PATCH,
            &format!("{base}/tasks/{task_id}"),
            &admin,
            Some(json!({"status": "done"})),
        )
        .await;
    assert_eq!(done["status"], "done");
    assert!(done["completed_at"].is_string());
    let (_, open) = world
        .crm(
            Method::GET,
            &format!("{base}/tasks?status=open"),
            &admin,
            None,
        )
        .await;
    assert_eq!(open, json!([]));
    let (status, _) = world
        .crm(
            Method::PATCH,
            &format!("{base}/tasks/{task_id}"),
            &admin,
            Some(json!({"status": "maybe"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn interactions_are_found_by_danish_and_english_words_and_by_metadata() {
    let world = World::new().await;
    let org = world
        .operator("/v1/organizations", json!({"name": "Rendetalje ApS"}))
        .await;
    let org = org["id"].as_str().unwrap().to_owned();
    let (_, analyst) = world.user(&org, "analyst@rendetalje.dk", "analyst").await;
    let (status, customer) = world
        .crm(
            Method::PUT,
            "/v1/customers/wotnot-4711",
            &analyst,
            Some(json!({"email": "Kunde@Example.dk", "first_name": "Hanne", "segment": "privat"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{customer}");
    for (content, channel, score, source) in [
        (
            "Vi er meget tilfredse med rengøringen af kontoret",
            "chat",
            0.8,
            "wotnot",
        ),
        (
            "The cleaners were late and the windows were dirty",
            "email",
            -0.6,
            "email",
        ),
        ("Kan I komme på fredag i stedet?", "phone", 0.1, "phone"),
    ] {
        let (status, body) = world
            .crm(Method::POST, "/v1/customers/wotnot-4711/interactions", &analyst,
                 Some(json!({"channel": channel, "event_type": "message", "content": content,
                             "sentiment": {"label": if score > 0.0 {"positive"} else {"negative"}, "score": score},
                             "sentiment_confidence": 0.9, "metadata": {"source": source}})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let find = async |query: &str| -> Vec<String> {
        let (status, page) = world
            .crm(
                Method::GET,
                &format!("/v1/interactions?{query}"),
                &analyst,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["channel"].as_str().unwrap().to_owned())
            .collect()
    };
    // Danish stemming: "rengøring" finds "rengøringen"; English: "window" finds "windows".
    assert_eq!(find("q=reng%C3%B8ring").await, ["chat"]);
    assert_eq!(find("q=window").await, ["email"]);
    assert_eq!(find("q=fredag").await, ["phone"]);
    assert_eq!(
        find("metadata=%7B%22source%22%3A%22wotnot%22%7D").await,
        ["chat"]
    );
    assert_eq!(find("customer=wotnot-4711&channel=email").await, ["email"]);

    let (_, customers) = world
        .crm(Method::GET, "/v1/customers", &analyst, None)
        .await;
    let customer = &customers["items"][0];
    assert_eq!(customer["interaction_count"], 3);
    assert_eq!(customer["email"], "kunde@example.dk");
    let average = customer["average_sentiment"].as_f64().unwrap();
    assert!((average - 0.1).abs() < 0.0001, "{customer}");

    // The metadata filter is served by the GIN index.
    let pool = world.db.pool(Service::Crm).unwrap();
    let mut conn = pool.get().await.unwrap();
    #[derive(QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let plan: Vec<Plan> = diesel_async::AsyncConnection::transaction::<_, diesel::result::Error, _>(&mut *conn, async |conn| {
        enter(conn, &Context::System).await?;
        diesel::sql_query("SET LOCAL enable_seqscan = off").execute(conn).await?;
        diesel::sql_query("EXPLAIN SELECT id FROM customer_interactions WHERE metadata @> '{\"source\":\"wotnot\"}'")
            .load(conn)
            .await
    })
    .await
    .unwrap();
    let plan: Vec<String> = plan.into_iter().map(|p| p.line).collect();
    assert!(
        plan.iter().any(|l| l.contains("interactions_metadata_idx")),
        "{plan:#?}"
    );
}

#[tokio::test]
async fn what_is_recorded_about_a_customer_follows_its_company_and_its_grants() {
    const OTHER: &str = "25313763";
    let world = World::new().await;
    let (org, admin) = world
        .org_with(&[(CVR, "Kunde ApS"), (OTHER, "Anden Kunde ApS")])
        .await;
    let (writer_id, writer) = world.user(&org, "writer@rendetalje.dk", "analyst").await;
    let (reader_id, reader) = world.user(&org, "reader@rendetalje.dk", "analyst").await;
    world.grant(&admin, CVR, writer_id, "write").await;
    world.grant(&admin, CVR, reader_id, "read").await;
    wait_until("both grants in crm", Duration::from_secs(30), async || {
        world.projected_grants().await == 2
    })
    .await;
    let interaction = json!({"channel": "chat", "event_type": "message",
                             "content": "Kan I komme på fredag?"});
    let pattern = json!({"pattern_type": "weekly", "confidence": 0.7, "frequency": 4});
    let (status, body) = world
        .crm(
            Method::PUT,
            "/v1/customers/kunde-1",
            &writer,
            Some(json!({"cvr": CVR})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (path, body) in [("interactions", &interaction), ("patterns", &pattern)] {
        let (status, answer) = world
            .crm(
                Method::POST,
                &format!("/v1/customers/kunde-1/{path}"),
                &writer,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }

    // Read access reads, and records nothing (403, not a failure of the database's policy).
    let (status, page) = world
        .crm(
            Method::GET,
            "/v1/interactions?customer=kunde-1",
            &reader,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    for (path, body) in [("interactions", &interaction), ("patterns", &pattern)] {
        let (status, answer) = world
            .crm(
                Method::POST,
                &format!("/v1/customers/kunde-1/{path}"),
                &reader,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {answer}");
    }
    // Nor can it take the customer out of its company, even to one of no company.
    let (status, _) = world
        .crm(
            Method::PUT,
            "/v1/customers/kunde-1",
            &reader,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A customer of a company out of the writer's reach is not the writer's to overwrite.
    let (status, _) = world
        .crm(
            Method::PUT,
            "/v1/customers/kunde-2",
            &admin,
            Some(json!({"cvr": OTHER})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, answer) = world
        .crm(
            Method::PUT,
            "/v1/customers/kunde-2",
            &writer,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

    // Moved to another company, the customer takes what was recorded about it along: the
    // writer and the reader, granted only the first company, no longer read it.
    let (status, _) = world
        .crm(
            Method::PUT,
            "/v1/customers/kunde-1",
            &admin,
            Some(json!({"cvr": OTHER})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for token in [&writer, &reader] {
        let (status, page) = world
            .crm(Method::GET, "/v1/interactions", token, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["items"], json!([]), "{page}");
    }
    let (_, page) = world
        .crm(
            Method::GET,
            "/v1/interactions?customer=kunde-1",
            &admin,
            None,
        )
        .await;
    assert_eq!(page["items"][0]["cvr"], OTHER, "{page}");
}

#[tokio::test]
async fn a_record_names_only_contacts_and_deals_of_its_own_company() {
    const OTHER: &str = "25313763";
    let world = World::new().await;
    let (_, admin) = world
        .org_with(&[(CVR, "Kunde ApS"), (OTHER, "Anden Kunde ApS")])
        .await;
    let create = async |cvr: &str, what: &str, body: Value| {
        let (status, created) = world
            .crm(
                Method::POST,
                &format!("/v1/companies/{cvr}/{what}"),
                &admin,
                Some(body),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_str().unwrap().to_owned()
    };
    let elsewhere = create(
        OTHER,
        "contacts",
        json!({"first_name": "Lars", "last_name": "Berg"}),
    )
    .await;
    let deal_elsewhere = create(
        OTHER,
        "deals",
        json!({"title": "Vinduer", "value_ore": 100}),
    )
    .await;
    let own = create(
        CVR,
        "contacts",
        json!({"first_name": "Mette", "last_name": "Hansen"}),
    )
    .await;
    let own_deal = create(CVR, "deals", json!({"title": "Kontor", "value_ore": 100})).await;
    for (what, body, field) in [
        (
            "deals",
            json!({"title": "x", "value_ore": 1, "contact_id": elsewhere}),
            "contact_id",
        ),
        (
            "activities",
            json!({"kind": "note", "subject": "x", "body": "x", "contact_id": elsewhere}),
            "contact_id",
        ),
        (
            "activities",
            json!({"kind": "note", "subject": "x", "body": "x", "deal_id": deal_elsewhere}),
            "deal_id",
        ),
        (
            "tasks",
            json!({"title": "x", "deal_id": deal_elsewhere}),
            "deal_id",
        ),
        (
            "emails",
            json!({"direction": "outbound", "subject": "x", "body": "x",
                          "from": "salg@rendetalje.dk", "to": ["a@kunde.dk"], "contact_id": elsewhere}),
            "contact_id",
        ),
    ] {
        let (status, problem) = world
            .crm(
                Method::POST,
                &format!("/v1/companies/{CVR}/{what}"),
                &admin,
                Some(body),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], field, "{what}: {problem}");
    }
    let (status, problem) = world
        .crm(
            Method::PATCH,
            &format!("/v1/companies/{CVR}/deals/{own_deal}"),
            &admin,
            Some(json!({"contact_id": elsewhere})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // The company's own are taken.
    create(
        CVR,
        "activities",
        json!({"kind": "note", "subject": "x", "body": "x",
                                     "contact_id": own, "deal_id": own_deal}),
    )
    .await;
}

#[tokio::test]
async fn every_insights_constraint_refuses_bad_input_with_422_and_changes_nothing() {
    let world = World::new().await;
    let org = world
        .operator("/v1/organizations", json!({"name": "Rendetalje ApS"}))
        .await;
    let org = org["id"].as_str().unwrap().to_owned();
    let (_, analyst) = world.user(&org, "analyst@rendetalje.dk", "analyst").await;
    world
        .crm(Method::PUT, "/v1/customers/c-1", &analyst, Some(json!({})))
        .await;

    for (body, field) in [
        (json!({"channel": "fax", "event_type": "x"}), "channel"),
        (json!({"channel": "web", "event_type": ""}), "event_type"),
        (
            json!({"channel": "web", "event_type": "x", "timestamp": "2099-01-01T00:00:00Z"}),
            "timestamp",
        ),
        (
            json!({"channel": "web", "event_type": "x", "sentiment_confidence": 1.5}),
            "sentiment_confidence",
        ),
        (
            json!({"channel": "web", "event_type": "x", "sentiment": {"score": -2}}),
            "sentiment.score",
        ),
        (
            json!({"channel": "web", "event_type": "x", "metadata": [1]}),
            "metadata",
        ),
    ] {
        let (status, problem) = world
            .crm(
                Method::POST,
                "/v1/customers/c-1/interactions",
                &analyst,
                Some(body),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], field);
    }
    for (body, field) in [
        (
            json!({"pattern_type": "churn", "confidence": 1.2, "frequency": 1}),
            "confidence",
        ),
        (
            json!({"pattern_type": "churn", "confidence": 0.5, "frequency": 0}),
            "frequency",
        ),
        (
            json!({"pattern_type": "churn", "confidence": 0.5, "frequency": 1,
                "detected_at": "2026-11-20T00:00:00Z", "valid_until": "2026-11-19T00:00:00Z"}),
            "valid_until",
        ),
    ] {
        let (status, problem) = world
            .crm(
                Method::POST,
                "/v1/customers/c-1/patterns",
                &analyst,
                Some(body),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let (_, customers) = world
        .crm(Method::GET, "/v1/customers", &analyst, None)
        .await;
    assert_eq!(customers["items"][0]["interaction_count"], 0);
    let (_, patterns) = world
        .crm(Method::GET, "/v1/customers/c-1/patterns", &analyst, None)
        .await;
    assert_eq!(patterns, json!([]));

    // The database holds the same line on its own.
    let pool = world.db.pool(Service::Crm).unwrap();
    let mut conn = pool.get().await.unwrap();
    for sql in [
        "INSERT INTO customer_interactions (id, customer_id, org_id, \"timestamp\", channel, event_type) \
         SELECT gen_random_uuid(), id, org_id, now() + interval '1 day', 'web', 'x' FROM customers",
        "INSERT INTO customer_interactions (id, customer_id, org_id, \"timestamp\", channel, event_type, sentiment_confidence) \
         SELECT gen_random_uuid(), id, org_id, now(), 'web', 'x', 2 FROM customers",
        "INSERT INTO behavior_patterns (id, customer_id, org_id, pattern_type, confidence, frequency, detected_at) \
         SELECT gen_random_uuid(), id, org_id, 'x', 0.5, 0, now() FROM customers",
        "UPDATE customers SET average_sentiment = 1.5",
    ] {
        let result = diesel_async::AsyncConnection::transaction::<_, diesel::result::Error, _>(
            &mut *conn,
            async |conn| {
                enter(conn, &Context::System).await?;
                diesel::sql_query(sql).execute(conn).await
            },
        )
        .await;
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("check") || err.contains("future"),
            "{sql}: {err}"
        );
    }
}

#[tokio::test]
async fn the_recommender_ranks_next_steps_with_reasons_and_respects_what_was_done() {
    let world = World::new().await;
    let org = world
        .operator("/v1/organizations", json!({"name": "Rendetalje ApS"}))
        .await;
    let org = org["id"].as_str().unwrap().to_owned();
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    let base = format!("/v1/companies/{CVR}");
    world
        .crm(
            Method::PUT,
            &base,
            &admin,
            Some(json!({"name": "Kunde ApS"})),
        )
        .await;

    // A seeded scenario: an overdue task, a deal untouched for three weeks, and an unhappy
    // e-mail from the company.
    world
        .crm(
            Method::POST,
            &format!("{base}/tasks"),
            &admin,
            Some(json!({"title": "Send tilbud", "due_date": "2026-01-05"})),
        )
        .await;
    let (_, deal) = world
        .crm(
            Method::POST,
            &format!("{base}/deals"),
            &admin,
            Some(json!({"title": "Kontorrengøring", "value_ore": 4_000_000})),
        )
        .await;
    world
        .crm(
            Method::PUT,
            "/v1/customers/kunde-aps",
            &admin,
            Some(json!({"cvr": CVR})),
        )
        .await;
    world
        .crm(
            Method::POST,
            "/v1/customers/kunde-aps/interactions",
            &admin,
            Some(json!({"channel": "email", "event_type": "complaint",
                         "content": "Vinduerne var ikke pudset, og I kom for sent",
                         "sentiment": {"label": "negative", "score": -0.7}})),
        )
        .await;
    let pool = world.db.pool(Service::Crm).unwrap();
    let mut conn = pool.get().await.unwrap();
    let deal_id: Uuid = deal["id"].as_str().unwrap().parse().unwrap();
    diesel_async::AsyncConnection::transaction::<_, diesel::result::Error, _>(
        &mut *conn,
        async |conn| {
            enter(conn, &Context::System).await?;
            diesel::sql_query(
                "UPDATE deals SET updated_at = now() - interval '21 days' WHERE id = $1",
            )
            .bind::<diesel::sql_types::Uuid, _>(deal_id)
            .execute(conn)
            .await
        },
    )
    .await
    .unwrap();
    drop(conn);

    let (status, steps) = world
        .crm(
            Method::POST,
            &format!("{base}/process-steps/recommend"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{steps}");
    let steps = steps.as_array().unwrap().clone();
    let rules: Vec<&str> = steps.iter().map(|s| s["rule"].as_str().unwrap()).collect();
    assert_eq!(
        rules,
        [
            "overdue_task",
            "negative_sentiment",
            "stalled_deal",
            "no_recent_activity"
        ],
        "{steps:#?}"
    );
    let scores: Vec<f64> = steps
        .iter()
        .map(|s| s["confidence_score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    assert!(
        steps[1]["reason"].as_str().unwrap().contains("Vinduerne"),
        "{}",
        steps[1]["reason"]
    );
    assert!(
        steps[2]["reason"].as_str().unwrap().contains("21 dage"),
        "{}",
        steps[2]["reason"]
    );

    // Completed and skipped steps do not come back.
    for (step, status) in [(&steps[0], "completed"), (&steps[1], "skipped")] {
        let (code, _) = world
            .crm(
                Method::PATCH,
                &format!("{base}/process-steps/{}", step["id"].as_str().unwrap()),
                &admin,
                Some(json!({"status": status})),
            )
            .await;
        assert_eq!(code, StatusCode::OK);
    }
    let (_, again) = world
        .crm(
            Method::POST,
            &format!("{base}/process-steps/recommend"),
            &admin,
            None,
        )
        .await;
    let rules: Vec<&str> = again
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, ["stalled_deal", "no_recent_activity"]);

    // The timeline has it all, newest first, filterable by kind.
    let (_, timeline) = world
        .crm(Method::GET, &format!("{base}/timeline"), &admin, None)
        .await;
    let kinds: std::collections::BTreeSet<&str> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["deal", "interaction", "process_step", "task"]
    );
    let (_, only) = world
        .crm(
            Method::GET,
            &format!("{base}/timeline?kind=interaction,task"),
            &admin,
            None,
        )
        .await;
    assert_eq!(only["items"].as_array().unwrap().len(), 2);
    let (status, _) = world
        .crm(
            Method::GET,
            &format!("{base}/timeline?kind=gossip"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn emails_are_logged_and_searched_and_the_period_figures_add_up() {
    let world = World::new().await;
    let org = world
        .operator("/v1/organizations", json!({"name": "Rendetalje ApS"}))
        .await;
    let org = org["id"].as_str().unwrap().to_owned();
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    let base = format!("/v1/companies/{CVR}");
    world
        .crm(
            Method::PUT,
            &base,
            &admin,
            Some(json!({"name": "Kunde ApS"})),
        )
        .await;

    let (status, email) = world
        .crm(Method::POST, &format!("{base}/emails"), &admin,
             Some(json!({"direction": "outbound", "subject": "Tilbud på rengøringen",
                         "body": "Hermed vores tilbud.", "from": "Salg@Rendetalje.dk", "to": ["indkob@kunde.dk"]})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{email}");
    assert_eq!(email["from"], "salg@rendetalje.dk");
    let (status, problem) = world
        .crm(
            Method::POST,
            &format!("{base}/emails"),
            &admin,
            Some(json!({"direction": "sideways", "subject": "x", "from": "nope", "to": []})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["direction", "from", "to"]);
    let (_, found) = world
        .crm(
            Method::GET,
            &format!("{base}/emails?q=reng%C3%B8ring"),
            &admin,
            None,
        )
        .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    let (_, timeline) = world
        .crm(
            Method::GET,
            &format!("{base}/timeline?kind=email"),
            &admin,
            None,
        )
        .await;
    assert_eq!(timeline["items"][0]["title"], "Tilbud på rengøringen");

    for (title, value, stage) in [
        ("A", 100_000, "won"),
        ("B", 200_000, "lost"),
        ("C", 300_000, "proposal"),
        ("D", 400_000, "won"),
    ] {
        let (status, deal) = world
            .crm(
                Method::POST,
                &format!("{base}/deals"),
                &admin,
                Some(json!({"title": title, "value_ore": value})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        world
            .crm(
                Method::PATCH,
                &format!("{base}/deals/{}", deal["id"].as_str().unwrap()),
                &admin,
                Some(json!({"stage": stage})),
            )
            .await;
    }
    let (status, m) = world.crm(Method::GET, "/v1/metrics", &admin, None).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(
        (m["open_deals"].as_i64(), m["pipeline_value_ore"].as_i64()),
        (Some(1), Some(300_000))
    );
    assert_eq!(
        (m["won"].as_i64(), m["won_value_ore"].as_i64()),
        (Some(2), Some(500_000))
    );
    assert_eq!(
        (m["lost"].as_i64(), m["created"].as_i64()),
        (Some(1), Some(4))
    );
    assert!((m["win_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let (status, _) = world
        .crm(
            Method::GET,
            "/v1/metrics?from=2026-02-01&to=2026-01-01",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
