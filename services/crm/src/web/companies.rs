//! The company switcher, the company page with its timeline, and a conversation or thread.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use tekup_db::Pool;
use tekup_runtime::pagination::{parse_time_cursor, time_cursor};
use tekup_runtime::{Problem, in_company, in_context};
use tekup_types::{AccessLevel, Cvr};
use uuid::Uuid;

use super::layout::{csrf, ok, paragraphs, shell};
use super::{Lang, Session, WebError, company_cvr, is_htmx, see_other};
use crate::store::companies::{self, Company, Granted};
use crate::store::records;
use crate::store::steps::{self, KINDS, Step, TimelineItem};

const SWITCHER_PAGE: i64 = 50;
/// Timeline items per page of the company page and of each "load more".
pub const TIMELINE_PAGE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct SwitcherQuery {
    q: Option<String>,
    after: Option<String>,
}

fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn level_key(level: &str) -> &'static str {
    match level {
        "admin" => "access.admin",
        "write" => "access.write",
        _ => "access.read",
    }
}

/// The companies granted to the user, searchable by name or CVR. A whole, valid CVR goes
/// straight to that company's page (which says "not found" unless it is granted).
pub async fn switcher(
    session: Session,
    pool: web::Data<Pool>,
    query: web::Query<SwitcherQuery>,
) -> Result<HttpResponse, WebError> {
    let lang = session.lang;
    let filter = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    if let Some(cvr) = filter.as_deref().and_then(|q| Cvr::parse(q).ok()) {
        return Ok(see_other(&format!("/app/companies/{cvr}")));
    }
    let like = filter.as_deref().map(like_escaped);
    let after = query.after.clone();
    let rows: Vec<Granted> = in_context!(&pool, session.principal.context(), |conn| {
        Ok::<_, Problem>(
            companies::granted(conn, like.as_deref(), after.as_deref(), SWITCHER_PAGE + 1).await?,
        )
    })
    .map_err(WebError::problem(lang))?;
    let more = rows.len() as i64 > SWITCHER_PAGE;
    let rows = &rows[..rows.len().min(SWITCHER_PAGE as usize)];
    let q = filter.unwrap_or_default();
    let body = html! {
        form.inline.panel method="get" action="/app" role="search" {
            label for="switch-q" { (lang.t("switcher.filter")) }
            input id="switch-q" type="search" name="q" value=(q);
            " "
            button type="submit" { (lang.t("switcher.go")) }
        }
        @if rows.is_empty() {
            p { (lang.t("switcher.none")) }
        } @else {
            table {
                thead { tr {
                    th scope="col" { (lang.t("company.cvr")) }
                    th scope="col" { (lang.t("company.name")) }
                    th scope="col" { (lang.t("company.access")) }
                } }
                tbody {
                    @for c in rows {
                        tr {
                            td { (c.cvr) }
                            td { a href={ "/app/companies/" (c.cvr) } { (c.name) }
                                 @if let Some(city) = &c.city { span.meta { " · " (city) } } }
                            td { (lang.t(level_key(&c.level))) }
                        }
                    }
                }
            }
            @if more {
                @if let Some(last) = rows.last() {
                    p { a href={ "/app?q=" (q) "&after=" (last.cvr) } { (lang.t("timeline.more")) } }
                }
            }
        }
    };
    Ok(ok(shell(
        lang,
        Some(&session),
        lang.t("switcher.title"),
        body,
    )))
}

/// What the company page shows, read in one transaction.
struct CompanyView {
    company: Company,
    level: AccessLevel,
    steps: Vec<Step>,
    items: Vec<TimelineItem>,
}

#[derive(Debug, Deserialize)]
pub struct TimelineQuery {
    kind: Option<String>,
    after: Option<String>,
}

/// Which page of the timeline a request asks for, checked.
struct TimelinePage {
    kinds: Option<Vec<String>>,
    before: Option<(chrono::DateTime<chrono::Utc>, Uuid)>,
}

impl TimelineQuery {
    fn page(&self, lang: Lang) -> Result<TimelinePage, WebError> {
        Ok(TimelinePage {
            kinds: self
                .kind
                .as_deref()
                .filter(|k| KINDS.contains(k))
                .map(|k| vec![k.to_owned()]),
            before: parse_time_cursor(self.after.as_deref()).map_err(WebError::problem(lang))?,
        })
    }
}

