//! Recover Cython's compressed module string table from the raw bytes of an
//! ELF section.
//!
//! **Input**: the bytes of a section of a Python extension module (normally
//! `.rodata`; `.data` may be passed too — it is simply searched the same way).
//! **Output**: one `Vec<u8>` per compressed string table found, holding the
//! decompressed bytes (normally exactly one per Cython module; an LZSS table
//! whose end is ambiguous may carry a few trailing junk bytes). Nothing found
//! (non-Cython module, or a Cython table left uncompressed because it was too
//! small to gain — then it is a plain literal in `.rodata`) gives an empty
//! `Vec`. The function never panics, always terminates, caps every output at
//! 16 MiB and bounds its total work (`WORK_BUDGET`).
//!
//! # What Cython stores
//!
//! Since Cython 3.1 all Python `str`/`bytes` constants of a module (names of
//! imported modules such as `dateutil.parser`, attribute names, docstrings,
//! ...) are concatenated **without separators** and stored as one compressed C
//! string literal `cstring`. The split points live only in machine code
//! (`str_length_index[]` / `bytes_length_index[]` bit-field arrays, usually
//! materialised with immediates), and so do the compressed and uncompressed
//! lengths. Order: non-interned text strings, then interned identifiers (each
//! group sorted), then `bytes` constants (sorted; includes binary line tables).
//! Source of truth (Cython 3.3.1): `Cython/Compiler/Code.py`
//! (`compression_algorithms`, the string-table writer around
//! `__Pyx_DecompressString_LZSS(cstring, <compressed len>, <uncompressed len>)`),
//! `Cython/LZSS.py` (`lzss_compress`) and `Cython/Utility/StringTools.c`
//! (utility `DecompressString_LZSS`, function `__pyx_lzss_decompress`).
//!
//! ## Cython 3.3: LZSS (`CYTHON_COMPRESS_STRINGS` = 90, the default)
//! No header, no checksum. A stream of groups: one flag byte, then up to 8
//! items, flag bit 0 first. Bit = 1: one literal byte. Bit = 0: back reference
//! `lo, hi[, len]`:
//! * `lo < 0x80`: `dist = lo`, `len = hi` (7-bit distance, 8-bit length);
//! * `lo >= 0x80, hi < 0x80`: `dist = 0x80 + (((hi << 2) & 0x180) | (lo & 0x7f))`,
//!   `len = hi & 0x1f`;
//! * both `>= 0x80`: `dist = 0x80 + (((hi & 0x7f) << 7) | (lo & 0x7f))`, length
//!   in a third byte.
//!
//! Then `len += 3` and the copy source is `out_pos - dist - len` (`dist` is the
//! gap between the end of the earlier occurrence and the current position, so a
//! copy never overlaps its source). Decoding stops as soon as the known output
//! length is reached; unused trailing flag bits are 0. The literal is followed
//! by its C NUL terminator. Since the lengths are not in the data, the start is
//! found by trial decoding (first flag byte has its low 3 bits set: nothing to
//! copy from yet) and the end by the first item boundary where all remaining
//! flag bits are 0, the next byte is NUL and what follows looks like padding
//! (>= 4 NULs, end of buffer) or a plain C string. A candidate is kept only if
//! it decodes to >= 200 bytes, compresses by >= 64 bytes and contains a name
//! every Cython module has (`__name__`, `__main__`, `__test__`,
//! `cline_in_traceback`, ...). Junk right before the literal can decode and
//! fall into step with it; of trials ending at the same place the best-aligned
//! start wins (GCC aligns the literal to 32 bytes). The LZSS search only runs
//! when the buffer contains `LZSS` — the decompressor's error message
//! "LZSS string data decompression failed" is in the same `.rodata`.
//!
//! ## Cython 3.1 / 3.2: zlib (`CYTHON_COMPRESS_STRINGS` = 1, their default)
//! `cstring` is a plain zlib stream (`zlib.compress(data, level=9)`, decoded at
//! import time by Python's `zlib.decompress`): header `0x78 xx`, raw deflate,
//! big-endian Adler-32. Located by its header, decoded with flate2 (zlib-rs)
//! and accepted only when zlib finds the stream complete and the Adler-32
//! matching. (bz2 = 2 and zstd = 3 exist only when a build sets the
//! macro explicitly; they are not handled.)

