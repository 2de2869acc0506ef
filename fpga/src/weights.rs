//! Weights without place and route.
//!
//! Where a bitstream's cells go does not depend on what its block RAMs hold, so a board's core is
//! placed and routed once, with seeded random placeholders in every memory a bundle initialises
//! ([`Image::placeholder`]), and each model's images are put in their place in the routed design
//! with ecpbram on the ECP5, and by [`swap_gowin`] on the Gowin, for which no tool does it:
//! seconds instead of minutes, and one routed design per board for every model of its target.
//! Both find a memory's block RAMs by their contents, bit by bit in slices of [`SLICE_WORDS`]
//! words, which random placeholders make unique. [`check`] and [`check_gowin`] read the result
//! back on their own: every slice of every placeholder must be in the routed design, and in its
//! place the model's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use monorail_contract::bundle::MemoryImage;

/// Words of a block RAM bit slice: ecpbram's unit of matching.
pub const SLICE_WORDS: usize = 512;

/// 9-bit words of an ECP5 DP16KD's contents in nextpnr's textual configuration.
const DP16KD_WORDS: usize = 2048;

/// One bit of 512 consecutive words.
type Slice = [u64; SLICE_WORDS / 64];

/// A memory's contents, zero beyond its image, in whole slices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// The memory.
    pub spec: MemoryImage,
    /// 64-bit limbs of a word.
    limbs: usize,
    /// The words, lowest limb first. // (depth rounded up to SLICE_WORDS, limbs)
    bits: Vec<u64>,
}

/// SplitMix64: the placeholders' generator (seeded by the memory's file name).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Image {
    fn zeros(spec: &MemoryImage) -> Image {
        let limbs = spec.width_bits.div_ceil(64);
        let words = spec.depth_words.div_ceil(SLICE_WORDS) * SLICE_WORDS;
        Image {
            spec: spec.clone(),
            limbs,
            bits: vec![0; words * limbs],
        }
    }

    /// Seeded random contents for `spec`'s memory, the same for the same file name: what the
    /// routed design holds until a model's images take their place.
    pub fn placeholder(spec: &MemoryImage) -> Image {
        let mut image = Image::zeros(spec);
        let mut state = crate::tools::fnv(&[spec.file.as_bytes()]);
        let top_bits = spec.width_bits - (image.limbs - 1) * 64;
        let top_mask = if top_bits == 64 {
            u64::MAX
        } else {
            (1 << top_bits) - 1
        };
        for word in 0..spec.depth_words {
            for limb in 0..image.limbs {
                let mask = if limb + 1 == image.limbs {
                    top_mask
                } else {
                    u64::MAX
                };
                image.bits[word * image.limbs + limb] = splitmix64(&mut state) & mask;
            }
        }
        image
    }

    /// Parse a `$readmemh` image of `spec`'s memory: at most its depth in words, each exactly its
    /// width in hexadecimal digits.
    pub fn parse(spec: &MemoryImage, text: &str) -> Result<Image, String> {
        let mut image = Image::zeros(spec);
        let digits = spec.width_bits / 4;
        let lines = text.lines().filter(|l| !l.trim().is_empty());
        for (word, line) in lines.enumerate() {
            if word >= spec.depth_words {
                return Err(format!("more than the memory's {} words", spec.depth_words));
            }
            let line = line.trim();
            if line.len() != digits {
                return Err(format!(
                    "line {}: {} hex digits, expected {digits}",
                    word + 1,
                    line.len()
                ));
            }
            for (i, c) in line.chars().rev().enumerate() {
                let nibble = c
                    .to_digit(16)
                    .ok_or_else(|| format!("line {}: `{c}` is not hexadecimal", word + 1))?;
                image.bits[word * image.limbs + i / 16] |= u64::from(nibble) << (4 * (i % 16));
            }
        }
        Ok(image)
    }

    /// Words, whole slices.
    fn words(&self) -> usize {
        self.bits.len() / self.limbs
    }

    fn bit(&self, word: usize, bit: usize) -> bool {
        self.bits[word * self.limbs + bit / 64] >> (bit % 64) & 1 == 1
    }

    /// `$readmemh` text of the first `words` words, one word per line.
    pub fn hex(&self, words: usize) -> String {
        let digits = self.spec.width_bits / 4;
        let mut out = String::with_capacity(words * (digits + 1));
        for word in 0..words {
            for d in (0..digits).rev() {
                let nibble = self.bits[word * self.limbs + d / 16] >> (4 * (d % 16)) & 0xf;
                out.push(char::from_digit(nibble as u32, 16).expect("a nibble"));
            }
            out.push('\n');
        }
        out
    }

    /// `$readmemh` text of the memory's depth (what synthesis reads).
    pub fn memory_hex(&self) -> String {
        self.hex(self.spec.depth_words)
    }

    /// `$readmemh` text in whole slices, zeros beyond the memory's depth (what ecpbram reads; a
    /// block RAM holds zeros beyond a memory that does not fill it).
    pub fn slices_hex(&self) -> String {
        self.hex(self.words())
    }

    /// Bit `bit` of words `chunk * 512 ..`.
    fn slice(&self, bit: usize, chunk: usize) -> Slice {
        let mut s = [0u64; SLICE_WORDS / 64];
        for k in 0..SLICE_WORDS {
            if self.bit(chunk * SLICE_WORDS + k, bit) {
                s[k / 64] |= 1 << (k % 64);
            }
        }
        s
    }

    /// Every slice: (bit, chunk).
    fn slice_ids(&self) -> impl Iterator<Item = (usize, usize)> {
        let chunks = self.words() / SLICE_WORDS;
        (0..self.spec.width_bits).flat_map(move |bit| (0..chunks).map(move |c| (bit, c)))
    }
}

