//! Extracting an uncompressed, PVH-bootable `vmlinux` ELF from a zstd bzImage.

use std::io::Read;

use super::ImageError;

/// The zstd frame magic number, little-endian 0xFD2FB528.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// The ELF magic.
const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
/// `PT_NOTE` program header type.
const PT_NOTE: u32 = 4;
/// `XEN_ELFNOTE_PHYS32_ENTRY`: the 32-bit PVH entry point.
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
/// Upper bound for a decompressed kernel, to stop runaway decoding of false frames.
const MAX_VMLINUX: u64 = 1 << 30;

/// Finds the zstd payload in `bzimage`, decompresses it and checks it is an ELF with a
/// PVH note. Returns the ELF bytes and the PVH entry address.
pub fn extract_vmlinux(bzimage: &[u8]) -> Result<(Vec<u8>, u64), ImageError> {
    let offsets: Vec<usize> = bzimage
        .windows(ZSTD_MAGIC.len())
        .enumerate()
        .filter(|(_, w)| *w == ZSTD_MAGIC)
        .map(|(i, _)| i)
        .collect();
    if offsets.is_empty() {
        return Err(ImageError::NoZstdPayload);
    }
    let mut last_problem = String::new();
    for &offset in &offsets {
        match decompress_frame(&bzimage[offset..]) {
            Ok(elf) if elf.starts_with(&ELF_MAGIC) => {
                let entry = pvh_entry(&elf)?;
                tracing::debug!(offset, size = elf.len(), entry, "found vmlinux payload");
                return Ok((elf, entry));
            }
            Ok(_) => last_problem = format!("frame at offset {offset} is not an ELF file"),
            Err(e) => last_problem = format!("frame at offset {offset}: {e}"),
        }
    }
    Err(ImageError::PayloadNotElf {
        candidates: offsets.len(),
        last_problem,
    })
}

/// Decompresses exactly one zstd frame from the start of `data`, ignoring what follows.
fn decompress_frame(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let decoder = zstd::stream::read::Decoder::with_buffer(data)?.single_frame();
    let mut out = Vec::new();
    decoder.take(MAX_VMLINUX).read_to_end(&mut out)?;
    Ok(out)
}

fn u16_at(b: &[u8], off: usize) -> Result<u16, ImageError> {
    b.get(off..off + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or(ImageError::BadElf {
            reason: "truncated",
        })
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, ImageError> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes(s.try_into().expect("4 bytes")))
        .ok_or(ImageError::BadElf {
            reason: "truncated",
        })
}

fn u64_at(b: &[u8], off: usize) -> Result<u64, ImageError> {
    b.get(off..off + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
        .ok_or(ImageError::BadElf {
            reason: "truncated",
        })
}

fn usize_of(v: u64) -> Result<usize, ImageError> {
    usize::try_from(v).map_err(|_| ImageError::BadElf {
        reason: "offset out of range",
    })
}

/// Returns the PVH entry address from the `Xen` note of type 18 in a 64-bit LE ELF.
pub fn pvh_entry(elf: &[u8]) -> Result<u64, ImageError> {
    if !elf.starts_with(&ELF_MAGIC) {
        return Err(ImageError::BadElf {
            reason: "no ELF magic",
        });
    }
    if elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err(ImageError::BadElf {
            reason: "not a 64-bit little-endian ELF",
        });
    }
    let phoff = usize_of(u64_at(elf, 0x20)?)?;
    let phentsize = usize::from(u16_at(elf, 0x36)?);
    let phnum = usize::from(u16_at(elf, 0x38)?);
    if phentsize < 56 {
        return Err(ImageError::BadElf {
            reason: "program header entries too small",
        });
    }
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(elf, ph)? != PT_NOTE {
            continue;
        }
        let offset = usize_of(u64_at(elf, ph + 8)?)?;
        let size = usize_of(u64_at(elf, ph + 32)?)?;
        let notes = elf
            .get(offset..offset.saturating_add(size))
            .ok_or(ImageError::BadElf {
                reason: "note segment outside the file",
            })?;
        if let Some(entry) = find_note(notes)? {
            return Ok(entry);
        }
    }
    Err(ImageError::NoPvhNote)
}

