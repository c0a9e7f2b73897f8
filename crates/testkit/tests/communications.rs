//! The outside world's conversations reaching the platform, across services and the real
//! broker: a recorded WotNot batch and real-world-shaped e-mails (multipart, quoted-printable,
//! ISO-8859-1 and base64, HTML only, an attachment, replies and a forward) arrive at flow's
//! inbound webhooks and renos's e-mail ingestion, become conversations and threads tied to the
//! company, escalations and suggested responses, and show up in crm's timeline and vault's
//! search. Redeliveries change nothing; a malformed e-mail is an ingest error of its run.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tekup_testkit::fixtures::{QUOTE_REQUEST, mbox, wotnot_batch};
use tekup_testkit::identity::{Identity, call, expect};
use tekup_testkit::{TestApp, TestDb, spawn_app_on, wait_until};

const CVR: &str = "13585628";
/// Named only in the signature of the café's forwarded e-mail.
const CAFE_CVR: &str = "29000018";

struct World {
    db: Arc<TestDb>,
    identity: Identity,
    flow: TestApp,
    renos: TestApp,
}

impl World {
    async fn new() -> Self {
        let db = Arc::new(TestDb::new().await.unwrap());
        let identity = Identity::start(Arc::clone(&db), 11, &[]).await.unwrap();
        let jwks = identity.jwks_url();
        let auth = [("AUTH__JWKS_URL", jwks.as_str())];
        let flow = spawn_app_on::<flow::Flow>(Arc::clone(&db), &auth)
            .await
            .unwrap();
        let renos = spawn_app_on::<renos::Renos>(Arc::clone(&db), &auth)
            .await
            .unwrap();
        Self {
            db,
            identity,
            flow,
            renos,
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        self.db.admin_count(sql).await.unwrap()
    }

    /// Creates an inbound webhook in flow; returns (path, secret).
    async fn webhook(&self, admin: &str, format: &str) -> (String, String) {
        let created = expect(
            &self.flow,
            Method::POST,
            "/v1/webhooks",
            admin,
            Some(json!({"name": format!("{format} inbox"), "format": format})),
            201,
        )
        .await;
        (
            created["path"].as_str().unwrap().to_owned(),
            created["secret"].as_str().unwrap().to_owned(),
        )
    }
}

/// A raw POST to an inbound webhook.
async fn deliver(
    flow: &TestApp,
    path: &str,
    content_type: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .post(flow.at(path))
        .header("content-type", content_type)
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Standard Webhooks headers for a delivery signed with `secret`.
fn signed(secret: &str, id: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let now = chrono::Utc::now().timestamp();
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", now.to_string()),
        (
            "webhook-signature",
            flow::signature::sign(secret, id, now, body),
        ),
    ]
}

/// The organization answers (found by In-Reply-To).
const OUR_ANSWER: &str = "From: Rendetalje <kontakt@rendetalje.dk>\r\n\
To: soren@fjordbyg.dk\r\n\
Subject: SV: =?iso-8859-1?Q?Tilbud_p=E5_reng=F8ring?=\r\n\
Message-ID: <answer-1@rendetalje.dk>\r\n\
In-Reply-To: <quote-1@fjordbyg.dk>\r\n\
References: <quote-1@fjordbyg.dk>\r\n\
Date: Mon, 16 Nov 2026 13:00:00 +0100\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Tak for din henvendelse. Vi kan tilbyde 1.850 kr. pr. besøg ekskl. moms.\r\n\
\r\n\
> Vi ønsker et tilbud på ugentlig rengøring af vores kontor\r\n";

/// Søren replies in base64 UTF-8 (found by References).
fn soren_reply() -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD
        .encode("Det lyder godt. Kan I starte på mandag den 23.?\r\n".as_bytes());
    format!(
        "From: soren@fjordbyg.dk\r\nTo: kontakt@rendetalje.dk\r\n\
Subject: Re: SV: Tilbud =?utf-8?q?p=C3=A5?= rengøring\r\nMessage-ID: <quote-2@fjordbyg.dk>\r\n\
In-Reply-To: <answer-1@rendetalje.dk>\r\nReferences: <quote-1@fjordbyg.dk> <answer-1@rendetalje.dk>\r\n\
Date: Tue, 17 Nov 2026 08:30:00 +0100\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
    )
}

