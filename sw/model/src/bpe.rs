//! Training a byte-fallback BPE tokenizer in llama2.c's format, and encoding a whole corpus with
//! it quickly.
//!
//! The vocabulary is llama2.c's layout: `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then every
//! character of the corpus, then the merges in the order they were learnt, scored so that
//! [`Tokenizer::encode`] (`run.c`'s greedy highest-score merging) applies them in that order.
//! Merges never cross a pre-token (a word with its leading space, or one punctuation mark), so a
//! text can be encoded pre-token by pre-token with a cache and gives exactly the tokens that
//! `run.c` gives for the whole text: [`CorpusEncoder`] does that, and its tests check it.

use std::collections::HashMap;

use crate::error::ModelError;
use crate::tokenizer::{base_pieces, pad_unused, Tokenizer, BOS};

/// Split text into pre-tokens: an optional single space followed by a run of ASCII letters and
/// apostrophes, or an optional single space followed by one other character.
pub fn pretokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphabetic() || b == b'\'';
    let mut i = 0;
    while i < text.len() {
        let start = i;
        if bytes[i] == b' ' && i + 1 < text.len() && bytes[i + 1] != b' ' {
            i += 1;
        }
        if is_word(bytes[i]) {
            while i < text.len() && is_word(bytes[i]) {
                i += 1;
            }
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
        out.push(&text[start..i]);
    }
    out
}

/// Learn a tokenizer of exactly `vocab_size` tokens from `texts` (each encoded as `run.c` would,
/// with its dummy-prefix space). Merges are chosen by pair frequency, ties broken by the merged
/// bytes, so the same texts always give the same tokenizer; when no pair occurs twice any more,
/// the rest is padded with `<unused_N>` tokens.
pub fn train<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    vocab_size: usize,
) -> Result<Tokenizer, ModelError> {
    let mut word_counts: HashMap<String, u64> = HashMap::new();
    for text in texts {
        if text.is_empty() {
            continue;
        }
        let prefixed = format!(" {text}");
        for word in pretokens(&prefixed) {
            *word_counts.entry(word.to_string()).or_default() += 1;
        }
    }
    let mut char_counts: HashMap<char, u64> = HashMap::new();
    for (word, count) in &word_counts {
        for ch in word.chars() {
            *char_counts.entry(ch).or_default() += count;
        }
    }
    let mut chars: Vec<(char, u64)> = char_counts.into_iter().collect();
    chars.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let mut pieces = base_pieces();
    let needed = pieces.len() + chars.len();
    if vocab_size < needed {
        return Err(ModelError::Invalid(format!(
            "a vocabulary of {vocab_size} tokens cannot hold the 3 special tokens, 256 bytes and \
             the corpus's {} distinct characters; use at least {needed}",
            chars.len()
        )));
    }
    let mut lookup: HashMap<Vec<u8>, u32> = HashMap::new();
    for (ch, _) in &chars {
        let piece = ch.to_string().into_bytes();
        lookup.insert(piece.clone(), pieces.len() as u32);
        pieces.push((piece, 0.0));
    }
    // Word types as token sequences, most frequent first (the order does not change the result).
    let mut words: Vec<(Vec<u32>, u64)> = word_counts
        .into_iter()
        .map(|(word, count)| {
            let ids = word
                .chars()
                .map(|ch| lookup[ch.to_string().as_bytes()])
                .collect();
            (ids, count)
        })
        .collect();
    words.sort();
    let mut merges = 0u32;
    while pieces.len() < vocab_size {
        let mut pair_counts: HashMap<(u32, u32), u64> = HashMap::new();
        for (ids, count) in &words {
            for pair in ids.windows(2) {
                *pair_counts.entry((pair[0], pair[1])).or_default() += count;
            }
        }
        let merged_bytes = |&(a, b): &(u32, u32)| -> Vec<u8> {
            [
                pieces[a as usize].0.as_slice(),
                pieces[b as usize].0.as_slice(),
            ]
            .concat()
        };
        let Some((&pair, &count)) = pair_counts.iter().max_by(|x, y| {
            x.1.cmp(y.1)
                .then_with(|| merged_bytes(y.0).cmp(&merged_bytes(x.0)))
        }) else {
            break;
        };
        if count < 2 {
            break;
        }
        let bytes = merged_bytes(&pair);
        let id = match lookup.get(&bytes) {
            Some(&id) => id,
            None => {
                merges += 1;
                let id = pieces.len() as u32;
                lookup.insert(bytes.clone(), id);
                // Earlier merges score higher, so run.c's encoder applies them first.
                pieces.push((bytes, -(merges as f32)));
                id
            }
        };
        for (ids, _) in &mut words {
            let mut i = 0;
            while i + 1 < ids.len() {
                if (ids[i], ids[i + 1]) == pair {
                    ids[i] = id;
                    ids.remove(i + 1);
                }
                i += 1;
            }
        }
    }
    pad_unused(&mut pieces, vocab_size);
    Ok(Tokenizer::from_pieces(pieces))
}

