//! The project's own training language: seeded stories from a small grammar, and the checker that
//! tells whether a sentence belongs to that grammar.
//!
//! A model trained on text it can read back says whether the integer numerics keep its behaviour:
//! the float model and the golden model both write stories, and [`Checker`] counts how many of
//! their sentences are grammatical. The generator and the checker read the same [`STEPS`] table,
//! so the language is defined once.
//!
//! A story has a hero and a friend. Sentences refer to them by name and by pronoun (`he`, `his`,
//! `him` or `she`, `her`), so a sentence is grammatical only when its words fit one of the
//! templates *and* its names and pronouns agree with the characters the story introduced before:
//! attention has to carry the hero's name and gender across sentences.

use std::path::Path;

use crate::bpe::{self, CorpusEncoder};
use crate::checkpoint::write_atomically;
use crate::error::ModelError;
use crate::synth::SplitMix64;

/// Names of female characters.
pub const GIRL_NAMES: [&str; 8] = ["Lily", "Sue", "Anna", "Mia", "Emma", "Lucy", "Zoe", "Kate"];
/// Names of male characters.
pub const BOY_NAMES: [&str; 8] = ["Tim", "Ben", "Max", "Sam", "Tom", "Jack", "Leo", "Bob"];
/// Kinds of character that fit either gender.
pub const ANIMAL_KINDS: [&str; 6] = ["dog", "cat", "bunny", "bird", "bear", "duck"];
/// Adjectives of characters.
pub const CHARACTER_ADJECTIVES: [&str; 6] = ["little", "happy", "kind", "small", "brave", "shy"];
/// Things the characters find and share.
pub const OBJECTS: [&str; 12] = [
    "ball", "kite", "box", "hat", "cake", "book", "toy", "flower", "apple", "boat", "drum", "car",
];
/// Adjectives of things.
pub const OBJECT_ADJECTIVES: [&str; 8] =
    ["red", "big", "blue", "shiny", "old", "new", "green", "soft"];
/// Places.
pub const PLACES: [&str; 8] = [
    "park", "garden", "forest", "beach", "farm", "river", "hill", "meadow",
];
/// Feelings, good or bad.
pub const FEELINGS: [&str; 8] = [
    "happy",
    "sad",
    "scared",
    "tired",
    "proud",
    "excited",
    "surprised",
    "sleepy",
];
/// Good feelings, for endings.
pub const GOOD_FEELINGS: [&str; 4] = ["happy", "glad", "proud", "excited"];

/// The story's skeleton: one step after another, each a list of alternative sentence templates
/// (a step whose list holds `""` may be left out). Slots: `{H}` and `{F}` are the hero's and the
/// friend's names; `{H:he}`, `{H:He}`, `{H:his}`, `{H:His}`, `{H:him}` their pronouns;
/// `{H:kind}` what they are (`girl` and `boy` fix the gender); `{cadj}` an adjective of a
/// character, `{obj}` a thing, `{adj}` an adjective of a thing, `{place}`, `{feel}`, `{good}`.
pub const STEPS: [&[&str]; 10] = [
    &[
        "Once upon a time, there was a {cadj} {H:kind} named {H}.",
        "Once upon a time, there was a {H:kind} named {H}.",
    ],
    &[
        "{H:He} lived in a {adj} house near the {place}.",
        "{H:He} liked to play in the {place}.",
        "{H:He} loved {H:his} {adj} {obj}.",
        "",
    ],
    &[
        "One day, {H} went to the {place}.",
        "One day, {H:he} went to the {place} with {H:his} mom.",
        "One day, {H} and {H:his} dad walked to the {place}.",
    ],
    &[
        "{H:He} saw a {adj} {obj} under a tree.",
        "There, {H:he} found a {adj} {obj}.",
        "{H} found a {obj} in the {place}.",
    ],
    &[
        "{H} was very {feel}.",
        "{H:He} felt {feel}.",
        "{H:He} was {feel} and sat down.",
        "",
    ],
    &[
        "Then {H:he} met a {F:kind} named {F}.",
        "Soon, a {cadj} {F:kind} named {F} came by.",
    ],
    &[
        "{F} said, \"Can I play with your {obj}?\"",
        "{F} asked, \"What is that, {H}?\"",
        "{F} looked at the {obj} and smiled.",
    ],
    &[
        "{H} said, \"Yes, we can play together!\"",
        "{H} said, \"No, it is my {obj}!\"",
        "{H:He} smiled and said, \"Yes, you can.\"",
        "{H:He} gave {F:him} the {obj}.",
    ],
    &[
        "They played with the {obj} all day.",
        "{H} and {F} ran to the {place}.",
        "{F} helped {H:him} carry the {obj}.",
        "{F:He} thanked {H} and hugged {H:him}.",
        "{H} shared {H:his} {obj} with {F}.",
        "{F} told {H} about {F:his} {adj} {obj}.",
    ],
    &[
        "In the end, {H} and {F} were very {good}.",
        "{H} was {good} to have a new friend.",
        "{F} hugged {H} and said, \"Thank you, {H}!\"",
        "From that day on, {H} and {F} were best friends.",
    ],
];

