//! vault through HTTP with real tokens from shared, grants through Kafka, the real local
//! model, and items arriving as events from crm and (through its outbox) renos and flow.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tekup_db::Service;
use tekup_db::tenancy::{Context, enter};
use tekup_events::kafka::topic;
use tekup_events::outbox::{self, Outgoing};
use tekup_testkit::identity::{Identity, call};
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};
use uuid::Uuid;

const CVR_A: &str = "13585628";
const CVR_B: &str = "25313763";

struct World {
    db: Arc<TestDb>,
    identity: Identity,
    vault: TestApp,
}

impl World {
    async fn new(vault_overrides: &[(&str, &str)]) -> Self {
        let db = Arc::new(TestDb::new().await.unwrap());
        let identity = Identity::start(Arc::clone(&db), 5, &[]).await.unwrap();
        let jwks = identity.jwks_url();
        let mut overrides = vec![("AUTH__JWKS_URL", jwks.as_str())];
        overrides.extend_from_slice(vault_overrides);
        let vault = spawn_app_on::<vault::Vault>(Arc::clone(&db), &overrides)
            .await
            .unwrap();
        Self {
            db,
            identity,
            vault,
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

    async fn vault(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call(&self.vault, method, path, token, body).await
    }

    async fn org(&self, name: &str) -> String {
        self.identity.org(name).await.unwrap()
    }

    /// A user of `org` with `role`; returns (id, access token).
    async fn user(&self, org: &str, email: &str, role: &str) -> (Uuid, String) {
        self.identity.user(org, email, role).await.unwrap()
    }

    /// Uploads a text document and waits until it is indexed; returns its id.
    async fn indexed(&self, token: &str, cvr: &str, name: &str, content: &str) -> String {
        let (status, document) = self
            .vault(
                Method::POST,
                &format!("/v1/companies/{cvr}/documents"),
                token,
                Some(json!({"name": name, "content": content})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{document}");
        let id = document["id"].as_str().unwrap().to_owned();
        self.wait_indexed(token, &id).await;
        id
    }

    async fn wait_indexed(&self, token: &str, id: &str) {
        wait_until(
            "the document indexed",
            Duration::from_secs(60),
            async || {
                let (_, d) = self
                    .vault(Method::GET, &format!("/v1/documents/{id}"), token, None)
                    .await;
                d["status"] == "indexed"
            },
        )
        .await;
    }

    async fn search(&self, token: &str, body: Value) -> Vec<Value> {
        let (status, found) = self
            .vault(Method::POST, "/v1/search", token, Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}: {found}");
        found["results"].as_array().unwrap().clone()
    }
}

fn names(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect()
}

const WINDOWS: &str = "Our office windows are washed every other Tuesday by the facility team. \
     They start on the top floor and finish before lunch.";
const VAT: &str = "The quarterly VAT return was filed with the tax authority in March, \
     together with the annual accounts.";
const CARPET: &str = "Carpet shampooing of the reception area is booked for next Monday; \
     the furniture must be moved first.";
const CONTRACT: &str = "Service contract addendum KVX-90210 covers stairwell maintenance \
     and waste collection for the whole building.";

#[tokio::test]
async fn a_document_is_found_by_meaning_by_a_rare_term_and_by_both() {
    let world = World::new(&[]).await;
    let org = world.org("Rendetalje ApS").await;
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    for (name, content) in [
        ("windows", WINDOWS),
        ("vat", VAT),
        ("carpet", CARPET),
        ("contract", CONTRACT),
    ] {
        world.indexed(&admin, CVR_A, name, content).await;
    }

    // Semantic: a paraphrase sharing no word with the document (full-text finds nothing).
    let paraphrase = "How often does somebody clean the glass panes at our workplace?";
    let semantic = world
        .search(
            &admin,
            json!({"query": paraphrase, "mode": "semantic", "limit": 4}),
        )
        .await;
    assert_eq!(names(&semantic)[0], "windows", "{semantic:?}");
    assert!(semantic[0]["score"].as_f64().unwrap() > 0.3);
    let words = world
        .search(&admin, json!({"query": paraphrase, "mode": "full_text"}))
        .await;
    assert!(
        !names(&words).contains(&"windows".to_owned()),
        "the paraphrase shares a word with the document: {words:?}"
    );

    // Full-text: an exact rare term, with the term marked in the snippet.
    let rare = world
        .search(&admin, json!({"query": "KVX-90210", "mode": "full_text"}))
        .await;
    assert_eq!(names(&rare), ["contract"]);
    assert!(
        rare[0]["snippet"].as_str().unwrap().contains("«"),
        "{rare:?}"
    );
    assert_eq!(
        rare[0]["link"],
        format!("/v1/documents/{}", rare[0]["document_id"].as_str().unwrap())
    );

    // Hybrid: the paraphrase and the rare term together; each method finds one of them.
    let both = world
        .search(
            &admin,
            json!({"query": format!("{paraphrase} KVX-90210"), "limit": 4}),
        )
        .await;
    let top: Vec<String> = names(&both).into_iter().take(2).collect();
    assert!(
        top.contains(&"windows".to_owned()) && top.contains(&"contract".to_owned()),
        "hybrid top two: {both:?}"
    );

    // Danish goes through full-text (the local model is English): stems match inflections.
    world
        .indexed(
            &admin,
            CVR_A,
            "rengøring",
            "Kunden ønsker rengøring af trappeopgangen hver fredag i Århus.",
        )
        .await;
    let danish = world
        .search(&admin, json!({"query": "rengøringen af trappeopgange"}))
        .await;
    assert_eq!(names(&danish)[0], "rengøring", "{danish:?}");
}

#[tokio::test]
async fn versions_uploads_and_bad_input() {
    let world = World::new(&[]).await;
    let org = world.org("Rendetalje ApS").await;
    let (admin_id, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    let id = world.indexed(&admin, CVR_A, "prisliste", CARPET).await;

    // The same content again changes nothing; new content makes version 2.
    let path = format!("/v1/companies/{CVR_A}/documents");
    let (status, same) = world
        .vault(
            Method::POST,
            &path,
            &admin,
            Some(json!({"name": "prisliste", "content": CARPET})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(same["version"], 1);
    let (status, second) = world
        .vault(
            Method::POST,
            &path,
            &admin,
            Some(json!({"name": "prisliste", "content": WINDOWS})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["id"], id.as_str());
    assert_eq!(second["version"], 2);
    world.wait_indexed(&admin, &id).await;

    // Old versions stay readable; only the current one is searched.
    let (_, versions) = world
        .vault(
            Method::GET,
            &format!("/v1/documents/{id}/versions"),
            &admin,
            None,
        )
        .await;
    assert_eq!(versions.as_array().unwrap().len(), 2);
    let (status, first) = world
        .vault(
            Method::GET,
            &format!("/v1/documents/{id}/versions/1"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["content"], CARPET);
    assert_eq!(first["uploaded_by"], admin_id.to_string());
    let carpet = world
        .search(
            &admin,
            json!({"query": "carpet shampooing", "mode": "full_text"}),
        )
        .await;
    assert!(
        carpet.is_empty(),
        "the replaced version is still searched: {carpet:?}"
    );

    let upload = async |form: reqwest::multipart::Form| {
        world
            .vault
            .client
            .post(world.vault.at(&path))
            .bearer_auth(&admin)
            .multipart(form)
            .send()
            .await
            .unwrap()
    };
    // Multipart upload of a file; its file name names it.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text(CONTRACT)
            .file_name("kontrakt.md")
            .mime_str("text/markdown")
            .unwrap(),
    );
    let response = upload(form).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let uploaded: Value = response.json().await.unwrap();
    assert_eq!(uploaded["name"], "kontrakt.md");
    assert_eq!(uploaded["content_type"], "text/markdown");

    // Bad input: a clear problem naming what is wrong, and nothing stored.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![0x25, 0x50, 0x44, 0x46, 0xff, 0xfe])
            .file_name("scan.pdf")
            .mime_str("application/pdf")
            .unwrap(),
    );
    let response = upload(form).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    // A body of many small parts is not read on.
    let form = (0..20).fold(reqwest::multipart::Form::new(), |form, i| {
        form.text(format!("x{i}"), "y")
    });
    let response = upload(form).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "body", "{problem}");
    for (body, status, field) in [
        (json!({"name": " ", "content": "x"}), 422, "name"),
        (json!({"name": "tom", "content": "  "}), 422, "content"),
        (
            json!({"name": "pdf", "content": "x", "content_type": "application/pdf"}),
            415,
            "",
        ),
        (
            json!({"name": "stor", "content": "x".repeat((1 << 20) + 1)}),
            413,
            "",
        ),
    ] {
        let (got, problem) = world.vault(Method::POST, &path, &admin, Some(body)).await;
        assert_eq!(got.as_u16(), status, "{problem}");
        if !field.is_empty() {
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        }
    }
    let (status, problem) = world
        .vault(
            Method::POST,
            "/v1/search",
            &admin,
            Some(json!({"query": "", "kinds": ["fax"], "limit": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // Both searches name 1 to 100 companies when they name any.
    let many: Vec<String> = (0..101).map(|_| CVR_A.to_owned()).collect();
    for (path, body) in [
        ("/v1/search", json!({"query": "vinduer", "cvrs": []})),
        ("/v1/similar", json!({"text": "vinduer", "cvrs": []})),
        ("/v1/similar", json!({"text": "vinduer", "cvrs": many})),
    ] {
        let (status, problem) = world.vault(Method::POST, path, &admin, Some(body)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], "cvrs", "{path}: {problem}");
    }
    let (_, page) = world.vault(Method::GET, &path, &admin, None).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");

    // Deleting removes it from search at once.
    let (status, _) = world
        .vault(Method::DELETE, &format!("/v1/documents/{id}"), &admin, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let windows = world
        .search(
            &admin,
            json!({"query": "office windows washed", "mode": "hybrid"}),
        )
        .await;
    assert!(windows.iter().all(|r| r["document_id"] != id.as_str()));
}

#[tokio::test]
async fn no_search_mode_reaches_another_org_or_an_ungranted_company() {
    let world = World::new(&[]).await;
    let org = world.org("Rendetalje ApS").await;
    let other = world.org("Konkurrent A/S").await;
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    let (reader_id, reader) = world.user(&org, "reader@rendetalje.dk", "viewer").await;
    let (_, outsider) = world.user(&other, "admin@konkurrent.dk", "admin").await;
    for (token, cvr) in [(&admin, CVR_A), (&admin, CVR_B), (&outsider, CVR_A)] {
        let (status, body) = world
            .call(
                &world.identity.shared,
                Method::POST,
                "/v1/companies",
                token,
                Some(json!({"cvr": cvr, "name": "Kunde ApS"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (status, _) = world
        .call(
            &world.identity.shared,
            Method::PUT,
            &format!("/v1/companies/{CVR_A}/grants/{reader_id}"),
            &admin,
            Some(json!({"access_level": "read"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // The same text in the granted company, an ungranted one, and the other org's.
    let granted = world.indexed(&admin, CVR_A, "granted", WINDOWS).await;
    let ungranted = world.indexed(&admin, CVR_B, "ungranted", WINDOWS).await;
    let foreign = world.indexed(&outsider, CVR_A, "foreign", WINDOWS).await;
    wait_until("the grant in vault", Duration::from_secs(30), async || {
        world
            .vault(
                Method::GET,
                &format!("/v1/documents/{granted}"),
                &reader,
                None,
            )
            .await
            .0
            == StatusCode::OK
    })
    .await;

    for mode in ["semantic", "full_text", "hybrid"] {
        let found = world
            .search(
                &reader,
                json!({"query": "office windows washed on Tuesday", "mode": mode}),
            )
            .await;
        assert_eq!(names(&found), ["granted"], "{mode}: {found:?}");
        let found = world
            .search(
                &admin,
                json!({"query": "office windows washed", "mode": mode}),
            )
            .await;
        let mut seen = names(&found);
        seen.sort();
        assert_eq!(seen, ["granted", "ungranted"], "{mode}: {found:?}");
        let found = world
            .search(
                &outsider,
                json!({"query": "office windows washed", "mode": mode}),
            )
            .await;
        assert_eq!(names(&found), ["foreign"], "{mode}: {found:?}");
    }
    // Similar items keep to the same reach.
    let (status, similar) = world
        .vault(
            Method::GET,
            &format!("/v1/documents/{granted}/similar"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{similar}");
    assert_eq!(names(similar["results"].as_array().unwrap()), ["ungranted"]);
    let (_, similar) = world
        .vault(
            Method::POST,
            "/v1/similar",
            &reader,
            Some(json!({"text": "Who washes the office windows, and on which day?"})),
        )
        .await;
    assert_eq!(
        names(similar["results"].as_array().unwrap()),
        ["granted"],
        "{similar}"
    );

    // Asking for what is out of reach is a 404, however it is asked.
    let (status, problem) = world
        .vault(
            Method::POST,
            "/v1/search",
            &reader,
            Some(json!({"query": "windows", "cvrs": [CVR_B]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    // Among several companies asked for at once (checked in one round trip), one out of reach
    // is enough, and the answer names it.
    let (status, problem) = world
        .vault(
            Method::POST,
            "/v1/search",
            &reader,
            Some(json!({"query": "windows", "cvrs": [CVR_A, CVR_B, CVR_A]})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(CVR_B),
        "{problem}"
    );
    let (status, found) = world
        .vault(
            Method::POST,
            "/v1/search",
            &reader,
            Some(json!({"query": "windows", "mode": "full_text", "cvrs": [CVR_A, CVR_A]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(names(found["results"].as_array().unwrap()), ["granted"]);
    for id in [&ungranted, &foreign] {
        for path in [
            format!("/v1/documents/{id}"),
            format!("/v1/documents/{id}/versions"),
            format!("/v1/documents/{id}/versions/1"),
            format!("/v1/documents/{id}/similar"),
        ] {
            let (status, _) = world.vault(Method::GET, &path, &reader, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
    // A reader cannot change anything.
    let (status, _) = world
        .vault(
            Method::DELETE,
            &format!("/v1/documents/{granted}"),
            &reader,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = world
        .vault(
            Method::POST,
            &format!("/v1/companies/{CVR_A}/documents"),
            &reader,
            Some(json!({"name": "x", "content": "y"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Publishes `payload` from `service`'s outbox (its running relay sends it to Kafka).
async fn publish_from<M: tekup_proto::Message + tekup_proto::Name>(
    db: &TestDb,
    service: Service,
    aggregate: &str,
    org_id: Uuid,
    cvr: &str,
    subject: &str,
    payload: &M,
) {
    let pool = db.pool(service).unwrap();
    let mut conn = pool.get().await.unwrap();
    diesel_async::AsyncConnection::transaction::<_, diesel::result::Error, _>(
        &mut *conn,
        async |conn| {
            enter(conn, &Context::System).await?;
            outbox::publish(
                conn,
                Outgoing {
                    topic: &topic(service.name(), aggregate),
                    org_id: Some(org_id),
                    cvr: Some(cvr),
                    subject,
                    payload,
                },
            )
            .await
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn items_from_renos_and_crm_are_indexed_replaced_and_erased() {
    use tekup_proto::renos::v1::{
        ConversationRecorded, EmailThreadDeleted, EmailThreadUpdated, Message,
    };

    let world = World::new(&[]).await;
    let renos = spawn_app_on::<renos::Renos>(Arc::clone(&world.db), &[])
        .await
        .unwrap();
    let flow = spawn_app_on::<flow::Flow>(Arc::clone(&world.db), &[])
        .await
        .unwrap();
    let jwks = world.identity.shared.at("/.well-known/jwks.json");
    let crm = spawn_app_on::<crm::Crm>(Arc::clone(&world.db), &[("AUTH__JWKS_URL", &jwks)])
        .await
        .unwrap();
    let org = world.org("Rendetalje ApS").await;
    let org_id: Uuid = org.parse().unwrap();
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;

    let message = |author: &str, text: &str| Message {
        author: author.into(),
        text: text.into(),
        sent_at: "2026-11-20T10:00:00Z".into(),
    };
    let mut conversation = ConversationRecorded {
        conversation_id: "c-1".into(),
        org_id: org.clone(),
        cvr: CVR_A.into(),
        channel: "wotnot".into(),
        customer_email: "mette@kunde.dk".into(),
        title: "Chat om vinduespudsning".into(),
        messages: vec![message(
            "customer",
            "Can you wash the windows of our shop in Aarhus?",
        )],
    };
    publish_from(
        &world.db,
        Service::Renos,
        "conversation",
        org_id,
        CVR_A,
        "c-1",
        &conversation,
    )
    .await;
    let thread = EmailThreadUpdated {
        thread_id: "t-1".into(),
        org_id: org.clone(),
        cvr: CVR_A.into(),
        subject: "Tilbud på trappevask".into(),
        customer_email: "lars@kunde.dk".into(),
        messages: vec![message(
            "lars@kunde.dk",
            "Please quote stairwell cleaning, code QZ-7781.",
        )],
    };
    publish_from(
        &world.db,
        Service::Renos,
        "email_thread",
        org_id,
        CVR_A,
        "t-1",
        &thread,
    )
    .await;

    // crm: a company record, then an e-mail logged through crm's API.
    let (status, body) = world
        .call(
            &world.identity.shared,
            Method::POST,
            "/v1/companies",
            &admin,
            Some(json!({"cvr": CVR_A, "name": "Kunde ApS"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    wait_until("the CRM record", Duration::from_secs(30), async || {
        world
            .call(
                &crm,
                Method::GET,
                &format!("/v1/companies/{CVR_A}"),
                &admin,
                None,
            )
            .await
            .0
            == StatusCode::OK
    })
    .await;
    let (status, body) = world
        .call(
            &crm,
            Method::POST,
            &format!("/v1/companies/{CVR_A}/emails"),
            &admin,
            Some(
                json!({"direction": "inbound", "subject": "Faktura spørgsmål",
                          "body": "The invoice for October lists the carpet job twice.",
                          "from": "bogholder@kunde.dk", "to": ["info@rendetalje.dk"]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let kinds = async |query: &str| -> Vec<String> {
        world
            .search(&admin, json!({"query": query, "mode": "full_text"}))
            .await
            .iter()
            .map(|r| r["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    wait_until(
        "all three items searchable",
        Duration::from_secs(60),
        async || {
            kinds("windows").await == ["conversation"]
                && kinds("QZ-7781").await == ["email_thread"]
                && kinds("invoice October").await == ["email"]
        },
    )
    .await;

    // The conversation grows: the new event replaces its content (a new version).
    conversation.messages.push(message(
        "agent",
        "Yes, every Thursday morning; price 450 kr.",
    ));
    publish_from(
        &world.db,
        Service::Renos,
        "conversation",
        org_id,
        CVR_A,
        "c-1",
        &conversation,
    )
    .await;
    wait_until(
        "the conversation replaced",
        Duration::from_secs(60),
        async || kinds("Thursday morning").await == ["conversation"],
    )
    .await;
    let (_, status_list) = world
        .vault(Method::GET, "/v1/sync-status", &admin, None)
        .await;
    let conversations = status_list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["repository"] == "conversation")
        .unwrap()
        .clone();
    assert_eq!(conversations["source"], "renos");
    assert_eq!(conversations["documents"], 2, "{status_list}");

    // A deleted thread goes; an erasure request for a person removes what is about them.
    publish_from(
        &world.db,
        Service::Renos,
        "email_thread",
        org_id,
        CVR_A,
        "t-1",
        &EmailThreadDeleted {
            thread_id: "t-1".into(),
            org_id: org.clone(),
            cvr: CVR_A.into(),
        },
    )
    .await;
    publish_from(
        &world.db,
        Service::Flow,
        "gdpr",
        org_id,
        CVR_A,
        "r-1",
        &tekup_proto::flow::v1::ErasureRequested {
            request_id: "r-1".into(),
            org_id: org.clone(),
            cvr: String::new(),
            email: "Mette@Kunde.dk".into(),
        },
    )
    .await;
    wait_until(
        "deletion and erasure applied",
        Duration::from_secs(60),
        async || kinds("QZ-7781").await.is_empty() && kinds("windows Thursday").await.is_empty(),
    )
    .await;
    assert_eq!(
        kinds("invoice October").await,
        ["email"],
        "unrelated items stay"
    );
    drop((renos, flow, crm));
}

/// Counts rows as the administrator (outside Row Level Security).
async fn admin_count(db: &TestDb, sql: &str) -> i64 {
    db.admin_count(sql).await.unwrap()
}

#[tokio::test]
async fn an_openai_compatible_embedder_indexes_into_a_space_of_its_own() {
    use tekup_testkit::fake_openai::{API_KEY, FakeOpenAi};

    let fake = FakeOpenAi::start().await.unwrap();
    let world = World::new(&[
        ("APP__EMBEDDER__KIND", "openai"),
        ("APP__EMBEDDER__BASE_URL", &fake.base_url),
        ("APP__EMBEDDER__MODEL", "text-embedding-3-small"),
        ("APP__EMBEDDER__DIMENSIONS", "1536"),
        ("APP__EMBEDDER__API_KEY", API_KEY),
    ])
    .await;
    let org = world.org("Rendetalje ApS").await;
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    world.indexed(&admin, CVR_A, "windows", WINDOWS).await;
    world.indexed(&admin, CVR_A, "vat", VAT).await;
    assert!(fake.requests() >= 2);

    let found = world
        .search(
            &admin,
            json!({"query": "facility team washes windows", "mode": "semantic", "limit": 1}),
        )
        .await;
    assert_eq!(names(&found), ["windows"]);
    // 1536-dimensional vectors, in their own space with its own HNSW index.
    assert_eq!(
        admin_count(
            &world.db,
            "SELECT count(*) AS n FROM vault.embeddings e JOIN vault.embedding_spaces s \
             ON s.id = e.space_id WHERE s.model = 'text-embedding-3-small' \
             AND s.dimensions = 1536 AND vector_dims(e.embedding) = 1536"
        )
        .await,
        2
    );
    assert_eq!(
        admin_count(
            &world.db,
            "SELECT count(*) AS n FROM pg_indexes WHERE schemaname = 'vault' \
             AND indexname LIKE 'embeddings_space_%_hnsw' \
             AND indexdef LIKE '%vector(1536)%'"
        )
        .await,
        1
    );

    // A wrong key: the provider refuses, semantic search answers 503, full-text still works.
    let broken = spawn_app_on::<vault::Vault>(
        Arc::clone(&world.db),
        &[
            (
                "AUTH__JWKS_URL",
                &world.identity.shared.at("/.well-known/jwks.json"),
            ),
            ("APP__EMBEDDER__KIND", "openai"),
            ("APP__EMBEDDER__BASE_URL", &fake.base_url),
            ("APP__EMBEDDER__DIMENSIONS", "1536"),
            ("APP__EMBEDDER__API_KEY", "sk-wrong"),
            ("APP__INDEXER__ENABLED", "false"),
            // Only its HTTP is used: no second member in the consumer groups.
            ("EVENTS__CONSUMERS_ENABLED", "false"),
        ],
    )
    .await
    .unwrap();
    let (status, problem) = world
        .call(
            &broken,
            Method::POST,
            "/v1/search",
            &admin,
            Some(json!({"query": "windows", "mode": "semantic"})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    let (status, found) = world
        .call(
            &broken,
            Method::POST,
            "/v1/search",
            &admin,
            Some(json!({"query": "windows", "mode": "full_text"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(found["results"].as_array().unwrap()), ["windows"]);
}

#[tokio::test]
async fn a_model_change_re_embeds_every_document_in_the_new_space() {
    use tekup_testkit::fake_openai::{API_KEY, FakeOpenAi};

    let world = World::new(&[]).await;
    let org = world.org("Rendetalje ApS").await;
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    world.indexed(&admin, CVR_A, "windows", WINDOWS).await;
    world.indexed(&admin, CVR_A, "vat", VAT).await;

    // The same database, a replica with another model: it queues both documents for its space.
    let fake = FakeOpenAi::start().await.unwrap();
    let replica = spawn_app_on::<vault::Vault>(
        Arc::clone(&world.db),
        &[
            (
                "AUTH__JWKS_URL",
                &world.identity.shared.at("/.well-known/jwks.json"),
            ),
            ("APP__EMBEDDER__KIND", "openai"),
            ("APP__EMBEDDER__BASE_URL", &fake.base_url),
            ("APP__EMBEDDER__DIMENSIONS", "256"),
            ("APP__EMBEDDER__API_KEY", API_KEY),
            // Only its indexer and HTTP are used: no second member in the consumer groups.
            ("EVENTS__CONSUMERS_ENABLED", "false"),
        ],
    )
    .await
    .unwrap();
    wait_until(
        "both documents re-embedded",
        Duration::from_secs(60),
        async || {
            admin_count(
                &world.db,
                "SELECT count(DISTINCT document_id) AS n FROM vault.embeddings \
             WHERE vector_dims(embedding) = 256",
            )
            .await
                == 2
        },
    )
    .await;
    // Each space searches only its own vectors; the old one keeps its 384-dimensional ones.
    assert_eq!(
        admin_count(
            &world.db,
            "SELECT count(*) AS n FROM vault.embeddings WHERE vector_dims(embedding) = 384"
        )
        .await,
        2
    );
    let (status, found) = world
        .call(
            &replica,
            Method::POST,
            "/v1/search",
            &admin,
            Some(json!({"query": "facility team windows", "mode": "semantic", "limit": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(names(found["results"].as_array().unwrap()), ["windows"]);
}

#[tokio::test]
async fn a_new_case_like_an_earlier_one_becomes_a_next_step_in_crm() {
    let world = World::new(&[("APP__SEARCH__SIMILAR_MIN_SCORE", "0.5")]).await;
    let renos = spawn_app_on::<renos::Renos>(Arc::clone(&world.db), &[])
        .await
        .unwrap();
    let jwks = world.identity.shared.at("/.well-known/jwks.json");
    let crm = spawn_app_on::<crm::Crm>(Arc::clone(&world.db), &[("AUTH__JWKS_URL", &jwks)])
        .await
        .unwrap();
    let org = world.org("Rendetalje ApS").await;
    let (_, admin) = world.user(&org, "admin@rendetalje.dk", "admin").await;
    let (status, body) = world
        .call(
            &world.identity.shared,
            Method::POST,
            "/v1/companies",
            &admin,
            Some(json!({"cvr": CVR_A, "name": "Kunde ApS"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let days_ago = |days: i64| (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339();

    // An earlier complaint in the chat, and an unrelated one; then a new e-mail thread like it.
    for (id, title, text, at) in [
        (
            "c-old",
            "Stribede vinduer",
            "The shop windows were left with ugly streaks after your cleaning visit.",
            days_ago(20),
        ),
        (
            "c-other",
            "Faktura",
            "Can you send the invoice for October to our accounting department?",
            days_ago(15),
        ),
    ] {
        conversation(&world.db, &org, id, title, text, at).await;
    }
    until_count(
        &world.db,
        "the earlier items indexed",
        "SELECT count(*) AS n FROM vault.documents WHERE indexed_version = 1",
        2,
    )
    .await;
    thread(
        &world.db,
        &org,
        "t-new",
        "Klage over vinduerne",
        "Again there are streaks on the shop windows after you cleaned them.",
        days_ago(1),
    )
    .await;

    // vault announces the likeness; crm's recommender turns it into a step pointing back.
    let path = format!("/v1/companies/{CVR_A}/process-steps/recommend");
    let latest = std::cell::RefCell::new(Value::Null);
    wait_until("a similar_case step", Duration::from_secs(60), async || {
        let (status, body) = world.call(&crm, Method::POST, &path, &admin, None).await;
        let found = body
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["rule"] == "similar_case"));
        *latest.borrow_mut() = body;
        status == StatusCode::OK && found
    })
    .await;
    let steps = latest.into_inner();
    let step = steps
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["rule"] == "similar_case")
        .unwrap();
    let text = step["recommendation_text"].as_str().unwrap();
    assert!(text.contains("Stribede vinduer"), "{step}");
    assert!(!text.contains("Faktura"), "{step}");
    assert!(
        step["reason"].as_str().unwrap().contains("mailtråd"),
        "{step}"
    );

    // Indexed in the wrong order: a recent thread first, then an older conversation like it.
    // The older one's indexing finds the thread and announces the thread's likeness again.
    thread(
        &world.db,
        &org,
        "t-late",
        "Gulvet i køkkenet",
        "The kitchen floor was not mopped at all during the last cleaning.",
        days_ago(0),
    )
    .await;
    until_count(
        &world.db,
        "the recent thread indexed",
        "SELECT count(*) AS n FROM vault.documents WHERE name = 'Gulvet i køkkenet' \
             AND indexed_version = 1",
        1,
    )
    .await;
    conversation(
        &world.db,
        &org,
        "c-early",
        "Køkkengulv",
        "Nobody mopped the kitchen floor during the cleaning visit.",
        days_ago(10),
    )
    .await;
    until_count(
        &world.db,
        "the recent thread like the older conversation, in crm",
        "SELECT count(*) AS n FROM crm.similar_items WHERE name = 'Gulvet i køkkenet' \
                 AND similar_name = 'Køkkengulv'",
        1,
    )
    .await;
    drop((renos, crm));
}

/// renos announcing a chatbot conversation of company A with one message from the customer.
async fn conversation(db: &TestDb, org: &str, id: &str, title: &str, text: &str, at: String) {
    use tekup_proto::renos::v1::{ConversationRecorded, Message};
    let conversation = ConversationRecorded {
        conversation_id: id.into(),
        org_id: org.into(),
        cvr: CVR_A.into(),
        channel: "wotnot".into(),
        customer_email: String::new(),
        title: title.into(),
        messages: vec![Message {
            author: "customer".into(),
            text: text.into(),
            sent_at: at,
        }],
    };
    from_renos(db, "conversation", org, id, &conversation).await;
}

/// renos announcing an e-mail thread of company A with one message from the customer.
async fn thread(db: &TestDb, org: &str, id: &str, subject: &str, text: &str, at: String) {
    use tekup_proto::renos::v1::{EmailThreadUpdated, Message};
    let thread = EmailThreadUpdated {
        thread_id: id.into(),
        org_id: org.into(),
        cvr: CVR_A.into(),
        subject: subject.into(),
        customer_email: String::new(),
        messages: vec![Message {
            author: "kunde@kunde.dk".into(),
            text: text.into(),
            sent_at: at,
        }],
    };
    from_renos(db, "email_thread", org, id, &thread).await;
}

/// renos announcing `event` about its `aggregate` `id` of company A.
async fn from_renos<M: tekup_proto::Message + tekup_proto::Name>(
    db: &TestDb,
    aggregate: &str,
    org: &str,
    id: &str,
    event: &M,
) {
    let org_id = org.parse().unwrap();
    publish_from(db, Service::Renos, aggregate, org_id, CVR_A, id, event).await;
}

/// Waits (up to a minute) until `sql`, a `count(*) AS n` run as the administrator, says `n`.
async fn until_count(db: &TestDb, what: &str, sql: &str, n: i64) {
    wait_until(what, Duration::from_secs(60), async || {
        admin_count(db, sql).await == n
    })
    .await;
}