/// The DP16KDs' contents in nextpnr-ecp5's textual configuration (`.bram_init N`, then 2048
/// 9-bit words in hexadecimal), by block RAM number.
fn brams(text: &str) -> Result<BTreeMap<u32, Vec<u16>>, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(number) = line.strip_prefix(".bram_init ") else {
            continue;
        };
        let number: u32 = number
            .trim()
            .parse()
            .map_err(|_| format!("line {}: `{line}` names no block RAM", n + 1))?;
        let mut data = Vec::with_capacity(DP16KD_WORDS);
        while data.len() < DP16KD_WORDS {
            let (m, line) = lines.next().ok_or_else(|| {
                format!("block RAM {number}: ends after {} of its words", data.len())
            })?;
            for token in line.split_whitespace() {
                let word = u16::from_str_radix(token, 16)
                    .ok()
                    .filter(|&w| w < 512)
                    .ok_or_else(|| format!("line {}: `{token}` is not a 9-bit word", m + 1))?;
                data.push(word);
            }
        }
        if data.len() != DP16KD_WORDS {
            return Err(format!(
                "block RAM {number}: {} words, expected {DP16KD_WORDS}",
                data.len()
            ));
        }
        out.insert(number, data);
    }
    Ok(out)
}

/// ecpbram's view of a DP16KD: for each of its port widths, the bit slices the block RAM holds
/// (`B[mode]` of them), each 512 words of one bit; words of 9 bits in the 9-bit-and-wider modes,
/// of 8 in the narrower.
const PORT_WIDTHS: [usize; 6] = [1, 2, 4, 9, 18, 36];
const WORD_BITS: [usize; 6] = [8, 8, 8, 9, 9, 9];
const SLICES: [usize; 6] = [32, 32, 32, 36, 36, 36];

fn bram_slice(data: &[u16], mode: usize, j: usize) -> Slice {
    let (w, nw) = (PORT_WIDTHS[mode], WORD_BITS[mode]);
    let mut s = [0u64; SLICE_WORDS / 64];
    for k in 0..SLICE_WORDS {
        let bn = k * w + j % w + (j / w) * SLICE_WORDS * w;
        if data[bn / nw] >> (bn % nw) & 1 == 1 {
            s[k / 64] |= 1 << (k % 64);
        }
    }
    s
}

