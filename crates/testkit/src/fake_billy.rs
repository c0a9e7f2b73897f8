//! A local stand-in for the Billy.dk API v2, which cannot be reached from tests. It speaks the
//! real shapes: `X-Access-Token`, lists as `{meta: {paging: {page, pageCount, pageSize, total}},
//! <resource>: [...]}` with `page`/`pageSize` (at most 1000) and the `entryDateGte/Lte` and
//! `state` filters of invoices, creates as `{<singular>: {...}}` answered with the record under
//! the plural name, and errors as `{meta: {statusCode, success: false}, errorMessage,
//! errorCode}`. Tests can make the next matching request fail (5xx, 429 with `Retry-After`) or
//! answer only after a delay — having carried it out, as a real server whose answer is lost.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

pub const TOKEN: &str = "billy-access-token-7f3a9c";

/// What the next matching request gets instead of a plain answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status with Billy's error body (and `Retry-After` in seconds, for 429).
    Status(u16, Option<u64>),
    /// The request is carried out, and answered only after this delay.
    Slow(Duration),
}

#[derive(Default)]
struct Inner {
    contacts: Vec<Value>,
    products: Vec<Value>,
    invoices: Vec<Value>,
    faults: VecDeque<(String, String, Fault)>,
    /// (method, path) of every request.
    requests: Vec<(String, String)>,
    next_id: u64,
}

/// The running fake; stops with the test's runtime.
pub struct FakeBilly {
    /// The base URL to configure: `http://127.0.0.1:<port>/v2`.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

type Shared = web::Data<Arc<Mutex<Inner>>>;

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeBilly {
    pub async fn start() -> anyhow::Result<Self> {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let data = web::Data::new(Arc::clone(&inner));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::JsonConfig::default().limit(10 << 20))
                .route("/v2/organization", web::get().to(organization))
                .route("/v2/user", web::get().to(user))
                .route("/v2/{resource}", web::get().to(list))
                .route("/v2/{resource}/{id}", web::get().to(one))
                .route("/v2/{resource}", web::post().to(create))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))?;
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        Ok(Self {
            base_url: format!("http://127.0.0.1:{port}/v2"),
            inner,
        })
    }

    /// The next `method` request to `/v2/<resource>` meets `fault`.
    pub fn fault(&self, method: &str, resource: &str, fault: Fault) {
        lock(&self.inner)
            .faults
            .push_back((method.to_owned(), resource.to_owned(), fault));
    }

    /// Adds `n` company contacts named `<prefix> <i>`.
    pub fn seed_contacts(&self, prefix: &str, n: usize) {
        let mut inner = lock(&self.inner);
        for i in 0..n {
            inner.next_id += 1;
            let id = format!("c{}", inner.next_id);
            inner.contacts.push(json!({
                "id": id, "organizationId": "org-fake", "type": "company",
                "name": format!("{prefix} {i}"), "countryId": "DK", "contactPersons": [],
            }));
        }
    }

    /// Adds a company contact with a contact person's e-mail address; returns its id.
    pub fn add_contact(&self, name: &str, cvr: &str, email: &str) -> String {
        let mut inner = lock(&self.inner);
        inner.next_id += 1;
        let id = format!("c{}", inner.next_id);
        inner.contacts.push(json!({
            "id": id, "organizationId": "org-fake", "type": "company", "name": name,
            "registrationNo": cvr, "countryId": "DK",
            "contactPersons": [{"name": name, "email": email}],
        }));
        id
    }

    /// Adds an approved invoice of 1 000 kr. to contact `contact_id`; returns its id.
    pub fn add_invoice(&self, contact_id: &str) -> String {
        let mut inner = lock(&self.inner);
        inner.next_id += 1;
        let (id, number) = (format!("i{}", inner.next_id), inner.next_id);
        inner.invoices.push(json!({
            "id": id, "organizationId": "org-fake", "contactId": contact_id,
            "invoiceNo": number, "entryDate": "2026-11-02", "dueDate": "2026-11-16",
            "state": "approved", "currencyId": "DKK", "amount": 800.0, "grossAmount": 1000.0,
            "balance": 1000.0, "isPaid": false, "lines": [],
        }));
        id
    }

    /// Adds a product; returns its id.
    pub fn add_product(&self, name: &str) -> String {
        let mut inner = lock(&self.inner);
        inner.next_id += 1;
        let id = format!("p{}", inner.next_id);
        inner.products.push(json!({
            "id": id, "organizationId": "org-fake", "name": name, "isArchived": false,
        }));
        id
    }

    pub fn invoices(&self) -> Vec<Value> {
        lock(&self.inner).invoices.clone()
    }

    pub fn contacts(&self) -> Vec<Value> {
        lock(&self.inner).contacts.clone()
    }

    /// Billy's customer pays invoice `id` in full.
    pub fn pay(&self, id: &str) {
        let mut inner = lock(&self.inner);
        if let Some(invoice) = inner.invoices.iter_mut().find(|i| i["id"] == id) {
            invoice["isPaid"] = json!(true);
            invoice["balance"] = json!(0);
            invoice["state"] = json!("paid");
        }
    }

    /// Requests so far with this method to this path (`/v2/...`).
    pub fn requests(&self, method: &str, path: &str) -> usize {
        lock(&self.inner)
            .requests
            .iter()
            .filter(|(m, p)| m == method && p == path)
            .count()
    }
}

