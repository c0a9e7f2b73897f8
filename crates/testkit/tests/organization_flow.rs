//! The first flow across services: an organization created in shared reaches every other
//! service's projection through Kafka, within the trace of the request that created it.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{Nullable, Text};
use diesel_async::RunQueryDsl;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tekup_db::Service;
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};

const TOKEN: &str = "operator-secret";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[derive(QueryableByName, Debug)]
struct Row {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    trace_id: Option<String>,
}

/// The organization as `service` projected it, read as the service itself (billy keeps
/// its organizations' Billy.dk connections there, behind Row Level Security).
async fn projected(db: &TestDb, service: Service, org: &str) -> Option<Row> {
    let pool = db.pool(service).unwrap();
    let mut conn = pool.get().await.unwrap();
    diesel_async::AsyncConnection::transaction::<_, diesel::result::Error, _>(
        &mut *conn,
        async |conn| {
            tekup_db::tenancy::enter(conn, &tekup_db::tenancy::Context::System).await?;
            diesel::sql_query(
                "SELECT o.name, i.trace_id FROM organizations o \
                 LEFT JOIN inbox i ON i.consumer = 'organizations' AND i.event_type = $2 \
                 WHERE o.id = $1::uuid ORDER BY i.processed_at DESC LIMIT 1",
            )
            .bind::<Text, _>(org)
            .bind::<Text, _>("tekup.shared.v1.OrganizationRenamed")
            .get_result(conn)
            .await
        },
    )
    .await
    .ok()
}

async fn shared_app(db: &Arc<TestDb>) -> TestApp {
    spawn_app_on::<shared::Shared>(Arc::clone(db), &[("APP__ADMIN_TOKEN", TOKEN)])
        .await
        .unwrap()
}

#[tokio::test]
async fn an_organization_created_in_shared_reaches_every_service_within_its_trace() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let shared = shared_app(&db).await;
    let _vault = spawn_app_on::<vault::Vault>(Arc::clone(&db), &[])
        .await
        .unwrap();
    let _billy = spawn_app_on::<billy::Billy>(Arc::clone(&db), &[])
        .await
        .unwrap();
    let _renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &[])
        .await
        .unwrap();
    let _crm = spawn_app_on::<crm::Crm>(Arc::clone(&db), &[])
        .await
        .unwrap();
    let _flow = spawn_app_on::<flow::Flow>(Arc::clone(&db), &[])
        .await
        .unwrap();

    let created = shared
        .client
        .post(shared.at("/v1/organizations"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "Rendetalje ApS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let org: Value = created.json().await.unwrap();
    let id = org["id"].as_str().unwrap().to_owned();

    let renamed = shared
        .client
        .patch(shared.at(&format!("/v1/organizations/{id}")))
        .bearer_auth(TOKEN)
        .header("traceparent", format!("00-{TRACE_ID}-00f067aa0ba902b7-01"))
        .json(&json!({"name": "Rendetalje Århus ApS"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);

    for service in [
        Service::Vault,
        Service::Billy,
        Service::Renos,
        Service::Crm,
        Service::Flow,
    ] {
        wait_until(
            &format!("{service} to project the renamed organization"),
            Duration::from_secs(30),
            async || {
                projected(&db, service, &id)
                    .await
                    .is_some_and(|row| row.name == "Rendetalje Århus ApS")
            },
        )
        .await;
        let row = projected(&db, service, &id).await.unwrap();
        assert_eq!(
            row.trace_id.as_deref(),
            Some(TRACE_ID),
            "{service}'s consumer span joined the request's trace"
        );
    }
}

#[tokio::test]
async fn organization_administration_needs_the_operator_token_and_valid_input() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let shared = shared_app(&db).await;
    let url = shared.at("/v1/organizations");

    let anonymous = shared
        .client
        .post(&url)
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.headers()["content-type"],
        "application/problem+json"
    );
    let wrong = shared
        .client
        .post(&url)
        .bearer_auth("guess")
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let blank = shared
        .client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&json!({"name": "   "}))
        .send()
        .await
        .unwrap();
    assert_eq!(blank.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = blank.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "name");

    let unknown_field = shared
        .client
        .post(&url)
        .bearer_auth(TOKEN)
        .json(&json!({"name": "A", "cvr": "13585628"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_field.status(), StatusCode::BAD_REQUEST);
    let problem: Value = unknown_field.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("unknown field `cvr`"),
        "{problem}"
    );

    for name in ["Tekup ApS", "TEKUP aps"] {
        let response = shared
            .client
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&json!({"name": name}))
            .send()
            .await
            .unwrap();
        let expected = if name == "Tekup ApS" {
            StatusCode::CREATED
        } else {
            StatusCode::CONFLICT
        };
        assert_eq!(response.status(), expected, "{name}");
    }

    let missing = shared
        .client
        .get(shared.at(&format!("/v1/organizations/{}", uuid::Uuid::now_v7())))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    // Nothing but the one valid organization was written, and only its event.
    let pool = db.pool(Service::Shared).unwrap();
    let mut conn = pool.get().await.unwrap();
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = |sql: &'static str| diesel::sql_query(sql);
    // Without a tenant context Row Level Security shows no organization at all.
    let hidden: Count = count("SELECT count(*) AS n FROM organizations")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(hidden.n, 0);
    let (orgs, events) = diesel_async::AsyncConnection::transaction::<_, diesel::result::Error, _>(
        &mut *conn,
        async |conn| {
            tekup_db::tenancy::enter(conn, &tekup_db::tenancy::Context::System).await?;
            let orgs: Count = count("SELECT count(*) AS n FROM organizations")
                .get_result(conn)
                .await?;
            let events: Count = count("SELECT count(*) AS n FROM outbox")
                .get_result(conn)
                .await?;
            Ok((orgs, events))
        },
    )
    .await
    .unwrap();
    assert_eq!((orgs.n, events.n), (1, 1));
}

#[tokio::test]
async fn organizations_are_listed_page_by_page() {
    let db = Arc::new(TestDb::new().await.unwrap());
    let shared = shared_app(&db).await;
    for n in 1..=5 {
        let response = shared
            .client
            .post(shared.at("/v1/organizations"))
            .bearer_auth(TOKEN)
            .json(&json!({"name": format!("Org {n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = shared.at("/v1/organizations?limit=2");
        if let Some(cursor) = &after {
            url.push_str(&format!("&after={cursor}"));
        }
        let page: Value = shared
            .client
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            names.push(item["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => after = Some(cursor.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["Org 1", "Org 2", "Org 3", "Org 4", "Org 5"]);

    let bad = shared
        .client
        .get(shared.at("/v1/organizations?limit=0"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
