//! Reading zone files without reaching outside their place: regular files only,
//! size limits, `$INCLUDE` confined to the zone's directory and configured ones.
//!
//! A zone file is trusted content; what it names with `$INCLUDE` is not
//! until it is shown to be one of ours. So a target is canonicalised (no
//! `..`, no symlinks) and must lie under an allowed directory; it is
//! checked to be a regular file before it is opened (so a device such as
//! `/dev/zero` or a FIFO is never opened at all), opened without following
//! a symlink and without blocking, and checked again on the open descriptor
//! (its type, and on Linux the path the kernel resolved), so a swap between
//! the check and the open gains nothing. Nothing is read from a refused file.

use std::{
    fs::File,
    hash::Hasher as _,
    io::Read,
    os::unix::fs::OpenOptionsExt,
    path::{Component, Path, PathBuf},
    time::SystemTime,
};

/// Largest single file, the zone file or one it includes: room for a large
/// TLD's zone in one file. Files are read in blocks, so this bounds time, not memory.
pub(crate) const DEFAULT_MAX_FILE_BYTES: u64 = 4 << 30;
/// Largest sum of a zone file and everything it includes.
pub(crate) const DEFAULT_MAX_TOTAL_BYTES: u64 = 8 << 30;
/// How deep `$INCLUDE`s may nest; this is also what stops a file including
/// itself. BIND's and Knot's zone files rarely use more than two levels.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 10;

/// Where a zone may read from, and how much (`[server] include_dirs`,
/// `zone_file_max_bytes`, `zone_max_bytes`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Directories besides the zone file's own whose files `$INCLUDE` may read.
    pub include_dirs: Vec<PathBuf>,
    /// Largest single file.
    pub max_file_bytes: u64,
    /// Largest sum of a zone file and its includes.
    pub max_total_bytes: u64,
    /// Refuse what other servers let through with a warning (`[server] strict`):
    /// an out-of-zone record fails the zone instead of being skipped.
    pub strict: bool,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            include_dirs: Vec::new(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            strict: false,
        }
    }
}

/// A file a zone was read from, as it was when read: what a reload
/// compares with to tell whether the zone changed (`crate::zone_files`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FileRead {
    /// The path it was opened by.
    pub path: PathBuf,
    pub size: u64,
    pub modified: Option<SystemTime>,
    /// The hash of its bytes ([`crate::zone_files::content_hasher`]).
    pub hash: u64,
}

/// One zone's reading: the directories it may include from and the bytes read so far.
#[derive(Debug)]
pub(crate) struct Source {
    limits: ReadLimits,
    /// Canonical directories under which `$INCLUDE` targets must lie.
    roots: Vec<PathBuf>,
    read: u64,
    /// Every file read, the zone file first.
    files: Vec<FileRead>,
}

impl Source {
    /// Reading of a zone whose top file is `zone_file` (which need not exist,
    /// e.g. for zone text given in memory: then only `include_dirs` are allowed
    /// besides its directory, if that exists).
    pub(crate) fn new(zone_file: &Path, limits: &ReadLimits) -> Source {
        let own_dir = std::fs::canonicalize(zone_file)
            .ok()
            .and_then(|f| f.parent().map(Path::to_path_buf))
            .or_else(|| {
                // A bare file name lives in the current directory.
                let dir = zone_file.parent().filter(|d| !d.as_os_str().is_empty());
                std::fs::canonicalize(dir.unwrap_or(Path::new("."))).ok()
            });
        let roots = own_dir
            .into_iter()
            .chain(limits.include_dirs.iter().filter_map(|d| std::fs::canonicalize(d).ok()))
            .collect();
        Source {
            limits: limits.clone(),
            roots,
            read: 0,
            files: Vec::new(),
        }
    }

    /// Every file read so far (the zone file, then its includes in order).
    pub(crate) fn into_files(self) -> Vec<FileRead> {
        self.files
    }

    /// Opens the zone file itself: the operator named it, so it is not
    /// confined, but it must be a regular file within the size limits.
    pub(crate) fn open_zone_file(&mut self, path: &Path) -> Result<Input, String> {
        let file = self.open_regular(path, path)?;
        self.input(file, path)
    }

