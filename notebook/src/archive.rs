//! The `.zip` framing of a backup, written and read around the data rather than through it.
//!
//! A backup holds the data files as they are (stored, not compressed), so the page can hand
//! the browser each kept file itself as a part of the download's `Blob`: a gigabyte of files
//! is never copied into the page's memory. Writing: [`ArchiveWriter`] gives the bytes that go
//! before each file (its local header; the CRC-32 and size are known first) and, at the end,
//! the central directory; zip64 is used where sizes or offsets pass 4 GiB. Reading: from the
//! end of the file ([`find_end`]) and the central directory ([`read_directory`]) alone, the
//! entries with where their data starts ([`data_start`]), so each can be read (or handed on)
//! as a slice of the user's `File`; names are checked before anything is used
//! ([`check_entries`]). Every backup written here is read back by the `zip` crate in the
//! tests, and the reader is tested on archives the `zip` crate writes.

use std::collections::HashSet;

/// CRC-32 as zip computes it, fed in parts.
pub use crc32fast::Hasher as Crc32;

/// The largest central directory read: 64 MiB, room for several hundred thousand entries.
/// A claim of more is refused before anything that size is read.
pub const MAX_DIRECTORY_BYTES: u64 = 64 * 1024 * 1024;

/// How far from the end the end-of-directory records can start: the record (22 bytes), the
/// longest comment (65,535), and zip64's record (56) and locator (20) before it.
pub const END_SEARCH_BYTES: u64 = 22 + 65_535 + 56 + 20;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_DIRECTORY: u32 = 0x0605_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const ZIP64_EXTRA: u16 = 0x0001;
/// General purpose flag: the name is UTF-8.
const UTF8_NAME: u16 = 0x0800;
const ENCRYPTED: u16 = 0x0001;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;
/// Version 4.5: zip64.
const VERSION: u16 = 45;
/// Made by Unix (for the file mode), version 4.5.
const MADE_BY: u16 = (3 << 8) | VERSION;
/// `-rw-r--r--` regular file.
const FILE_MODE: u32 = 0o100_644 << 16;

/// Why an archive cannot be read. Each message is for the person restoring it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchiveError {
    #[error("this is not a .zip file (or it is cut short)")]
    NotAZip,
    #[error("this .zip file is damaged ({0})")]
    Damaged(&'static str),
    #[error("“{0}” in the backup is encrypted; the workbench cannot read encrypted entries")]
    Encrypted(String),
    #[error("the backup holds “{0}”, a path that leaves its folder; nothing was restored")]
    LeavesFolder(String),
    #[error("the backup holds “{0}”, an absolute path; nothing was restored")]
    Absolute(String),
    #[error("the backup holds “{0}” twice; nothing was restored")]
    Duplicate(String),
}

/// How an entry's data is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
    Other(u16),
}

/// An entry of the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedEntry {
    pub name: String,
    pub method: Method,
    pub crc32: u32,
    /// Bytes of data in the archive.
    pub compressed: u64,
    /// Bytes once unpacked, as the archive declares.
    pub size: u64,
    /// Where the entry's local header starts.
    pub header_offset: u64,
}

impl ArchivedEntry {
    /// A folder, not a file.
    pub fn is_folder(&self) -> bool {
        self.name.ends_with('/')
    }
}

/// Where the central directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct End {
    pub entries: u64,
    pub directory_offset: u64,
    pub directory_size: u64,
}

/// Writes the framing of an archive of stored entries, in order: each entry's header
/// ([`ArchiveWriter::entry`]), then its data (by the caller), and the directory at the end.
#[derive(Debug, Default)]
pub struct ArchiveWriter {
    offset: u64,
    directory: Vec<u8>,
    entries: u64,
}