/// A café forwards a complaint, HTML only, its CVR in the signature.
const CAFE_FORWARD: &str = "From: Mette Holm <mette@nordlys-cafe.dk>\r\n\
To: kontakt@rendetalje.dk\r\n\
Subject: VS: Rengøring af caféen\r\n\
Message-ID: <fwd-9@nordlys-cafe.dk>\r\n\
Date: Wed, 18 Nov 2026 07:45:00 +0100\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
<html><body><p>Hej, jeg videresender min kollegas mail. Det haster: k=C3=B8kkenet blev =\r\n\
ikke gjort rent i weekenden.</p>\r\n\
<p>---------- Videresendt besked ----------<br>Fra: Jonas &lt;jonas@nordlys-cafe.dk&gt;<br>\
Emne: Rengøring af caféen</p><blockquote>Køkkenet var ikke rengjort.</blockquote>\r\n\
<p>Mette Holm<br>Nordlys Café ApS<br>CVR-nr. 29 00 00 18</p></body></html>\r\n";

/// A later message from Søren without In-Reply-To: threaded by its subject and sender.
const SOREN_AGAIN: &str = "From: soren@fjordbyg.dk\r\n\
To: kontakt@rendetalje.dk\r\n\
Subject: Re: Tilbud på rengøring\r\n\
Message-ID: <quote-3@fjordbyg.dk>\r\n\
Date: Wed, 18 Nov 2026 09:00:00 +0100\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Husk nøglen ligger i receptionen.\r\n";

/// No From: nobody to tie it to, refused with its reason.
const NO_SENDER: &str = "To: kontakt@rendetalje.dk\r\nSubject: Ingen afsender\r\n\
Message-ID: <nobody@example.invalid>\r\n\r\nHvem er jeg?\r\n";