    /// Opens an `$INCLUDE` target (already joined to the including file's
    /// directory), refusing anything outside the allowed directories.
    pub(crate) fn open_include(&mut self, path: &Path) -> Result<Input, String> {
        let refused = || {
            format!(
                "$INCLUDE {} refused: not under the zone file's directory or a [server] include_dirs entry",
                path.display()
            )
        };
        // Outside is refused before anything says whether the file exists.
        if !resolve(path).is_some_and(|p| self.allowed(&p)) {
            return Err(refused());
        }
        let canonical = std::fs::canonicalize(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !self.allowed(&canonical) {
            return Err(refused());
        }
        let file = self.open_regular(&canonical, path)?;
        // The descriptor's own path: a directory swapped for a symlink after
        // the check above shows here.
        if let Ok(opened) = descriptor_path(&file)
            && !self.allowed(&opened)
        {
            return Err(format!(
                "$INCLUDE {} refused: it moved outside the allowed directories while being opened",
                path.display()
            ));
        }
        self.input(file, path)
    }

    /// The whole zone file at once, for tests.
    #[cfg(test)]
    pub(crate) fn read_zone_file(&mut self, path: &Path) -> Result<Vec<u8>, String> {
        let input = self.open_zone_file(path)?;
        self.read_all(input)
    }

    /// The whole `$INCLUDE` target at once, for tests.
    #[cfg(test)]
    pub(crate) fn read_include(&mut self, path: &Path) -> Result<Vec<u8>, String> {
        let input = self.open_include(path)?;
        self.read_all(input)
    }

    #[cfg(test)]
    fn read_all(&mut self, mut input: Input) -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        while !self.fill(&mut input, &mut bytes, 1 << 16)? {}
        Ok(bytes)
    }

    /// Whether out-of-zone data fails the zone rather than being skipped.
    pub(crate) fn strict(&self) -> bool {
        self.limits.strict
    }

    fn allowed(&self, canonical: &Path) -> bool {
        self.roots.iter().any(|root| canonical.starts_with(root))
    }

    /// Opens `path` (shown as `shown`) only if it is a regular file, checked
    /// before opening and again on the descriptor.
    fn open_regular(&self, path: &Path, shown: &Path) -> Result<File, String> {
        let cannot = |e: std::io::Error| format!("cannot read {}: {e}", shown.display());
        let not_regular = || format!("{} is not a regular file; refused", shown.display());
        if !std::fs::metadata(path).map_err(cannot)?.is_file() {
            return Err(not_regular());
        }
        // O_NONBLOCK: a FIFO swapped in meanwhile must not hang the open;
        // O_NOCTTY: a terminal must not become ours. A symlink at the last
        // step is followed only for the zone file itself (the operator's own),
        // because include targets arrive here canonical already.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(cannot)?;
        if !file.metadata().map_err(cannot)?.is_file() {
            return Err(not_regular());
        }
        Ok(file)
    }

    /// A regular file opened for reading in blocks, refused at once when its
    /// size is already past what the limits leave.
    fn input(&mut self, file: File, shown: &Path) -> Result<Input, String> {
        let metadata = file
            .metadata()
            .map_err(|e| format!("cannot read {}: {e}", shown.display()))?;
        let input = Input {
            // A file that grows after the size was taken still stops past the cap.
            reader: file.take(self.limits.max_file_bytes.saturating_add(1)),
            shown: shown.to_path_buf(),
            read: 0,
            hasher: crate::zone_files::content_hasher(),
            slot: self.files.len(),
        };
        self.check_size(&input, metadata.len())?;
        // Its place among the files read is taken now, so the list keeps the
        // order files were opened in (the zone file first); size and hash
        // are written when the end is reached.
        self.files.push(FileRead {
            path: shown.to_path_buf(),
            size: 0,
            modified: metadata.modified().ok(),
            hash: 0,
        });
        Ok(input)
    }

