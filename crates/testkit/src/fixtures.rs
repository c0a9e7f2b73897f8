//! Real-world-shaped inputs of the outside world: a WotNot webhook batch and e-mails.

use serde_json::json;

/// WotNot's documented conversation_create (its example, with our visitor's variables), then
/// the visitor's complaint, the bot's answer, a label and an agent's note.
pub fn wotnot_batch() -> String {
    json!({"events": [
        {"event": {"type": "conversation_create", "payload": {
            "assigned_to_user": {"email": "bot@rendetalje.dk", "id": "8181", "type": "bot"},
            "created_at": "2026-11-16 09:00:00.236411",
            "title": "Visitor - A27187",
            "bot_id": 8861,
            "channel": {"name": 1, "provider": 0},
            "is_new_visitor": false,
            "is_closed": 0,
            "external_key": "7f984da9a15b4bceb512ecad8ca461051693283267",
            "browser": "Chrome 116 (116.0.0.0)",
            "variables": [
                {"type": "text", "name": "global_channel_name", "value": "WEB"},
                {"type": "text", "name": "conversation_url", "value": "https://app.wotnot.io/account/476/live-chat/bot/8861/conversations/unassigned/7f984da9a15b4bceb512ecad8ca461051693283267"},
                {"type": "text", "name": "contact_id", "value": "a569015fa03d41a283ed4c66c4601966"},
                {"type": "text", "name": "visitor_name", "value": "Søren Ørsted"},
                {"type": "text", "name": "email", "value": "Soren@Fjordbyg.dk"}
            ]}}},
        {"event": {"type": "message", "payload": {
            "external_key": "7f984da9a15b4bceb512ecad8ca461051693283267",
            "created_at": "2026-11-16 09:01:10.000000",
            "message": {"id": "m1", "text": "Vi er meget utilfredse med vinduespudsningen i går. Der var striber på alle ruderne og vindueskarmene var beskidte.",
                        "sender": {"type": "visitor"}}}}},
        {"event": {"type": "message", "payload": {
            "external_key": "7f984da9a15b4bceb512ecad8ca461051693283267",
            "created_at": "2026-11-16 09:01:12.000000",
            "message": {"id": "m2", "text": "Det er vi kede af at høre. En medarbejder kontakter dig i dag.",
                        "sender": {"type": "bot"}}}}},
        {"event": {"type": "label", "payload": {
            "external_key": "7f984da9a15b4bceb512ecad8ca461051693283267",
            "created_at": "2026-11-16 09:02:00.000000",
            "label": {"name": "Klage"}}}},
        {"event": {"type": "note", "payload": {
            "external_key": "7f984da9a15b4bceb512ecad8ca461051693283267",
            "created_at": "2026-11-16 09:03:00.000000",
            "note": {"text": "Ring til Søren før kl. 12."}}}}
    ]})
    .to_string()
}

/// Søren asks for a quote: multipart/mixed with an ISO-8859-1 quoted-printable text part, an
/// HTML alternative and a PDF attachment.
pub const QUOTE_REQUEST: &str = "From: =?utf-8?q?S=C3=B8ren_=C3=98rsted?= <soren@fjordbyg.dk>\r\n\
To: kontakt@rendetalje.dk\r\n\
Subject: =?iso-8859-1?Q?Tilbud_p=E5_reng=F8ring?=\r\n\
Message-ID: <quote-1@fjordbyg.dk>\r\n\
Date: Mon, 16 Nov 2026 10:15:00 +0100\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=\"inner\"\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=\"iso-8859-1\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Hej Rendetalje,\r\n\
\r\n\
Vi =F8nsker et tilbud p=E5 ugentlig reng=F8ring af vores kontor p=E5 250 m2 i =\r\n\
=C5rhus. Plantegningen er vedh=E6ftet.\r\n\
\r\n\
Venlig hilsen\r\n\
S=F8ren =D8rsted, Fjordbyg ApS\r\n\
--inner\r\n\
Content-Type: text/html; charset=\"utf-8\"\r\n\
\r\n\
<p>Hej Rendetalje,</p><p>Vi ønsker et tilbud på ugentlig rengøring.</p>\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/pdf; name=\"plantegning.pdf\"\r\n\
Content-Disposition: attachment; filename=\"plantegning.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--outer--\r\n";

/// Messages as an mbox file (what renos's e-mail ingestion reads).
pub fn mbox(messages: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    for message in messages {
        out.push_str("From MAILER-DAEMON Mon Nov 16 10:00:00 2026\n");
        out.push_str(&message.replace("\r\n", "\n"));
        out.push('\n');
    }
    out.into_bytes()
}