#[tokio::test]
async fn chatbot_and_email_reach_the_crm_timeline_and_vault_search() {
    let world = World::new().await;
    let jwks = world.identity.jwks_url();
    let auth = [("AUTH__JWKS_URL", jwks.as_str())];
    let crm = spawn_app_on::<crm::Crm>(Arc::clone(&world.db), &auth)
        .await
        .unwrap();
    let vault = spawn_app_on::<vault::Vault>(Arc::clone(&world.db), &auth)
        .await
        .unwrap();
    let org = world.identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = world
        .identity
        .user(&org, "admin@rendetalje.dk", "admin")
        .await
        .unwrap();
    expect(
        &world.identity.shared,
        Method::POST,
        "/v1/companies",
        &admin,
        Some(json!({"cvr": CVR, "name": "Fjordbyg ApS"})),
        201,
    )
    .await;
    expect(
        &world.renos,
        Method::POST,
        "/v1/customers",
        &admin,
        Some(json!({"cvr": CVR, "name": "Fjordbyg ApS", "email": "soren@fjordbyg.dk"})),
        201,
    )
    .await;

    // The chatbot: delivered, redelivered, refused with a wrong token.
    let (chat_path, token) = world.webhook(&admin, "wotnot").await;
    let batch = wotnot_batch();
    let bearer = vec![("authorization", format!("Bearer {token}"))];
    let (status, first) = deliver(
        &world.flow,
        &chat_path,
        "application/json",
        &bearer,
        batch.as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["duplicate"], false);
    let (status, again) = deliver(
        &world.flow,
        &chat_path,
        "application/json",
        &bearer,
        batch.as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["delivery_id"], first["delivery_id"]);
    let wrong = vec![("authorization", "Bearer whsec_nope".to_owned())];
    let (status, problem) = deliver(
        &world.flow,
        &chat_path,
        "application/json",
        &wrong,
        batch.as_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM flow.webhook_deliveries")
            .await,
        1
    );

    // Forwarded e-mails, each a signed delivery.
    let (mail_path, secret) = world.webhook(&admin, "email").await;
    let reply = soren_reply();
    for (id, raw) in [
        ("msg_quote", QUOTE_REQUEST),
        ("msg_answer", OUR_ANSWER),
        ("msg_reply", reply.as_str()),
        ("msg_cafe", CAFE_FORWARD),
    ] {
        let headers = signed(&secret, id, raw.as_bytes());
        let (status, receipt) = deliver(
            &world.flow,
            &mail_path,
            "message/rfc822",
            &headers,
            raw.as_bytes(),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{id}: {receipt}");
    }

    wait_until(
        "the conversation in renos",
        Duration::from_secs(30),
        async || {
            world
                .count("SELECT count(*) AS n FROM renos.chat_messages")
                .await
                == 3
        },
    )
    .await;
    wait_until(
        "four forwarded e-mails in renos",
        Duration::from_secs(30),
        async || {
            world
                .count("SELECT count(*) AS n FROM renos.email_messages")
                .await
                == 4
        },
    )
    .await;

    // A back-fill: a known message, a malformed one, and a new one threaded by its subject.
    let response = reqwest::Client::new()
        .post(world.renos.at("/v1/email/ingest"))
        .bearer_auth(&admin)
        .header("content-type", "application/mbox")
        .body(mbox(&[QUOTE_REQUEST, NO_SENDER, SOREN_AGAIN]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let run: Value = response.json().await.unwrap();
    assert_eq!(
        (
            &run["received"],
            &run["ingested"],
            &run["duplicates"],
            &run["failed"]
        ),
        (&json!(3), &json!(1), &json!(1), &json!(1)),
        "{run}"
    );
    assert_eq!(run["errors"][0]["index"], 1);
    assert!(
        run["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("From"),
        "{run}"
    );

    // The conversation: tied by the e-mail the bot collected, complaint escalated once.
    let conversations = expect(
        &world.renos,
        Method::GET,
        &format!("/v1/conversations?cvr={CVR}"),
        &admin,
        None,
        200,
    )
    .await;
    let conversation = &conversations["items"][0];
    assert_eq!(conversation["cvr_source"], "email", "{conversation}");
    assert_eq!(conversation["customer_email"], "soren@fjordbyg.dk");
    let conversation_id = conversation["id"].as_str().unwrap().to_owned();
    let detail = expect(
        &world.renos,
        Method::GET,
        &format!("/v1/conversations/{conversation_id}"),
        &admin,
        None,
        200,
    )
    .await;
    let authors: Vec<&str> = detail["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author"].as_str().unwrap())
        .collect();
    assert_eq!(authors, ["visitor", "bot", "note"]);
    assert_eq!(detail["session"]["labels"], json!(["Klage"]));
    assert_eq!(detail["session"]["visitor_name"], "Søren Ørsted");
    assert!(detail["messages"][0]["sentiment"].as_f64().unwrap() < -0.3);
    let escalations = expect(
        &world.renos,
        Method::GET,
        "/v1/escalations",
        &admin,
        None,
        200,
    )
    .await;
    let from_chat: Vec<&Value> = escalations["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["conversation_id"] == conversation_id.as_str())
        .collect();
    assert_eq!(from_chat.len(), 1, "{escalations}");

    // The thread: four messages in order, ours outbound, the attachment downloadable.
    let threads = expect(
        &world.renos,
        Method::GET,
        &format!("/v1/email/threads?cvr={CVR}"),
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(threads["items"].as_array().unwrap().len(), 1, "{threads}");
    let thread = &threads["items"][0];
    assert_eq!(thread["subject"], "Tilbud på rengøring");
    assert_eq!(thread["message_count"], 4);
    assert_eq!(thread["status"], "open", "the customer wrote last");
    let thread_id = thread["id"].as_str().unwrap().to_owned();
    let detail = expect(
        &world.renos,
        Method::GET,
        &format!("/v1/email/threads/{thread_id}"),
        &admin,
        None,
        200,
    )
    .await;
    let messages = detail["messages"].as_array().unwrap();
    let directions: Vec<&str> = messages
        .iter()
        .map(|m| m["direction"].as_str().unwrap())
        .collect();
    assert_eq!(directions, ["inbound", "outbound", "inbound", "inbound"]);
    assert!(
        messages[0]["text"]
            .as_str()
            .unwrap()
            .contains("ugentlig rengøring af vores kontor på 250 m2 i Århus"),
        "{}",
        messages[0]["text"]
    );
    assert_eq!(messages[0]["from_name"], "Søren Ørsted");
    assert!(
        messages[2]["text"]
            .as_str()
            .unwrap()
            .contains("starte på mandag")
    );
    let attachment = &messages[0]["attachments"][0];
    assert_eq!(attachment["filename"], "plantegning.pdf");
    let message_id = messages[0]["id"].as_str().unwrap();
    let pdf = reqwest::Client::new()
        .get(
            world
                .renos
                .at(&format!("/v1/email/messages/{message_id}/attachments/0")),
        )
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert_eq!(pdf.bytes().await.unwrap().as_ref(), b"%PDF-1.4\n");

    // The café: tied by the CVR in its signature, urgent, so escalated.
    let cafe = expect(
        &world.renos,
        Method::GET,
        &format!("/v1/email/threads?cvr={CAFE_CVR}"),
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(cafe["items"][0]["cvr_source"], "text", "{cafe}");
    let cafe_id = cafe["items"][0]["id"].as_str().unwrap();
    let escalations = expect(
        &world.renos,
        Method::GET,
        "/v1/escalations",
        &admin,
        None,
        200,
    )
    .await;
    assert!(
        escalations["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["email_thread_id"] == cafe_id),
        "{escalations}"
    );

    // crm's timeline and its expansion, from renos's events.
    let timeline_path = format!("/v1/companies/{CVR}/timeline?kind=conversation,email_thread");
    wait_until(
        "the conversation and thread on crm's timeline",
        Duration::from_secs(30),
        async || {
            let (_, page) = call(&crm, Method::GET, &timeline_path, &admin, None)
                .await
                .unwrap();
            page["items"].as_array().is_some_and(|items| {
                items.len() == 2
                    && items.iter().any(|i| {
                        i["id"] == thread_id.as_str() && i["title"] == "Tilbud på rengøring"
                    })
            })
        },
    )
    .await;
    let expanded_path = format!("/v1/companies/{CVR}/communications/{thread_id}");
    wait_until(
        "all four messages of the thread in crm",
        Duration::from_secs(30),
        async || {
            let (_, item) = call(&crm, Method::GET, &expanded_path, &admin, None)
                .await
                .unwrap();
            item["message_count"] == 4
        },
    )
    .await;
    let expanded = expect(&crm, Method::GET, &expanded_path, &admin, None, 200).await;
    assert_eq!(expanded["awaiting_reply"], true);
    assert_eq!(expanded["messages"][1]["author"], "kontakt@rendetalje.dk");

    // vault's search, by meaning and by words.
    wait_until(
        "the conversation and thread in vault",
        Duration::from_secs(60),
        async || {
            let (_, found) = call(
                &vault,
                Method::POST,
                "/v1/search",
                &admin,
                Some(json!({"query": "striber på ruderne", "cvrs": [CVR], "mode": "full_text"})),
            )
            .await
            .unwrap();
            found["results"]
                .as_array()
                .is_some_and(|r| r.iter().any(|r| r["path"] == conversation_id.as_str()))
        },
    )
    .await;
    wait_until("the thread in vault", Duration::from_secs(60), async || {
        let (_, found) = call(
            &vault,
            Method::POST,
            "/v1/search",
            &admin,
            Some(json!({"query": "ugentlig rengøring af kontoret", "cvrs": [CVR]})),
        )
        .await
        .unwrap();
        found["results"].as_array().is_some_and(|r| {
            r.iter()
                .any(|r| r["path"] == thread_id.as_str() && r["kind"] == "email_thread")
        })
    })
    .await;

    // Nothing doubled: the redelivered batch and the re-imported e-mail changed nothing.
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM renos.conversations")
            .await,
        1
    );
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM renos.chat_messages")
            .await,
        3
    );
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM renos.email_messages")
            .await,
        5
    );
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM renos.email_threads")
            .await,
        2
    );
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM renos.escalations WHERE conversation_id IS NOT NULL")
            .await,
        1
    );

    // A sender whose clock is decades ahead does not pin a thread to the top of the inbox.
    let response = reqwest::Client::new()
        .post(world.renos.at("/v1/email/ingest"))
        .bearer_auth(&admin)
        .header("content-type", "application/mbox")
        .body(mbox(&[FROM_THE_FUTURE]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM renos.email_threads WHERE last_updated > now()")
            .await,
        0
    );
}

const FROM_THE_FUTURE: &str = "From: ole@tidsrejse.dk\r\nTo: kontakt@rendetalje.dk\r\n\
Subject: Rengøring i 2099\r\nMessage-ID: <future-1@tidsrejse.dk>\r\n\
Date: Wed, 18 Nov 2099 09:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Hvad koster det?\r\n";

#[tokio::test]
async fn webhooks_refuse_what_is_not_signed_and_store_nothing() {
    let world = World::new().await;
    let org = world.identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = world
        .identity
        .user(&org, "admin@rendetalje.dk", "admin")
        .await
        .unwrap();
    let (_, viewer) = world
        .identity
        .user(&org, "viewer@rendetalje.dk", "viewer")
        .await
        .unwrap();
    let other = world.identity.org("Konkurrent A/S").await.unwrap();
    let (_, outsider) = world
        .identity
        .user(&other, "admin@konkurrent.dk", "admin")
        .await
        .unwrap();

    let (status, _) = call(
        &world.flow,
        Method::POST,
        "/v1/webhooks",
        &viewer,
        Some(json!({"name": "x", "format": "standard"})),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, problem) = call(
        &world.flow,
        Method::POST,
        "/v1/webhooks",
        &admin,
        Some(json!({"name": " ", "format": "carrier-pigeon"})),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let named: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["name", "format"], "{problem}");

    let (path, secret) = world.webhook(&admin, "standard").await;
    let body = br#"{"type":"invoice.paid","id":"inv_1"}"#;
    let mut headers = signed(&secret, "msg_1", body);
    // Tampered body, stale timestamp, missing signature, another endpoint's secret.
    let (status, problem) = deliver(&world.flow, &path, "application/json", &headers, b"{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("signature"));
    let stale = chrono::Utc::now().timestamp() - 3600;
    let stale_headers = vec![
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", stale.to_string()),
        (
            "webhook-signature",
            flow::signature::sign(&secret, "msg_1", stale, body),
        ),
    ];
    let (status, problem) =
        deliver(&world.flow, &path, "application/json", &stale_headers, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        problem["detail"].as_str().unwrap().contains("timestamp"),
        "{problem}"
    );
    let (status, _) = deliver(&world.flow, &path, "application/json", &headers[..2], body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, other_secret) = world.webhook(&admin, "standard").await;
    let foreign = signed(&other_secret, "msg_1", body);
    let (status, _) = deliver(&world.flow, &path, "application/json", &foreign, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM flow.webhook_deliveries")
            .await,
        0
    );
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM flow.outbox WHERE topic = 'tekup.flow.webhook'")
            .await,
        0
    );

    // Signed: stored once with its event, however often it is delivered.
    for _ in 0..3 {
        let (status, _) = deliver(&world.flow, &path, "application/json", &headers, body).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    headers[0].1 = "msg_2".to_owned();
    let (status, _) = deliver(&world.flow, &path, "application/json", &headers, body).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the signature covers the id"
    );
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM flow.webhook_deliveries")
            .await,
        1
    );
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM flow.outbox WHERE topic = 'tekup.flow.webhook'")
            .await,
        1
    );
    let webhook_id = path.rsplit('/').next().unwrap();
    let deliveries = expect(
        &world.flow,
        Method::GET,
        &format!("/v1/webhooks/{webhook_id}/deliveries"),
        &admin,
        None,
        200,
    )
    .await;
    let delivery = &deliveries["items"][0];
    assert_eq!(delivery["size"], body.len());
    assert_eq!(delivery["headers"]["webhook-id"], "msg_1");

    // The e-mail format takes e-mails only; WotNot's takes its batches only.
    let (mail_path, mail_secret) = world.webhook(&admin, "email").await;
    let headers = signed(&mail_secret, "m", body);
    let (status, _) = deliver(&world.flow, &mail_path, "application/json", &headers, body).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (chat_path, token) = world.webhook(&admin, "wotnot").await;
    let bearer = vec![("authorization", format!("Bearer {token}"))];
    let (status, problem) = deliver(
        &world.flow,
        &chat_path,
        "application/json",
        &bearer,
        b"{\"events\": []}",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = deliver(
        &world.flow,
        // The token travels URL-encoded (base64 holds `+`, `/` and `=`).
        &format!(
            "{chat_path}?token={}",
            token
                .replace('+', "%2B")
                .replace('/', "%2F")
                .replace('=', "%3D")
        ),
        "application/json",
        &[],
        b"not json",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // WotNot's check of a saved endpoint: its token, no events; the token comes back.
    let (status, echoed) =
        deliver(&world.flow, &chat_path, "application/json", &bearer, b"{}").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echoed, Value::String(token.clone()));
    let (status, _) = deliver(&world.flow, &chat_path, "application/json", &[], b"{}").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "only to whoever holds it");
    assert_eq!(
        world
            .count("SELECT count(*) AS n FROM flow.webhook_deliveries")
            .await,
        1
    );

    // Another organization sees none of them; a deactivated webhook is gone.
    let theirs = expect(
        &world.flow,
        Method::GET,
        "/v1/webhooks",
        &outsider,
        None,
        200,
    )
    .await;
    assert_eq!(theirs["items"], json!([]));
    let (status, _) = call(
        &world.flow,
        Method::DELETE,
        &format!("/v1/webhooks/{webhook_id}"),
        &outsider,
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    expect(
        &world.flow,
        Method::DELETE,
        &format!("/v1/webhooks/{webhook_id}"),
        &admin,
        None,
        204,
    )
    .await;
    let headers = signed(&secret, "msg_3", body);
    let (status, _) = deliver(&world.flow, &path, "application/json", &headers, body).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_template_suggests_an_answer_that_is_sent_once() {
    let world = World::new().await;
    let org = world.identity.org("Rendetalje ApS").await.unwrap();
    let (_, admin) = world
        .identity
        .user(&org, "admin@rendetalje.dk", "admin")
        .await
        .unwrap();
    let template = expect(
            &world.renos,
            Method::POST,
            "/v1/email/templates",
            &admin,
            Some(json!({
                "name": "Tilbud",
                "subject": "SV: {{subject}}",
                "body": "Kære {{name}}\n\nTak for din forespørgsel. Vi sender et tilbud inden for to hverdage.",
                "keywords": ["tilbud", "pris"],
            })),
            201,
        )
        .await;
    let (status, _) = call(
        &world.renos,
        Method::POST,
        "/v1/email/templates",
        &admin,
        Some(json!({"name": "tilbud", "subject": "x", "body": "y", "keywords": ["z"]})),
    )
    .await
    .unwrap();
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "names are unique regardless of case"
    );

    let upload = |raw: &'static str, content_type: &'static str| {
        reqwest::Client::new()
            .post(world.renos.at("/v1/email/ingest"))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(raw)
            .send()
    };
    let response = upload(QUOTE_REQUEST, "text/plain").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = upload(QUOTE_REQUEST, "message/rfc822").await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let run: Value = response.json().await.unwrap();
    assert_eq!(run["ingested"], 1, "{run}");
    let again: Value = upload(QUOTE_REQUEST, "message/rfc822")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&again["ingested"], &again["duplicates"]),
        (&json!(0), &json!(1))
    );
    let runs = expect(
        &world.renos,
        Method::GET,
        "/v1/email/ingest-runs?limit=1",
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(runs["items"][0]["id"], again["id"]);
    assert!(runs["next_cursor"].is_string());

    let threads = expect(
        &world.renos,
        Method::GET,
        "/v1/email/threads",
        &admin,
        None,
        200,
    )
    .await;
    let thread_id = threads["items"][0]["id"].as_str().unwrap().to_owned();
    let detail = expect(
        &world.renos,
        Method::GET,
        &format!("/v1/email/threads/{thread_id}"),
        &admin,
        None,
        200,
    )
    .await;
    let suggestion = &detail["responses"][0];
    assert_eq!(suggestion["template_id"], template["id"]);
    assert_eq!(suggestion["status"], "suggested");
    assert_eq!(suggestion["subject"], "SV: Tilbud på rengøring");
    assert!(
        suggestion["body"]
            .as_str()
            .unwrap()
            .starts_with("Kære Søren Ørsted")
    );
    let response_id = suggestion["id"].as_str().unwrap().to_owned();

    let sent = expect(
        &world.renos,
        Method::POST,
        &format!("/v1/email/responses/{response_id}/send"),
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(sent["status"], "sent");
    let (status, _) = call(
        &world.renos,
        Method::POST,
        &format!("/v1/email/responses/{response_id}/discard"),
        &admin,
        None,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::CONFLICT);
    let detail = expect(
        &world.renos,
        Method::GET,
        &format!("/v1/email/threads/{thread_id}"),
        &admin,
        None,
        200,
    )
    .await;
    assert_eq!(detail["status"], "answered");
    let messages = detail["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["direction"], "outbound");
    assert_eq!(messages[1]["in_reply_to"], "quote-1@fjordbyg.dk");
    assert_eq!(messages[1]["to"], json!(["soren@fjordbyg.dk"]));
    assert_eq!(
        world
            .count(
                "SELECT count(*) AS n FROM renos.outbox WHERE topic = 'tekup.renos.email_thread'"
            )
            .await,
        2,
        "announced when received and when answered"
    );

    // Labels come from the organization's catalogue.
    let (status, problem) = call(
        &world.renos,
        Method::PATCH,
        &format!("/v1/email/threads/{thread_id}"),
        &admin,
        Some(json!({"labels": ["Tilbud"]})),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Tilbud")
    );
    expect(
        &world.renos,
        Method::POST,
        "/v1/labels",
        &admin,
        Some(json!({"name": "Tilbud", "color": "#2e7d32"})),
        201,
    )
    .await;
    let updated = expect(
        &world.renos,
        Method::PATCH,
        &format!("/v1/email/threads/{thread_id}"),
        &admin,
        Some(json!({"labels": ["Tilbud"], "status": "closed"})),
        200,
    )
    .await;
    assert_eq!(
        (&updated["labels"], &updated["status"]),
        (&json!(["Tilbud"]), &json!("closed"))
    );
}