    /// Appends up to `block` more bytes of `input` to `buf`, without the
    /// file's byte-order mark; true once the file is read to its end, which
    /// records it among the files read. Bytes count against the limits as
    /// they are read, so an `$INCLUDE` read in the middle of its including
    /// file counts with what was read of that file so far. Zone files are
    /// bytes, not necessarily UTF-8: a Latin-1 byte in a TXT string is that
    /// byte in the RDATA, as NSD reads it.
    pub(crate) fn fill(&mut self, input: &mut Input, buf: &mut Vec<u8>, block: usize) -> Result<bool, String> {
        let start = buf.len();
        // The first block is long enough to hold the whole mark.
        let block = if input.read == 0 {
            block.max(BYTE_ORDER_MARK.len())
        } else {
            block
        };
        buf.reserve(block);
        let mut end = false;
        while buf.len() - start < block {
            let room = (block - (buf.len() - start)) as u64;
            match (&mut input.reader).take(room).read_to_end(buf) {
                Ok(0) => {
                    end = true;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("cannot read {}: {e}", input.shown.display())),
            }
        }
        let new = &buf[start..];
        input.hasher.write(new);
        let first = input.read == 0;
        input.read += new.len() as u64;
        self.read += new.len() as u64;
        self.check_size(input, 0)?;
        if first && new.starts_with(BYTE_ORDER_MARK) {
            buf.drain(start..start + BYTE_ORDER_MARK.len());
        }
        if end && let Some(file) = self.files.get_mut(input.slot) {
            file.size = input.read;
            file.hash = input.hasher.finish();
        }
        Ok(end)
    }

    /// Fails when `input`, with `more` bytes still to come, is past the
    /// limit of one file or of the zone's files together.
    fn check_size(&self, input: &Input, more: u64) -> Result<(), String> {
        let shown = input.shown.display();
        if input.read.saturating_add(more) > self.limits.max_file_bytes {
            return Err(format!(
                "{shown} is larger than {} bytes, the most a zone file may have (zone_file_max_bytes)",
                self.limits.max_file_bytes
            ));
        }
        if self.read.saturating_add(more) > self.limits.max_total_bytes {
            return Err(format!(
                "{shown}: the zone and its includes are larger than {} bytes together (zone_max_bytes)",
                self.limits.max_total_bytes
            ));
        }
        Ok(())
    }
}

/// A zone file or an include being read in blocks ([`Source::fill`]).
#[derive(Debug)]
pub(crate) struct Input {
    reader: std::io::Take<File>,
    /// The path it was opened by, as errors and [`FileRead`] show it.
    shown: PathBuf,
    /// Bytes read so far, the byte-order mark included.
    read: u64,
    /// Of every byte read so far ([`crate::zone_files::content_hasher`]).
    hasher: std::hash::DefaultHasher,
    /// Its index in [`Source::into_files`].
    slot: usize,
}

/// Editors on some systems start files with a UTF-8 byte-order mark.
const BYTE_ORDER_MARK: &[u8] = b"\xef\xbb\xbf";

