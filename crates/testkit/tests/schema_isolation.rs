//! One database, six schemas, six roles: each service's role reaches its own schema and the
//! shared extensions, and nothing else.

#![allow(clippy::unwrap_used)]

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use tekup_db::Service;
use tekup_testkit::TestDb;

async fn connect_as(db: &TestDb, service: Service) -> AsyncPgConnection {
    AsyncPgConnection::establish(&db.url(service))
        .await
        .unwrap_or_else(|err| panic!("{service} cannot connect: {err}"))
}

#[tokio::test]
async fn the_crm_role_cannot_read_a_table_of_the_vault_schema() {
    let db = TestDb::new().await.unwrap();
    let mut crm = connect_as(&db, Service::Crm).await;
    let err = crm
        .batch_execute("SELECT * FROM vault.outbox")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("permission denied for schema vault"),
        "{err}"
    );
}

#[tokio::test]
async fn no_service_role_can_read_or_write_another_schema() {
    let db = TestDb::new().await.unwrap();
    for service in Service::ALL {
        let mut conn = connect_as(&db, service).await;
        for other in Service::ALL.into_iter().filter(|s| *s != service) {
            let schema = other.schema();
            for sql in [
                format!("SELECT count(*) FROM {schema}.outbox"),
                format!(
                    "INSERT INTO {schema}.inbox (event_id, consumer, topic, event_type) VALUES (gen_random_uuid(), 'x', 'x', 'x')"
                ),
                format!("CREATE TABLE {schema}.intruder (id int)"),
            ] {
                let err = conn.batch_execute(&sql).await.unwrap_err();
                assert!(
                    err.to_string()
                        .contains(&format!("permission denied for schema {schema}")),
                    "{service} ran `{sql}`: {err}"
                );
            }
        }
    }
}

#[tokio::test]
async fn each_role_owns_its_schema_and_may_change_it() {
    let db = TestDb::new().await.unwrap();
    for service in Service::ALL {
        let mut conn = connect_as(&db, service).await;
        let schema = service.schema();
        conn.batch_execute(&format!(
            "CREATE TABLE {schema}.probe (id int); \
             INSERT INTO {schema}.probe VALUES (1); \
             SELECT count(*) FROM {schema}.outbox; \
             DROP TABLE {schema}.probe;"
        ))
        .await
        .unwrap_or_else(|err| panic!("{service} in its own schema: {err}"));
        // Unqualified names resolve to the service's own schema first.
        conn.batch_execute("SELECT count(*) FROM inbox")
            .await
            .unwrap_or_else(|err| panic!("{service} search path: {err}"));
    }
}

#[tokio::test]
async fn nobody_but_the_administrator_creates_objects_in_public() {
    let db = TestDb::new().await.unwrap();
    for service in Service::ALL {
        let mut conn = connect_as(&db, service).await;
        let err = conn
            .batch_execute("CREATE TABLE public.intruder (id int)")
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("permission denied for schema public"),
            "{service}: {err}"
        );
    }
}

#[tokio::test]
async fn services_can_use_pgvector_trigrams_and_danish_full_text() {
    let db = TestDb::new().await.unwrap();
    let mut conn = connect_as(&db, Service::Vault).await;
    conn.batch_execute(
        "DO $$ BEGIN \
           IF ('[1,2,3]'::vector <-> '[1,2,4]'::vector) <> 1 THEN RAISE 'vector distance'; END IF; \
           IF similarity('rengøring', 'rengøringen') < 0.5 THEN RAISE 'trigram similarity'; END IF; \
           IF NOT to_tsvector('danish', 'rengøringen af kontoret') @@ to_tsquery('danish', 'rengøring') \
             THEN RAISE 'danish stemming'; END IF; \
         END $$;",
    )
    .await
    .unwrap();
}