impl TimelinePage {
    /// The page's items, and one more when there are more.
    async fn read(
        self,
        conn: &mut diesel_async::AsyncPgConnection,
        org_id: Uuid,
        cvr: &Cvr,
    ) -> Result<Vec<TimelineItem>, diesel::result::Error> {
        let limit = TIMELINE_PAGE + 1;
        steps::timeline(conn, org_id, cvr.as_str(), self.kinds, self.before, limit).await
    }
}

/// The company: header, next steps, the work forms and the first page of the timeline.
pub async fn page_of(
    session: &Session,
    pool: &Pool,
    cvr_text: &str,
    query: &TimelineQuery,
) -> Result<Markup, WebError> {
    let lang = session.lang;
    let cvr = company_cvr(lang, cvr_text)?;
    let principal = session.principal.clone();
    let timeline = query.page(lang)?;
    let view = in_company!(pool, &principal, &cvr, AccessLevel::Read, |conn, level| {
        let company = companies::find(conn, principal.org_id, cvr.as_str())
            .await
            .map_err(|_| Problem::not_found("No CRM record."))?;
        let steps = steps::list(conn, principal.org_id, cvr.as_str(), Some("active")).await?;
        let items = timeline.read(conn, principal.org_id, &cvr).await?;
        Ok::<_, Problem>(CompanyView {
            company,
            level,
            steps,
            items,
        })
    })
    .map_err(WebError::problem(lang))?;
    let can_write = view.level.allows(AccessLevel::Write);
    let c = &view.company;
    let address = [c.street.as_deref(), c.zipcode.as_deref(), c.city.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let base = format!("/app/companies/{}", c.cvr);
    let body = html! {
        dl.facts.panel {
            dt { (lang.t("company.cvr")) } dd { (c.cvr) }
            dt { (lang.t("company.address")) } dd { @if address.is_empty() { (lang.t("company.unknown")) } @else { (address) } }
            dt { (lang.t("company.industry")) } dd { (c.segment.as_deref().unwrap_or(lang.t("company.unknown"))) }
            dt { (lang.t("company.status")) }
            dd { @if c.registry_status == "inactive" { strong { (lang.t("company.inactive")) } } @else { (lang.t("company.active")) } }
            dt { (lang.t("company.protected")) }
            dd id="advertising-protection" {
                @if c.advertising_protected { strong { (lang.t("company.protected.yes")) } } @else { (lang.t("no")) }
            }
            dt { (lang.t("company.access")) } dd { (lang.t(level_key(view.level.as_str()))) }
        }
        p.actions {
            a href={ (base) "/pipeline" } { (lang.t("pipeline.title")) }
        }
        form.inline role="search" method="get" action="/app/search" {
            input type="hidden" name="cvr" value=(c.cvr);
            label for="company-q" { (lang.t("search.query")) }
            input id="company-q" type="search" name="q" required;
            " "
            button type="submit" { (lang.t("search.submit")) }
        }
        div.columns {
            section aria-labelledby="timeline-h" {
                h2 id="timeline-h" { (lang.t("timeline.title")) }
                form.inline method="get" action=(base) {
                    label for="kind" { (lang.t("timeline.filter")) }
                    select id="kind" name="kind" {
                        option value="" { (lang.t("timeline.all")) }
                        @for k in KINDS {
                            option value=(k) selected[query.kind.as_deref() == Some(k)] { (lang.t(kind_key(k))) }
                        }
                    }
                    " "
                    button type="submit" { (lang.t("timeline.apply")) }
                }
                @if view.items.is_empty() {
                    p { (lang.t("timeline.empty")) }
                } @else {
                    ol.timeline id="timeline" {
                        (items(lang, &base, query.kind.as_deref(), &view.items))
                    }
                }
            }
            aside {
                section aria-labelledby="steps-h" {
                    h2 id="steps-h" { (lang.t("steps.title")) }
                    (steps_list(session, &base, &view.steps, can_write))
                }
                @if can_write {
                    (super::work::forms(session, &base))
                }
            }
        }
    };
    Ok(shell(lang, Some(session), &view.company.name, body))
}

/// The catalogue key of a timeline or search item's kind; anything else is a document.
pub(super) fn kind_key(kind: &str) -> &'static str {
    match kind {
        "activity" => "kind.activity",
        "interaction" => "kind.interaction",
        "task" => "kind.task",
        "deal" => "kind.deal",
        "process_step" => "kind.process_step",
        "email" => "kind.email",
        "conversation" => "kind.conversation",
        "email_thread" => "kind.email_thread",
        "price_calculation" => "kind.price_calculation",
        "quote" => "kind.quote",
        "booking" => "kind.booking",
        "invoice" => "kind.invoice",
        _ => "kind.document",
    }
}

