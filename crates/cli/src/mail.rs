//! `tekup import-mail`: back-fills e-mails into renos from mbox files, single `.eml` files and
//! directories of them (Maildir's `cur/` and `new/` included), in batches that renos ingests as
//! runs of their own. Re-running an import is safe: renos recognises known messages by
//! Message-ID and counts them as duplicates.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// A batch is sent when it holds this many messages or bytes, whichever comes first (renos
/// takes up to 25 MiB per request).
const BATCH_MESSAGES: usize = 500;
const BATCH_BYTES: usize = 20 * 1024 * 1024;

/// What renos reports for one batch.
#[derive(Debug, Deserialize)]
struct Run {
    id: String,
    received: i64,
    ingested: i64,
    duplicates: i64,
    failed: i64,
    errors: Vec<RunError>,
}

#[derive(Debug, Deserialize)]
struct RunError {
    index: i64,
    message_id: Option<String>,
    reason: String,
}

/// Totals over all batches.
#[derive(Debug, Default)]
pub struct Totals {
    pub received: i64,
    pub ingested: i64,
    pub duplicates: i64,
    pub failed: i64,
}

/// Every file to read: the paths given, with directories walked (sorted, hidden files left out).
fn files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.'))
                        && !p.ends_with("tmp")
                })
                .collect();
            entries.sort();
            out.extend(files(&entries)?);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// The messages of one file: an mbox (starts with a `From ` line) holds many, anything else
/// is one message.
fn messages(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let data = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if !data.starts_with(b"From ") {
        return Ok(vec![data]);
    }
    Ok(
        mail_parser::mailbox::mbox::MessageIterator::new(data.as_slice())
            .filter_map(Result::ok)
            .map(|m| m.unwrap_contents())
            .collect(),
    )
}

/// Appends a message to an mboxrd batch: a `From ` separator, and body lines that start with
/// (quoted) `From ` quoted once more.
fn append(batch: &mut Vec<u8>, message: &[u8]) {
    batch.extend_from_slice(b"From tekup-import Thu Jan  1 00:00:00 1970\n");
    for line in message.split_inclusive(|b| *b == b'\n') {
        let quoted = line.iter().take_while(|b| **b == b'>').count();
        if line[quoted..].starts_with(b"From ") {
            batch.push(b'>');
        }
        batch.extend_from_slice(line);
    }
    if !message.ends_with(b"\n") {
        batch.push(b'\n');
    }
    batch.push(b'\n');
}

/// Imports every message under `paths` into renos at `renos_url`, as the user of `token`;
/// prints each batch's outcome and every failed message with its reason.
pub async fn import(renos_url: &str, token: &str, paths: &[PathBuf]) -> anyhow::Result<Totals> {
    let client = reqwest::Client::new();
    let url = format!("{}/v1/email/ingest", renos_url.trim_end_matches('/'));
    let mut totals = Totals::default();
    let mut batch = Vec::new();
    let mut count = 0usize;
    let mut batches = 0usize;
    let files = files(paths)?;
    eprintln!("reading {} file(s)", files.len());
    let mut send = async |batch: &mut Vec<u8>, count: &mut usize| -> anyhow::Result<()> {
        if *count == 0 {
            return Ok(());
        }
        batches += 1;
        let response = client
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/mbox")
            .body(std::mem::take(batch))
            .send()
            .await
            .with_context(|| format!("sending batch {batches} to {url}"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("batch {batches}: renos answered {status}: {body}");
        }
        let run: Run = response.json().await.context("reading renos's run")?;
        eprintln!(
            "batch {batches} (run {}): {} received, {} ingested, {} already known, {} failed",
            run.id, run.received, run.ingested, run.duplicates, run.failed
        );
        for error in &run.errors {
            eprintln!(
                "  message {} of the batch{}: {}",
                error.index + 1,
                error
                    .message_id
                    .as_deref()
                    .map(|id| format!(" <{id}>"))
                    .unwrap_or_default(),
                error.reason
            );
        }
        totals.received += run.received;
        totals.ingested += run.ingested;
        totals.duplicates += run.duplicates;
        totals.failed += run.failed;
        *count = 0;
        Ok(())
    };
    for file in &files {
        for message in messages(file)? {
            if count > 0 && batch.len() + message.len() > BATCH_BYTES {
                send(&mut batch, &mut count).await?;
            }
            append(&mut batch, &message);
            count += 1;
            if count >= BATCH_MESSAGES {
                send(&mut batch, &mut count).await?;
            }
        }
    }
    send(&mut batch, &mut count).await?;
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_quote_from_lines_so_messages_stay_whole() {
        let mut batch = Vec::new();
        append(
            &mut batch,
            b"From: a@b.dk\nSubject: x\n\nFrom here on\n>From there\n",
        );
        append(&mut batch, b"From: c@d.dk\n\nno newline");
        let split: Vec<Vec<u8>> =
            mail_parser::mailbox::mbox::MessageIterator::new(batch.as_slice())
                .map(|m| m.unwrap().unwrap_contents())
                .collect();
        assert_eq!(split.len(), 2);
        // The reader undoes the quoting: each message comes back as it was.
        assert_eq!(
            split[0],
            b"From: a@b.dk\nSubject: x\n\nFrom here on\n>From there\n\n"
        );
        assert_eq!(split[1], b"From: c@d.dk\n\nno newline\n\n");
    }
}