/// A character's grammatical gender, which its pronouns must agree with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    /// `she`, `her`.
    Female,
    /// `he`, `his`, `him`.
    Male,
}

impl Gender {
    fn of_name(name: &str) -> Option<Gender> {
        if GIRL_NAMES.contains(&name) {
            Some(Gender::Female)
        } else if BOY_NAMES.contains(&name) {
            Some(Gender::Male)
        } else {
            None
        }
    }

    /// The pronoun of `form` (`he`, `He`, `his`, `His`, `him`) for this gender.
    fn pronoun(self, form: &str) -> Option<&'static str> {
        Some(match (self, form) {
            (Gender::Male, "he") => "he",
            (Gender::Male, "He") => "He",
            (Gender::Male, "his") => "his",
            (Gender::Male, "His") => "His",
            (Gender::Male, "him") => "him",
            (Gender::Female, "he") => "she",
            (Gender::Female, "He") => "She",
            (Gender::Female, "his") | (Gender::Female, "him") => "her",
            (Gender::Female, "His") => "Her",
            _ => return None,
        })
    }
}

/// The two characters of a story, by slot letter (`H`, then `F`).
#[derive(Clone, Debug, Default, PartialEq)]
struct Cast {
    /// Per character: the name once known, and the gender once known (a pronoun may tell it
    /// before the name does).
    roles: [(Option<String>, Option<Gender>); 2],
}

fn role_index(letter: &str) -> Option<usize> {
    match letter {
        "H" => Some(0),
        "F" => Some(1),
        _ => None,
    }
}

/// Split text into words and the punctuation `, . ! ? "`; anything else is kept as its own
/// token, which no template matches.
fn lex(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (i, ch) in text.char_indices() {
        if ch.is_ascii_alphabetic() || (ch == '\'' && start.is_some()) {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            tokens.push(&text[s..i]);
        }
        if !ch.is_whitespace() {
            tokens.push(&text[i..i + ch.len_utf8()]);
        }
    }
    if let Some(s) = start {
        tokens.push(&text[s..]);
    }
    tokens
}

/// Split text into sentences: a sentence ends at `.`, `!` or `?` outside quotes, or at the quote
/// that closes right after one. Returns the complete sentences (as their words) and whether text
/// was left over after the last one.
pub fn sentences(text: &str) -> (Vec<Vec<&str>>, bool) {
    let tokens = lex(text);
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut in_quote = false;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        current.push(token);
        if token == "\"" {
            in_quote = !in_quote;
        } else if matches!(token, "." | "!" | "?") {
            if !in_quote {
                out.push(std::mem::take(&mut current));
            } else if tokens.get(i + 1) == Some(&"\"") {
                current.push("\"");
                in_quote = false;
                i += 1;
                out.push(std::mem::take(&mut current));
            }
        }
        i += 1;
    }
    (out, !current.is_empty())
}

/// Checks sentences against the grammar, story by story: names and pronouns must agree with the
/// characters introduced by the sentences checked before.
#[derive(Clone, Debug, Default)]
pub struct Checker {
    cast: Cast,
}

impl Checker {
    /// A checker at the start of a story.
    pub fn new() -> Checker {
        Checker::default()
    }