/// A status, direction, pricing model or frequency in words; anything else (an activity's
/// kind, a deal's stage) as it is.
fn in_words(lang: Lang, status: &str) -> String {
    let key = match status {
        "draft" => "status.draft",
        "sent" => "status.sent",
        "accepted" => "status.accepted",
        "declined" => "status.declined",
        "issued" => "status.issued",
        "paid" => "status.paid",
        "cancelled" => "status.cancelled",
        "scheduled" => "status.scheduled",
        "completed" => "status.completed",
        "active" => "status.active",
        "skipped" => "status.skipped",
        "open" => "status.open",
        "done" => "status.done",
        "inbound" => "status.inbound",
        "outbound" => "status.outbound",
        "per_m2" => "pricing.per_m2",
        "hourly" => "pricing.hourly",
        "fixed" => "pricing.fixed",
        "once" => "frequency.once",
        "weekly" => "frequency.weekly",
        "biweekly" => "frequency.biweekly",
        "monthly" => "frequency.monthly",
        other => return other.to_owned(),
    };
    lang.t(key).to_owned()
}

/// What a timeline entry is called, linked to where it opens.
fn heading(lang: Lang, base: &str, item: &TimelineItem) -> Markup {
    let amount = item.amount_ore.map(|ore| lang.kroner(ore));
    let record = format!("{base}/records/{}", item.id);
    html! {
        @match item.kind.as_str() {
            "conversation" | "email_thread" => {
                a href={ (base) "/communications/" (item.id) } { (item.title) }
            }
            "document" => a href={ (base) "/documents/" (item.id) } { (item.title) },
            "price_calculation" => a href=(record) {
                (lang.t("record.calculation_of")) " " (item.title) " · " (amount.unwrap_or_default())
            },
            "quote" => a href=(record) { (lang.t("kind.quote")) " · " (amount.unwrap_or_default()) },
            "booking" => a href=(record) {
                (lang.t("record.visit")) " " (lang.datetime_text(Some(&item.title)).unwrap_or_default())
            },
            "invoice" => a href=(record) {
                (lang.t("record.invoice_no")) " " (item.title) " · " (amount.unwrap_or_default())
            },
            "deal" => { (item.title) @if let Some(a) = amount { " · " (a) } },
            _ => (item.title),
        }
    }
}

/// Timeline items as list entries, and a "load more" entry when there are more: a link that
/// htmx turns into fetching the next page in place.
fn items(lang: Lang, base: &str, kind: Option<&str>, items: &[TimelineItem]) -> Markup {
    let shown = &items[..items.len().min(TIMELINE_PAGE as usize)];
    let next = (items.len() as i64 > TIMELINE_PAGE)
        .then(|| shown.last().map(|i| time_cursor(i.at, i.id)))
        .flatten();
    let filter = kind.map(|k| format!("&kind={k}")).unwrap_or_default();
    html! {
        @for item in shown {
            li id={ "item-" (item.id) } {
                span.kind { (lang.t(kind_key(&item.kind))) }
                " · "
                time.meta datetime=(item.at.to_rfc3339()) { (lang.datetime(item.at)) }
                h3 { (heading(lang, base, item)) }
                @if let Some(detail) = &item.detail {
                    p { (in_words(lang, detail)) }
                }
            }
        }
        @if let Some(cursor) = next {
            li.more {
                a href={ (base) "?after=" (cursor) (filter) }
                  hx-get={ (base) "/timeline?after=" (cursor) (filter) }
                  hx-target="closest li" hx-swap="outerHTML" {
                    (lang.t("timeline.more"))
                }
            }
        }
    }
}

