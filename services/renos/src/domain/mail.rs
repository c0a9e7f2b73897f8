//! Reading e-mails: RFC 5322 messages through a MIME parser (multipart, quoted-printable and
//! base64, charsets, HTML turned into text, attachments described), mbox files split into
//! messages, and the subject normalisation threading falls back on.

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

/// An attachment as stored: described, the bytes left in the raw message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attachment {
    /// Its position among the message's attachments (the link's last segment).
    pub index: usize,
    pub filename: String,
    pub content_type: String,
    pub size: usize,
    pub sha256: String,
}

/// What an e-mail says, read from its raw form.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Without angle brackets; a digest of the raw message when it has none.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub from_address: String,
    pub from_name: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    /// The Date header; `None` when absent or unreadable.
    pub date: Option<DateTime<Utc>>,
    /// The text body, from the HTML part when there is no plain one.
    pub text: String,
    pub attachments: Vec<Attachment>,
}

impl Mail {
    /// Everyone the message is between.
    pub fn participants(&self) -> Vec<String> {
        let mut all = vec![self.from_address.clone()];
        for address in self.to.iter().chain(&self.cc) {
            if !all.contains(address) {
                all.push(address.clone());
            }
        }
        all
    }
}

/// Parses one message; the error says why it cannot be ingested.
pub fn parse(raw: &[u8]) -> Result<Mail, String> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err("the message is empty".into());
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or("not an RFC 5322 message: no header section")?;
    if message.headers().is_empty() {
        return Err("not an RFC 5322 message: no header section".into());
    }
    let from = message
        .from()
        .and_then(Address::first)
        .ok_or("the message has no From address")?;
    let from_address = from
        .address()
        .map(str::trim)
        .filter(|a| a.contains('@'))
        .ok_or("the From header holds no e-mail address")?
        .to_lowercase();
    let message_id = message
        .message_id()
        .map(strip_brackets)
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("sha256-{:x}@tekup.invalid", Sha256::digest(raw)));
    let date = message.date().and_then(|d| {
        Utc.timestamp_opt(d.to_timestamp(), 0)
            .single()
            .filter(|_| d.year > 1970)
    });
    let text = message
        .body_text(0)
        .map(|t| t.replace("\r\n", "\n").trim().to_owned())
        .unwrap_or_default();
    let attachments = message
        .attachments()
        .enumerate()
        .map(|(index, part)| Attachment {
            index,
            filename: part
                .attachment_name()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("attachment-{}", index + 1)),
            content_type: content_type(part).to_lowercase(),
            size: part.contents().len(),
            sha256: format!("{:x}", Sha256::digest(part.contents())),
        })
        .collect();
    // PostgreSQL text cannot hold U+0000: a message carrying it keeps everything else.
    let clean = |s: &str| s.replace('\0', "");
    let list = |l: Vec<String>| l.iter().map(|s| clean(s)).collect();
    Ok(Mail {
        message_id: clean(&message_id),
        in_reply_to: ids(message.in_reply_to()).first().map(|s| clean(s)),
        references: list(ids(message.references())),
        from_address: clean(&from_address),
        from_name: from
            .name()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(clean),
        to: list(addresses(message.to())),
        cc: list(addresses(message.cc())),
        subject: clean(message.subject().unwrap_or_default().trim()),
        date,
        text: clean(&text),
        attachments,
    })
}

/// The bytes of attachment `index` of a raw message.
pub fn attachment(raw: &[u8], index: usize) -> Option<(String, Vec<u8>)> {
    let message = MessageParser::default().parse(raw)?;
    let part = message.attachments().nth(index)?;
    Some((content_type(part), part.contents().to_vec()))
}

/// A part's media type as declared (`type/subtype`), octet-stream when undeclared.
fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
}

fn strip_brackets(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let list: Vec<String> = match value {
        HeaderValue::Text(id) => id.split_whitespace().map(strip_brackets).collect(),
        HeaderValue::TextList(ids) => ids.iter().map(|id| strip_brackets(id)).collect(),
        _ => Vec::new(),
    };
    list.into_iter().filter(|id| !id.is_empty()).collect()
}