    /// Whether the sentence `words` (from [`sentences`]) is grammatical here; if it is, the
    /// characters it introduces are remembered for the sentences after it.
    pub fn check(&mut self, words: &[&str]) -> bool {
        for template in STEPS.iter().flat_map(|alternatives| alternatives.iter()) {
            if template.is_empty() {
                continue;
            }
            let mut cast = self.cast.clone();
            if matches_template(template, words, &mut cast) {
                self.cast = cast;
                return true;
            }
        }
        false
    }
}

fn matches_template(template: &str, words: &[&str], cast: &mut Cast) -> bool {
    let slots = lex_template(template);
    if slots.len() != words.len() {
        return false;
    }
    slots
        .iter()
        .zip(words)
        .enumerate()
        .all(|(i, (slot, word))| {
            if *slot == "a" {
                // The article agrees with the word after it.
                words
                    .get(i + 1)
                    .is_some_and(|next| *word == article_before(next))
            } else {
                matches_slot(slot, word, cast)
            }
        })
}

/// `an` before a vowel, `a` otherwise (the templates' only article is `a`).
fn article_before(next: &str) -> &'static str {
    if next.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// A template's tokens: literal words and punctuation, and slots kept whole (`{H:his}`).
fn lex_template(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.extend(lex(&rest[..open]));
        let close = open + rest[open..].find('}').expect("slots close");
        out.push(&rest[open..=close]);
        rest = &rest[close + 1..];
    }
    out.extend(lex(rest));
    out
}

fn matches_slot(slot: &str, word: &str, cast: &mut Cast) -> bool {
    let Some(inner) = slot.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
        return slot == word;
    };
    let in_list = |list: &[&str]| list.contains(&word);
    match inner {
        "cadj" => in_list(&CHARACTER_ADJECTIVES),
        "obj" => in_list(&OBJECTS),
        "adj" => in_list(&OBJECT_ADJECTIVES),
        "place" => in_list(&PLACES),
        "feel" => in_list(&FEELINGS),
        "good" => in_list(&GOOD_FEELINGS),
        _ => {
            let (letter, form) = inner.split_once(':').unwrap_or((inner, "name"));
            let Some(role) = role_index(letter) else {
                return false;
            };
            matches_character(role, form, word, cast)
        }
    }
}

fn matches_character(role: usize, form: &str, word: &str, cast: &mut Cast) -> bool {
    let other = 1 - role;
    let (name, gender) = cast.roles[role].clone();
    match form {
        "name" => {
            let Some(word_gender) = Gender::of_name(word) else {
                return false;
            };
            let taken_by_other = cast.roles[other].0.as_deref() == Some(word);
            let fits = match &name {
                Some(known) => known == word,
                None => gender.is_none_or(|g| g == word_gender) && !taken_by_other,
            };
            if fits {
                cast.roles[role] = (Some(word.to_string()), Some(word_gender));
            }
            fits
        }
        "kind" => match word {
            "girl" | "boy" => {
                let kind_gender = if word == "girl" {
                    Gender::Female
                } else {
                    Gender::Male
                };
                let fits = gender.is_none_or(|g| g == kind_gender);
                if fits {
                    cast.roles[role].1 = Some(kind_gender);
                }
                fits
            }
            _ => ANIMAL_KINDS.contains(&word),
        },
        _ => {
            let genders = [Gender::Female, Gender::Male];
            let Some(word_gender) = genders
                .into_iter()
                .filter(|g| gender.is_none_or(|known| known == *g))
                .find(|g| g.pronoun(form) == Some(word))
            else {
                return false;
            };
            cast.roles[role].1 = Some(word_gender);
            true
        }
    }
}

/// Which part of the corpus to generate: the two come from separate streams of one seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// The stories a model is trained on.
    Train,
    /// Stories kept out of training, for measuring.
    Heldout,
}

/// Longest story, in bytes: with the built-in tokenizer (about 2.9 bytes a token) a whole story
/// and its BOS fit the 128 positions that the `ulx3s-85f` core holds for the built-in model.
pub const MAX_STORY_BYTES: usize = 300;

/// A seeded stream of stories.
pub struct StoryGenerator {
    rng: SplitMix64,
}

