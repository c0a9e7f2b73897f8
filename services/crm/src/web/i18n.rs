//! Every string of the web console, in Danish (the default) and English, and how amounts,
//! dates and times are written in each.

use chrono::{DateTime, Utc};
use tekup_types::copenhagen;

/// The language of a page: from the `tekup_lang` cookie, Danish when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Da,
    En,
}

impl Lang {
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "da" => Some(Lang::Da),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Da => "da",
            Lang::En => "en",
        }
    }

    /// The string `key` in this language; the key itself when the catalogue lacks it (a test
    /// keeps every key used in the code in the catalogue).
    pub fn t(self, key: &'static str) -> &'static str {
        CATALOGUE
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or(key, |(_, da, en)| match self {
                Lang::Da => da,
                Lang::En => en,
            })
    }

    /// An amount in øre as kroner: `1.234,50 kr.` in Danish, `DKK 1,234.50` in English.
    pub fn kroner(self, ore: i64) -> String {
        let sign = if ore < 0 { "-" } else { "" };
        let ore = ore.unsigned_abs();
        let (whole, cents) = (ore / 100, ore % 100);
        let digits = whole.to_string();
        let (group, decimal) = match self {
            Lang::Da => ('.', ','),
            Lang::En => (',', '.'),
        };
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(group);
            }
            grouped.push(c);
        }
        match self {
            Lang::Da => format!("{sign}{grouped}{decimal}{cents:02} kr."),
            Lang::En => format!("{sign}DKK {grouped}{decimal}{cents:02}"),
        }
    }

    /// A moment as the wall clock in Copenhagen shows it: `6.12.2026 14:05` / `6 Dec 2026 14:05`.
    pub fn datetime(self, at: DateTime<Utc>) -> String {
        let local = copenhagen::local(at);
        match self {
            Lang::Da => local.format("%-d.%-m.%Y %H:%M").to_string(),
            Lang::En => local.format("%-d %b %Y %H:%M").to_string(),
        }
    }

    /// An RFC 3339 time from another service's answer, as [`Lang::datetime`] writes it.
    pub fn datetime_text(self, text: Option<&str>) -> Option<String> {
        let at = DateTime::parse_from_rfc3339(text?).ok()?;
        Some(self.datetime(at.to_utc()))
    }
}

