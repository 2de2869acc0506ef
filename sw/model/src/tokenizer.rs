//! llama2.c's `tokenizer.bin` and its encoder and decoder, identical to `run.c`'s.
//!
//! Format: `u32 max_token_length`, then per token `f32 score, i32 length, bytes`. The vocabulary
//! size is not stored: it comes from the model, and the first `vocab_size` tokens are read (a
//! 32000-token file serves a 512-token model, as in `run.c`).

use std::collections::HashMap;
use std::path::Path;

use monorail_contract::model_config::MAX_VOCAB;

use crate::error::ModelError;

/// Id of the beginning-of-sequence token.
pub const BOS: u32 = 1;
/// Id of the end-of-sequence token.
pub const EOS: u32 = 2;
/// Byte tokens `<0x00>` .. `<0xFF>` start at this id.
pub const BYTE_TOKEN_OFFSET: u32 = 3;
/// Longest token accepted in a tokenizer file (llama2.c's are at most a few dozen bytes).
pub const MAX_TOKEN_BYTES: usize = 1 << 16;

/// A loaded tokenizer.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    pieces: Vec<Vec<u8>>,
    scores: Vec<f32>,
    lookup: HashMap<Vec<u8>, u32>,
    max_token_length: usize,
}

impl Tokenizer {
    /// Read the first `vocab_size` tokens of a `tokenizer.bin`.
    pub fn load(path: &Path, vocab_size: usize) -> Result<Tokenizer, ModelError> {
        // Its header bounds its size: no larger file is read into memory.
        let file_len = crate::error::regular_file_len(path)?;
        let mut file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
        let mut header = [0u8; 4];
        // The bytes that can hold the first `vocab_size` tokens: no more is read (a checkpoint
        // given as the tokenizer is not read whole to be refused).
        let mut wanted = file_len;
        if file_len >= 4 {
            std::io::Read::read_exact(&mut file, &mut header)
                .map_err(|e| ModelError::io(path, e))?;
            // A model takes the first `vocab_size` tokens of a tokenizer that may hold more
            // (llama2.c's 32000-token tokenizer.bin serves smaller vocabularies), up to the
            // largest vocabulary a model may have.
            let max_token_length = u32::from_le_bytes(header) as u64;
            // A header no tokenizer has (a checkpoint's `ak42` magic): refused from it alone.
            if max_token_length == 0 || max_token_length as usize > MAX_TOKEN_BYTES {
                return Tokenizer::parse(&header, vocab_size)
                    .map_err(|what| ModelError::format(path, what));
            }
            let largest = 4 + MAX_VOCAB as u64 * (8 + max_token_length);
            if file_len > largest {
                return Err(ModelError::format(
                    path,
                    format!(
                        "file is {file_len} bytes, more than a tokenizer of {MAX_VOCAB} tokens \
                         of at most {max_token_length} bytes can take ({largest}): it is not a \
                         llama2.c tokenizer.bin"
                    ),
                ));
            }
            wanted = 4 + (vocab_size as u64).saturating_mul(8 + max_token_length);
        }
        let mut bytes = if file_len >= 4 {
            header.to_vec()
        } else {
            Vec::new()
        };
        std::io::Read::read_to_end(
            &mut std::io::Read::take(&mut file, wanted - bytes.len() as u64),
            &mut bytes,
        )
        .map_err(|e| ModelError::io(path, e))?;
        Tokenizer::parse(&bytes, vocab_size).map_err(|what| ModelError::format(path, what))
    }