impl StoryGenerator {
    /// The stories of `split` for `seed`; the same seed and split always give the same stories.
    pub fn new(seed: u64, split: Split) -> StoryGenerator {
        let stream = match split {
            Split::Train => 0x7472_6169_6E00_0000,   // "train"
            Split::Heldout => 0x6865_6C64_6F75_7400, // "heldout"
        };
        StoryGenerator {
            rng: SplitMix64(seed ^ stream),
        }
    }

    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[(self.rng.next_u64() % list.len() as u64) as usize]
    }

    /// The next story: one line of sentences separated by spaces, at most [`MAX_STORY_BYTES`]
    /// long (longer draws are dropped).
    pub fn story(&mut self) -> String {
        self.story_sentences().join(" ")
    }

    /// The next story, as its sentences.
    pub fn story_sentences(&mut self) -> Vec<String> {
        loop {
            let sentences = self.draw();
            let bytes = sentences.iter().map(|s| s.len() + 1).sum::<usize>() - 1;
            if bytes <= MAX_STORY_BYTES {
                return sentences;
            }
        }
    }

    fn draw(&mut self) -> Vec<String> {
        let hero_gender = if self.rng.next_u64() % 2 == 0 {
            Gender::Female
        } else {
            Gender::Male
        };
        let friend_gender = if self.rng.next_u64() % 2 == 0 {
            Gender::Female
        } else {
            Gender::Male
        };
        let names = |g: Gender| -> &'static [&'static str] {
            match g {
                Gender::Female => &GIRL_NAMES,
                Gender::Male => &BOY_NAMES,
            }
        };
        let hero = self.pick(names(hero_gender));
        let mut friend = self.pick(names(friend_gender));
        while friend == hero {
            friend = self.pick(names(friend_gender));
        }
        let kind = |generator: &mut StoryGenerator, g: Gender| -> &'static str {
            if generator.rng.next_u64() % 2 == 0 {
                if g == Gender::Female {
                    "girl"
                } else {
                    "boy"
                }
            } else {
                generator.pick(&ANIMAL_KINDS)
            }
        };
        let cast = [
            (hero, hero_gender, kind(self, hero_gender)),
            (friend, friend_gender, kind(self, friend_gender)),
        ];
        // The thing and the place stay the same through a story.
        let (obj, adj, place) = (
            self.pick(&OBJECTS),
            self.pick(&OBJECT_ADJECTIVES),
            self.pick(&PLACES),
        );
        let mut sentences = Vec::with_capacity(STEPS.len());
        for alternatives in STEPS {
            let template = self.pick(alternatives);
            if template.is_empty() {
                continue;
            }
            let mut sentence = String::with_capacity(template.len() + 16);
            let mut rest = template;
            while let Some(open) = rest.find('{') {
                sentence.push_str(&rest[..open]);
                let close = open + rest[open..].find('}').expect("slots close");
                let inner = &rest[open + 1..close];
                let word = match inner {
                    "cadj" => self.pick(&CHARACTER_ADJECTIVES),
                    "obj" => obj,
                    "adj" => adj,
                    "place" => place,
                    "feel" => self.pick(&FEELINGS),
                    "good" => self.pick(&GOOD_FEELINGS),
                    _ => {
                        let (letter, form) = inner.split_once(':').unwrap_or((inner, "name"));
                        let (name, gender, kind) = cast[role_index(letter).expect("H or F")];
                        match form {
                            "name" => name,
                            "kind" => kind,
                            _ => gender.pronoun(form).expect("a pronoun form"),
                        }
                    }
                };
                sentence.push_str(word);
                rest = &rest[close + 1..];
            }
            sentence.push_str(rest);
            // "a" becomes "an" before a vowel ("an old box", "an apple").
            let words: Vec<&str> = sentence.split(' ').collect();
            let fixed: Vec<&str> = words
                .iter()
                .enumerate()
                .map(|(i, &w)| match (w, words.get(i + 1)) {
                    ("a", Some(next)) => article_before(next),
                    _ => w,
                })
                .collect();
            sentences.push(fixed.join(" "));
        }
        sentences
    }
}

