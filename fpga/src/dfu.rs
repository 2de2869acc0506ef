//! USB DFU images: a bitstream with the suffix of the USB DFU specification (1.1, appendix B),
//! which `dfu-util` checks before it sends the file to a board's bootloader (the OrangeCrab's
//! foboot). Writing it here spares users `dfu-suffix`, which the pinned tools do not include.

use std::path::{Path, PathBuf};

use monorail_contract::board::Dfu;

use crate::tools::{io, ToolError};

/// Bytes of the suffix.
pub const SUFFIX_BYTES: usize = 16;

/// CRC-32 as the DFU suffix carries it: the reflected polynomial 0xEDB88320 from 0xFFFFFFFF,
/// without the final complement (the catalogue's CRC-32/JAMCRC), as `dfu-util` computes it.
pub fn dfu_crc(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// `bitstream` followed by the DFU suffix for `dfu`'s bootloader: bcdDevice 0xFFFF (any),
/// idProduct, idVendor, bcdDFU 0x0100, the signature "UFD", its length (16), then the CRC of
/// everything before the CRC, each number little-endian (what `dfu-suffix -v VID -p PID -a`
/// appends).
pub fn dfu_image(bitstream: &[u8], dfu: Dfu) -> Vec<u8> {
    let mut out = Vec::with_capacity(bitstream.len() + SUFFIX_BYTES);
    out.extend_from_slice(bitstream);
    out.extend_from_slice(&0xffff_u16.to_le_bytes());
    out.extend_from_slice(&dfu.product.to_le_bytes());
    out.extend_from_slice(&dfu.vendor.to_le_bytes());
    out.extend_from_slice(&0x0100_u16.to_le_bytes());
    out.extend_from_slice(b"UFD");
    out.push(SUFFIX_BYTES as u8);
    let crc = dfu_crc(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The DFU image's file name.
pub const DFU_FILE: &str = "top.dfu";

/// Write `bitstream`'s DFU image beside it (`top.dfu`): whole or not at all
/// (written under another name, then renamed). Written each time, as the suffix is the board
/// file's and no folder's hash covers it.
pub fn write_dfu(bitstream: &Path, dfu: Dfu) -> Result<PathBuf, ToolError> {
    let path = bitstream.with_file_name(DFU_FILE);
    let bytes = std::fs::read(bitstream).map_err(io(bitstream))?;
    let partial = bitstream.with_extension(format!("dfu.{}.partial", std::process::id()));
    let written = std::fs::write(&partial, dfu_image(&bytes, dfu))
        .map_err(io(&partial))
        .and_then(|()| std::fs::rename(&partial, &path).map_err(io(&path)));
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written.map(|()| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_jamcrc() {
        // The catalogue's check value of CRC-32/JAMCRC (the CRC of "123456789").
        assert_eq!(dfu_crc(b"123456789"), 0x340b_c6d9);
        assert_eq!(dfu_crc(b""), u32::MAX);
    }

    #[test]
    fn the_suffix_is_the_specifications() {
        let crab = Dfu {
            vendor: 0x1209,
            product: 0x5af0,
        };
        let image = dfu_image(b"bits", crab);
        assert_eq!(image.len(), 4 + SUFFIX_BYTES);
        assert_eq!(&image[..4], b"bits");
        assert_eq!(
            &image[4..16],
            &[0xff, 0xff, 0xf0, 0x5a, 0x09, 0x12, 0x00, 0x01, b'U', b'F', b'D', 16]
        );
        // The CRC, as another implementation computes it: Python's `zlib.crc32(body) ^
        // 0xffffffff` over the 16 bytes before it.
        assert_eq!(&image[16..], &0x650e_ec93_u32.to_le_bytes());

        let dir = tempfile::TempDir::new().unwrap();
        let bit = dir.path().join("top.bit");
        std::fs::write(&bit, b"bits").unwrap();
        let dfu = write_dfu(&bit, crab).unwrap();
        assert_eq!(dfu, dir.path().join("top.dfu"));
        assert_eq!(std::fs::read(&dfu).unwrap(), image);
        // Another bootloader's identity: written again, not kept.
        let other = Dfu {
            vendor: 0x1d50,
            product: 0x6130,
        };
        write_dfu(&bit, other).unwrap();
        assert_eq!(std::fs::read(&dfu).unwrap(), dfu_image(b"bits", other));
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 2, "nothing partial is left");
    }
}