/// Hard cap on the size of a single decompressed table.
const MAX_OUT: usize = 16 << 20;
/// Upper bound on the total work (bytes produced + steps) of one call,
/// including failed trial decodes. Real modules need well under 1 MiB.
const WORK_BUDGET: usize = 16 << 20;
/// Smallest decoded table worth reporting (Cython only compresses when it
/// saves >= 200 bytes, so real tables are larger than this).
const MIN_OUT: usize = 200;
/// Minimum `decoded - compressed` size for an LZSS candidate.
const MIN_GAIN: usize = 64;
/// Names present in the string table of every Cython 3 module.
const SIGNATURES: &[&[u8]] = &[
    b"__name__",
    b"__main__",
    b"__test__",
    b"__module__",
    b"__qualname__",
    b"cline_in_traceback",
];

/// Find Cython compressed string tables in `section` and return their
/// decompressed contents (see the module docs for the formats).
pub fn decompress_candidates(section: &[u8]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut work = WORK_BUDGET;
    // The LZSS decompressor is only linked in when the table is LZSS
    // compressed, and its error message ("LZSS string data decompression
    // failed") then sits in the same .rodata: skip the costly search otherwise.
    if memchr::memmem::find(section, b"LZSS").is_some() {
        lzss_scan(section, &mut found, &mut work);
    }
    zlib_scan(section, &mut found, &mut work);
    found
}

fn looks_like_cython_table(out: &[u8]) -> bool {
    // One pass; every signature starts with '_' or 'c'.
    out.iter().enumerate().any(|(i, &b)| {
        (b == b'_' || b == b'c') && SIGNATURES.iter().any(|sig| out[i..].starts_with(sig))
    })
}

// ---------------------------------------------------------------------------
// LZSS (Cython 3.3)
// ---------------------------------------------------------------------------

fn lzss_scan(src: &[u8], found: &mut Vec<Vec<u8>>, work: &mut usize) {
    // Every offset is tried independently. Junk just before the literal (or a
    // start inside it) can decode validly and fall into step with the real
    // stream, ending at the same place; such trials are grouped by their end
    // and the best-aligned (then earliest) start wins: compilers place the
    // literal at an aligned address (32 bytes for GCC on x86-64), junk starts
    // are at arbitrary offsets.
    let n = src.len();
    let mut out = Vec::new();
    // (end, start, output) per distinct end position.
    let mut best: Vec<(usize, usize, Vec<u8>)> = Vec::new();
    for s in 0..n.saturating_sub(3) {
        if *work == 0 {
            break;
        }
        if src[s] & 7 != 7 || !lzss_first_group_ok(src, s) {
            continue;
        }
        // Inside a long run of one byte value (e.g. 0xff fill) every offset
        // decodes the same way; trying the first few keeps this linear.
        if s >= 16 && src[s - 16..s].iter().all(|&b| b == src[s]) {
            continue;
        }
        let Some(end) = lzss_try(src, s, &mut out, work) else {
            continue;
        };
        match best.iter_mut().find(|b| b.0 == end) {
            Some(b) if align_score(s) > align_score(b.1) => {
                b.1 = s;
                b.2.clone_from(&out);
            }
            Some(_) => {}
            None => best.push((end, s, out.clone())),
        }
    }
    found.extend(best.into_iter().map(|b| b.2));
}

/// Cheap pre-check: can the first group decode at all? (Rejects almost all
/// offsets before the real trial allocates or copies anything.)
fn lzss_first_group_ok(src: &[u8], start: usize) -> bool {
    let flags = src[start];
    let (mut pos, mut produced) = (start + 1, 0usize);
    for k in 0..8 {
        if (flags >> k) & 1 == 1 {
            pos += 1;
            produced += 1;
        } else {
            let (Some(&lo), Some(&hi)) = (src.get(pos), src.get(pos + 1)) else {
                return true; // let the trial handle the buffer end
            };
            if lo & 0x80 != 0 {
                return false; // distance >= 0x80 cannot fit in <= 7 bytes of output
            }
            let need = lo as usize + hi as usize + 3;
            if need > produced {
                return false;
            }
            pos += 2;
            produced += need - lo as usize;
        }
    }
    pos <= src.len()
}