/// (key, Danish, English).
const CATALOGUE: &[(&str, &str, &str)] = &[
    ("app.name", "Tekup CRM", "Tekup CRM"),
    ("nav.companies", "Virksomheder", "Companies"),
    ("nav.search", "Søg", "Search"),
    ("nav.admin", "Administration", "Administration"),
    ("nav.logout", "Log ud", "Log out"),
    ("nav.language", "Sprog", "Language"),
    ("nav.skip", "Gå til indhold", "Skip to content"),
    ("login.title", "Log ind", "Sign in"),
    ("login.email", "E-mail", "E-mail"),
    ("login.password", "Adgangskode", "Password"),
    ("login.submit", "Log ind", "Sign in"),
    (
        "login.wrong",
        "E-mail eller adgangskode er forkert.",
        "The e-mail or the password is wrong.",
    ),
    (
        "login.deactivated",
        "Din konto er deaktiveret. Kontakt en administrator i din organisation.",
        "Your account is deactivated. Ask an administrator of your organization.",
    ),
    (
        "login.locked",
        "For mange mislykkede forsøg. Kontoen er midlertidigt låst; prøv igen senere.",
        "Too many failed attempts. The account is locked for now; try again later.",
    ),
    (
        "login.unavailable",
        "Login er ikke tilgængeligt lige nu. Prøv igen om lidt.",
        "Signing in is not available right now. Try again shortly.",
    ),
    (
        "login.expired",
        "Din session er udløbet. Log ind igen.",
        "Your session has ended. Sign in again.",
    ),
    ("switcher.title", "Dine virksomheder", "Your companies"),
    (
        "switcher.filter",
        "Find virksomhed (navn eller CVR)",
        "Find a company (name or CVR)",
    ),
    ("switcher.go", "Find", "Find"),
    (
        "switcher.none",
        "Ingen virksomheder fundet.",
        "No companies found.",
    ),
    ("company.cvr", "CVR", "CVR"),
    ("company.name", "Navn", "Name"),
    ("company.access", "Adgang", "Access"),
    ("company.address", "Adresse", "Address"),
    ("company.industry", "Branche", "Industry"),
    ("company.unknown", "Ukendt", "Unknown"),
    ("company.status", "Status", "Status"),
    ("company.active", "Aktiv", "Active"),
    ("company.inactive", "Ophørt", "Ceased"),
    (
        "company.protected",
        "Reklamebeskyttet",
        "Advertising protected",
    ),
    (
        "company.protected.yes",
        "Ja – ingen markedsføring",
        "Yes – no marketing",
    ),
    ("access.read", "Læse", "Read"),
    ("access.write", "Skrive", "Write"),
    ("access.admin", "Administrator", "Administrator"),
    ("steps.title", "Næste skridt", "Next steps"),
    (
        "steps.none",
        "Ingen anbefalinger lige nu.",
        "No recommendations right now.",
    ),
    ("steps.confidence", "Sikkerhed", "Confidence"),
    ("steps.reason", "Begrundelse", "Reason"),
    ("steps.accept", "Acceptér", "Accept"),
    ("steps.complete", "Udført", "Complete"),
    ("steps.skip", "Spring over", "Skip"),
    ("timeline.title", "Tidslinje", "Timeline"),
    ("timeline.filter", "Vis kun", "Show only"),
    ("timeline.all", "Alt", "Everything"),
    ("timeline.apply", "Filtrér", "Filter"),
    ("timeline.more", "Vis flere", "Load more"),
    (
        "timeline.empty",
        "Intet på tidslinjen endnu.",
        "Nothing on the timeline yet.",
    ),
    ("timeline.open", "Åbn", "Open"),
    ("kind.activity", "Aktivitet", "Activity"),
    ("kind.interaction", "Interaktion", "Interaction"),
    ("kind.task", "Opgave", "Task"),
    ("kind.deal", "Handel", "Deal"),
    ("kind.process_step", "Næste skridt", "Next step"),
    ("kind.email", "E-mail", "E-mail"),
    ("kind.conversation", "Chatsamtale", "Chatbot conversation"),
    ("kind.email_thread", "E-mail-tråd", "E-mail thread"),
    ("kind.document", "Dokument", "Document"),
    (
        "kind.price_calculation",
        "Prisberegning",
        "Price calculation",
    ),
    ("kind.quote", "Tilbud", "Quote"),
    ("kind.booking", "Booking", "Booking"),
    ("kind.invoice", "Faktura", "Invoice"),
    ("status.draft", "Kladde", "Draft"),
    ("status.sent", "Sendt", "Sent"),
    ("status.accepted", "Accepteret", "Accepted"),
    ("status.declined", "Afslået", "Declined"),
    ("status.issued", "Udstedt", "Issued"),
    ("status.paid", "Betalt", "Paid"),
    ("status.cancelled", "Annulleret", "Cancelled"),
    ("status.scheduled", "Planlagt", "Scheduled"),
    ("status.completed", "Udført", "Completed"),
    ("status.active", "Aktiv", "Active"),
    ("status.skipped", "Sprunget over", "Skipped"),
    ("status.open", "Åben", "Open"),
    ("status.done", "Færdig", "Done"),
    ("status.inbound", "Modtaget", "Received"),
    ("status.outbound", "Sendt", "Sent"),
    ("pricing.per_m2", "Pris pr. m²", "Price per m²"),
    ("pricing.hourly", "Pris pr. time", "Price per hour"),
    (
        "pricing.fixed",
        "Fast pris pr. besøg",
        "Fixed price per visit",
    ),
    ("frequency.once", "Én gang", "Once"),
    ("frequency.weekly", "Hver uge", "Weekly"),
    ("frequency.biweekly", "Hver anden uge", "Every other week"),
    ("frequency.monthly", "Hver måned", "Monthly"),
    (
        "record.calculation_of",
        "Prisberegning for",
        "Price calculation for",
    ),
    ("record.visit", "Rengøring", "Cleaning visit"),
    ("record.invoice_no", "Faktura nr.", "Invoice no."),
    ("record.updated", "senest ændret", "last changed"),
    (
        "record.logic_version",
        "Beregningslogik, version",
        "Calculation logic, version",
    ),
    ("record.net", "Netto", "Net"),
    ("record.vat", "Moms", "VAT"),
    ("record.total", "I alt", "Total"),
    (
        "record.labour",
        "Heraf arbejdsløn (servicefradrag)",
        "Of which labour (service deduction)",
    ),
    ("record.inputs", "Forudsætninger", "Inputs"),
    ("record.steps", "Delresultater", "Partial results"),
    ("record.step", "Trin", "Step"),
    ("record.explanation", "Forklaring", "Explanation"),
    ("record.value", "Beløb", "Amount"),
    ("record.valid_until", "Gyldigt til", "Valid until"),
    (
        "record.open_calculation",
        "Se prisberegningen",
        "See the price calculation",
    ),
    ("record.starts_at", "Tidspunkt", "Time"),
    ("record.change", "Seneste ændring", "Last change"),
    ("record.issued_at", "Udstedt", "Issued"),
    ("record.due_date", "Forfaldsdato", "Due date"),
    ("record.line", "Linje", "Line"),
    ("record.quantity", "Antal", "Quantity"),
    ("record.unit_price", "Enhedspris", "Unit price"),
    ("record.service", "Ydelse", "Service"),
    ("record.pricing", "Prismodel", "Pricing"),
    ("record.area", "Areal", "Area"),
    ("record.minutes", "Minutter", "Minutes"),
    ("record.cleaners", "Rengøringsassistenter", "Cleaners"),
    ("record.frequency", "Hyppighed", "Frequency"),
    ("record.extra", "Tilvalg", "Extra"),
    ("note.title", "Tilføj note", "Add a note"),
    ("note.subject", "Emne", "Subject"),
    ("note.body", "Tekst", "Text"),
    ("note.submit", "Gem note", "Save note"),
    ("task.title", "Tilføj opgave", "Add a task"),
    ("task.name", "Opgave", "Task"),
    ("task.due", "Forfaldsdato", "Due date"),
    ("task.submit", "Opret opgave", "Create task"),
    ("upload.title", "Upload dokument", "Upload a document"),
    ("upload.file", "Fil (tekst)", "File (text)"),
    ("upload.submit", "Upload", "Upload"),
    ("upload.progress", "Upload-fremskridt", "Upload progress"),
    (
        "upload.done",
        "Dokumentet er uploadet og bliver indekseret.",
        "The document is uploaded and being indexed.",
    ),
    ("search.title", "Søgning", "Search"),
    ("search.query", "Søg efter betydning", "Search by meaning"),
    ("search.submit", "Søg", "Search"),
    ("search.none", "Ingen resultater.", "No results."),
    (
        "search.in_company",
        "Kun denne virksomhed",
        "Only this company",
    ),
    ("pipeline.title", "Salgspipeline", "Sales pipeline"),
    ("pipeline.move", "Flyt til", "Move to"),
    ("pipeline.submit", "Flyt", "Move"),
    ("pipeline.value", "Værdi", "Value"),
    ("pipeline.empty", "Ingen handler.", "No deals."),
    (
        "pipeline.all",
        "Alle virksomheders handler",
        "Deals of all companies",
    ),
    (
        "pipeline.recent",
        "Viser de 500 senest ændrede handler.",
        "Showing the 500 most recently changed deals.",
    ),
    ("document.versions", "Versioner", "Versions"),
    ("conversation.messages", "Beskeder", "Messages"),
    ("conversation.channel", "Kanal", "Channel"),
    (
        "conversation.back",
        "Tilbage til virksomheden",
        "Back to the company",
    ),
    ("admin.title", "Brugere og adgang", "Users and access"),
    ("admin.users", "Brugere", "Users"),
    ("admin.email", "E-mail", "E-mail"),
    ("admin.role", "Rolle", "Role"),
    ("admin.active", "Aktiv", "Active"),
    ("admin.account", "Konto", "Account"),
    ("admin.deactivate", "Deaktivér", "Deactivate"),
    ("admin.activate", "Aktivér", "Activate"),
    ("admin.new_user", "Ny bruger", "New user"),
    ("admin.first_name", "Fornavn", "First name"),
    ("admin.last_name", "Efternavn", "Last name"),
    (
        "admin.password",
        "Første adgangskode (mindst 12 tegn)",
        "First password (at least 12 characters)",
    ),
    ("admin.create_user", "Opret bruger", "Create user"),
    ("role.admin", "Administrator", "Administrator"),
    ("role.analyst", "Sælger/analytiker", "Salesperson/analyst"),
    ("role.viewer", "Læser", "Viewer"),
    ("admin.grants", "Adgang til virksomheder", "Company access"),
    ("admin.user", "Bruger", "User"),
    ("admin.level", "Niveau", "Level"),
    ("admin.grant", "Giv adgang", "Grant"),
    ("admin.revoke", "Fjern adgang", "Revoke"),
    ("admin.audit", "Revisionslog", "Audit log"),
    ("admin.action", "Handling", "Action"),
    ("admin.when", "Tidspunkt", "When"),
    ("admin.filter", "Filtrér", "Filter"),
    ("admin.resource", "Ressource", "Resource"),
    ("yes", "Ja", "Yes"),
    ("no", "Nej", "No"),
    ("error.title", "Noget gik galt", "Something went wrong"),
    ("error.not_found", "Ikke fundet", "Not found"),
    (
        "error.not_found.detail",
        "Siden findes ikke, eller du har ikke adgang til den.",
        "The page does not exist, or you have no access to it.",
    ),
    ("error.forbidden", "Ingen adgang", "Access denied"),
    (
        "error.forbidden.detail",
        "Du har ikke rettigheder til at gøre dette.",
        "You are not allowed to do this.",
    ),
    (
        "error.csrf",
        "Formularen er udløbet eller ikke sendt fra denne side. Genindlæs siden og prøv igen.",
        "The form has expired or was not sent from this site. Reload the page and try again.",
    ),
    ("error.invalid", "Ugyldige oplysninger", "Invalid input"),
    ("error.conflict", "Findes allerede", "Already exists"),
    (
        "error.unavailable",
        "Tjenesten er ikke tilgængelig lige nu. Prøv igen om lidt.",
        "The service is not available right now. Try again shortly.",
    ),
    (
        "error.back",
        "Tilbage til virksomhederne",
        "Back to the companies",
    ),
];