/// Scans one note segment for the `Xen`/18 note and decodes its address.
fn find_note(notes: &[u8]) -> Result<Option<u64>, ImageError> {
    let align4 = |n: usize| (n + 3) & !3;
    let mut pos = 0;
    while pos + 12 <= notes.len() {
        let namesz = usize_of(u64::from(u32_at(notes, pos)?))?;
        let descsz = usize_of(u64::from(u32_at(notes, pos + 4)?))?;
        let kind = u32_at(notes, pos + 8)?;
        let name_start = pos + 12;
        let desc_start = name_start + align4(namesz);
        let next = desc_start + align4(descsz);
        if desc_start + descsz > notes.len() {
            return Err(ImageError::BadElf {
                reason: "truncated note",
            });
        }
        let name = &notes[name_start..name_start + namesz];
        if name == b"Xen\0" && kind == XEN_ELFNOTE_PHYS32_ENTRY {
            let desc = &notes[desc_start..desc_start + descsz];
            return match descsz {
                4 => Ok(Some(u64::from(u32_at(desc, 0)?))),
                8 => Ok(Some(u64_at(desc, 0)?)),
                _ => Err(ImageError::BadElf {
                    reason: "PVH note has an unexpected size",
                }),
            };
        }
        pos = next;
    }
    Ok(None)
}

/// Test helpers shared with other modules' tests.
#[cfg(test)]
pub(crate) mod testutil {
    /// A minimal ELF64 file with one `PT_NOTE` segment holding the given notes.
    pub fn fake_elf(notes: &[(&[u8], u32, &[u8])]) -> Vec<u8> {
        let mut note_bytes = Vec::new();
        for (name, kind, desc) in notes {
            note_bytes.extend((name.len() as u32).to_le_bytes());
            note_bytes.extend((desc.len() as u32).to_le_bytes());
            note_bytes.extend(kind.to_le_bytes());
            note_bytes.extend(*name);
            note_bytes.resize(note_bytes.len().next_multiple_of(4), 0);
            note_bytes.extend(*desc);
            note_bytes.resize(note_bytes.len().next_multiple_of(4), 0);
        }
        let mut elf = vec![0u8; 64 + 56];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // ELFCLASS64
        elf[5] = 1; // little endian
        elf[6] = 1;
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let ph = 64;
        elf[ph..ph + 4].copy_from_slice(&4u32.to_le_bytes()); // PT_NOTE
        elf[ph + 8..ph + 16].copy_from_slice(&120u64.to_le_bytes()); // p_offset
        elf[ph + 32..ph + 40].copy_from_slice(&(note_bytes.len() as u64).to_le_bytes());
        elf.extend(note_bytes);
        elf
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::fake_elf;
    use super::*;

    fn bzimage_with(payload: &[u8]) -> Vec<u8> {
        // Setup code that happens to contain a false zstd magic, then the real frame,
        // then the 4-byte size trailer bzImages carry.
        let mut blob = vec![0x90u8; 4096];
        blob[100..104].copy_from_slice(&ZSTD_MAGIC);
        blob.extend(zstd::encode_all(payload, 3).unwrap());
        blob.extend((payload.len() as u32).to_le_bytes());
        blob
    }

    #[test]
    fn extracts_elf_with_pvh_note() {
        let elf = fake_elf(&[
            (b"GNU\0", 3, b"buildid!"),
            (b"Xen\0", 18, &0x0100_0abcu32.to_le_bytes()),
        ]);
        let (out, entry) = extract_vmlinux(&bzimage_with(&elf)).unwrap();
        assert_eq!(out, elf);
        assert_eq!(entry, 0x0100_0abc);
    }

    #[test]
    fn no_zstd_magic_is_a_clear_error() {
        let err = extract_vmlinux(&[0u8; 8192]).unwrap_err();
        assert!(matches!(err, ImageError::NoZstdPayload), "{err}");
        assert!(err.to_string().contains("CONFIG_KERNEL_ZSTD"));
    }

    #[test]
    fn payload_that_is_not_elf_is_rejected() {
        let err = extract_vmlinux(&bzimage_with(b"definitely not an ELF file")).unwrap_err();
        match err {
            ImageError::PayloadNotElf { candidates, .. } => assert_eq!(candidates, 2),
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn elf_without_pvh_note_is_rejected() {
        let elf = fake_elf(&[(b"Xen\0", 17, &[0u8; 4]), (b"Linux\0", 18, &[0u8; 4])]);
        let err = extract_vmlinux(&bzimage_with(&elf)).unwrap_err();
        assert!(matches!(err, ImageError::NoPvhNote), "{err}");
    }

    #[test]
    fn truncated_elf_is_rejected() {
        let mut elf = fake_elf(&[(b"Xen\0", 18, &[0u8; 4])]);
        elf.truncate(80);
        assert!(matches!(pvh_entry(&elf), Err(ImageError::BadElf { .. })));
    }
}