fn align_score(offset: usize) -> u32 {
    offset.trailing_zeros().min(5)
}

/// Is `pos` (just after an item, all remaining flag bits 0) the end of the
/// compressed literal? It must be the NUL terminator, followed by padding or
/// by something that is clearly not compressed data.
fn lzss_strong_end(src: &[u8], pos: usize) -> bool {
    let n = src.len();
    if pos >= n || src[pos] != 0 {
        return false;
    }
    let mut j = pos;
    while j < n && src[j] == 0 && j - pos < 4 {
        j += 1;
    }
    if j - pos >= 4 || n - j < 8 {
        return true;
    }
    src[j..j + 8]
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t' || b == b'\r')
}

/// Trial-decode from `start` into `out`. Returns the input end position when
/// the result looks like a Cython string table; `out` then holds exactly it.
fn lzss_try(src: &[u8], start: usize, out: &mut Vec<u8>, work: &mut usize) -> Option<usize> {
    enum Halt {
        End,
        Eof,
        Fail,
    }
    out.clear();
    let n = src.len();
    let mut pos = start;
    let mut last_weak: Option<(usize, usize)> = None;

    let halt = 'outer: loop {
        if pos >= n {
            break Halt::Eof;
        }
        *work = work.saturating_sub(8);
        if *work == 0 {
            break Halt::Fail;
        }
        let flags = src[pos] as u32;
        pos += 1;
        for k in 0..8u32 {
            if (flags >> k) & 1 == 1 {
                let Some(&b) = src.get(pos) else {
                    break 'outer Halt::Eof;
                };
                pos += 1;
                out.push(b);
            } else {
                if pos + 1 >= n {
                    break 'outer Halt::Eof;
                }
                let lo = src[pos] as usize;
                let hi = src[pos + 1] as usize;
                pos += 2;
                let (dist, len) = if lo & 0x80 == 0 {
                    (lo, hi)
                } else if hi & 0x80 == 0 {
                    (0x80 + (((hi << 2) & 0x180) | (lo & 0x7f)), hi & 0x1f)
                } else {
                    let Some(&l) = src.get(pos) else {
                        break 'outer Halt::Eof;
                    };
                    pos += 1;
                    (0x80 + (((hi & 0x7f) << 7) | (lo & 0x7f)), l as usize)
                };
                let len = len + 3;
                let back = dist + len;
                if back > out.len() || out.len() + len > MAX_OUT || *work <= len {
                    break 'outer Halt::Fail;
                }
                *work -= len;
                let r = out.len() - back;
                // r + len <= out.len() - dist: source and target never overlap.
                out.extend_from_within(r..r + len);
            }
            if out.len() >= MAX_OUT {
                break 'outer Halt::Fail;
            }
            // All remaining flag bits of this group are zero: possible end.
            if flags >> (k + 1) == 0 && src.get(pos) == Some(&0) {
                last_weak = Some((pos, out.len()));
                if lzss_strong_end(src, pos) {
                    break 'outer Halt::End;
                }
            }
        }
    };

    let (end, to) = match halt {
        Halt::End => (pos, out.len()),
        // Ran into junk (or the buffer end) without a clear end marker:
        // fall back to the last plausible end point.
        Halt::Eof => last_weak.unwrap_or((pos, out.len())),
        Halt::Fail => last_weak?,
    };
    out.truncate(to);
    if to < MIN_OUT || to < (end - start) + MIN_GAIN || !looks_like_cython_table(out) {
        return None;
    }
    Some(end)
}

// ---------------------------------------------------------------------------
// zlib (Cython 3.1 / 3.2)
// ---------------------------------------------------------------------------