    /// Parse tokenizer bytes; the error says what is wrong and where.
    pub fn parse(bytes: &[u8], vocab_size: usize) -> Result<Tokenizer, String> {
        let u32_at = |offset: usize| -> Option<[u8; 4]> {
            bytes
                .get(offset..offset + 4)
                .map(|b| b.try_into().expect("4 bytes"))
        };
        let max_token_length = u32_at(0)
            .map(u32::from_le_bytes)
            .ok_or("file is shorter than its 4-byte header")?
            as usize;
        if max_token_length == 0 || max_token_length > MAX_TOKEN_BYTES {
            return Err(format!(
                "max_token_length is {max_token_length}; expected 1 ..= {MAX_TOKEN_BYTES} \
                 (is this a llama2.c tokenizer.bin?)"
            ));
        }
        let mut pieces = Vec::with_capacity(vocab_size.min(bytes.len() / 8));
        let mut scores = Vec::with_capacity(pieces.capacity());
        let mut offset = 4;
        for id in 0..vocab_size {
            let (Some(score), Some(len)) = (u32_at(offset), u32_at(offset + 4)) else {
                // Bytes left over that do not make a token's header: cut short mid-token.
                return Err(if offset < bytes.len() {
                    format!(
                        "ends at byte {} inside token {id}'s header, where the model's \
                         vocabulary has {vocab_size} tokens: it is truncated",
                        bytes.len()
                    )
                } else {
                    format!(
                        "holds {id} tokens but the model's vocabulary has {vocab_size}: this \
                         tokenizer does not match the model, or is truncated"
                    )
                });
            };
            let score = f32::from_le_bytes(score);
            let len = i32::from_le_bytes(len);
            if len < 0 || len as usize > max_token_length {
                return Err(format!(
                    "token {id} at byte {offset} has length {len}, outside 0 ..= \
                     max_token_length ({max_token_length})"
                ));
            }
            let start = offset + 8;
            let piece = bytes.get(start..start + len as usize).ok_or_else(|| {
                format!(
                    "token {id} at byte {offset} runs past the end of the file: it is \
                     truncated, or does not match the model ({vocab_size} tokens needed)"
                )
            })?;
            if !score.is_finite() {
                return Err(format!(
                    "token {id} at byte {offset} has a non-finite score"
                ));
            }
            pieces.push(piece.to_vec());
            scores.push(score);
            offset = start + len as usize;
        }
        let mut lookup = HashMap::with_capacity(pieces.len());
        for (id, piece) in pieces.iter().enumerate() {
            // run.c's bsearch over a sorted vocabulary; duplicates keep the first id.
            lookup.entry(piece.clone()).or_insert(id as u32);
        }
        Ok(Tokenizer {
            pieces,
            scores,
            lookup,
            max_token_length,
        })
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        self.pieces.len()
    }

    /// The bytes of token `id`.
    pub fn piece(&self, id: u32) -> &[u8] {
        &self.pieces[id as usize]
    }

    /// The merge score of token `id`.
    pub fn score(&self, id: u32) -> f32 {
        self.scores[id as usize]
    }

    /// The longest token, in bytes.
    pub fn max_token_length(&self) -> usize {
        self.max_token_length
    }