/// Words back into text: no space before punctuation or a closing quote, none after an opening
/// quote.
fn detokenize(words: &[&str]) -> String {
    let mut out = String::new();
    let mut open_quote = false;
    for (i, word) in words.iter().enumerate() {
        let closing = *word == "\"" && open_quote;
        let tight = matches!(*word, "," | "." | "!" | "?") || closing;
        let after_opening = i > 0 && words[i - 1] == "\"" && open_quote && !closing;
        if i > 0 && !tight && !after_opening {
            out.push(' ');
        }
        out.push_str(word);
        if *word == "\"" {
            open_quote = !open_quote;
        }
    }
    out
}

/// The complete sentences of `text` after its first `skip` (a prompt's, which set up the
/// characters), each with whether it is grammatical in the story so far.
pub fn judge_sentences(text: &str, skip: usize) -> Vec<(String, bool)> {
    let (all, _) = sentences(text);
    let mut checker = Checker::new();
    let mut judged = Vec::with_capacity(all.len().saturating_sub(skip));
    for (i, words) in all.iter().enumerate() {
        let ok = checker.check(words);
        if i >= skip {
            judged.push((detokenize(words), ok));
        }
    }
    judged
}

/// Most stories a split may have (a story is at most 300 bytes and about 100 tokens).
pub const MAX_STORIES: usize = 5_000_000;

/// What [`write_dataset`] wrote.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DatasetSummary {
    /// The generator's seed.
    pub seed: u64,
    /// Tokens of the tokenizer.
    pub vocab_size: usize,
    /// Stories in `train.txt`.
    pub train_stories: usize,
    /// Stories in `heldout.txt`.
    pub heldout_stories: usize,
    /// Tokens in `train.u16`, BOS tokens included.
    pub train_tokens: usize,
    /// Tokens in `heldout.u16`, BOS tokens included.
    pub heldout_tokens: usize,
    /// Bytes of text per token in the train split (BOS tokens not counted).
    pub bytes_per_token: f64,
}