/// Encodes many texts as `run.c` does, pre-token by pre-token with a cache: for a tokenizer from
/// [`train`] the tokens equal [`Tokenizer::encode`]'s, at a small fraction of its cost on long
/// texts.
pub struct CorpusEncoder<'a> {
    tokenizer: &'a Tokenizer,
    cache: HashMap<String, Vec<u32>>,
}

impl<'a> CorpusEncoder<'a> {
    /// An encoder with an empty cache.
    pub fn new(tokenizer: &'a Tokenizer) -> CorpusEncoder<'a> {
        CorpusEncoder {
            tokenizer,
            cache: HashMap::new(),
        }
    }

    /// Append the tokens of `text` (BOS first when `bos`) to `out`.
    pub fn encode_into(
        &mut self,
        text: &str,
        bos: bool,
        out: &mut Vec<u32>,
    ) -> Result<(), ModelError> {
        if bos {
            out.push(BOS);
        }
        if text.is_empty() {
            return Ok(());
        }
        // run.c's dummy prefix is the " " token, which merges like the text's own spaces.
        self.tokenizer.dummy_prefix()?;
        let prefixed = format!(" {text}");
        for word in pretokens(&prefixed) {
            if let Some(ids) = self.cache.get(word) {
                out.extend_from_slice(ids);
                continue;
            }
            let mut ids = Vec::with_capacity(word.len());
            self.tokenizer.push_code_points(word.as_bytes(), &mut ids)?;
            self.tokenizer.merge_pairs(&mut ids);
            out.extend_from_slice(&ids);
            self.cache.insert(word.to_string(), ids);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{Split, StoryGenerator};

    #[test]
    fn pretokens_keep_one_leading_space_and_split_punctuation() {
        assert_eq!(
            pretokens(" Tim said, \"Yes!\"  ok"),
            [" Tim", " said", ",", " \"", "Yes", "!", "\"", " ", " ok"]
        );
    }

    #[test]
    fn the_corpus_encoder_gives_run_c_s_tokens_and_training_is_deterministic() {
        let mut generator = StoryGenerator::new(3, Split::Train);
        let stories: Vec<String> = (0..300).map(|_| generator.story()).collect();
        let tokenizer = train(stories.iter().map(String::as_str), 512).unwrap();
        let again = train(stories.iter().map(String::as_str), 512).unwrap();
        assert_eq!(tokenizer.to_bytes(), again.to_bytes());
        assert_eq!(tokenizer.vocab_size(), 512);

        let mut heldout = StoryGenerator::new(3, Split::Heldout);
        let mut encoder = CorpusEncoder::new(&tokenizer);
        for _ in 0..50 {
            let story = heldout.story();
            let mut fast = Vec::new();
            encoder.encode_into(&story, true, &mut fast).unwrap();
            assert_eq!(fast, tokenizer.encode(&story, true, false).unwrap());
            assert_eq!(tokenizer.decode_text(&fast[1..]), story);
            // The merges compress: fewer than half as many tokens as characters.
            assert!(fast.len() * 2 < story.len(), "{} tokens", fast.len());
        }
        // Text outside the corpus's characters falls back to bytes and still round-trips.
        let odd = "Tim met 42 owls; Zed ran (fast).";
        let mut fast = Vec::new();
        encoder.encode_into(odd, true, &mut fast).unwrap();
        assert_eq!(fast, tokenizer.encode(odd, true, false).unwrap());
        assert_eq!(tokenizer.decode_text(&fast[1..]), odd);
    }

    #[test]
    fn too_small_a_vocabulary_is_refused() {
        let error = train(["abc def"], 260).unwrap_err().to_string();
        assert!(error.contains("at least 266"), "{error}");
    }
}