impl ArchiveWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The local header of a stored entry of `size` bytes whose CRC-32 is `crc32`, changed at
    /// `modified` (Unix milliseconds); the caller writes exactly `size` bytes of data after it.
    pub fn entry(&mut self, name: &str, size: u64, crc32: u32, modified: f64) -> Vec<u8> {
        let (time, date) = dos_time(modified);
        let large = size >= 0xFFFF_FFFF;
        let far = self.offset >= 0xFFFF_FFFF;
        let mut local = Vec::with_capacity(30 + name.len() + 20);
        put32(&mut local, LOCAL_HEADER);
        put16(&mut local, VERSION);
        put16(&mut local, UTF8_NAME);
        put16(&mut local, STORED);
        put16(&mut local, time);
        put16(&mut local, date);
        put32(&mut local, crc32);
        let small = if large { 0xFFFF_FFFF } else { size as u32 };
        put32(&mut local, small);
        put32(&mut local, small);
        put16(&mut local, name.len() as u16);
        put16(&mut local, if large { 20 } else { 0 });
        local.extend_from_slice(name.as_bytes());
        if large {
            put16(&mut local, ZIP64_EXTRA);
            put16(&mut local, 16);
            put64(&mut local, size);
            put64(&mut local, size);
        }

        let central = &mut self.directory;
        put32(central, CENTRAL_HEADER);
        put16(central, MADE_BY);
        put16(central, VERSION);
        put16(central, UTF8_NAME);
        put16(central, STORED);
        put16(central, time);
        put16(central, date);
        put32(central, crc32);
        put32(central, small);
        put32(central, small);
        put16(central, name.len() as u16);
        let extra = if large { 16 } else { 0 } + if far { 8 } else { 0 };
        put16(central, if extra > 0 { extra + 4 } else { 0 });
        put16(central, 0); // comment
        put16(central, 0); // disk
        put16(central, 0); // internal attributes
        put32(central, FILE_MODE);
        put32(central, if far { 0xFFFF_FFFF } else { self.offset as u32 });
        central.extend_from_slice(name.as_bytes());
        if extra > 0 {
            put16(central, ZIP64_EXTRA);
            put16(central, extra);
            if large {
                put64(central, size);
                put64(central, size);
            }
            if far {
                put64(central, self.offset);
            }
        }
        self.offset += local.len() as u64 + size;
        self.entries += 1;
        local
    }

    /// The central directory and the end records.
    pub fn finish(self) -> Vec<u8> {
        let Self {
            offset,
            mut directory,
            entries,
        } = self;
        let size = directory.len() as u64;
        let zip64 = entries >= 0xFFFF || offset >= 0xFFFF_FFFF || size >= 0xFFFF_FFFF;
        if zip64 {
            let record = offset + size;
            put32(&mut directory, ZIP64_END);
            put64(&mut directory, 44);
            put16(&mut directory, MADE_BY);
            put16(&mut directory, VERSION);
            put32(&mut directory, 0);
            put32(&mut directory, 0);
            put64(&mut directory, entries);
            put64(&mut directory, entries);
            put64(&mut directory, size);
            put64(&mut directory, offset);
            put32(&mut directory, ZIP64_LOCATOR);
            put32(&mut directory, 0);
            put64(&mut directory, record);
            put32(&mut directory, 1);
        }
        put32(&mut directory, END_OF_DIRECTORY);
        put16(&mut directory, 0);
        put16(&mut directory, 0);
        let count = if zip64 { 0xFFFF } else { entries as u16 };
        put16(&mut directory, count);
        put16(&mut directory, count);
        put32(
            &mut directory,
            if zip64 { 0xFFFF_FFFF } else { size as u32 },
        );
        put32(
            &mut directory,
            if zip64 { 0xFFFF_FFFF } else { offset as u32 },
        );
        put16(&mut directory, 0);
        directory
    }
}