fn set_bram_slice(data: &mut [u16], mode: usize, j: usize, slice: &Slice) {
    let (w, nw) = (PORT_WIDTHS[mode], WORD_BITS[mode]);
    for k in 0..SLICE_WORDS {
        let bn = k * w + j % w + (j / w) * SLICE_WORDS * w;
        let mask = 1u16 << (bn % nw);
        if slice[k / 64] >> (k % 64) & 1 == 1 {
            data[bn / nw] |= mask;
        } else {
            data[bn / nw] &= !mask;
        }
    }
}

/// What a swap put where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Swap {
    /// Memories swapped.
    pub memories: usize,
    /// Bit slices of their images.
    pub slices: usize,
    /// Block RAMs that hold them.
    pub block_rams: usize,
    /// Memories held twice or more (a copy per read port), by file name: the copies.
    pub copies: BTreeMap<String, usize>,
}

/// Where each placeholder slice is in a routed design: (block RAM, port-width mode, slice) by
/// (image, bit, chunk).
type Found = HashMap<(usize, usize, usize), Vec<(u32, usize, usize)>>;

fn locate(brams: &BTreeMap<u32, Vec<u16>>, placeholders: &[Image]) -> Result<Found, String> {
    let mut wanted: HashMap<Slice, (usize, usize, usize)> = HashMap::new();
    for (i, image) in placeholders.iter().enumerate() {
        for (bit, chunk) in image.slice_ids() {
            if wanted
                .insert(image.slice(bit, chunk), (i, bit, chunk))
                .is_some()
            {
                return Err(format!(
                    "the placeholder of {} repeats a slice (bit {bit}, words {}..): it cannot \
                     be told apart",
                    image.spec.file,
                    chunk * SLICE_WORDS
                ));
            }
        }
    }
    let mut found = Found::new();
    for (&number, data) in brams {
        for (mode, &slices) in SLICES.iter().enumerate() {
            for j in 0..slices {
                if let Some(&id) = wanted.get(&bram_slice(data, mode, j)) {
                    found.entry(id).or_default().push((number, mode, j));
                }
            }
        }
    }
    for (i, image) in placeholders.iter().enumerate() {
        let counts: BTreeSet<usize> = image
            .slice_ids()
            .map(|(bit, chunk)| found.get(&(i, bit, chunk)).map_or(0, Vec::len))
            .collect();
        if counts.contains(&0) || counts.len() != 1 {
            let missing = image
                .slice_ids()
                .find(|&(bit, chunk)| !found.contains_key(&(i, bit, chunk)));
            return Err(match missing {
                Some((bit, chunk)) => format!(
                    "bit {bit} of {}'s words {}..{} is in no block RAM of the routed design",
                    image.spec.file,
                    chunk * SLICE_WORDS,
                    (chunk + 1) * SLICE_WORDS
                ),
                None => format!(
                    "{}'s bit slices are held {counts:?} times: not whole copies of the memory",
                    image.spec.file
                ),
            });
        }
    }
    Ok(found)
}

/// Check a swap: `base` is the routed design's configuration with `placeholders`, `swapped` the
/// same after the swap. Every slice of every placeholder must be in `base` (in the same number
/// of copies across a memory), `swapped` must hold the model's slice in each of their places, and
/// every other block RAM word must be as it was.
pub fn check(
    base: &str,
    swapped: &str,
    placeholders: &[Image],
    models: &[Image],
) -> Result<Swap, String> {
    let base = brams(base).map_err(|e| format!("the routed design: {e}"))?;
    let swapped = brams(swapped).map_err(|e| format!("the swapped design: {e}"))?;
    check_contents(&base, &swapped, placeholders, models)
}

/// [`check`] of a routed Gowin design: `base` and `swapped` are nextpnr-himbaechel's JSON
/// netlists.
pub fn check_gowin(
    base: &str,
    swapped: &str,
    placeholders: &[Image],
    models: &[Image],
) -> Result<Swap, String> {
    let (_, base) = gowin_brams(base).map_err(|e| format!("the routed design: {e}"))?;
    let (_, swapped) = gowin_brams(swapped).map_err(|e| format!("the swapped design: {e}"))?;
    check_contents(&numbered(&base), &numbered(&swapped), placeholders, models)
}