/// A zone file's bytes as UTF-8 text without a byte-order mark, for callers
/// that hold text (the fuzz target); the reader itself takes any bytes. The
/// error names the place (`shown`), never the bytes: they may not be text at all.
pub(crate) fn decode_text(bytes: Vec<u8>, shown: &Path) -> Result<String, String> {
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{} is not UTF-8 text (byte {} is not)",
            shown.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    // Editors on some systems start files with a byte-order mark.
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Where `path` leads: its longest existing ancestor canonicalised, with the
/// rest of it applied by name (so a missing file still has a place to judge).
fn resolve(path: &Path) -> Option<PathBuf> {
    let mut rest = Vec::new();
    let mut base = path;
    loop {
        let existing = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        if let Ok(mut resolved) = std::fs::canonicalize(existing) {
            for part in rest.iter().rev() {
                match part {
                    Component::ParentDir => {
                        resolved.pop();
                    }
                    Component::Normal(name) => resolved.push(name),
                    _ => {}
                }
            }
            return Some(resolved);
        }
        rest.push(base.components().next_back()?);
        base = base.parent()?;
    }
}

/// The path the kernel resolved for an open file (Linux `/proc/self/fd`).
fn descriptor_path(file: &File) -> std::io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use test_support::TempDir;

    use super::*;

    const SECRET: &str = "s3cret-marker-never-printed";

    #[test]
    fn includes_stay_under_the_allowed_directories() {
        let dir = TempDir::new("confine");
        let zones = dir.0.join("zones");
        let outside = dir.0.join("outside");
        let extra = dir.0.join("extra");
        for d in [&zones, &outside, &extra] {
            std::fs::create_dir_all(d).expect("dir");
        }
        std::fs::write(outside.join("secret"), SECRET).expect("write");
        std::fs::write(extra.join("shared"), "ok\n").expect("write");
        std::fs::write(zones.join("db"), "\n").expect("write");
        std::fs::write(zones.join("inside"), "inside\n").expect("write");
        std::os::unix::fs::symlink(outside.join("secret"), zones.join("link")).expect("symlink");

        let limits = ReadLimits {
            include_dirs: vec![extra.clone()],
            ..ReadLimits::default()
        };
        let mut source = Source::new(&zones.join("db"), &limits);
        assert_eq!(
            source.read_include(&zones.join("inside")).as_deref(),
            Ok(b"inside\n".as_slice())
        );
        assert_eq!(
            source.read_include(&extra.join("shared")).as_deref(),
            Ok(b"ok\n".as_slice())
        );
        for refused in [
            outside.join("secret"),
            zones.join("../outside/secret"),
            zones.join("../outside/missing"),
            zones.join("missing/../../outside/secret"),
            zones.join("link"),
            PathBuf::from("/etc/passwd"),
        ] {
            let e = source
                .read_include(&refused)
                .expect_err("a file outside the allowed directories is refused");
            assert!(
                e.contains("refused") && !e.contains(SECRET),
                "{refused:?}: expected a refusal quoting nothing, got {e:?}"
            );
        }
    }

    #[test]
    fn devices_and_fifos_are_never_read() {
        let dir = TempDir::new("special");
        let fifo = dir.0.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let limits = ReadLimits {
            include_dirs: vec!["/dev".into()],
            ..ReadLimits::default()
        };
        let mut source = Source::new(&dir.0.join("db"), &limits);
        for special in [fifo, PathBuf::from("/dev/zero"), PathBuf::from("/dev/null")] {
            let e = source.read_include(&special).expect_err("not a regular file");
            assert!(e.contains("not a regular file"), "{special:?}: got {e:?}");
            let e = source.read_zone_file(&special).expect_err("not a regular file");
            assert!(
                e.contains("not a regular file"),
                "{special:?} as a zone file: got {e:?}"
            );
        }
    }

    #[test]
    fn sizes_are_limited_per_file_and_in_total() {
        let dir = TempDir::new("size");
        std::fs::write(dir.0.join("a"), "x".repeat(60)).expect("write");
        std::fs::write(dir.0.join("b"), "x".repeat(95)).expect("write");
        std::fs::write(dir.0.join("big"), "x".repeat(101)).expect("write");
        let limits = ReadLimits {
            include_dirs: Vec::new(),
            max_file_bytes: 100,
            max_total_bytes: 150,
            strict: false,
        };
        let mut source = Source::new(&dir.0.join("a"), &limits);
        let e = source
            .read_include(&dir.0.join("big"))
            .expect_err("over the per-file limit");
        assert!(e.contains("zone_file_max_bytes"), "got {e:?}");
        source.read_zone_file(&dir.0.join("a")).expect("60 bytes fit");
        let e = source.read_include(&dir.0.join("b")).expect_err("over the total");
        assert!(e.contains("zone_max_bytes"), "got {e:?}");
    }

    #[test]
    fn bytes_are_read_as_they_are_without_a_byte_order_mark() {
        let dir = TempDir::new("bytes");
        let latin1 = b"t TXT \"caf\xe9\"\n\xff\n";
        std::fs::write(dir.0.join("latin1"), latin1).expect("write");
        std::fs::write(dir.0.join("bom"), b"\xef\xbb\xbf$TTL 1\n").expect("write");
        let mut source = Source::new(&dir.0.join("latin1"), &ReadLimits::default());
        assert_eq!(
            source.read_zone_file(&dir.0.join("latin1")).as_deref(),
            Ok(latin1.as_slice()),
            "bytes that are not UTF-8 are kept"
        );
        assert_eq!(
            source.read_include(&dir.0.join("bom")).as_deref(),
            Ok(b"$TTL 1\n".as_slice())
        );
    }
}
