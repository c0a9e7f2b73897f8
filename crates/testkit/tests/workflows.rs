//! flow's workflows across services and the real broker: a lead created in renos starts the
//! built-in lead validation, which checks the CVR and has crm open a deal, every step logged;
//! and a GDPR erasure request reaches all six services, each of which removes or anonymises
//! the person and confirms it.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tekup_testkit::fake_billy::{FakeBilly, TOKEN};
use tekup_testkit::identity::{Identity, call, expect};
use tekup_testkit::receiver::{Receiver, Reply};
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};

const CVR: &str = "13585628";
/// An address that contains the erased person's (`mette.hansen@kunde.dk`) but is another's.
const LOOKALIKE: &str = "anne.mette.hansen@kunde.dk";
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn flow_settings(jwks: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AUTH__JWKS_URL", jwks.to_owned()),
        ("APP__SECRET_KEY", KEY.to_owned()),
        ("APP__ENGINE__POLL_INTERVAL_MS", "50".to_owned()),
        // Receivers listen on this host's loopback.
        (
            "APP__ENGINE__ALLOWED_PRIVATE_RANGES",
            "127.0.0.0/8".to_owned(),
        ),
    ]
}

async fn start_flow(db: &Arc<TestDb>, jwks: &str) -> TestApp {
    let settings = flow_settings(jwks);
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_on::<flow::Flow>(Arc::clone(db), &pairs)
        .await
        .unwrap()
}

/// Registers company `cvr` in shared and waits until crm knows it.
async fn register(identity: &Identity, crm: &TestApp, admin: &str, cvr: &str, name: &str) {
    expect(
        &identity.shared,
        Method::POST,
        "/v1/companies",
        admin,
        Some(json!({"cvr": cvr, "name": name})),
        201,
    )
    .await;
    wait_until("the company in crm", Duration::from_secs(30), async || {
        call(
            crm,
            Method::GET,
            &format!("/v1/companies/{cvr}"),
            admin,
            None,
        )
        .await
        .is_ok_and(|(s, _)| s.is_success())
    })
    .await;
}

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    expect(app, Method::GET, path, token, None, 200).await
}