fn addresses(address: Option<&Address<'_>>) -> Vec<String> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| addr.address())
                .filter(|a| a.contains('@'))
                .map(|a| a.trim().to_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

/// Splits an mbox file (messages after `From ` lines; mboxrd's `>From ` quoting undone) into
/// raw messages. A file that does not start with a `From ` line is taken as one message.
pub fn split_mbox(data: &[u8]) -> Vec<Vec<u8>> {
    if !data.starts_with(b"From ") {
        return vec![data.to_vec()];
    }
    mail_parser::mailbox::mbox::MessageIterator::new(data)
        .filter_map(Result::ok)
        .map(|message| message.unwrap_contents())
        .collect()
}

/// The subject without reply and forward prefixes (English and Danish: Re, Fw, Fwd, SV, VS,
/// Vedr, Videresendt, AW, WG), without `[tags]`, whitespace folded, lower-case.
pub fn normalize_subject(subject: &str) -> String {
    const PREFIXES: [&str; 9] = [
        "re",
        "fw",
        "fwd",
        "sv",
        "vs",
        "vedr",
        "videresendt",
        "aw",
        "wg",
    ];
    let mut rest = subject.trim();
    loop {
        let before = rest;
        if let Some(tag_end) = rest.strip_prefix('[').and_then(|r| r.find(']')) {
            rest = rest[tag_end + 2..].trim_start();
        }
        if let Some((head, tail)) = rest.split_once(':') {
            let head = head.trim().trim_end_matches('.').to_lowercase();
            // "Re[2]:" and "Re(2):" count as well.
            let head = head.split(['[', '(']).next().unwrap_or_default().to_owned();
            if PREFIXES.contains(&head.as_str()) {
                rest = tail.trim_start();
            }
        }
        if rest == before {
            break;
        }
    }
    rest.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTIPART: &str = "From: \"Søren Ørsted\" <soren@fjordbyg.dk>\r\n\
To: kontakt@rendetalje.dk\r\n\
Subject: =?UTF-8?Q?Tilbud_p=C3=A5_reng=C3=B8ring?=\r\n\
Message-ID: <abc123@fjordbyg.dk>\r\n\
Date: Mon, 16 Nov 2026 09:15:00 +0100\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain; charset=\"iso-8859-1\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Hej, vi =F8nsker et tilbud p=E5 ugentlig reng=F8ring af 250 m2 kontor.\r\n\
Venlig hilsen, Fjordbyg ApS, CVR 13585628\r\n\
--b2\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Hej</p>\r\n\
--b2--\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"plantegning.pdf\"\r\n\
Content-Disposition: attachment; filename=\"plantegning.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b1--\r\n";

    #[test]
    fn reads_a_multipart_quoted_printable_message_with_an_attachment() {
        let mail = parse(MULTIPART.as_bytes()).unwrap();
        assert_eq!(mail.message_id, "abc123@fjordbyg.dk");
        assert_eq!(mail.from_address, "soren@fjordbyg.dk");
        assert_eq!(mail.from_name.as_deref(), Some("Søren Ørsted"));
        assert_eq!(mail.subject, "Tilbud på rengøring");
        assert!(
            mail.text.contains("ønsker et tilbud på ugentlig rengøring"),
            "{}",
            mail.text
        );
        assert_eq!(mail.attachments.len(), 1);
        assert_eq!(mail.attachments[0].filename, "plantegning.pdf");
        assert_eq!(mail.attachments[0].content_type, "application/pdf");
        assert_eq!(mail.attachments[0].size, 9);
        assert_eq!(
            attachment(MULTIPART.as_bytes(), 0).unwrap().1,
            b"%PDF-1.4\n"
        );
        assert_eq!(mail.date.unwrap().to_rfc3339(), "2026-11-16T08:15:00+00:00");
    }

    #[test]
    fn html_only_messages_become_text() {
        let raw = "From: a@b.dk\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>Vi er <b>meget</b> utilfredse</p><p>med rengøringen</p></body></html>";
        let mail = parse(raw.as_bytes()).unwrap();
        assert!(mail.text.contains("meget"), "{}", mail.text);
        assert!(mail.text.contains("rengøringen"));
        assert!(!mail.text.contains('<'));
    }

    #[test]
    fn malformed_messages_are_refused_with_a_reason() {
        assert_eq!(parse(b"   \n").unwrap_err(), "the message is empty");
        assert!(
            parse(b"Subject: no sender\r\n\r\nbody")
                .unwrap_err()
                .contains("From")
        );
        assert!(
            parse(b"From: nobody\r\n\r\nbody")
                .unwrap_err()
                .contains("address")
        );
    }

    #[test]
    fn replies_name_their_parents_and_ids_lose_their_brackets() {
        let raw = "From: a@b.dk\r\nMessage-ID: <2@b.dk>\r\nIn-Reply-To: <1@b.dk>\r\n\
References: <0@b.dk> <1@b.dk>\r\nSubject: SV: x\r\n\r\nok";
        let mail = parse(raw.as_bytes()).unwrap();
        assert_eq!(mail.in_reply_to.as_deref(), Some("1@b.dk"));
        assert_eq!(mail.references, ["0@b.dk", "1@b.dk"]);
    }

    #[test]
    fn a_message_without_id_gets_a_stable_one() {
        let raw = b"From: a@b.dk\r\nSubject: x\r\n\r\nok";
        assert_eq!(
            parse(raw).unwrap().message_id,
            parse(raw).unwrap().message_id
        );
    }

    #[test]
    fn subjects_lose_reply_and_forward_prefixes_in_both_languages() {
        assert_eq!(
            normalize_subject("SV: VS: Re: Tilbud  på rengøring"),
            "tilbud på rengøring"
        );
        assert_eq!(
            normalize_subject("Fwd: [Ekstern] Vedr.: Faktura 12"),
            "faktura 12"
        );
        assert_eq!(normalize_subject("Re[2]: Hej"), "hej");
        assert_eq!(normalize_subject("Møde: kl. 10"), "møde: kl. 10");
    }

    #[test]
    fn mbox_files_split_into_messages() {
        let mbox = b"From a@b.dk Mon Nov 16 09:00:00 2026\nFrom: a@b.dk\nSubject: 1\n\none\n>From here\n>>From there\n\n\
From c@d.dk Mon Nov 16 10:00:00 2026\nFrom: c@d.dk\nSubject: 2\n\ntwo\n";
        let messages = split_mbox(mbox);
        assert_eq!(messages.len(), 2);
        assert!(String::from_utf8_lossy(&messages[0]).contains("\nFrom here\n>From there\n"));
        assert_eq!(parse(&messages[1]).unwrap().subject, "2");
    }
}