    /// Serialise in the `tokenizer.bin` format.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = (self.max_token_length as u32).to_le_bytes().to_vec();
        for (piece, score) in self.pieces.iter().zip(&self.scores) {
            out.extend_from_slice(&score.to_le_bytes());
            out.extend_from_slice(&(piece.len() as i32).to_le_bytes());
            out.extend_from_slice(piece);
        }
        out
    }

    /// Build a tokenizer from pieces and scores (ids in order).
    pub fn from_pieces(pieces: Vec<(Vec<u8>, f32)>) -> Tokenizer {
        let mut bytes = Vec::new();
        let max = pieces
            .iter()
            .map(|(p, _)| p.len())
            .max()
            .unwrap_or(1)
            .max(1);
        bytes.extend_from_slice(&(max as u32).to_le_bytes());
        for (piece, score) in &pieces {
            bytes.extend_from_slice(&score.to_le_bytes());
            bytes.extend_from_slice(&(piece.len() as i32).to_le_bytes());
            bytes.extend_from_slice(piece);
        }
        Tokenizer::parse(&bytes, pieces.len()).expect("pieces form a valid tokenizer")
    }

    fn find(&self, piece: &[u8]) -> Option<u32> {
        self.lookup.get(piece).copied()
    }

    /// Encode `text` as `run.c` does: optional BOS, a dummy-prefix space token for non-empty
    /// text, each UTF-8 code point as a whole token or as byte tokens (`byte + 3`), then repeated
    /// merging of the adjacent pair whose merged piece has the highest score (first pair on
    /// ties), then optional EOS.
    pub fn encode(&self, text: &str, bos: bool, eos: bool) -> Result<Vec<u32>, ModelError> {
        self.encode_bytes(text.as_bytes(), bos, eos)
    }

    /// [`Tokenizer::encode`] of bytes that need not be UTF-8, as `run.c` encodes its argument:
    /// a lead byte and up to three continuation bytes a piece, whatever they spell.
    pub fn encode_bytes(&self, text: &[u8], bos: bool, eos: bool) -> Result<Vec<u32>, ModelError> {
        let mut tokens = Vec::with_capacity(text.len() + 3);
        if bos {
            tokens.push(BOS);
        }
        if !text.is_empty() {
            tokens.push(self.dummy_prefix()?);
        }
        self.push_code_points(text, &mut tokens)?;
        self.merge_pairs(&mut tokens);
        if eos {
            tokens.push(EOS);
        }
        Ok(tokens)
    }

    /// The id of `" "`, which `run.c` puts before any non-empty text.
    pub(crate) fn dummy_prefix(&self) -> Result<u32, ModelError> {
        self.find(b" ").ok_or(ModelError::NoDummyPrefix {
            vocab: self.pieces.len(),
        })
    }

    /// Append each UTF-8 code point of `text` as its own token, or as byte tokens (`byte + 3`)
    /// when the vocabulary has no such piece. A code point is what `run.c` takes for one: a
    /// byte and the continuation bytes (`10xxxxxx`) after it, at most four bytes, so that bytes
    /// that are not UTF-8 are encoded as `run.c` encodes them.
    pub(crate) fn push_code_points(
        &self,
        text: &[u8],
        tokens: &mut Vec<u32>,
    ) -> Result<(), ModelError> {
        let vocab = self.vocab_size() as u32;
        let continuation = |b: u8| b & 0xC0 == 0x80;
        let mut start = 0;
        while start < text.len() {
            let mut end = start + 1;
            while end < text.len() && end - start < 4 && continuation(text[end]) {
                end += 1;
            }
            let code_point = &text[start..end];
            match self.find(code_point) {
                Some(id) => tokens.push(id),
                None => {
                    for &b in code_point {
                        let id = b as u32 + BYTE_TOKEN_OFFSET;
                        if id >= vocab {
                            return Err(ModelError::Invalid(format!(
                                "prompt character {:?} needs byte token {id} (<0x{b:02X}>), \
                                 outside the model's vocabulary of {vocab} tokens",
                                String::from_utf8_lossy(code_point)
                            )));
                        }
                        tokens.push(id);
                    }
                }
            }
            start = end;
        }
        Ok(())
    }

    /// Merge adjacent tokens as `run.c` does: repeatedly the pair whose merged piece has the
    /// highest score (the first pair on ties). run.c searches every pair for each merge, which
    /// takes minutes for a prompt of a hundred kilobytes; here the pairs wait in a heap ordered
    /// as its search orders them (the highest score, then the leftmost), each checked when it
    /// comes out against the tokens it was made of, so the merges are the same, in the same
    /// order.
    pub(crate) fn merge_pairs(&self, tokens: &mut Vec<u32>) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        /// A pair that may merge: its score (never NaN), then the leftmost first: its left
        /// token's place, the token it merges into, and both tokens' versions when it was made.
        struct Pair(f32, Reverse<usize>, u32, u32, u32);
        impl PartialEq for Pair {
            fn eq(&self, other: &Self) -> bool {
                self.cmp(other).is_eq()
            }
        }
        impl Eq for Pair {}
        impl PartialOrd for Pair {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for Pair {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
            }
        }
        let n = tokens.len();
        // A doubly linked list over the places: the next and previous live place, each
        // place's version (bumped when its token changes or it is merged away).
        let mut next: Vec<usize> = (1..=n).collect();
        let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
        let mut version = vec![0u32; n];
        let mut merged = Vec::with_capacity(2 * self.max_token_length + 2);
        let mut heap = BinaryHeap::new();
        let mut offer = |heap: &mut BinaryHeap<Pair>, tokens: &[u32], version: &[u32], i, j| {
            merged.clear();
            merged.extend_from_slice(self.piece(tokens[i]));
            merged.extend_from_slice(self.piece(tokens[j]));
            if let Some(id) = self.find(&merged) {
                // run.c starts from a best score of -1e10 and needs a strictly higher one (so
                // never NaN); -0.0 and 0.0 tie there, as they do here once -0.0 is 0.0.
                let score = self.score(id) + 0.0;
                if score > -1e10 {
                    heap.push(Pair(score, Reverse(i), id, version[i], version[j]));
                }
            }
        };
        for i in 0..n.saturating_sub(1) {
            offer(&mut heap, tokens, &version, i, i + 1);
        }
        while let Some(Pair(_, Reverse(i), id, left_version, right_version)) = heap.pop() {
            let j = next[i];
            if j >= n || version[i] != left_version || version[j] != right_version {
                continue; // one of its tokens has merged since
            }
            tokens[i] = id;
            version[i] += 1;
            version[j] += 1;
            next[i] = next[j];
            if next[j] < n {
                prev[next[j]] = i;
            }
            if prev[i] < n {
                offer(&mut heap, tokens, &version, prev[i], i);
            }
            if next[i] < n {
                offer(&mut heap, tokens, &version, i, next[i]);
            }
        }
        // The live places, in order.
        let mut at = 0;
        let mut out = Vec::with_capacity(n);
        while at < n {
            out.push(tokens[at]);
            at = next[at];
        }
        *tokens = out;
    }

    /// The bytes that token `token` prints after `prev`, as `run.c`'s `decode`: a leading space
    /// is dropped after BOS, and `<0xXX>` pieces are raw bytes.
    pub fn decode(&self, prev: u32, token: u32) -> Vec<u8> {
        let mut piece = self.piece(token);
        if prev == BOS && piece.first() == Some(&b' ') {
            piece = &piece[1..];
        }
        if let Some(byte) = parse_byte_piece(piece) {
            return vec![byte];
        }
        piece.to_vec()
    }

    /// Decode a sequence that follows BOS into text, skipping what `run.c`'s `safe_printf` skips
    /// (lone bytes that are neither printable nor white space), except lone bytes of 0x80 and
    /// more: `safe_printf`'s `isprint` drops them in the C locale, which splits the characters
    /// a byte-fallback tokenizer spells byte by byte, and they are kept. Invalid UTF-8 becomes
    /// U+FFFD.
    pub fn decode_text(&self, tokens: &[u32]) -> String {
        let mut out = Vec::new();
        let mut prev = BOS;
        for &t in tokens {
            if t == BOS {
                break;
            }
            out.extend_from_slice(&self.text_bytes(prev, t));
            prev = t;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The bytes `token` adds to the text after `prev`, as `run.c`'s `safe_printf` prints
    /// them: [`Tokenizer::decode`]'s, or none for a lone byte that is neither printable nor
    /// whitespace (where, unlike `safe_printf` in the C locale, a byte of 0x80 and more, part of
    /// a UTF-8 character, is printable).
    pub fn text_bytes(&self, prev: u32, token: u32) -> Vec<u8> {
        let piece = self.decode(prev, token);
        let printable = match piece.as_slice() {
            [b] => b.is_ascii_graphic() || b.is_ascii_whitespace() || *b >= 0x80,
            _ => true,
        };
        if printable {
            piece
        } else {
            Vec::new()
        }
    }
}

/// `<0xXX>` -> the byte.
fn parse_byte_piece(piece: &[u8]) -> Option<u8> {
    if piece.len() == 6 && piece.starts_with(b"<0x") && piece[5] == b'>' {
        let hex = std::str::from_utf8(&piece[3..5]).ok()?;
        u8::from_str_radix(hex, 16).ok()
    } else {
        None
    }
}

/// The first pieces of every llama2.c vocabulary: `<unk>`, BOS, EOS, then the 256 byte tokens
/// `<0x00>` .. `<0xFF>`, with score 0.
pub(crate) fn base_pieces() -> Vec<(Vec<u8>, f32)> {
    let mut pieces: Vec<(Vec<u8>, f32)> = vec![
        (b"<unk>".to_vec(), 0.0),
        (b"\n<s>\n".to_vec(), 0.0),
        (b"\n</s>\n".to_vec(), 0.0),
    ];
    pieces.extend((0..=255u8).map(|b| (format!("<0x{b:02X}>").into_bytes(), 0.0)));
    pieces
}

/// Fill `pieces` up to `vocab_size` with `<unused_N>` tokens that never merge.
pub(crate) fn pad_unused(pieces: &mut Vec<(Vec<u8>, f32)>, vocab_size: usize) {
    let mut unused = 0;
    while pieces.len() < vocab_size {
        pieces.push((format!("<unused_{unused}>").into_bytes(), -1e9));
        unused += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Tokenizer {
        let mut pieces = base_pieces();
        for (p, s) in [
            (" ", -1.0),
            ("a", -2.0),
            ("b", -3.0),
            ("ab", -0.5),
            (" ab", -0.1),
        ] {
            pieces.push((p.as_bytes().to_vec(), s));
        }
        Tokenizer::from_pieces(pieces)
    }

    /// run.c's merge loop as it is written: every pair searched for each merge.
    fn merge_pairs_as_run_c(t: &Tokenizer, tokens: &mut Vec<u32>) {
        loop {
            let mut best_score = -1e10f32;
            let mut best: Option<(u32, usize)> = None;
            for i in 0..tokens.len().saturating_sub(1) {
                let merged = [t.piece(tokens[i]), t.piece(tokens[i + 1])].concat();
                if let Some(id) = t.find(&merged) {
                    if t.score(id) > best_score {
                        best_score = t.score(id);
                        best = Some((id, i));
                    }
                }
            }
            let Some((id, i)) = best else { break };
            tokens[i] = id;
            tokens.remove(i + 1);
        }
    }

    /// The heap's merges are run.c's, on tokenizers whose scores tie often (-0.0 and 0.0 among
    /// them, and scores at run.c's floor of -1e10) and on the built-in models' tokenizers.
    #[test]
    fn merges_as_run_c_searches_every_pair() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = |n: usize| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        };
        let alphabet = [b'a', b'b', b'c', b' '];
        let scores = [0.0, -0.0, -1.0, -1.0, -2.5, 3.0, -1e10, -2e10];
        let mut checked = 0;
        for _ in 0..40 {
            let mut pieces = base_pieces();
            for &c in &alphabet {
                pieces.push((vec![c], -5.0));
            }
            for _ in 0..30 {
                let piece: Vec<u8> = (0..2 + random(4)).map(|_| alphabet[random(4)]).collect();
                pieces.push((piece, scores[random(scores.len())]));
            }
            let t = Tokenizer::from_pieces(pieces);
            for _ in 0..20 {
                let text: Vec<u8> = (0..random(80)).map(|_| alphabet[random(4)]).collect();
                let mut tokens = vec![BOS, t.dummy_prefix().unwrap()];
                t.push_code_points(&text, &mut tokens).unwrap();
                let mut expected = tokens.clone();
                merge_pairs_as_run_c(&t, &mut expected);
                t.merge_pairs(&mut tokens);
                assert_eq!(tokens, expected, "{:?}", String::from_utf8_lossy(&text));
                checked += 1;
            }
        }
        for model in &crate::builtin::MODELS {
            let (_, t) = model.load().unwrap();
            let words = [
                "Once", " upon", " a", " time", ",", " Lily", "!", " é", "\n", "ab",
            ];
            for _ in 0..20 {
                let text: String = (0..random(60))
                    .map(|_| words[random(words.len())])
                    .collect();
                let mut tokens = vec![BOS, t.dummy_prefix().unwrap()];
                t.push_code_points(text.as_bytes(), &mut tokens).unwrap();
                let mut expected = tokens.clone();
                merge_pairs_as_run_c(&t, &mut expected);
                t.merge_pairs(&mut tokens);
                assert_eq!(tokens, expected, "{}: {text:?}", model.name);
                checked += 1;
            }
        }
        assert_eq!(checked, 800 + 20 * crate::builtin::MODELS.len());
    }

    #[test]
    fn encodes_with_dummy_prefix_merges_and_byte_fallback() {
        let t = tiny();
        let space = t.find(b" ").unwrap();
        let ab = t.find(b" ab").unwrap();
        assert_eq!(t.encode("ab", true, false).unwrap(), vec![BOS, ab]);
        // 'c' is not a token: byte fallback 0x63 + 3.
        assert_eq!(
            t.encode("c", true, true).unwrap(),
            vec![BOS, space, 0x63 + 3, EOS]
        );
        assert_eq!(t.encode("", true, false).unwrap(), vec![BOS]);
        // A 2-byte code point falls back to two byte tokens.
        assert_eq!(
            t.encode("é", false, false).unwrap(),
            vec![space, 0xC3 + 3, 0xA9 + 3]
        );
    }

    #[test]
    fn encodes_bytes_that_are_not_utf8_as_run_c_groups_them() {
        let t = tiny();
        let (space, a, b) = (
            t.find(b" ").unwrap(),
            t.find(b"a").unwrap(),
            t.find(b"b").unwrap(),
        );
        let byte = |b: u8| b as u32 + BYTE_TOKEN_OFFSET;
        // A lead byte takes at most three continuation bytes; an orphan continuation byte is a
        // piece of its own; neither is in the vocabulary, so each falls back to its bytes. The
        // merges then join nothing across them.
        assert_eq!(
            t.encode_bytes(b"a\xff\x80\x80\x80\x80b", false, false)
                .unwrap(),
            vec![
                space,
                a,
                byte(0xff),
                byte(0x80),
                byte(0x80),
                byte(0x80),
                byte(0x80),
                b
            ]
        );
        // UTF-8 is encoded as `encode` encodes text.
        assert_eq!(
            t.encode_bytes("é ab".as_bytes(), true, false).unwrap(),
            t.encode("é ab", true, false).unwrap()
        );
    }

    #[test]
    fn decodes_bytes_and_strips_space_after_bos() {
        let t = tiny();
        let ab = t.find(b" ab").unwrap();
        assert_eq!(t.decode(BOS, ab), b"ab");
        assert_eq!(t.decode(5, ab), b" ab");
        assert_eq!(t.decode(5, 0x41 + 3), b"A");
        assert_eq!(t.decode_text(&[ab, 0x07 + 3, ab]), "ab ab");
    }

    #[test]
    fn short_files_are_refused_with_the_reason() {
        let t = tiny();
        let bytes = t.to_bytes();
        let err = Tokenizer::parse(&bytes, t.vocab_size() + 1).unwrap_err();
        assert!(err.contains("does not match the model"), "{err}");
        let err = Tokenizer::parse(&bytes[..bytes.len() - 1], t.vocab_size()).unwrap_err();
        assert!(err.contains("runs past the end"), "{err}");
        // Cut inside the last token's header (its score, 4 bytes, and its length, 4).
        let last = t.piece(t.vocab_size() as u32 - 1).len();
        let cut = bytes.len() - last - 3;
        let err = Tokenizer::parse(&bytes[..cut], t.vocab_size()).unwrap_err();
        assert!(
            err.contains(&format!("ends at byte {cut} inside token")) && err.contains("truncated"),
            "{err}"
        );
        assert!(Tokenizer::parse(&[1, 0], 3).is_err());
    }
}