#[tokio::test]
async fn a_lead_in_renos_becomes_a_validated_deal_in_crm() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(Arc::clone(&db), 41, &[]).await.unwrap();
    let jwks = identity.jwks_url();
    let auth = [("AUTH__JWKS_URL", jwks.as_str())];
    let renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let crm = spawn_app_on::<crm::Crm>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let flow = start_flow(&db, &jwks).await;

    let org = identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = identity
        .user(&org, "admin@rendetalje.dk", "admin")
        .await
        .unwrap();
    let (_, viewer) = identity
        .user(&org, "viewer@rendetalje.dk", "viewer")
        .await
        .unwrap();
    register(&identity, &crm, &admin, CVR, "Kunde ApS").await;

    // The built-in workflow, installed by an administrator only.
    let templates = get(&flow, "/v1/workflow-templates", &viewer).await;
    assert_eq!(templates[0]["name"], "lead-validation");
    expect(
        &flow,
        Method::POST,
        "/v1/workflow-templates/lead-validation",
        &viewer,
        None,
        403,
    )
    .await;
    let installed = expect(
        &flow,
        Method::POST,
        "/v1/workflow-templates/lead-validation",
        &admin,
        None,
        201,
    )
    .await;
    assert_eq!(installed["version"], 1);

    // A lead without a CVR starts nothing; a business lead starts the workflow.
    expect(
        &renos,
        Method::POST,
        "/v1/leads",
        &admin,
        Some(
            json!({"source": "web", "name": "Privat Person", "email": "p@example.dk",
                    "message": "Hjemmerengøring"}),
        ),
        201,
    )
    .await;
    let lead = expect(
        &renos,
        Method::POST,
        "/v1/leads",
        &admin,
        Some(json!({"source": "chatbot", "name": "Kunde ApS", "cvr": CVR,
                    "email": "mette@kunde.dk", "message": "Kontorrengøring, 120 m2"})),
        201,
    )
    .await;
    let lead_id = lead["id"].as_str().unwrap().to_owned();

    let deals_path = format!("/v1/companies/{CVR}/deals");
    wait_until("the deal in crm", Duration::from_secs(60), async || {
        get(&crm, &deals_path, &admin).await["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
    })
    .await;
    let deals = get(&crm, &deals_path, &admin).await;
    let deals = deals["items"].as_array().unwrap();
    assert_eq!(deals.len(), 1, "{deals:?}");
    assert_eq!(deals[0]["title"], format!("Lead: {CVR}"));

    // The execution, every step logged, readable by a viewer.
    let executions = get(&flow, "/v1/executions?workflow=lead-validation", &viewer).await;
    let items = executions["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "only the business lead started a run: {items:?}"
    );
    let id = items[0]["id"].as_str().unwrap();
    wait_until("the execution ends", Duration::from_secs(30), async || {
        get(&flow, &format!("/v1/executions/{id}"), &viewer).await["status"] == "succeeded"
    })
    .await;
    let detail = get(&flow, &format!("/v1/executions/{id}"), &viewer).await;
    assert_eq!(
        detail["trigger"]["event"]["type"],
        "tekup.renos.v1.LeadCreated"
    );
    assert_eq!(detail["input"]["lead_id"], lead_id.as_str());
    let steps: Vec<(String, String)> = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step_id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("validate", "succeeded"),
            ("valid", "succeeded"),
            ("lookup", "succeeded"),
            ("deal", "succeeded")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned())),
        "the registry lookup is skipped without cvr_registry_lookup"
    );
    assert_eq!(detail["outputs"]["validate"]["valid"], true);
    assert_eq!(
        detail["outputs"]["deal"]["source"],
        format!("lead:{lead_id}")
    );
    let logs: Vec<&str> = detail["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        logs.iter().filter(|m| m.ends_with("step started")).count(),
        4,
        "{logs:?}"
    );
    assert_eq!(
        logs.iter().filter(|m| m.ends_with("step done")).count(),
        4,
        "{logs:?}"
    );
    assert_eq!(logs.last(), Some(&"execution succeeded"));
    let workflow = get(&flow, "/v1/workflows/lead-validation", &viewer).await;
    assert_eq!(workflow["metrics"][0]["runs"], 1, "{workflow}");
    assert_eq!(workflow["metrics"][0]["succeeded"], 1, "{workflow}");

    // With the registry lookup on, the deal is named after the registry's answer (a local
    // stand-in for cvrapi.dk, which answers GET /api?search=<cvr>&country=dk).
    let registry = Receiver::start().await.unwrap();
    registry.script([Reply::Json(
        json!({"vat": 29000018, "name": "Café Aarhus ApS",
                                        "city": "Aarhus C", "protected": false}),
    )]);
    expect(
        &flow,
        Method::PUT,
        "/v1/integrations/cvr-registry",
        &admin,
        Some(json!({"kind": "http", "url": registry.url,
                    "headers": {"user-agent": "Tekup Platform - lead validation"}})),
        200,
    )
    .await;
    expect(
        &flow,
        Method::PUT,
        "/v1/variables/cvr_registry_lookup",
        &admin,
        Some(json!({"value": true})),
        204,
    )
    .await;
    let other = "29000018";
    register(&identity, &crm, &admin, other, "Café Aarhus ApS").await;
    expect(
        &renos,
        Method::POST,
        "/v1/leads",
        &admin,
        Some(
            json!({"source": "email", "name": "Café Aarhus", "cvr": other,
                    "message": "Rengøring af café"}),
        ),
        201,
    )
    .await;
    let other_deals = format!("/v1/companies/{other}/deals");
    wait_until("the looked-up deal", Duration::from_secs(60), async || {
        get(&crm, &other_deals, &admin).await["items"][0]["title"] == "Lead: Café Aarhus ApS"
    })
    .await;
    let asked = registry.received();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].path, format!("/api?search={other}&country=dk"));
    assert_eq!(
        asked[0].header("user-agent"),
        Some("Tekup Platform - lead validation")
    );
    drop((renos, crm, flow));
}