/// Gowin block RAMs' contents by their number in cell-name order, as [`locate`] takes them.
fn numbered(brams: &[GowinBram]) -> BTreeMap<u32, Vec<u16>> {
    brams
        .iter()
        .enumerate()
        .map(|(n, b)| (n as u32, b.data.clone()))
        .collect()
}

/// A Gowin block RAM (BSRAM) of a routed design: its cell, whether its contents are the 9-bit
/// words of the x9 modes, and those contents (2048 words of 9 bits, or of 8).
struct GowinBram {
    cell: String,
    nine: bool,
    data: Vec<u16>,
}

/// Parameters holding a Gowin block RAM's contents: `INIT_RAM_00` .. `INIT_RAM_3F`.
const GOWIN_INITS: usize = 64;

/// The block RAMs of nextpnr-himbaechel's JSON netlist, in cell-name order: every cell with
/// `INIT_RAM_00` .. `INIT_RAM_3F`, each a string of '0' and '1' (most significant first; an
/// undefined 'x' reads as 0), 288 bits in the x9 modes and 256 in the others. Laid end to end
/// they are the block RAM's bits, word after word at every port width (yosys's
/// `techlibs/gowin/brams_map.v`): the same order as a DP16KD's.
fn gowin_brams(text: &str) -> Result<(serde_json::Value, Vec<GowinBram>), String> {
    let netlist: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let mut out = Vec::new();
    let modules = netlist["modules"]
        .as_object()
        .ok_or("no `modules` in the netlist")?;
    for module in modules.values() {
        let Some(cells) = module["cells"].as_object() else {
            continue;
        };
        for (name, cell) in cells {
            let parameters = &cell["parameters"];
            if parameters.get("INIT_RAM_00").is_none() {
                continue;
            }
            let mut bits: Vec<bool> = Vec::with_capacity(GOWIN_INITS * 288);
            let mut nine = false;
            for i in 0..GOWIN_INITS {
                let key = format!("INIT_RAM_{i:02X}");
                let value = parameters[&key]
                    .as_str()
                    .ok_or_else(|| format!("cell {name}: no {key}"))?;
                nine = match value.len() {
                    288 => true,
                    256 => false,
                    n => return Err(format!("cell {name}: {key} has {n} bits, not 256 or 288")),
                };
                for c in value.chars().rev() {
                    bits.push(match c {
                        '1' => true,
                        '0' | 'x' | 'X' => false,
                        _ => return Err(format!("cell {name}: {key} holds `{c}`")),
                    });
                }
            }
            let word_bits = if nine { 9 } else { 8 };
            if bits.len() != DP16KD_WORDS * word_bits {
                return Err(format!(
                    "cell {name}: its INIT_RAM parameters mix 256 and 288 bits"
                ));
            }
            let data = bits
                .chunks(word_bits)
                .map(|w| {
                    w.iter()
                        .enumerate()
                        .fold(0u16, |acc, (b, &on)| acc | (u16::from(on) << b))
                })
                .collect();
            out.push(GowinBram {
                cell: name.clone(),
                nine,
                data,
            });
        }
    }
    out.sort_by(|a, b| a.cell.cmp(&b.cell));
    Ok((netlist, out))
}