fn steps_list(session: &Session, base: &str, steps: &[Step], can_write: bool) -> Markup {
    let lang = session.lang;
    html! {
        @if steps.is_empty() {
            p { (lang.t("steps.none")) }
        } @else {
            ul.steps {
                @for step in steps {
                    li {
                        strong { (step.recommendation_text) }
                        br;
                        span.meta { (lang.t("steps.confidence")) ": " (format!("{:.0} %", step.confidence_score * 100.0)) }
                        br;
                        span.meta { (lang.t("steps.reason")) ": " (step.reason) }
                        @if can_write {
                            form.actions method="post" action={ (base) "/steps/" (step.id) } {
                                (csrf(session))
                                button type="submit" name="action" value="accept" { (lang.t("steps.accept")) }
                                button.secondary type="submit" name="action" value="complete" { (lang.t("steps.complete")) }
                                button.secondary type="submit" name="action" value="skip" { (lang.t("steps.skip")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The company page.
pub async fn page(
    session: Session,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> Result<HttpResponse, WebError> {
    Ok(ok(page_of(&session, &pool, &path, &query).await?))
}

/// The next page of the timeline, as list items for htmx (or the whole page without it).
pub async fn timeline(
    req: HttpRequest,
    session: Session,
    pool: web::Data<Pool>,
    path: web::Path<String>,
    query: web::Query<TimelineQuery>,
) -> Result<HttpResponse, WebError> {
    if !is_htmx(&req) {
        return Ok(ok(page_of(&session, &pool, &path, &query).await?));
    }
    let lang = session.lang;
    let cvr = company_cvr(lang, &path)?;
    let principal = session.principal.clone();
    let timeline = query.page(lang)?;
    let rows = in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        Ok::<_, Problem>(timeline.read(conn, principal.org_id, &cvr).await?)
    })
    .map_err(WebError::problem(lang))?;
    let base = format!("/app/companies/{cvr}");
    Ok(ok(items(lang, &base, query.kind.as_deref(), &rows)))
}

/// A chatbot conversation or e-mail thread with its messages.
pub async fn communication(
    session: Session,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, WebError> {
    let lang = session.lang;
    let (cvr_text, id) = path.into_inner();
    let cvr = company_cvr(lang, &cvr_text)?;
    let principal = session.principal.clone();
    let item = in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        steps::communication(conn, principal.org_id, cvr.as_str(), id)
            .await
            .map_err(|_| Problem::not_found("No such conversation."))
    })
    .map_err(WebError::problem(lang))?;
    let messages = item.messages.as_array().cloned().unwrap_or_default();
    let body = html! {
        p.meta {
            (lang.t(kind_key(&item.kind))) " · " (lang.t("conversation.channel")) ": " (item.channel)
            " · " (lang.datetime(item.first_at)) " – " (lang.datetime(item.last_at))
        }
        h2 { (lang.t("conversation.messages")) " (" (item.message_count) ")" }
        ol.timeline {
            @for m in &messages {
                li {
                    strong { (m["author"].as_str().unwrap_or("")) }
                    @if let Some(at) = lang.datetime_text(m["sent_at"].as_str()) {
                        " · " span.meta { (at) }
                    }
                    p { (paragraphs(m["text"].as_str().unwrap_or(""))) }
                }
            }
        }
        p { a href={ "/app/companies/" (item.cvr) } { (lang.t("conversation.back")) } }
    };
    Ok(ok(shell(lang, Some(&session), &item.title, body)))
}

/// A price calculation (its inputs, every partial result and the logic's version), a quote, a
/// booking or an invoice, as the company's timeline keeps it.
pub async fn record(
    session: Session,
    pool: web::Data<Pool>,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, WebError> {
    let lang = session.lang;
    let (cvr_text, id) = path.into_inner();
    let cvr = company_cvr(lang, &cvr_text)?;
    let principal = session.principal.clone();
    let record = in_company!(&pool, &principal, &cvr, AccessLevel::Read, |conn| {
        records::find(conn, principal.org_id, cvr.as_str(), id)
            .await
            .map_err(|_| Problem::not_found("No such record."))
    })
    .map_err(WebError::problem(lang))?;
    let base = format!("/app/companies/{cvr}");
    if record.kind == "document" {
        return Ok(see_other(&format!("{base}/documents/{id}")));
    }
    let d = &record.details;
    let kroner = |key: &str| {
        d[key]
            .as_i64()
            .map(|ore| lang.kroner(ore))
            .unwrap_or_default()
    };
    let text = |key: &str| d[key].as_str().unwrap_or_default().to_owned();
    let body = html! {
        p.meta {
            (lang.t(kind_key(&record.kind))) " · " (lang.t("record.updated")) " " (lang.datetime(record.updated_at))
            @if let Some(status) = &record.status { " · " (in_words(lang, status)) }
        }
        @match record.kind.as_str() {
            "price_calculation" => {
                dl.facts.panel {
                    dt { (lang.t("record.logic_version")) } dd { (text("logic_version")) }
                    dt { (lang.t("record.net")) } dd { (kroner("net_ore")) }
                    dt { (lang.t("record.vat")) } dd { (kroner("vat_ore")) }
                    dt { (lang.t("record.total")) } dd { (kroner("total_ore")) }
                    dt { (lang.t("record.labour")) } dd { (kroner("labour_ore")) }
                }
                h2 { (lang.t("record.inputs")) }
                (inputs(lang, &d["parameters"]))
                h2 { (lang.t("record.steps")) }
                table {
                    thead { tr {
                        th scope="col" { (lang.t("record.step")) }
                        th scope="col" { (lang.t("record.explanation")) }
                        th scope="col" { (lang.t("record.value")) }
                    } }
                    tbody {
                        @for step in d["steps"].as_array().into_iter().flatten() {
                            tr {
                                td { (step["step"].as_str().unwrap_or_default()) }
                                td { (step["explanation"].as_str().unwrap_or_default()) }
                                td.num { (lang.kroner(step["value_ore"].as_i64().unwrap_or_default())) }
                            }
                        }
                    }
                }
            }
            "quote" => {
                dl.facts.panel {
                    dt { (lang.t("record.total")) } dd { (kroner("total_ore")) }
                    dt { (lang.t("record.valid_until")) } dd { (text("valid_until")) }
                }
                @if let Ok(calculation) = text("price_calculation_id").parse::<Uuid>() {
                    p { a href={ (base) "/records/" (calculation) } { (lang.t("record.open_calculation")) } }
                }
            }
            "booking" => {
                dl.facts.panel {
                    dt { (lang.t("record.starts_at")) }
                    dd { (lang.datetime_text(d["starts_at"].as_str()).unwrap_or_default()) }
                    dt { (lang.t("record.change")) } dd { (text("change")) }
                }
            }
            _ => {
                dl.facts.panel {
                    dt { (lang.t("record.issued_at")) } dd { (lang.datetime_text(d["issued_at"].as_str()).unwrap_or_else(|| text("issued_at"))) }
                    dt { (lang.t("record.due_date")) } dd { (text("due_date")) }
                    dt { (lang.t("record.net")) } dd { (kroner("net_ore")) }
                    dt { (lang.t("record.vat")) } dd { (kroner("vat_ore")) }
                    dt { (lang.t("record.total")) } dd { (kroner("total_ore")) }
                }
                table {
                    thead { tr {
                        th scope="col" { (lang.t("record.line")) }
                        th scope="col" { (lang.t("record.quantity")) }
                        th scope="col" { (lang.t("record.unit_price")) }
                        th scope="col" { (lang.t("record.net")) }
                    } }
                    tbody {
                        @for line in d["lines"].as_array().into_iter().flatten() {
                            tr {
                                td { (line["description"].as_str().unwrap_or_default()) }
                                td.num { (line["quantity"].as_i64().unwrap_or_default()) }
                                td.num { (lang.kroner(line["unit_price_ore"].as_i64().unwrap_or_default())) }
                                td.num { (lang.kroner(line["net_ore"].as_i64().unwrap_or_default())) }
                            }
                        }
                    }
                }
            }
        }
        p { a href=(base) { (lang.t("conversation.back")) } }
    };
    let title = match record.kind.as_str() {
        "price_calculation" => format!("{} {}", lang.t("record.calculation_of"), record.title),
        "invoice" => format!("{} {}", lang.t("record.invoice_no"), record.title),
        kind => lang.t(kind_key(kind)).to_owned(),
    };
    Ok(ok(shell(lang, Some(&session), &title, body)))
}

/// A calculation's inputs as the calculation used them.
fn inputs(lang: Lang, p: &serde_json::Value) -> Markup {
    let number = |key: &str| p[key].as_i64().map(|n| n.to_string());
    html! {
        dl.facts.panel {
            dt { (lang.t("record.service")) } dd { (p["service_code"].as_str().unwrap_or_default()) }
            dt { (lang.t("record.pricing")) } dd { (in_words(lang, p["pricing"].as_str().unwrap_or_default())) }
            dt { (lang.t("record.unit_price")) } dd { (lang.kroner(p["unit_price_ore"].as_i64().unwrap_or_default())) }
            @if let Some(area) = number("area_m2") { dt { (lang.t("record.area")) } dd { (area) " m²" } }
            @if let Some(minutes) = number("minutes") { dt { (lang.t("record.minutes")) } dd { (minutes) } }
            @if let Some(cleaners) = number("cleaners") { dt { (lang.t("record.cleaners")) } dd { (cleaners) } }
            dt { (lang.t("record.frequency")) } dd { (in_words(lang, p["frequency"].as_str().unwrap_or_default())) }
            @for extra in p["extras"].as_array().into_iter().flatten() {
                dt { (lang.t("record.extra")) }
                dd { (extra["name"].as_str().unwrap_or_default()) " · " (lang.kroner(extra["price_ore"].as_i64().unwrap_or_default())) }
            }
        }
    }
}