/// Finds the central directory from the archive's last bytes: `tail` is the archive from
/// `tail_start` to its end (`archive_len`); at most [`END_SEARCH_BYTES`] are needed.
pub fn find_end(tail: &[u8], tail_start: u64, archive_len: u64) -> Result<End, ArchiveError> {
    if tail.len() < 22 {
        return Err(ArchiveError::NotAZip);
    }
    let at = (0..=tail.len() - 22)
        .rev()
        .find(|&at| read32(tail, at) == Some(END_OF_DIRECTORY))
        .ok_or(ArchiveError::NotAZip)?;
    let field16 = |offset| u64::from(read16(tail, at + offset).unwrap_or(0));
    let field32 = |offset| u64::from(read32(tail, at + offset).unwrap_or(0));
    let mut end = End {
        entries: field16(10),
        directory_size: field32(12),
        directory_offset: field32(16),
    };
    if end.entries == 0xFFFF
        || end.directory_size == 0xFFFF_FFFF
        || end.directory_offset == 0xFFFF_FFFF
    {
        let locator = at
            .checked_sub(20)
            .filter(|&locator| read32(tail, locator) == Some(ZIP64_LOCATOR))
            .ok_or(ArchiveError::Damaged("its zip64 locator is missing"))?;
        let record = read64(tail, locator + 8).unwrap_or(u64::MAX);
        let record = record
            .checked_sub(tail_start)
            .and_then(|record| usize::try_from(record).ok())
            .filter(|&record| read32(tail, record) == Some(ZIP64_END))
            .ok_or(ArchiveError::Damaged("its zip64 end record is missing"))?;
        end = End {
            entries: read64(tail, record + 32).unwrap_or(0),
            directory_size: read64(tail, record + 40).unwrap_or(0),
            directory_offset: read64(tail, record + 48).unwrap_or(0),
        };
    }
    if end.directory_size > MAX_DIRECTORY_BYTES {
        return Err(ArchiveError::Damaged(
            "its directory is larger than a backup's can be",
        ));
    }
    let directory_end = end
        .directory_offset
        .checked_add(end.directory_size)
        .ok_or(ArchiveError::Damaged("its directory is out of the file"))?;
    if directory_end > archive_len {
        return Err(ArchiveError::Damaged("its directory is out of the file"));
    }
    Ok(end)
}