/// Swap the models' images into a routed Gowin design (nextpnr-himbaechel's JSON netlist, with
/// `placeholders` in its block RAMs), as ecpbram does for the ECP5: every placeholder slice is
/// found by its contents and replaced by the model's. Returns the new netlist and what was put
/// where.
pub fn swap_gowin(
    text: &str,
    placeholders: &[Image],
    models: &[Image],
) -> Result<(String, Swap), String> {
    let (mut netlist, mut brams) = gowin_brams(text)?;
    let found = locate(&numbered(&brams), placeholders)?;
    let mut changed = BTreeSet::new();
    for (&(i, bit, chunk), places) in &found {
        let slice = models[i].slice(bit, chunk);
        for &(number, mode, j) in places {
            set_bram_slice(&mut brams[number as usize].data, mode, j, &slice);
            changed.insert(number as usize);
        }
    }
    let modules = netlist
        .get_mut("modules")
        .and_then(|m| m.as_object_mut())
        .ok_or("no `modules` in the netlist")?;
    for number in changed {
        let bram = &brams[number];
        let cell = modules
            .values_mut()
            .find_map(|m| m.get_mut("cells").and_then(|c| c.get_mut(&bram.cell)))
            .ok_or_else(|| format!("cell {} vanished", bram.cell))?;
        let word_bits = if bram.nine { 9 } else { 8 };
        let bits: Vec<bool> = bram
            .data
            .iter()
            .flat_map(|&w| (0..word_bits).map(move |b| w >> b & 1 == 1))
            .collect();
        for (i, init) in bits.chunks(bits.len() / GOWIN_INITS).enumerate() {
            let value: String = init
                .iter()
                .rev()
                .map(|&on| if on { '1' } else { '0' })
                .collect();
            cell["parameters"][format!("INIT_RAM_{i:02X}")] = serde_json::Value::String(value);
        }
    }
    let text = serde_json::to_string(&netlist).map_err(|e| e.to_string())?;
    Ok((text, summary(&found, placeholders)))
}

/// Every slice of every placeholder must be in `base` (in the same number of copies across a
/// memory), `swapped` must hold the model's slice in each of their places, and every other
/// block RAM word must be as it was.
fn check_contents(
    base: &BTreeMap<u32, Vec<u16>>,
    swapped: &BTreeMap<u32, Vec<u16>>,
    placeholders: &[Image],
    models: &[Image],
) -> Result<Swap, String> {
    if base.keys().ne(swapped.keys()) {
        return Err("the swap changed which block RAMs are configured".into());
    }
    let found = locate(base, placeholders)?;
    // What the swapped design must hold: the base with each placeholder slice replaced.
    let mut expected = base.clone();
    for (&(i, bit, chunk), places) in &found {
        let slice = models[i].slice(bit, chunk);
        for &(number, mode, j) in places {
            let data = expected.get_mut(&number).expect("a located block RAM");
            set_bram_slice(data, mode, j, &slice);
        }
    }
    for (number, data) in &expected {
        let got = &swapped[number];
        if let Some(w) = (0..DP16KD_WORDS).find(|&w| got[w] != data[w]) {
            return Err(format!(
                "block RAM {number}, word {w}: {:03x} where the model's images put {:03x}",
                got[w], data[w]
            ));
        }
    }
    Ok(summary(&found, placeholders))
}

