//! Cutting text into overlapping chunks of bounded size.

/// Cuts `text` into chunks of at most `max_chars` characters, each starting about `overlap`
/// characters before the previous one ended, so a sentence on a boundary is whole in one of
/// them. Cuts fall after a sentence or paragraph end when one lies in the second half of the
/// window, else at a space; a single word longer than the window is cut where it must be.
/// Whitespace-only text gives no chunks.
pub fn chunk(text: &str, max_chars: usize, overlap: usize) -> Vec<String> {
    let max_chars = max_chars.max(16);
    let overlap = overlap.min(max_chars / 2);
    let chars: Vec<char> = text.chars().collect();
    let mut chunks = Vec::new();
    let mut start = skip_space(&chars, 0);
    while start < chars.len() {
        let window_end = (start + max_chars).min(chars.len());
        let end = if window_end == chars.len() {
            window_end
        } else {
            cut_point(&chars, start, window_end)
        };
        let piece: String = chars[start..end].iter().collect();
        let piece = piece.trim();
        if !piece.is_empty() {
            chunks.push(piece.to_owned());
        }
        if end >= chars.len() {
            break;
        }
        // Step back by the overlap, then forward to the start of a word.
        let mut next = end.saturating_sub(overlap).max(start + 1);
        while next < end && !chars[next - 1].is_whitespace() {
            next += 1;
        }
        start = skip_space(&chars, next);
    }
    chunks
}

fn skip_space(chars: &[char], mut at: usize) -> usize {
    while at < chars.len() && chars[at].is_whitespace() {
        at += 1;
    }
    at
}

/// Where to end a chunk that starts at `start` and may run to `window_end` (exclusive).
fn cut_point(chars: &[char], start: usize, window_end: usize) -> usize {
    let earliest = start + (window_end - start) / 2;
    let sentence = (earliest..window_end).rev().find(|&i| {
        chars[i].is_whitespace() && i > 0 && matches!(chars[i - 1], '.' | '!' | '?' | '\n')
            || chars[i] == '\n'
    });
    if let Some(i) = sentence {
        return i;
    }
    (start + 1..window_end)
        .rev()
        .find(|&i| chars[i].is_whitespace())
        .unwrap_or(window_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_chunk_and_blank_text_none() {
        assert_eq!(chunk("  Hej verden.  ", 100, 20), ["Hej verden."]);
        assert!(chunk(" \n\t ", 100, 20).is_empty());
    }

    #[test]
    fn chunks_are_bounded_overlap_and_cover_every_word() {
        let words: Vec<String> = (0..400).map(|i| format!("ord{i}")).collect();
        let text = words.join(" ");
        let chunks = chunk(&text, 120, 30);
        assert!(chunks.len() > 10);
        for c in &chunks {
            assert!(c.chars().count() <= 120, "{c}");
            assert!(!c.starts_with(' ') && !c.ends_with(' '));
        }
        for w in &words {
            let needle = format!(" {w} ");
            assert!(
                chunks.iter().any(|c| format!(" {c} ").contains(&needle)),
                "{w} is in no chunk"
            );
        }
        for pair in chunks.windows(2) {
            let last_word = pair[0].split(' ').next_back().unwrap();
            assert!(pair[1].contains(last_word), "no overlap: {pair:?}");
        }
    }

    #[test]
    fn prefers_sentence_ends() {
        let text = "Første sætning er her. Anden sætning følger lige efter og er lang nok.";
        let chunks = chunk(text, 40, 0);
        assert_eq!(chunks[0], "Første sætning er her.");
    }

    #[test]
    fn a_word_longer_than_the_window_is_cut() {
        let text = "x".repeat(50);
        let chunks = chunk(&text, 20, 5);
        assert!(chunks.iter().all(|c| c.chars().count() <= 20));
        assert_eq!(chunks[0].len(), 20);
    }
}