/// The entries of the central directory `directory` (the `end.directory_size` bytes at
/// `end.directory_offset`).
pub fn read_directory(directory: &[u8], end: &End) -> Result<Vec<ArchivedEntry>, ArchiveError> {
    let damaged = ArchiveError::Damaged("its directory cannot be read");
    let mut entries = Vec::new();
    let mut at = 0usize;
    for _ in 0..end.entries {
        if read32(directory, at) != Some(CENTRAL_HEADER) {
            return Err(damaged);
        }
        let field16 = |offset| read16(directory, at + offset).ok_or(damaged.clone());
        let field32 = |offset| read32(directory, at + offset).ok_or(damaged.clone());
        let flags = field16(8)?;
        let method = match field16(10)? {
            STORED => Method::Stored,
            DEFLATED => Method::Deflated,
            other => Method::Other(other),
        };
        let crc32 = field32(16)?;
        let mut compressed = u64::from(field32(20)?);
        let mut size = u64::from(field32(24)?);
        let name_len = usize::from(field16(28)?);
        let extra_len = usize::from(field16(30)?);
        let comment_len = usize::from(field16(32)?);
        let mut header_offset = u64::from(field32(42)?);
        let name_bytes = directory
            .get(at + 46..at + 46 + name_len)
            .ok_or(damaged.clone())?;
        let name = if flags & UTF8_NAME != 0 || name_bytes.is_ascii() {
            String::from_utf8(name_bytes.to_vec()).map_err(|_| damaged.clone())?
        } else {
            // Code page 437 names: the ASCII part is what the workbench's names can hold.
            String::from_utf8_lossy(name_bytes).into_owned()
        };
        let extra = directory
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or(damaged.clone())?;
        // zip64: the fields that are all ones are in the extra field, in this order.
        let mut field = 0usize;
        let mut cursor = 0usize;
        while cursor + 4 <= extra.len() {
            let id = read16(extra, cursor).unwrap_or(0);
            let len = usize::from(read16(extra, cursor + 2).unwrap_or(0));
            if id == ZIP64_EXTRA {
                let mut take = |value: &mut u64| {
                    if *value == 0xFFFF_FFFF {
                        if let Some(wide) = read64(extra, cursor + 4 + field) {
                            *value = wide;
                        }
                        field += 8;
                    }
                };
                take(&mut size);
                take(&mut compressed);
                take(&mut header_offset);
            }
            cursor += 4 + len;
        }
        if flags & ENCRYPTED != 0 {
            return Err(ArchiveError::Encrypted(name));
        }
        entries.push(ArchivedEntry {
            name,
            method,
            crc32,
            compressed,
            size,
            header_offset,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

/// Where an entry's data starts, from the first 30 bytes of its local header.
pub fn data_start(local_header: &[u8], entry: &ArchivedEntry) -> Result<u64, ArchiveError> {
    if read32(local_header, 0) != Some(LOCAL_HEADER) {
        return Err(ArchiveError::Damaged("an entry's header is missing"));
    }
    let name_len = u64::from(read16(local_header, 26).unwrap_or(0));
    let extra_len = u64::from(read16(local_header, 28).unwrap_or(0));
    Ok(entry.header_offset + 30 + name_len + extra_len)
}

/// Refuses an archive whose names could write outside the place they go (`..`, absolute
/// paths, drive letters, backslashes) or that names a file twice, and one whose entries'
/// data does not lie before the directory.
pub fn check_entries(entries: &[ArchivedEntry], end: &End) -> Result<(), ArchiveError> {
    let mut seen = HashSet::new();
    for entry in entries {
        let name = &entry.name;
        let shown = || name.chars().take(80).collect::<String>();
        if name.starts_with('/') || name.starts_with('\\') || name.as_bytes().get(1) == Some(&b':')
        {
            return Err(ArchiveError::Absolute(shown()));
        }
        if name.contains('\\')
            || name.split('/').any(|part| part == ".." || part == ".")
            || name.contains('\0')
        {
            return Err(ArchiveError::LeavesFolder(shown()));
        }
        if !seen.insert(name.trim_end_matches('/').to_owned()) {
            return Err(ArchiveError::Duplicate(shown()));
        }
        let data_end = entry
            .header_offset
            .checked_add(30 + name.len() as u64)
            .and_then(|start| start.checked_add(entry.compressed));
        if data_end.is_none_or(|data_end| data_end > end.directory_offset) {
            return Err(ArchiveError::Damaged("an entry's data runs past its end"));
        }
        if entry.method == Method::Stored && entry.compressed != entry.size {
            return Err(ArchiveError::Damaged("a stored entry's sizes differ"));
        }
        // DEFLATE grows data it cannot shrink by a few bytes per 64 KiB block at most: an
        // entry that claims more is not read (its declared size is what callers cap).
        if entry.method == Method::Deflated
            && entry.compressed > entry.size.saturating_add(entry.size / 64 + 1024)
        {
            return Err(ArchiveError::Damaged(
                "an entry's compressed data is larger than the data it unpacks to",
            ));
        }
    }
    Ok(())
}

/// A time as MS-DOS keeps it in a zip: (time, date), local to nothing (UTC), 1980 at the
/// earliest.
fn dos_time(unix_ms: f64) -> (u16, u16) {
    let seconds = (unix_ms / 1000.0).max(315_532_800.0) as i64;
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let time = ((in_day / 3600) << 11) | (((in_day % 3600) / 60) << 5) | ((in_day % 60) / 2);
    let date = ((year - 1980).clamp(0, 127) << 9) | (month << 5) | day;
    (time as u16, date as u16)
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn read16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn read32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn read64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read, Write};

    use super::*;

    /// An archive written here, as bytes.
    fn written(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = ArchiveWriter::new();
        let mut archive = Vec::new();
        for (name, data) in files {
            let crc = crc32fast::hash(data);
            archive.extend(writer.entry(name, data.len() as u64, crc, 1_733_000_000_000.0));
            archive.extend_from_slice(data);
        }
        archive.extend(writer.finish());
        archive
    }

    /// Reads `archive` as the page does: the end, the directory, each entry's data.
    fn read_back(archive: &[u8]) -> Result<Vec<(ArchivedEntry, Vec<u8>)>, ArchiveError> {
        let tail_start = (archive.len() as u64).saturating_sub(END_SEARCH_BYTES);
        let end = find_end(
            &archive[tail_start as usize..],
            tail_start,
            archive.len() as u64,
        )?;
        let start = end.directory_offset as usize;
        let directory = &archive[start..start + end.directory_size as usize];
        let entries = read_directory(directory, &end)?;
        check_entries(&entries, &end)?;
        entries
            .into_iter()
            .map(|entry| {
                let header = &archive[entry.header_offset as usize..][..30];
                let start = data_start(header, &entry)? as usize;
                let data = archive[start..start + entry.compressed as usize].to_vec();
                Ok((entry, data))
            })
            .collect()
    }

    #[test]
    fn the_zip_crate_reads_what_is_written_here() {
        let files: [(&str, &[u8]); 3] = [
            ("notebooks/Trips.ipynb", b"{\"cells\": []}"),
            ("files/sales/2024 q1.csv", b"a,b\n1,2\n"),
            ("files/empty.bin", b""),
        ];
        let archive = written(&files);
        let mut zip = zip::ZipArchive::new(Cursor::new(archive)).expect("a zip");
        assert_eq!(zip.len(), 3);
        for (name, data) in files {
            let mut entry = zip.by_name(name).expect("the entry");
            let mut read = Vec::new();
            entry.read_to_end(&mut read).expect("its data, CRC checked");
            assert_eq!(read, data);
            assert_eq!(entry.unix_mode(), Some(0o100_644));
            let modified = entry.last_modified().expect("a time");
            assert_eq!(
                (modified.year(), modified.month(), modified.day()),
                (2024, 11, 30)
            );
        }
    }

    #[test]
    fn what_is_written_here_reads_back() {
        let archive = written(&[("a.txt", b"alpha"), ("b/c.txt", b"gamma")]);
        let read = read_back(&archive).expect("reads");
        assert_eq!(read.len(), 2);
        assert_eq!(read[1].0.name, "b/c.txt");
        assert_eq!(read[1].1, b"gamma");
        assert_eq!(read[1].0.crc32, crc32fast::hash(b"gamma"));
    }

    #[test]
    fn archives_the_zip_crate_writes_are_read_deflated_ones_too() {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("notebooks/One.ipynb", deflated)
            .expect("starts");
        zip.write_all(&[b'x'; 10_000]).expect("writes");
        zip.add_directory("files/", deflated).expect("a folder");
        let stored = deflated.compression_method(zip::CompressionMethod::Stored);
        zip.start_file("files/two.csv", stored).expect("starts");
        zip.write_all(b"x,y\n").expect("writes");
        zip.set_comment("a comment at the end").expect("a comment");
        let archive = zip.finish().expect("finishes").into_inner();
        let read = read_back(&archive).expect("reads");
        assert_eq!(read.len(), 3);
        let (one, data) = &read[0];
        assert_eq!(one.method, Method::Deflated);
        assert_eq!(one.size, 10_000);
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(data.as_slice())
            .read_to_end(&mut inflated)
            .expect("inflates");
        assert_eq!(inflated, vec![b'x'; 10_000]);
        assert!(read[1].0.is_folder());
        assert_eq!(read[2].1, b"x,y\n");
    }

    #[test]
    fn large_sizes_and_offsets_go_in_zip64_fields() {
        // Only the framing: a 5 GB entry's header, then a small one past 5 GB.
        let mut writer = ArchiveWriter::new();
        let big = writer.entry("files/big.bin", 5_000_000_000, 7, 0.0);
        assert_eq!(big.len(), 30 + "files/big.bin".len() + 20);
        writer.entry("files/after.txt", 3, 9, 0.0);
        let directory_offset = writer.offset;
        let directory = writer.finish();
        let tail_start = directory_offset;
        let end = find_end(
            &directory,
            tail_start,
            directory_offset + directory.len() as u64,
        )
        .expect("the end");
        assert_eq!(end.entries, 2);
        assert_eq!(end.directory_offset, directory_offset);
        let entries = read_directory(&directory, &end).expect("the directory");
        assert_eq!(entries[0].size, 5_000_000_000);
        assert_eq!(entries[0].compressed, 5_000_000_000);
        assert_eq!(entries[1].header_offset, big.len() as u64 + 5_000_000_000);
        assert_eq!(entries[1].size, 3);
        check_entries(&entries, &end).expect("consistent");
    }

    #[test]
    fn hostile_names_are_refused() {
        for (name, expected) in [
            ("../outside.txt", "leaves its folder"),
            ("files/../../x", "leaves its folder"),
            ("files/a\\..\\b", "leaves its folder"),
            ("/etc/passwd", "an absolute path"),
            ("C:/Windows/x", "an absolute path"),
        ] {
            let archive = written(&[(name, b"x")]);
            let error = read_back(&archive).expect_err("refused");
            assert!(error.to_string().contains(expected), "{name}: {error}");
        }
        let twice = written(&[("files/a.csv", b"1"), ("files/a.csv", b"2")]);
        assert_eq!(
            read_back(&twice).expect_err("refused"),
            ArchiveError::Duplicate("files/a.csv".to_owned())
        );
    }

    #[test]
    fn damaged_archives_say_so() {
        assert_eq!(
            read_back(b"not a zip at all").expect_err("refused"),
            ArchiveError::NotAZip
        );
        let archive = written(&[("a.txt", b"alpha")]);
        // Cut in the middle: the end is gone.
        assert_eq!(
            read_back(&archive[..archive.len() / 2]).expect_err("refused"),
            ArchiveError::NotAZip
        );
        // A stored entry that claims more data than there is.
        let mut lying = archive.clone();
        let central = lying
            .windows(4)
            .position(|window| window == CENTRAL_HEADER.to_le_bytes())
            .expect("a directory");
        lying[central + 20..central + 24].copy_from_slice(&1_000_000u32.to_le_bytes());
        lying[central + 24..central + 28].copy_from_slice(&1_000_000u32.to_le_bytes());
        let error = read_back(&lying).expect_err("refused");
        assert!(error.to_string().contains("runs past"), "{error}");
    }

    #[test]
    fn a_deflated_entry_that_claims_to_unpack_to_less_than_it_holds_is_refused() {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("notebooks/x.ipynb", deflated)
            .expect("starts");
        let noise: Vec<u8> = (0..200_000u32)
            .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        zip.write_all(&noise).expect("writes");
        let mut archive = zip.finish().expect("finishes").into_inner();
        assert!(read_back(&archive).is_ok());
        // The directory now says it unpacks to 10 bytes: a reader capping the declared size
        // would still read all the compressed bytes.
        let central = archive
            .windows(4)
            .position(|window| window == CENTRAL_HEADER.to_le_bytes())
            .expect("a directory");
        archive[central + 24..central + 28].copy_from_slice(&10u32.to_le_bytes());
        let error = read_back(&archive).expect_err("refused");
        assert!(
            error.to_string().contains("larger than the data"),
            "{error}"
        );
    }

    #[test]
    fn dos_times_are_utc_calendar_times() {
        // 2024-02-29 13:45:30 UTC.
        let (time, date) = dos_time(1_709_214_330_000.0);
        assert_eq!(date, ((2024 - 1980) << 9) | (2 << 5) | 29);
        assert_eq!(time, (13 << 11) | (45 << 5) | 15);
        assert_eq!(dos_time(0.0), (0, (1 << 5) | 1));
    }
}