fn error(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR),
    )
    .json(json!({"meta": {"statusCode": status, "success": false},
                 "errorMessage": message, "errorCode": code}))
}

/// Authentication, bookkeeping and faults shared by every endpoint: `Err` is the answer.
fn admit(
    req: &HttpRequest,
    inner: &Shared,
    resource: &str,
) -> Result<Option<Duration>, Box<HttpResponse>> {
    let mut state = lock(inner);
    state
        .requests
        .push((req.method().to_string(), req.path().to_owned()));
    if req
        .headers()
        .get("x-access-token")
        .and_then(|v| v.to_str().ok())
        != Some(TOKEN)
    {
        return Err(Box::new(error(
            401,
            "INVALID_ACCESS_TOKEN",
            "The access token is not valid.",
        )));
    }
    let method = req.method().to_string();
    let position = state
        .faults
        .iter()
        .position(|(m, r, _)| *m == method && r == resource);
    match position.and_then(|i| state.faults.remove(i)) {
        Some((_, _, Fault::Status(status, retry_after))) => {
            let mut response = error(status, "FAULT", "Injected by the test.");
            if let Some(seconds) = retry_after {
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(seconds),
                );
            }
            Err(Box::new(response))
        }
        Some((_, _, Fault::Slow(delay))) => Ok(Some(delay)),
        None => Ok(None),
    }
}

async fn organization(req: HttpRequest, inner: Shared) -> HttpResponse {
    if let Err(response) = admit(&req, &inner, "organization") {
        return *response;
    }
    HttpResponse::Ok().json(json!({"meta": {"statusCode": 200, "success": true},
        "organization": {"id": "org-fake", "name": "Rendetalje ApS (Billy)", "baseCurrencyId": "DKK"}}))
}

async fn user(req: HttpRequest, inner: Shared) -> HttpResponse {
    if let Err(response) = admit(&req, &inner, "user") {
        return *response;
    }
    HttpResponse::Ok().json(json!({"meta": {"statusCode": 200, "success": true},
        "user": {"id": "u-fake", "name": "Bogholder Birthe", "email": "birthe@rendetalje.dk"}}))
}

/// `GET /v2/<resource>/<id>`: `{<singular>: {...}}`, or 404 as Billy.dk answers it.
async fn one(req: HttpRequest, inner: Shared, path: web::Path<(String, String)>) -> HttpResponse {
    let (resource, id) = path.into_inner();
    if let Err(response) = admit(&req, &inner, &resource) {
        return *response;
    }
    let state = lock(&inner);
    let (records, singular) = match resource.as_str() {
        "contacts" => (&state.contacts, "contact"),
        "products" => (&state.products, "product"),
        "invoices" => (&state.invoices, "invoice"),
        _ => return error(404, "NOT_FOUND", "No such resource."),
    };
    match records.iter().find(|r| r["id"] == id.as_str()) {
        Some(record) => HttpResponse::Ok()
            .json(json!({"meta": {"statusCode": 200, "success": true}, singular: record})),
        None => error(404, "RECORD_NOT_FOUND", "The record was not found."),
    }
}

