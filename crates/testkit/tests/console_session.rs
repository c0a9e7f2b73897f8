//! The console's session across a renewal of its access token, over plain HTTP: a form opened
//! before the renewal is still the session's after it, and requests that bring the same
//! expired session at once share one renewal instead of ending the login (a refresh token
//! works once at shared; its reuse revokes the whole login).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use tekup_testkit::identity::{Identity, PASSWORD};
use tekup_testkit::{TestApp, TestDb, spawn_app_on};

/// The `tekup_session` cookie a response sets, as a `Cookie` header value.
fn session_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("tekup_session="))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

async fn page(client: &reqwest::Client, crm: &TestApp, cookie: &str) -> reqwest::Response {
    client
        .get(crm.at("/app"))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

async fn sign_in(client: &reqwest::Client, crm: &TestApp) -> reqwest::Response {
    client
        .post(crm.at("/app/login"))
        .form(&[("email", "saelger@rendetalje.dk"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap()
}

/// The sign-out form, sent with `cookie` and the form token `csrf`.
async fn log_out(
    client: &reqwest::Client,
    crm: &TestApp,
    cookie: &str,
    csrf: &str,
) -> reqwest::Response {
    client
        .post(crm.at("/app/logout"))
        .header(COOKIE, cookie)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap()
}

fn csrf_in(html: &str) -> String {
    let at = html
        .find("name=\"csrf\"")
        .expect("a form token on the page");
    let value = &html[at..];
    let start = value.find("value=\"").unwrap() + "value=\"".len();
    value[start..start + value[start..].find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn a_form_outlives_a_renewal_and_parallel_renewals_keep_the_login() {
    let db = Arc::new(TestDb::new().await.unwrap());
    // Access tokens live one second, and crm allows them no leeway: every pause below renews.
    let identity = Identity::start(Arc::clone(&db), 62, &[("APP__JWT__ACCESS_TTL_SECS", "1")])
        .await
        .unwrap();
    let jwks = identity.jwks_url();
    let crm = spawn_app_on::<crm::Crm>(
        Arc::clone(&db),
        &[
            ("AUTH__JWKS_URL", jwks.as_str()),
            ("AUTH__LEEWAY_SECS", "0"),
            ("APP__WEB__SHARED_URL", identity.shared.url.as_str()),
        ],
    )
    .await
    .unwrap();
    let org = identity.org("Rendetalje ApS").await.unwrap();
    identity
        .user(&org, "saelger@rendetalje.dk", "analyst")
        .await
        .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = sign_in(&client, &crm).await;
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    let cookie = session_of(&login).expect("a session cookie");
    let opened = page(&client, &crm, &cookie).await;
    assert_eq!(opened.status(), StatusCode::OK);
    let csrf = csrf_in(&opened.text().await.unwrap());

    // Expired: three tabs come back at once with the same session. Each is served, all with
    // the same renewed session.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (a, b, c) = tokio::join!(
        page(&client, &crm, &cookie),
        page(&client, &crm, &cookie),
        page(&client, &crm, &cookie)
    );
    let mut renewed = Vec::new();
    for tab in [&a, &b, &c] {
        assert_eq!(
            tab.status(),
            StatusCode::OK,
            "{:?}",
            tab.headers().get(LOCATION)
        );
        renewed.push(session_of(tab).expect("the renewed session"));
    }
    renewed.dedup();
    assert_eq!(renewed.len(), 1, "one renewal, shared");
    let renewed = renewed.remove(0);
    assert_ne!(renewed, cookie);

    // The form opened before the renewal is sent after another: still this session's.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let sent = log_out(&client, &crm, &renewed, &csrf).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        sent.headers().get(LOCATION).and_then(|l| l.to_str().ok()),
        Some("/app/login")
    );
    // A wrong form token is still refused.
    let login = sign_in(&client, &crm).await;
    let cookie = session_of(&login).unwrap();
    let refused = log_out(&client, &crm, &cookie, &csrf).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}
