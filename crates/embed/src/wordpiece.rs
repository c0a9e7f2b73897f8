//! BERT's uncased WordPiece tokenizer, as `tokenizer.json` of all-MiniLM-L6-v2 configures it:
//! the BERT normaliser (clean text, spaces around CJK ideographs, lowercase, accents stripped),
//! the BERT pre-tokenizer (split on whitespace and punctuation), greedy longest-match WordPiece
//! with `##` continuations, and `[CLS] … [SEP]` around the result.

use std::collections::HashMap;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Words longer than this (in characters) become `[UNK]`, as in BERT.
const MAX_WORD_CHARS: usize = 100;

pub struct WordPiece {
    vocab: HashMap<String, u32>,
    unk: u32,
    cls: u32,
    sep: u32,
}

impl WordPiece {
    /// The vocabulary of `vocab.txt`: one token per line, its id the line number.
    pub fn from_vocab(text: &str) -> Result<Self, String> {
        let vocab: HashMap<String, u32> = text
            .lines()
            .enumerate()
            .map(|(id, token)| (token.to_owned(), id as u32))
            .collect();
        let id = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| format!("the vocabulary has no {token}"))
        };
        Ok(Self {
            unk: id("[UNK]")?,
            cls: id("[CLS]")?,
            sep: id("[SEP]")?,
            vocab,
        })
    }

    /// Token ids of `text`, `[CLS]` first and `[SEP]` last, at most `max_len` in all.
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = vec![self.cls];
        'words: for word in pre_tokenize(&normalize(text)) {
            for id in self.word_pieces(&word) {
                if ids.len() + 1 >= max_len {
                    break 'words;
                }
                ids.push(id);
            }
        }
        ids.push(self.sep);
        ids
    }

    fn word_pieces(&self, word: &str) -> Vec<u32> {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD_CHARS {
            return vec![self.unk];
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let mut piece: String = chars[start..end].iter().collect();
                if start > 0 {
                    piece.insert_str(0, "##");
                }
                if let Some(&id) = self.vocab.get(&piece) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => pieces.push(id),
                // One unknown piece makes the whole word unknown.
                None => return vec![self.unk],
            }
            start = end;
        }
        pieces
    }
}

fn normalize(text: &str) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{fffd}' || (c.is_control() && !is_whitespace(c)) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_cjk(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    // Accents are stripped (NFD, combining marks dropped) as part of lowercasing: "å" becomes
    // "a", while "æ" and "ø", which have no decomposition, stay.
    cleaned
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

fn pre_tokenize(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_whitespace() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        } else if is_punctuation(c) {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            words.push(c.to_string());
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

fn is_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r') || c.is_whitespace()
}

/// ASCII punctuation (BERT counts `$`, `+`, `^` and the like as punctuation) and the Unicode
/// punctuation blocks.
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c,
            '\u{a1}' | '\u{a7}' | '\u{ab}' | '\u{b6}' | '\u{b7}' | '\u{bb}' | '\u{bf}'
            | '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{205e}' | '\u{3001}'..='\u{3003}'
            | '\u{3008}'..='\u{3011}' | '\u{ff01}'..='\u{ff0f}')
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer() -> WordPiece {
        let vocab = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "quick", "fox", ".", "run", "##ning", "ra",
            "##ad", "a", ",", "##r", "##hus",
        ]
        .join("\n");
        WordPiece::from_vocab(&vocab).unwrap()
    }

    #[test]
    fn splits_words_punctuation_and_pieces() {
        let t = tokenizer();
        assert_eq!(
            t.encode("The QUICK, fox running.", 64),
            [2, 4, 5, 13, 6, 8, 9, 7, 3]
        );
    }

    #[test]
    fn strips_accents_and_marks_unknown_words() {
        let t = tokenizer();
        // "Århus" → "arhus" → a ##r ##hus; "ræd" has no pieces for "æ": unknown.
        assert_eq!(t.encode("Århus ræd", 64), [2, 12, 14, 15, 1, 3]);
    }

    #[test]
    fn truncates_keeping_the_separator() {
        let t = tokenizer();
        assert_eq!(t.encode("the the the the", 4), [2, 4, 4, 3]);
        assert_eq!(t.encode("", 4), [2, 3]);
    }
}