/// Every key the code asks for, for the test that keeps the catalogue whole.
#[cfg(test)]
pub fn keys() -> impl Iterator<Item = &'static str> {
    CATALOGUE.iter().map(|(k, _, _)| *k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn amounts_are_written_the_danish_way_by_default() {
        assert_eq!(Lang::Da.kroner(123_450), "1.234,50 kr.");
        assert_eq!(Lang::Da.kroner(5), "0,05 kr.");
        assert_eq!(Lang::Da.kroner(100_000_000), "1.000.000,00 kr.");
        assert_eq!(Lang::Da.kroner(-99_900), "-999,00 kr.");
        assert_eq!(Lang::En.kroner(123_450), "DKK 1,234.50");
    }

    #[test]
    fn times_are_shown_on_the_copenhagen_clock() {
        // 12:30 UTC is 13:30 in winter and 14:30 in summer.
        let winter = Utc.with_ymd_and_hms(2026, 12, 6, 12, 30, 0).unwrap();
        let summer = Utc.with_ymd_and_hms(2026, 7, 1, 12, 30, 0).unwrap();
        assert_eq!(Lang::Da.datetime(winter), "6.12.2026 13:30");
        assert_eq!(Lang::Da.datetime(summer), "1.7.2026 14:30");
        assert_eq!(Lang::En.datetime(winter), "6 Dec 2026 13:30");
    }

    #[test]
    fn every_key_is_there_once_and_every_string_is_translated() {
        let mut seen = std::collections::HashSet::new();
        for (key, da, en) in CATALOGUE {
            assert!(seen.insert(key), "{key} twice");
            assert!(
                !da.is_empty() && !en.is_empty(),
                "{key} lacks a translation"
            );
        }
        assert_eq!(Lang::from_code("en"), Some(Lang::En));
        assert_eq!(Lang::default().t("login.title"), "Log ind");
        assert_eq!(Lang::En.t("login.title"), "Sign in");
    }

    #[test]
    fn every_key_the_pages_use_is_in_the_catalogue() {
        let keys: std::collections::HashSet<&str> = keys().collect();
        let sources = [
            include_str!("../web.rs"),
            include_str!("layout.rs"),
            include_str!("auth.rs"),
            include_str!("companies.rs"),
            include_str!("work.rs"),
            include_str!("search.rs"),
            include_str!("admin.rs"),
        ];
        for source in sources {
            for (at, _) in source.match_indices(".t(\"") {
                let rest = &source[at + 4..];
                let key = &rest[..rest.find('"').unwrap_or(0)];
                assert!(keys.contains(key), "`{key}` is not in the catalogue");
            }
        }
    }
}