async fn list(
    req: HttpRequest,
    inner: Shared,
    resource: web::Path<String>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let delay = match admit(&req, &inner, &resource) {
        Err(response) => return *response,
        Ok(delay) => delay,
    };
    let records: Vec<Value> = {
        let state = lock(&inner);
        match resource.as_str() {
            "contacts" => state.contacts.clone(),
            "products" => state.products.clone(),
            "invoices" => state.invoices.clone(),
            _ => return error(404, "NOT_FOUND", "No such resource."),
        }
    };
    let number = |name: &str, default: usize| {
        query.get(name).map_or(Ok(default), |v| {
            v.parse::<usize>().map_err(|_| name.to_owned())
        })
    };
    let (page, size) = match (number("page", 1), number("pageSize", 100)) {
        (Ok(page), Ok(size)) if page >= 1 && (1..=1000).contains(&size) => (page, size),
        _ => {
            return error(
                422,
                "INVALID_PAGING",
                "page must be 1 or more and pageSize 1 to 1000.",
            );
        }
    };
    let filtered: Vec<Value> = records
        .into_iter()
        .filter(|r| {
            let entry = r["entryDate"].as_str().unwrap_or("");
            query
                .get("entryDateGte")
                .is_none_or(|gte| entry >= gte.as_str())
                && query
                    .get("entryDateLte")
                    .is_none_or(|lte| entry <= lte.as_str())
                && query.get("state").is_none_or(|s| r["state"] == s.as_str())
        })
        .collect();
    let total = filtered.len();
    let pages = total.div_ceil(size).max(1);
    let items: Vec<Value> = filtered
        .into_iter()
        .skip((page - 1) * size)
        .take(size)
        .collect();
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut body = json!({"meta": {"statusCode": 200, "success": true,
        "paging": {"page": page, "pageCount": pages, "pageSize": size, "total": total}}});
    body[resource.as_str()] = Value::Array(items);
    HttpResponse::Ok().json(body)
}

async fn create(
    req: HttpRequest,
    inner: Shared,
    resource: web::Path<String>,
    body: web::Json<Value>,
) -> HttpResponse {
    let delay = match admit(&req, &inner, &resource) {
        Err(response) => return *response,
        Ok(delay) => delay,
    };
    let singular = match resource.as_str() {
        "contacts" => "contact",
        "products" => "product",
        "invoices" => "invoice",
        _ => return error(404, "NOT_FOUND", "No such resource."),
    };
    let Some(mut record) = body.get(singular).cloned().filter(Value::is_object) else {
        return error(
            422,
            "VALIDATION",
            &format!("The body must hold a {singular} object."),
        );
    };
    let created = {
        let mut state = lock(&inner);
        state.next_id += 1;
        let id = format!("{}{}", &singular[..1], state.next_id);
        record["id"] = json!(id);
        match singular {
            "invoice" => {
                let contact = record["contactId"].as_str().unwrap_or("");
                if !state.contacts.iter().any(|c| c["id"] == contact) {
                    return error(422, "VALIDATION", "contactId does not name a contact.");
                }
                let net: f64 = record["lines"]
                    .as_array()
                    .map(|lines| {
                        lines
                            .iter()
                            .map(|l| {
                                l["unitPrice"].as_f64().unwrap_or(0.0)
                                    * l["quantity"].as_f64().unwrap_or(0.0)
                            })
                            .sum()
                    })
                    .unwrap_or(0.0);
                let gross = (net * 1.25 * 100.0).round() / 100.0;
                record["amount"] = json!(net);
                record["grossAmount"] = json!(gross);
                record["balance"] = json!(gross);
                record["isPaid"] = json!(false);
                if record.get("state").is_none() {
                    record["state"] = json!("draft");
                }
                state.invoices.push(record.clone());
            }
            "contact" => state.contacts.push(record.clone()),
            _ => state.products.push(record.clone()),
        }
        record
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut answer = json!({"meta": {"statusCode": 200, "success": true}});
    answer[resource.as_str()] = json!([created]);
    HttpResponse::Ok().json(answer)
}