#[tokio::test]
async fn a_gdpr_erasure_reaches_every_service_and_each_confirms() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let identity = Identity::start(Arc::clone(&db), 43, &[]).await.unwrap();
    let jwks = identity.jwks_url();
    let auth = [("AUTH__JWKS_URL", jwks.as_str())];
    let fake = FakeBilly::start().await.unwrap();
    let renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let crm = spawn_app_on::<crm::Crm>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let vault = spawn_app_on::<vault::Vault>(Arc::clone(&db), &auth)
        .await
        .unwrap();
    let billy = spawn_app_on::<billy::Billy>(
        Arc::clone(&db),
        &[
            ("AUTH__JWKS_URL", jwks.as_str()),
            ("APP__TOKEN_KEY", KEY),
            ("APP__API__BASE_URL", &fake.base_url),
            ("APP__SYNC__INTERVAL_MS", "200"),
        ],
    )
    .await
    .unwrap();
    let flow = start_flow(&db, &jwks).await;

    let org = identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = identity
        .user(&org, "admin@rendetalje.dk", "admin")
        .await
        .unwrap();
    let person = "Mette.Hansen@Kunde.dk";
    let other = "jens@andenkunde.dk";
    register(&identity, &crm, &admin, CVR, "Kunde ApS").await;

    // The person, in every service that keeps people.
    for email in [person, other] {
        expect(
            &crm,
            Method::POST,
            &format!("/v1/companies/{CVR}/contacts"),
            &admin,
            Some(json!({"first_name": "Mette", "last_name": "Hansen", "email": email})),
            201,
        )
        .await;
        expect(
            &renos,
            Method::POST,
            "/v1/leads",
            &admin,
            Some(
                json!({"source": "web", "name": "Mette Hansen", "email": email,
                        "message": "Tilbud på rengøring"}),
            ),
            201,
        )
        .await;
    }
    expect(
        &crm,
        Method::POST,
        &format!("/v1/companies/{CVR}/activities"),
        &admin,
        Some(json!({"kind": "note", "subject": "Opkald fra Mette",
                    "body": format!("Mette ({person}) ringede om vinduespudsning")})),
        201,
    )
    .await;
    // Mail to the person is theirs as much as mail from them.
    expect(
        &crm,
        Method::POST,
        &format!("/v1/companies/{CVR}/emails"),
        &admin,
        Some(
            json!({"direction": "outbound", "subject": "Tilbud", "body": "Hermed vores tilbud.",
                    "from": "salg@rendetalje.dk", "to": [person]}),
        ),
        201,
    )
    .await;
    // Someone else whose address contains the person's: not the person.
    expect(
        &crm,
        Method::POST,
        &format!("/v1/companies/{CVR}/activities"),
        &admin,
        Some(json!({"kind": "note", "subject": "Opkald fra Anne",
                    "body": format!("Anne ({LOOKALIKE}) ringede om vinduespudsning")})),
        201,
    )
    .await;
    fake.add_contact("Mette Hansen", CVR, person);
    fake.add_contact("Jens Jensen", CVR, other);
    let (status, body) = call(
        &billy,
        Method::PUT,
        "/v1/billy/connection",
        &admin,
        Some(json!({"access_token": TOKEN})),
    )
    .await
    .unwrap();
    assert!(status.is_success(), "{status} {body}");
    expect(
        &flow,
        Method::POST,
        "/v1/workflows",
        &admin,
        Some(json!({
            "name": "note", "definition": {"trigger": {"type": "manual"},
                "steps": [{"id": "echo", "type": "transform", "set": {"who": "{{ input.email }}"}}]}
        })),
        201,
    )
    .await;
    expect(
        &flow,
        Method::POST,
        "/v1/workflows/note/executions",
        &admin,
        Some(json!({"input": {"email": person}})),
        202,
    )
    .await;

    let count = |sql: String| {
        let db = Arc::clone(&db);
        async move { db.admin_count(&sql).await.unwrap() }
    };
    let lower = person.to_lowercase();
    let mentions = move |table: &str, column: &str| {
        format!(
            "SELECT count(*) AS n FROM {table} \
             WHERE strpos(replace(lower({column}::text), '{LOOKALIKE}', ''), '{lower}') > 0"
        )
    };
    let lookalike = format!(
        "SELECT count(*) AS n FROM vault.documents d JOIN vault.document_versions v \
         ON v.document_id = d.id AND v.version = d.version \
         WHERE strpos(v.raw_content, '{LOOKALIKE}') > 0"
    );
    wait_until(
        "the person everywhere",
        Duration::from_secs(60),
        async || {
            count(mentions("billy.cached_customers", "email")).await == 1
                && count(mentions("vault.document_versions", "raw_content")).await == 2
                && count(lookalike.clone()).await == 1
                && count(mentions("flow.executions", "outputs")).await == 1
        },
    )
    .await;

    // An export first: every service's part of the person's data.
    let export = expect(
        &flow,
        Method::POST,
        "/v1/gdpr/requests",
        &admin,
        Some(json!({"kind": "export", "email": person})),
        202,
    )
    .await;
    let export_id = export["id"].as_str().unwrap().to_owned();
    wait_until("the export answered", Duration::from_secs(60), async || {
        get(&flow, &format!("/v1/gdpr/requests/{export_id}"), &admin).await["status"] == "completed"
    })
    .await;
    let export = get(&flow, &format!("/v1/gdpr/requests/{export_id}"), &admin).await;
    let answer = |request: &Value, service: &str| {
        request["answers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["service"] == service)
            .cloned()
            .unwrap_or_else(|| panic!("no answer from {service}: {request}"))
    };
    let crm_export = answer(&export, "crm");
    assert_eq!(crm_export["counts"]["crm.contacts"], 1, "{crm_export}");
    let exported = crm_export["bundle"]["crm.contacts"][0]["email"]
        .as_str()
        .unwrap();
    assert_eq!(exported.to_lowercase(), person.to_lowercase());
    assert_eq!(
        answer(&export, "billy")["counts"]["billy.cached_customers"],
        1
    );
    assert_eq!(
        count(mentions("crm.contacts", "email")).await,
        1,
        "an export changes nothing"
    );

    // Then the erasure.
    let request = expect(
        &flow,
        Method::POST,
        "/v1/gdpr/requests",
        &admin,
        Some(json!({"kind": "erasure", "email": person, "reason": "Kundens anmodning 24/11"})),
        202,
    )
    .await;
    let id = request["id"].as_str().unwrap().to_owned();
    assert_eq!(request["status"], "open");
    assert!(request["deadline"].as_str().unwrap() > request["requested_at"].as_str().unwrap());
    wait_until(
        "every service answered",
        Duration::from_secs(60),
        async || {
            get(&flow, &format!("/v1/gdpr/requests/{id}"), &admin).await["status"] == "completed"
        },
    )
    .await;
    let done = get(&flow, &format!("/v1/gdpr/requests/{id}"), &admin).await;
    assert_eq!(done["pending"], json!([]));
    let mut services: Vec<&str> = done["answers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["service"].as_str().unwrap())
        .collect();
    services.sort_unstable();
    assert_eq!(
        services,
        ["billy", "crm", "flow", "renos", "shared", "vault"]
    );
    assert_eq!(answer(&done, "crm")["counts"]["crm.contacts"], 1);
    assert_eq!(answer(&done, "renos")["counts"]["renos.leads"], 1);
    assert_eq!(
        answer(&done, "billy")["counts"]["billy.cached_customers"],
        1
    );
    assert_eq!(answer(&done, "vault")["counts"]["vault.documents"], 2);
    assert_eq!(answer(&done, "crm")["counts"]["crm.emails"], 1);
    assert!(
        answer(&done, "flow")["counts"]["flow.executions"]
            .as_u64()
            .unwrap()
            >= 1
    );

    // Gone or anonymised everywhere; the other person untouched.
    for (table, column) in [
        ("crm.contacts", "email"),
        (
            "crm.emails",
            "array_to_string(to_addresses, ' ') || ' ' || from_address",
        ),
        ("renos.leads", "email"),
        ("renos.leads", "name || message"),
        ("billy.cached_customers", "email"),
        ("vault.document_versions", "raw_content"),
        ("vault.chunks", "content"),
        ("flow.executions", "input::text || outputs"),
        ("flow.execution_steps", "output"),
    ] {
        assert_eq!(
            count(mentions(table, column)).await,
            0,
            "{table}.{column} still mentions the person"
        );
    }
    assert_eq!(
        count(lookalike).await,
        1,
        "vault keeps the note about {LOOKALIKE}"
    );
    // vault and billy remember whom they erased, so that an item still on its way does not
    // bring them back.
    for table in ["vault.erased_subjects", "billy.erased_subjects"] {
        let n = count(format!("SELECT count(*) AS n FROM {table}")).await;
        assert_eq!(n, 1, "{table}");
    }
    let leads =
        count("SELECT count(*) AS n FROM renos.leads WHERE name = 'Slettet (GDPR)'".into()).await;
    assert_eq!(leads, 1, "the lead is kept, anonymised");
    let other_lower = other.to_lowercase();
    for table in ["crm.contacts", "renos.leads", "billy.cached_customers"] {
        let n = count(format!(
            "SELECT count(*) AS n FROM {table} WHERE lower(email) = '{other_lower}'"
        ))
        .await;
        assert_eq!(n, 1, "{table}: the other person stays");
    }
    // A viewer cannot file or read requests.
    let (_, viewer) = identity
        .user(&org, "viewer@rendetalje.dk", "viewer")
        .await
        .unwrap();
    expect(
        &flow,
        Method::POST,
        "/v1/gdpr/requests",
        &viewer,
        Some(json!({"kind": "erasure", "email": person})),
        403,
    )
    .await;
    expect(
        &flow,
        Method::POST,
        "/v1/gdpr/requests",
        &admin,
        Some(json!({"kind": "forget", "cvr": "12345678"})),
        422,
    )
    .await;
    drop((renos, crm, vault, billy, flow));
}
