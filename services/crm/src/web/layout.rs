//! The shell every page shares, its assets, and the error page.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{DOCTYPE, Markup, html};

use super::{Lang, Session};

const HTMX: &str = include_str!("../../static/htmx.min.js");
const HTMX_LICENSE: &str = include_str!("../../static/htmx.LICENSE");
const SCRIPT: &str = include_str!("../../static/app.js");
pub const STYLE: &str = include_str!("../../static/app.css");

/// The vendored htmx (2.0.8, its licence beside it), the console's script and stylesheet.
pub async fn asset(path: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match path.as_str() {
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "htmx.LICENSE" => (HTMX_LICENSE, "text/plain; charset=utf-8"),
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "app.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(body)
}

/// A hidden field with the session's form token.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf()); }
}

/// What a page's navigation needs of a signed-in user.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub admin: bool,
    /// The session's form token, for the logout form.
    pub csrf: String,
}

/// A whole page: `title` in the head and as its one `h1`, the navigation when signed in.
pub fn shell(lang: Lang, session: Option<&Session>, title: &str, body: Markup) -> Markup {
    page(lang, session.map(Session::signed_in).as_ref(), title, body)
}

/// [`shell`] for what is known of the user when only the navigation is needed (error pages).
pub fn page(lang: Lang, signed_in: Option<&SignedIn>, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // No inline styles from htmx: the content security policy allows none.
                meta name="htmx-config" content=r#"{"includeIndicatorStyles":false}"#;
                title { (title) " — " (lang.t("app.name")) }
                link rel="stylesheet" href="/app/static/app.css";
                script src="/app/static/htmx.min.js" defer {}
                script src="/app/static/app.js" defer {}
            }
            body {
                a.skip href="#main" { (lang.t("nav.skip")) }
                header.top {
                    a.brand href="/app" { (lang.t("app.name")) }
                    @if let Some(signed_in) = signed_in {
                        nav aria-label=(lang.t("nav.companies")) {
                            a href="/app" { (lang.t("nav.companies")) }
                            a href="/app/pipeline" { (lang.t("pipeline.title")) }
                            @if signed_in.admin {
                                a href="/app/admin" { (lang.t("nav.admin")) }
                            }
                        }
                        form.search role="search" method="get" action="/app/search" {
                            label for="global-q" { (lang.t("search.query")) }
                            input id="global-q" type="search" name="q" required;
                            button type="submit" { (lang.t("nav.search")) }
                        }
                        form method="post" action="/app/logout" {
                            input type="hidden" name="csrf" value=(signed_in.csrf);
                            button type="submit" { (lang.t("nav.logout")) }
                        }
                    }
                    nav.lang aria-label=(lang.t("nav.language")) {
                        a href="/app/lang/da" lang="da" aria-current=[(lang == Lang::Da).then_some("true")] { "Dansk" }
                        a href="/app/lang/en" lang="en" aria-current=[(lang == Lang::En).then_some("true")] { "English" }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An HTML response of `status`.
pub fn respond(status: StatusCode, markup: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

pub fn ok(markup: Markup) -> HttpResponse {
    respond(StatusCode::OK, markup)
}

/// The page of an error: what happened, in the user's language, and the way back; with the
/// navigation when the user is signed in.
pub fn error_page(
    lang: Lang,
    signed_in: Option<&SignedIn>,
    status: StatusCode,
    title: &str,
    detail: &str,
    fields: &[String],
) -> HttpResponse {
    let body = html! {
        p.error role="alert" { (detail) }
        @if !fields.is_empty() {
            ul { @for f in fields { li { (f) } } }
        }
        p { a href="/app" { (lang.t("error.back")) } }
    };
    respond(status, page(lang, signed_in, title, body))
}

/// Text as HTML with its line breaks kept.
pub fn paragraphs(text: &str) -> Markup {
    html! {
        @for line in text.lines() {
            (line) br;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::STYLE;

    fn colour(name: &str) -> [f64; 3] {
        let at = STYLE
            .find(&format!("--{name}:"))
            .unwrap_or_else(|| panic!("--{name}"));
        let hex = STYLE[at..].split('#').nth(1).unwrap_or_default();
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        [channel(0), channel(2), channel(4)]
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let luminance = |[r, g, b]: [f64; 3]| 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let (x, y) = (luminance(colour(a)), luminance(colour(b)));
        (x.max(y) + 0.05) / (x.min(y) + 0.05)
    }

    /// WCAG 2.1 AA: 4.5:1 for text, for every pair of text and background the stylesheet uses.
    #[test]
    fn every_text_colour_has_enough_contrast_on_its_background() {
        for (text, background) in [
            ("ink", "paper"),
            ("ink", "panel"),
            ("muted", "paper"),
            ("muted", "panel"),
            ("accent", "paper"),
            ("accent", "panel"),
            ("on-accent", "accent"),
            ("danger", "paper"),
            ("danger", "panel"),
            ("ok", "paper"),
        ] {
            let ratio = contrast(text, background);
            assert!(ratio >= 4.5, "{text} on {background}: {ratio:.2}:1");
        }
    }
}
