//! Packers between byte lanes and words: the width changes that rust_hdl's language cannot
//! write without width mismatches in its Verilog (its casts become masks against 32-bit
//! literals), as custom blocks with their behaviour in `update` beside the Verilog, as
//! rust_hdl's own RAM widget does.

use rust_hdl::prelude::*;

/// `word = {bytes[k-1], ..., bytes[0]}`: the first byte lowest, truncated to `N` bits.
#[derive(LogicBlock)]
pub struct PackBytes<const N: usize> {
    /// The bytes, lowest first. // (ceil(N / 8),)
    pub bytes: Vec<Signal<In, Bits<8>>>,
    /// The word.
    pub word: Signal<Out, Bits<N>>,
}

impl<const N: usize> Default for PackBytes<N> {
    fn default() -> Self {
        PackBytes {
            bytes: (0..N.div_ceil(8)).map(|_| Default::default()).collect(),
            word: Default::default(),
        }
    }
}

impl<const N: usize> Logic for PackBytes<N> {
    fn update(&mut self) {
        let mut word = Bits::<N>::default();
        for (i, b) in self.bytes.iter().enumerate() {
            for bit in 0..8 {
                if 8 * i + bit < N {
                    word = word.replace_bit(8 * i + bit, b.val().get_bit(bit));
                }
            }
        }
        self.word.next = word;
    }

    fn connect(&mut self) {
        self.word.connect();
    }

    fn hdl(&self) -> Verilog {
        let k = self.bytes.len();
        let parts: Vec<String> = (0..k).rev().map(|i| format!("bytes${i}")).collect();
        let unused = if 8 * k > N {
            format!("wire unused_bits = &{{1'b0, all[{}:{N}]}};\n", 8 * k - 1)
        } else {
            String::new()
        };
        Verilog::Custom(format!(
            "wire [{}:0] all = {{{}}};\n{unused}always @(*) word = all[{}:0];\n",
            8 * k - 1,
            parts.join(", "),
            N - 1
        ))
    }
}

/// `bytes[i] = word[8 i .. 8 i + 8]`, zero past the word's top.
#[derive(LogicBlock)]
pub struct UnpackBytes<const N: usize> {
    /// The word.
    pub word: Signal<In, Bits<N>>,
    /// Its bytes, lowest first. // (ceil(N / 8),)
    pub bytes: Vec<Signal<Out, Bits<8>>>,
}

impl<const N: usize> Default for UnpackBytes<N> {
    fn default() -> Self {
        UnpackBytes {
            word: Default::default(),
            bytes: (0..N.div_ceil(8)).map(|_| Default::default()).collect(),
        }
    }
}

impl<const N: usize> Logic for UnpackBytes<N> {
    fn update(&mut self) {
        for (i, b) in self.bytes.iter_mut().enumerate() {
            let mut byte = Bits::<8>::default();
            for bit in 0..8 {
                if 8 * i + bit < N {
                    byte = byte.replace_bit(bit, self.word.val().get_bit(8 * i + bit));
                }
            }
            b.next = byte;
        }
    }

    fn connect(&mut self) {
        for b in &mut self.bytes {
            b.connect();
        }
    }

    fn hdl(&self) -> Verilog {
        let k = self.bytes.len();
        let pad = 8 * k - N;
        let mut body = if pad > 0 {
            format!("wire [{}:0] all = {{{pad}'d0, word}};\n", 8 * k - 1)
        } else {
            "wire [".to_string() + &format!("{}:0] all = word;\n", N - 1)
        };
        body += "always @(*) begin\n";
        for i in 0..k {
            body += &format!("    bytes${i} = all[{} +: 8];\n", 8 * i);
        }
        body += "end\n";
        Verilog::Custom(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packers_invert_each_other() {
        let mut p = PackBytes::<20>::default();
        for (b, v) in p.bytes.iter_mut().zip([0x34u64, 0x12, 0xfa]) {
            b.next = v.into();
            b.update_all();
        }
        p.update();
        p.word.update_all();
        assert_eq!(p.word.val(), Bits::<20>::from(0xa1234u64));
        let mut u = UnpackBytes::<20>::default();
        u.word.next = 0xa1234u64.into();
        u.word.update_all();
        u.update();
        let bytes: Vec<u64> = u
            .bytes
            .iter_mut()
            .map(|b| {
                b.update_all();
                b.val().into()
            })
            .collect();
        assert_eq!(bytes, vec![0x34, 0x12, 0x0a]);
    }
}