/// Write a training set into `dir`: `train.txt` and `heldout.txt` (a story per line),
/// `tokenizer.bin` (trained on the train split), `train.u16` and `heldout.u16` (token ids,
/// little-endian `u16`, a BOS before every story, as llama2.c's pretokenised shards) and
/// `dataset.json` (this summary).
pub fn write_dataset(
    dir: &Path,
    seed: u64,
    train_stories: usize,
    heldout_stories: usize,
    vocab_size: usize,
) -> Result<DatasetSummary, ModelError> {
    for (what, n) in [("train", train_stories), ("held-out", heldout_stories)] {
        if n == 0 || n > MAX_STORIES {
            return Err(ModelError::Invalid(format!(
                "{what} stories: {n}; give 1 ..= {MAX_STORIES}"
            )));
        }
    }
    if vocab_size > 1 << 16 {
        return Err(ModelError::Invalid(format!(
            "a vocabulary of {vocab_size} tokens does not fit the u16 token files; give at most 65536"
        )));
    }
    let generate = |split, n| -> Vec<String> {
        let mut generator = StoryGenerator::new(seed, split);
        (0..n).map(|_| generator.story()).collect()
    };
    let train = generate(Split::Train, train_stories);
    let heldout = generate(Split::Heldout, heldout_stories);
    let tokenizer = bpe::train(train.iter().map(String::as_str), vocab_size)?;
    let mut encoder = CorpusEncoder::new(&tokenizer);
    let mut token_files = Vec::with_capacity(2);
    for stories in [&train, &heldout] {
        let mut tokens = Vec::with_capacity(stories.len() * 128);
        for story in stories.iter() {
            encoder.encode_into(story, true, &mut tokens)?;
        }
        token_files.push(tokens);
    }
    // Everything is computed: only now is the folder touched.
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    for ((name, stories), tokens) in [("train", &train), ("heldout", &heldout)]
        .into_iter()
        .zip(&token_files)
    {
        let bytes: Vec<u8> = tokens
            .iter()
            .flat_map(|&t| (t as u16).to_le_bytes())
            .collect();
        write_atomically(&dir.join(format!("{name}.u16")), &bytes)?;
        let text: String = stories.iter().map(|s| format!("{s}\n")).collect();
        write_atomically(&dir.join(format!("{name}.txt")), text.as_bytes())?;
    }
    write_atomically(&dir.join("tokenizer.bin"), &tokenizer.to_bytes())?;
    let text_bytes: usize = train.iter().map(String::len).sum();
    let summary = DatasetSummary {
        seed,
        vocab_size,
        train_stories,
        heldout_stories,
        train_tokens: token_files[0].len(),
        heldout_tokens: token_files[1].len(),
        bytes_per_token: text_bytes as f64 / (token_files[0].len() - train_stories).max(1) as f64,
    };
    let json = serde_json::to_string_pretty(&summary).expect("a summary serialises");
    write_atomically(&dir.join("dataset.json"), json.as_bytes())?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_sentence_is_grammatical() {
        for split in [Split::Train, Split::Heldout] {
            let mut generator = StoryGenerator::new(5, split);
            for _ in 0..500 {
                let story = generator.story();
                let (all, leftover) = sentences(&story);
                assert!(!leftover, "{story}");
                let judged = judge_sentences(&story, 0);
                assert_eq!(judged.len(), all.len());
                assert!(judged.iter().all(|(_, ok)| *ok), "{story}");
                let text: Vec<String> = judged.into_iter().map(|(s, _)| s).collect();
                assert_eq!(
                    text.join(" "),
                    story,
                    "sentences come back as they were written"
                );
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_stories_and_splits_differ() {
        let take = |seed, split| {
            let mut g = StoryGenerator::new(seed, split);
            (0..20).map(|_| g.story()).collect::<Vec<_>>()
        };
        assert_eq!(take(1, Split::Train), take(1, Split::Train));
        assert_ne!(take(1, Split::Train), take(1, Split::Heldout));
        assert_ne!(take(1, Split::Train), take(2, Split::Train));
    }

    fn check_story(text: &str) -> Vec<bool> {
        let (all, _) = sentences(text);
        let mut checker = Checker::new();
        all.iter().map(|s| checker.check(s)).collect()
    }

    #[test]
    fn pronouns_and_names_must_agree_with_the_story() {
        let intro = "Once upon a time, there was a girl named Lily.";
        assert_eq!(
            check_story(&format!("{intro} She liked to play in the park.")),
            [true, true]
        );
        assert_eq!(
            check_story(&format!("{intro} He liked to play in the park.")),
            [true, false]
        );
        assert_eq!(
            check_story(&format!("{intro} One day, Tim went to the park.")),
            [true, false],
            "the hero's name is Lily"
        );
        assert_eq!(
            check_story("Once upon a time, there was a boy named Lily."),
            [false],
            "a boy with a girl's name"
        );
        assert_eq!(
            check_story(&format!(
                "{intro} Then she met a dog named Lily. Then she met a dog named Ben. Ben said, \
                 \"Can I play with your kite?\" She gave him the kite. She gave her the kite."
            )),
            [true, false, true, true, true, false],
        );
    }

    #[test]
    fn broken_sentences_are_not_grammatical() {
        let intro = "Once upon a time, there was a cat named Tom.";
        assert_eq!(
            check_story(&format!(
                "{intro} There, he found an old ball. He saw a old apple under a tree. He saw \
                 an old apple under a tree."
            )),
            [true, true, false, true]
        );
        for bad in [
            "There, he found a old ball.",
            "There, he found an red ball.",
            "He liked to play in the the park.",
            "He liked to play in the kite.",
            "He liked play in the park.",
            "He 3 liked to play in the park.",
            "They played with the ball all day",
        ] {
            let text = format!("{intro} {bad}");
            let (all, leftover) = sentences(&text);
            let mut checker = Checker::new();
            let verdicts: Vec<bool> = all.iter().map(|s| checker.check(s)).collect();
            assert!(
                verdicts.len() == 1 || !verdicts[1],
                "{bad}: {verdicts:?} (leftover {leftover})"
            );
        }
    }

    #[test]
    fn quotes_end_sentences_after_their_punctuation() {
        let (all, leftover) = sentences("Tim said, \"Yes, you can.\" They ran. And then");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].last(), Some(&"\""));
        assert!(leftover);
    }
}