fn zlib_scan(src: &[u8], found: &mut Vec<Vec<u8>>, work: &mut usize) {
    let n = src.len();
    let mut i = 0;
    while i + 2 < n && *work > 0 {
        match memchr::memchr(0x78, &src[i..n - 2]) {
            Some(k) => i += k,
            None => break,
        }
        let (cmf, flg) = (src[i], src[i + 1]);
        // deflate, 32 KiB window, no preset dictionary, valid header check:
        // rejects almost every 0x78 byte before zlib is asked.
        if cmf != 0x78 || flg & 0x20 != 0 || !((cmf as u32) << 8 | flg as u32).is_multiple_of(31) {
            i += 1;
            continue;
        }
        if let Some((data, used)) = zlib_inflate(&src[i..], work) {
            if data.len() >= MIN_OUT && looks_like_cython_table(&data) {
                found.push(data);
                i += used;
                continue;
            }
        }
        i += 1;
    }
}

/// Decodes the zlib stream at the start of `src` (header, deflate data and
/// Adler-32 trailer, all checked by zlib). Returns the output and the number
/// of input bytes the stream took, or `None` when the stream is invalid or
/// truncated, or when the output or work caps are hit.
fn zlib_inflate(src: &[u8], work: &mut usize) -> Option<(Vec<u8>, usize)> {
    let mut zlib = flate2::Decompress::new(true);
    let mut out: Vec<u8> = Vec::with_capacity(4096.min(MAX_OUT + 1));
    loop {
        let used = zlib.total_in() as usize;
        let before = out.len();
        let status = zlib
            .decompress_vec(&src[used..], &mut out, flate2::FlushDecompress::None)
            .ok()?;
        // Charge the output (and one step) to the budget, as each trial may
        // run on junk that happens to look like a zlib header.
        *work = work.checked_sub(out.len() - before + 1)?;
        if status == flate2::Status::StreamEnd {
            return (out.len() <= MAX_OUT).then(|| (out, zlib.total_in() as usize));
        }
        if out.len() > MAX_OUT || (zlib.total_in() as usize == used && out.len() == before) {
            return None; // too long, or truncated: no progress is possible
        }
        if out.len() == out.capacity() {
            // Up to one byte past the cap, so a stream longer than MAX_OUT is seen.
            out.reserve_exact(out.len().min(MAX_OUT + 1 - out.len()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal greedy encoder for the LZSS format described in the module
    /// docs (same bit layout as Cython's `Cython/LZSS.py`, simpler matching).
    fn lzss_encode(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8];
        let (mut flags_pos, mut nbits, mut flags) = (0usize, 0u32, 0u8);
        let mut pos = 0;
        while pos < data.len() {
            // Longest non-overlapping earlier match with length 3..=258.
            let (mut best_len, mut best_dist) = (0usize, 0usize);
            let lo = pos.saturating_sub(16384 + 128 + 258);
            for prev in lo..pos {
                let max = (pos - prev).min(258).min(data.len() - pos);
                let mut l = 0;
                while l < max && data[prev + l] == data[pos + l] {
                    l += 1;
                }
                let dist = pos - prev - l.min(max);
                if l >= 3 && l > best_len && dist < 16384 + 128 {
                    best_len = l;
                    best_dist = dist;
                }
            }
            let mut literal = true;
            if best_len >= 3 {
                let lb = best_len - 3;
                if best_dist <= 0x7f {
                    out.extend([best_dist as u8, lb as u8]);
                    literal = false;
                } else {
                    let o = best_dist - 0x80;
                    if lb < 32 && o < 512 {
                        out.extend([(o & 0x7f) as u8 | 0x80, ((o & 0x180) >> 2) as u8 | lb as u8]);
                        literal = false;
                    } else if best_len > 3 {
                        out.extend([
                            (o & 0x7f) as u8 | 0x80,
                            ((o >> 7) & 0x7f) as u8 | 0x80,
                            lb as u8,
                        ]);
                        literal = false;
                    }
                }
            }
            if literal {
                flags |= 1 << nbits;
                out.push(data[pos]);
                pos += 1;
            } else {
                pos += best_len;
            }
            nbits += 1;
            if nbits == 8 {
                out[flags_pos] = flags;
                flags = 0;
                nbits = 0;
                flags_pos = out.len();
                out.push(0);
            }
        }
        if nbits == 0 {
            out.pop();
        } else {
            out[flags_pos] = flags;
        }
        out
    }

    fn sample_table() -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(b"\n    Guess the datetime format of a given datetime string.\n    ");
        t.extend_from_slice(
            b"Parameters\n    ----------\n    dt_str : str\n        Datetime string.\n",
        );
        for name in [
            "__main__",
            "__module__",
            "__name__",
            "__qualname__",
            "__test__",
            "cline_in_traceback",
            "dateutil.parser",
            "dateutil.relativedelta",
            "dateutil.tz",
            "numpy",
            "pandas._config",
            "pandas._libs.tslibs.np_datetime",
            "pandas._libs.tslibs.parsing",
            "warnings",
        ] {
            t.extend_from_slice(name.as_bytes());
        }
        t.extend_from_slice(b"\x80\x01\xd8\x04\x0c\x88A\xd8\x08\x0b\x886\x90\x17\x98\x01\xe0\x0c");
        t
    }

    /// Embed a compressed literal the way a linker lays out `.rodata`.
    /// The literal starts 32-byte aligned and is preceded by junk that also
    /// decodes (0xff flag byte + 8 NUL "literals") and falls into step with it.
    fn embed(blob: &[u8]) -> Vec<u8> {
        let mut sec = Vec::new();
        sec.extend_from_slice(b"LZSS string data decompression failed\0");
        sec.extend_from_slice(&[0x77; 11]);
        sec.extend_from_slice(&[0xfe, 0xff, 0x38, 0x74, 0xfe, 0xff, 0xff]);
        sec.extend_from_slice(&[0u8; 8]);
        assert_eq!(sec.len(), 64);
        sec.extend_from_slice(blob);
        sec.extend_from_slice(&[0u8; 12]);
        sec.extend_from_slice(b"__pyx_fatalerror\0\0\0\0\0\0\0\0");
        sec
    }

    #[test]
    fn lzss_hand_built_bytes() {
        // flags 0b1111_0111: 3 literals, 1 back reference, 4 literals.
        // Back ref (dist 0, len 0+3) repeats "abc".
        let mut sec = vec![0xf7, b'a', b'b', b'c', 0x00, 0x00, b'd', b'e', b'f', b'g'];
        sec.extend_from_slice(&[0u8; 8]);
        let mut out = Vec::new();
        let mut work = WORK_BUDGET;
        // Far too short to be reported as a table, but `out` shows the bytes.
        assert!(lzss_try(&sec, 0, &mut out, &mut work).is_none());
        assert_eq!(out, b"abcabcdefg");
    }

    #[test]
    fn lzss_long_forms() {
        // 7+2 bit distance form and 7+7 bit distance + length byte form.
        let mut data = Vec::new();
        for i in 0..400u32 {
            data.push(b'a' + (i * 7 % 26) as u8);
            data.push(b'0' + (i * 3 % 10) as u8);
        }
        data.extend_from_slice(b"__name____test__");
        let far = data[10..60].to_vec();
        data.extend_from_slice(&far); // distance > 0x80+512 -> 3-byte form
        let near = data[data.len() - 300..data.len() - 280].to_vec();
        data.extend_from_slice(&near);
        let blob = lzss_encode(&data);
        let forms = count_forms(&blob, data.len());
        assert!(forms.iter().all(|&c| c > 0), "forms used: {forms:?}");
        let got = decompress_candidates(&embed(&blob));
        assert_eq!(got, vec![data]);
    }

    /// Count back references per encoding form (2-byte short, 2-byte 7+2 bit,
    /// 3-byte) in a well-formed stream producing `total` bytes.
    fn count_forms(blob: &[u8], total: usize) -> [usize; 3] {
        let (mut forms, mut pos, mut produced) = ([0; 3], 0, 0);
        while produced < total {
            let flags = blob[pos];
            pos += 1;
            for k in 0..8 {
                if produced >= total {
                    break;
                }
                if (flags >> k) & 1 == 1 {
                    pos += 1;
                    produced += 1;
                    continue;
                }
                let (lo, hi) = (blob[pos], blob[pos + 1]);
                pos += 2;
                produced += 3 + if lo & 0x80 == 0 {
                    forms[0] += 1;
                    hi as usize
                } else if hi & 0x80 == 0 {
                    forms[1] += 1;
                    (hi & 0x1f) as usize
                } else {
                    forms[2] += 1;
                    pos += 1;
                    blob[pos - 1] as usize
                };
            }
        }
        forms
    }

    #[test]
    fn lzss_table_roundtrip_in_section() {
        let table = sample_table();
        let blob = lzss_encode(&table);
        assert!(blob.len() + MIN_GAIN < table.len()); // it compresses
        let got = decompress_candidates(&embed(&blob));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0], table);
        assert!(memchr::memmem::find(&got[0], b"dateutil.relativedelta").is_some());
    }

    #[test]
    fn lzss_blob_at_section_end() {
        let table = sample_table();
        let mut sec = b"LZSS string data decompression failed\0".to_vec();
        sec.extend_from_slice(&lzss_encode(&table));
        sec.push(0);
        assert_eq!(decompress_candidates(&sec), vec![table]);
    }

    /// A zlib stream of stored (uncompressed) blocks.
    fn stored_zlib(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::none());
        z.write_all(data).unwrap();
        let z = z.finish().unwrap();
        assert_eq!(z[..2], [0x78, 0x01]);
        z
    }

    #[test]
    fn zlib_stored_block() {
        let table = sample_table();
        let got = decompress_candidates(&embed(&stored_zlib(&table)));
        assert_eq!(got, vec![table]);
    }

    #[test]
    fn zlib_bad_checksum_or_truncation_is_rejected() {
        let table = sample_table();
        let mut bad_sum = stored_zlib(&table);
        *bad_sum.last_mut().unwrap() ^= 1;
        assert!(decompress_candidates(&embed(&bad_sum)).is_empty());
        let whole = stored_zlib(&table);
        let cut = &whole[..whole.len() - 2];
        assert!(decompress_candidates(cut).is_empty());
    }

    #[test]
    fn zlib_fixed_and_dynamic_blocks() {
        // python3 -c "import zlib; print(list(zlib.compress(
        //     b'__name__ __main__ __test__ ' * 20 + bytes(range(256)), 9)))"   (fixed Huffman)
        let fixed: &[u8] = &[
            120, 218, 139, 143, 207, 75, 204, 77, 141, 143, 87, 136, 143, 207, 77, 204, 204, 3, 51,
            74, 82, 139, 75, 192, 140, 81, 169, 17, 45, 197, 192, 200, 196, 204, 194, 202, 198,
            206, 193, 201, 197, 205, 195, 203, 199, 47, 32, 40, 36, 44, 34, 42, 38, 46, 33, 41, 37,
            45, 35, 43, 39, 175, 160, 168, 164, 172, 162, 170, 166, 174, 161, 169, 165, 173, 163,
            171, 167, 111, 96, 104, 100, 108, 98, 106, 102, 110, 97, 105, 101, 109, 99, 107, 103,
            239, 224, 232, 228, 236, 226, 234, 230, 238, 225, 233, 229, 237, 227, 235, 231, 31, 16,
            24, 20, 28, 18, 26, 22, 30, 17, 25, 21, 29, 19, 27, 23, 159, 144, 152, 148, 156, 146,
            154, 150, 158, 145, 153, 149, 157, 147, 155, 151, 95, 80, 88, 84, 92, 82, 90, 86, 94,
            81, 89, 85, 93, 83, 91, 87, 223, 208, 216, 212, 220, 210, 218, 214, 222, 209, 217, 213,
            221, 211, 219, 215, 63, 97, 226, 164, 201, 83, 166, 78, 155, 62, 99, 230, 172, 217,
            115, 230, 206, 155, 191, 96, 225, 162, 197, 75, 150, 46, 91, 190, 98, 229, 170, 213,
            107, 214, 174, 91, 191, 97, 227, 166, 205, 91, 182, 110, 219, 190, 99, 231, 174, 221,
            123, 246, 238, 219, 127, 224, 224, 161, 195, 71, 142, 30, 59, 126, 226, 228, 169, 211,
            103, 206, 158, 59, 127, 225, 226, 165, 203, 87, 174, 94, 187, 126, 227, 230, 173, 219,
            119, 238, 222, 187, 255, 224, 225, 163, 199, 79, 158, 62, 123, 254, 226, 229, 171, 215,
            111, 222, 190, 123, 255, 225, 227, 167, 207, 95, 190, 126, 251, 254, 227, 231, 175,
            223, 127, 254, 254, 251, 15, 0, 43, 100, 68, 152,
        ];
        let mut want: Vec<u8> = b"__name__ __main__ __test__ ".repeat(20);
        want.extend(0..=255u8);
        let mut work = WORK_BUDGET;
        let (got, used) = zlib_inflate(fixed, &mut work).expect("inflate fixed");
        assert_eq!(got, want);
        assert_eq!(used, fixed.len());
        assert_eq!(decompress_candidates(&embed(fixed)), vec![want]);

        // b'\n'.join([b'__main__', b'__module__', b'__name__', b'__qualname__', b'__test__',
        //   b'cline_in_traceback', b'dateutil.parser', b'dateutil.relativedelta', b'numpy',
        //   b'pandas._libs.tslibs.parsing', b'warnings'] * 3), level 9  (dynamic Huffman)
        let dynamic: &[u8] = &[
            120, 218, 237, 142, 49, 14, 2, 49, 12, 4, 251, 60, 38, 95, 178, 246, 18, 11, 89, 56,
            38, 196, 14, 136, 223, 147, 59, 36, 104, 121, 192, 85, 59, 91, 140, 52, 68, 13, 98, 68,
            137, 168, 221, 234, 84, 62, 208, 208, 62, 112, 159, 208, 239, 9, 246, 88, 80, 84, 140,
            105, 73, 49, 80, 120, 67, 185, 166, 138, 224, 25, 162, 185, 99, 56, 143, 223, 31, 172,
            8, 121, 112, 101, 13, 36, 155, 173, 191, 82, 135, 85, 120, 38, 149, 205, 115, 248, 49,
            187, 39, 118, 73, 79, 12, 91, 235, 123, 206, 217, 245, 127, 215, 27, 53, 157, 171, 141,
        ];
        let names: &[&[u8]] = &[
            b"__main__",
            b"__module__",
            b"__name__",
            b"__qualname__",
            b"__test__",
            b"cline_in_traceback",
            b"dateutil.parser",
            b"dateutil.relativedelta",
            b"numpy",
            b"pandas._libs.tslibs.parsing",
            b"warnings",
        ];
        let want = [names, names, names].concat().join(&b"\n"[..]);
        let got = decompress_candidates(&embed(dynamic));
        assert_eq!(got, vec![want]);
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn never_panics_on_random_or_truncated_input() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let table = sample_table();
        let lz = embed(&lzss_encode(&table));
        let zs = embed(&stored_zlib(&table));
        for round in 0..400 {
            let len = (rng.next() % 4096) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            match round % 5 {
                // Bias towards things the scanners look for.
                1 => buf.iter_mut().for_each(|b| *b |= 0x07),
                2 => {
                    for c in buf.chunks_mut(2) {
                        if rng.next().is_multiple_of(4) {
                            c[0] = 0x78;
                            if c.len() > 1 {
                                c[1] = [0x01, 0x5e, 0x9c, 0xda][(rng.next() % 4) as usize];
                            }
                        }
                    }
                }
                3 => buf
                    .iter_mut()
                    .for_each(|b| *b = if *b & 1 == 1 { 0xff } else { 0 }),
                _ => {}
            }
            if round % 2 == 0 {
                buf.extend_from_slice(b"LZSS"); // enable the LZSS search
            }
            let _ = decompress_candidates(&buf);
        }
        // Truncations and single-byte corruptions of valid sections.
        for base in [&lz, &zs] {
            for cut in (0..base.len()).step_by(3) {
                let _ = decompress_candidates(&base[..cut]);
                let _ = decompress_candidates(&base[cut..]);
            }
            for _ in 0..300 {
                let mut b = base.clone();
                let i = (rng.next() as usize) % b.len();
                b[i] = rng.next() as u8;
                for o in decompress_candidates(&b) {
                    assert!(o.len() <= MAX_OUT);
                }
            }
        }
        assert!(decompress_candidates(&[]).is_empty());
        let mut ff = vec![0xffu8; 70_000];
        ff.extend_from_slice(b"LZSS");
        assert!(decompress_candidates(&ff).is_empty());
        assert!(decompress_candidates(&[0x78; 70_000]).is_empty());
    }
}