/// What the slices `found` say a swap puts where.
fn summary(found: &Found, placeholders: &[Image]) -> Swap {
    let mut copies = BTreeMap::new();
    for (&(i, _, _), places) in found {
        if places.len() > 1 {
            copies.insert(placeholders[i].spec.file.clone(), places.len());
        }
    }
    let block_rams: BTreeSet<u32> = found
        .values()
        .flat_map(|places| places.iter().map(|p| p.0))
        .collect();
    Swap {
        memories: placeholders.len(),
        slices: found.len(),
        block_rams: block_rams.len(),
        copies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(file: &str, width_bits: usize, depth_words: usize) -> MemoryImage {
        MemoryImage {
            file: file.into(),
            width_bits,
            depth_words,
            block_ram: true,
        }
    }

    /// A textual configuration with these block RAMs.
    fn config(brams: &BTreeMap<u32, Vec<u16>>) -> String {
        let mut text = String::from(".device LFE5U-45F\n\n");
        for (n, data) in brams {
            text += &format!(".bram_init {n}\n");
            for row in data.chunks(8) {
                let words: Vec<String> = row.iter().map(|w| format!("{w:03x}")).collect();
                text += &(words.join(" ") + "\n");
            }
            text += "\n";
        }
        text
    }

    /// A 72-bit, 640-word memory as yosys maps it: 512 x 36 DP16KDs, two across and two deep.
    fn place(image: &Image) -> BTreeMap<u32, Vec<u16>> {
        let mut brams = BTreeMap::new();
        for (n, (across, deep)) in [(0, 0), (1, 0), (0, 1), (1, 1)].into_iter().enumerate() {
            let mut data = vec![0u16; DP16KD_WORDS];
            for j in 0..36 {
                let slice = image.slice(across * 36 + j, deep);
                set_bram_slice(&mut data, 5, j, &slice);
            }
            brams.insert(n as u32 + 3, data);
        }
        brams
    }

    #[test]
    fn images_parse_and_print_in_readmemh_form() {
        let s = spec("m.hex", 72, 3);
        let image = Image::parse(&s, "0123456789abcdef01\n\nffffffffffffffffff\n").unwrap();
        assert_eq!(
            image.memory_hex(),
            "0123456789abcdef01\nffffffffffffffffff\n000000000000000000\n"
        );
        assert_eq!(image.slices_hex().lines().count(), SLICE_WORDS);
        assert!(image.bit(0, 0) && !image.bit(0, 1) && !image.bit(0, 71));
        assert!(image.bit(1, 71));
        for (text, error) in [
            ("0123\n", "line 1: 4 hex digits, expected 18"),
            ("0123456789abcdef0g\n", "`g` is not hexadecimal"),
            (
                "000000000000000000\n".repeat(4).as_str(),
                "more than the memory's 3 words",
            ),
        ] {
            let e = Image::parse(&s, text).unwrap_err();
            assert!(e.contains(error), "{e}");
        }
        // Placeholders: seeded by the name, within the width, zero beyond the depth.
        let a = Image::placeholder(&spec("a.hex", 36, 600));
        assert_eq!(a, Image::placeholder(&spec("a.hex", 36, 600)));
        assert_ne!(
            a.slice(0, 0),
            Image::placeholder(&spec("b.hex", 36, 600)).slice(0, 0)
        );
        assert!(a.bits.iter().all(|&w| w < 1 << 36));
        assert!((600..1024).all(|w| a.bits[w] == 0) && a.bits[599] != 0);
    }

    #[test]
    fn a_swap_is_checked_slice_by_slice() {
        let s = spec("acc.hex", 72, 640);
        let placeholder = Image::placeholder(&s);
        let mut model = Image::zeros(&s);
        for (w, limb) in model.bits.iter_mut().enumerate() {
            *limb = (w as u64 * 0x9e37_79b9) & if w % 2 == 1 { 0xff } else { u64::MAX };
        }
        for w in 640..1024 {
            model.bits[2 * w] = 0;
            model.bits[2 * w + 1] = 0;
        }
        let mut base = place(&placeholder);
        // A block RAM of something else (a table), untouched by the swap.
        base.insert(9, (0..DP16KD_WORDS).map(|w| (w % 512) as u16).collect());
        let mut swapped = place(&model);
        swapped.insert(9, base[&9].clone());
        let checked = |base: &BTreeMap<u32, Vec<u16>>, swapped: &BTreeMap<u32, Vec<u16>>| {
            check(
                &config(base),
                &config(swapped),
                std::slice::from_ref(&placeholder),
                std::slice::from_ref(&model),
            )
        };
        assert_eq!(
            checked(&base, &swapped).unwrap(),
            Swap {
                memories: 1,
                slices: 72 * 2,
                block_rams: 4,
                copies: BTreeMap::new()
            }
        );
        // A word the swap got wrong.
        let mut wrong = swapped.clone();
        wrong.get_mut(&4).unwrap()[17] ^= 4;
        let e = checked(&base, &wrong).unwrap_err();
        assert!(e.contains("block RAM 4, word 17"), "{e}");
        // The other block RAM changed.
        let mut wrong = swapped.clone();
        wrong.get_mut(&9).unwrap()[0] = 1;
        let e = checked(&base, &wrong).unwrap_err();
        assert!(e.contains("block RAM 9, word 0"), "{e}");
        // A memory the routed design does not hold whole.
        let mut partial = base.clone();
        partial.remove(&6);
        swapped.remove(&6);
        let e = checked(&partial, &swapped).unwrap_err();
        assert!(
            e.contains("bit 36 of acc.hex's words 512..1024 is in no block RAM"),
            "{e}"
        );
        // A configuration cut short.
        let text = config(&base);
        let e = brams(&text[..text.len() / 2]).unwrap_err();
        assert!(e.contains("ends after"), "{e}");
    }

    /// nextpnr-himbaechel's JSON netlist with these block RAMs (cells `mem.N`, x9 modes) and a
    /// LUT.
    fn gowin_netlist(brams: &BTreeMap<u32, Vec<u16>>) -> String {
        let mut cells = serde_json::Map::new();
        for (n, data) in brams {
            let bits: Vec<char> = data
                .iter()
                .flat_map(|&w| (0..9).map(move |b| if w >> b & 1 == 1 { '1' } else { '0' }))
                .collect();
            let mut parameters = serde_json::Map::new();
            parameters.insert("BIT_WIDTH".into(), "100100".into());
            for (i, init) in bits.chunks(288).enumerate() {
                let value: String = init.iter().rev().collect();
                parameters.insert(format!("INIT_RAM_{i:02X}"), value.into());
            }
            cells.insert(
                format!("mem.{n}"),
                serde_json::json!({"type": "SDP", "parameters": parameters}),
            );
        }
        cells.insert(
            "lut".into(),
            serde_json::json!({"type": "LUT4", "parameters": {"INIT": "1001"}}),
        );
        serde_json::json!({"modules": {"top": {"cells": cells}}}).to_string()
    }

    #[test]
    fn a_gowin_swap_replaces_the_placeholders_in_the_netlist_and_is_checked() {
        let s = spec("acc.hex", 72, 640);
        let placeholder = Image::placeholder(&s);
        let mut model = Image::zeros(&s);
        for (w, limb) in model.bits.iter_mut().enumerate().take(2 * 640) {
            *limb = (w as u64 * 0x9e37_79b9) & if w % 2 == 1 { 0xff } else { u64::MAX };
        }
        let mut base = place(&placeholder);
        base.insert(9, (0..DP16KD_WORDS).map(|w| (w % 512) as u16).collect());
        let netlist = gowin_netlist(&base);
        let (swapped, swap) = swap_gowin(
            &netlist,
            std::slice::from_ref(&placeholder),
            std::slice::from_ref(&model),
        )
        .unwrap();
        assert_eq!((swap.slices, swap.block_rams), (72 * 2, 4));
        assert_eq!(
            check_gowin(
                &netlist,
                &swapped,
                std::slice::from_ref(&placeholder),
                std::slice::from_ref(&model)
            )
            .unwrap(),
            swap
        );
        // Word 0's low 36 bits end INIT_RAM_00 of the first block RAM (the 36-bit mode: eight
        // words a parameter, the first at the end); the other cells are as they were.
        let json: serde_json::Value = serde_json::from_str(&swapped).unwrap();
        let cells = &json["modules"]["top"]["cells"];
        let init = cells["mem.3"]["parameters"]["INIT_RAM_00"]
            .as_str()
            .unwrap();
        let low: String = (0..36)
            .rev()
            .map(|b| if model.bit(0, b) { '1' } else { '0' })
            .collect();
        assert_eq!(&init[288 - 36..], low);
        let before: serde_json::Value = serde_json::from_str(&netlist).unwrap();
        let before = &before["modules"]["top"]["cells"];
        assert_eq!(cells["mem.9"], before["mem.9"]);
        assert_eq!(cells["lut"], before["lut"]);
        // A netlist whose block RAM misses its memory's placeholder, and a malformed one.
        let mut partial = base.clone();
        partial.remove(&6);
        let e = swap_gowin(
            &gowin_netlist(&partial),
            std::slice::from_ref(&placeholder),
            std::slice::from_ref(&model),
        )
        .unwrap_err();
        assert!(e.contains("is in no block RAM"), "{e}");
        let bad = netlist.replacen("\"INIT_RAM_05\":\"", "\"INIT_RAM_05\":\"2", 1);
        let e = swap_gowin(&bad, &[], &[]).unwrap_err();
        assert!(e.contains("INIT_RAM_05 has 289 bits"), "{e}");
    }
}
