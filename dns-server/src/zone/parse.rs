//! RFC 1035 section 5 master-file reader: directives, inherited fields, `file:line` errors.
//!
//! Zone files are read as bytes: character-strings take any byte (NSD reads
//! Latin-1 files), every other field must be text. What other servers let
//! through with a warning (a record outside the zone, a TXT string longer than
//! 255 bytes) is let through here too, logged at `file:line` and counted in
//! [`Warnings`], unless the read is strict.

mod generate;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use dns_wire::wire::{class, rtype};

use super::{
    Location, Record, ZoneError,
    rdata_text::{self, Token},
    source::{FileRead, Input, MAX_INCLUDE_DEPTH, ReadLimits, Source},
};
use crate::name::Name;

/// The longest error message; a longer one is cut. Messages quote at most
/// one token, and this keeps a huge token from being printed whole.
const MAX_MESSAGE_CHARS: usize = 200;

/// The largest TTL RFC 2181 section 8 allows (2^31 - 1).
const MAX_TTL: u32 = i32::MAX as u32;

/// Hesiod, not in the shared wire constants because only zone files name it.
const CLASS_HS: u16 = 4;

/// How much of a zone file is read at a time.
const READ_BLOCK: usize = 1 << 20;

/// How many warnings are logged and kept one by one; past this they are
/// only counted, so a file of a million out-of-zone records logs a summary.
const MAX_KEPT_WARNINGS: usize = 100;

/// What a lenient read let through, each logged (with `tracing`) at its `file:line`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Warnings {
    /// The first [`MAX_KEPT_WARNINGS`] warnings, each `file:line: message`.
    pub messages: Vec<String>,
    /// Records whose owner is outside the zone, skipped (Knot does the same).
    pub out_of_zone: u64,
    /// Character-strings longer than 255 bytes, split into 255-byte strings (as Knot does).
    pub split_strings: u64,
    /// Warnings past the kept ones, counted but not logged one by one.
    pub unlogged: u64,
}

impl Warnings {
    /// Everything warned about: records skipped and strings split.
    pub(crate) fn total(&self) -> u64 {
        self.out_of_zone + self.split_strings
    }

    fn add(&mut self, at: &Location, message: String) {
        if self.messages.len() < MAX_KEPT_WARNINGS {
            let line = format!("{at}: {message}");
            tracing::warn!("{line}");
            self.messages.push(line);
        } else {
            self.unlogged += 1;
        }
    }
}

/// A zone file's records, and what was let through on the way.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The records in file order.
    pub records: Vec<Record>,
    /// What was skipped or repaired, with a warning.
    pub warnings: Warnings,
}

/// What a streaming read ([`read_file_each`]) leaves besides the records
/// it handed over.
#[derive(Debug)]
pub(crate) struct Summary {
    /// What was skipped or repaired, with a warning.
    pub warnings: Warnings,
    /// Every file read: the zone file, then its includes in order.
    pub files: Vec<FileRead>,
}

/// The records of [`read_file`] alone, for tests.
#[cfg(test)]
pub(crate) fn parse_file(
    path: &Path,
    origin: &Name,
    default_class: u16,
    limits: &ReadLimits,
) -> Result<Vec<Record>, ZoneError> {
    read_file(path, origin, default_class, limits).map(|parsed| parsed.records)
}

/// Reads a zone file within `limits`; records default to `default_class` and
/// any other class is an error. With the records, the warnings of what was
/// let through.
pub(crate) fn read_file(
    path: &Path,
    origin: &Name,
    default_class: u16,
    limits: &ReadLimits,
) -> Result<Parsed, ZoneError> {
    let mut records = Vec::new();
    let summary = read_file_each(path, origin, default_class, limits, &mut |r| records.push(r))?;
    Ok(Parsed {
        records,
        warnings: summary.warnings,
    })
}

/// [`read_file`], handing each record to `each` as it is read rather than
/// collecting them (a zone builder packs them as they come).
pub(crate) fn read_file_each(
    path: &Path,
    origin: &Name,
    default_class: u16,
    limits: &ReadLimits,
    each: &mut dyn FnMut(Record),
) -> Result<Summary, ZoneError> {
    let mut source = Source::new(path, limits);
    let input = source.open_zone_file(path).map_err(|message| ZoneError {
        location: None,
        message,
    })?;
    let mut reader = Reader::new(origin, default_class, source, each);
    reader.read_input(input, &Arc::from(path), State::new(origin), 0, None)?;
    Ok(reader.finish())
}

/// Reads zone text of class IN; `file` names it in locations and anchors
/// relative `$INCLUDE`s, which stay under its directory and the default limits.
/// The read is strict: text given in memory (the built-in zone, root hints)
/// has no reason to hold another zone's records.
pub(crate) fn parse_str(text: &str, file: &Path, origin: &Name) -> Result<Vec<Record>, ZoneError> {
    let mut records = Vec::new();
    parse_str_each(text, file, origin, &mut |r| records.push(r))?;
    Ok(records)
}

/// [`parse_str`], handing each record to `each` as it is read.
pub(crate) fn parse_str_each(
    text: &str,
    file: &Path,
    origin: &Name,
    each: &mut dyn FnMut(Record),
) -> Result<(), ZoneError> {
    let limits = ReadLimits {
        strict: true,
        ..ReadLimits::default()
    };
    let mut reader = Reader::new(origin, class::IN, Source::new(file, &limits), each);
    reader.read_text(text.as_bytes(), &Arc::from(file), State::new(origin))?;
    reader.finish();
    Ok(())
}

/// Where records go as they are read.
struct Sink<'a>(&'a mut dyn FnMut(Record));

impl Sink<'_> {
    fn push(&mut self, record: Record) {
        (self.0)(record)
    }
}

/// The zone-wide part of reading: the class, the records so far, and where
/// `$INCLUDE` may read from.
struct Reader<'a> {
    class: u16,
    /// The zone's apex, whatever `$ORIGIN` says: records outside it are skipped.
    apex: Name,
    records: Sink<'a>,
    warnings: Warnings,
    source: Source,
    /// How much of a file is read at a time ([`READ_BLOCK`]; tests make it small).
    block: usize,
}

/// An error at `location`, cut to [`MAX_MESSAGE_CHARS`].
fn error_at(location: Location, mut message: String) -> ZoneError {
    if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(cut);
        message.push_str("...");
    }
    ZoneError {
        location: Some(location),
        message,
    }
}

/// What a line may leave out and take from earlier lines; per file, so an
/// `$INCLUDE`d file's changes do not leak back (RFC 1035 5.1).
#[derive(Clone)]
struct State {
    origin: Name,
    owner: Option<Name>,
    /// `$TTL` (RFC 2308 section 4).
    default_ttl: Option<u32>,
    /// The last TTL written on a record, the default RFC 1035 gives.
    last_ttl: Option<u32>,
}

impl State {
    fn new(origin: &Name) -> Self {
        Self {
            origin: origin.clone(),
            owner: None,
            default_ttl: None,
            last_ttl: None,
        }
    }
}

impl<'a> Reader<'a> {
    fn new(apex: &Name, class: u16, source: Source, each: &'a mut dyn FnMut(Record)) -> Self {
        Reader {
            class,
            apex: apex.clone(),
            records: Sink(each),
            warnings: Warnings::default(),
            source,
            block: READ_BLOCK,
        }
    }

    /// What is left once the records are handed over, with one last
    /// warning when more were counted than logged.
    fn finish(self) -> Summary {
        let warnings = self.warnings;
        if warnings.unlogged > 0 {
            tracing::warn!(
                zone = %self.apex,
                out_of_zone = warnings.out_of_zone,
                split_strings = warnings.split_strings,
                "{} more warnings not logged one by one",
                warnings.unlogged
            );
        }
        Summary {
            warnings,
            files: self.source.into_files(),
        }
    }

    /// Reads a file in blocks: each block is read up to its last complete
    /// line, and an entry whose parentheses run past that is read again with
    /// the next block, so a file is never held whole. Errors of reading name
    /// `opened_at` (the `$INCLUDE` line), or nothing for the zone file itself.
    fn read_input(
        &mut self,
        mut input: Input,
        file: &Arc<Path>,
        mut state: State,
        depth: usize,
        opened_at: Option<&Location>,
    ) -> Result<(), ZoneError> {
        let failed = |message: String| match opened_at {
            Some(at) => error_at(at.clone(), message),
            None => ZoneError {
                location: None,
                message,
            },
        };
        let mut text = Vec::new();
        let mut block = self.block;
        let mut line = 1;
        loop {
            let end = self.source.fill(&mut input, &mut text, block).map_err(failed)?;
            let lines = match text.iter().rposition(|&b| b == b'\n') {
                _ if end => text.len(),
                Some(last) => last + 1,
                // One line longer than a block: read on.
                None => continue,
            };
            let mut lexer = Lexer::new(&text[..lines], line, end);
            while let Some(entry) = lexer.next_entry().map_err(|e| lex_error(file, e))? {
                self.entry(entry, file, &mut state, depth)?;
            }
            if end {
                return Ok(());
            }
            // An entry longer than a block is read again with more each time.
            block = if lexer.at == 0 { block * 2 } else { self.block };
            line = lexer.line;
            let read = lexer.at;
            text.drain(..read);
        }
    }

    /// Reads text held whole (given in memory rather than read from a file).
    fn read_text(&mut self, text: &[u8], file: &Arc<Path>, mut state: State) -> Result<(), ZoneError> {
        let mut lexer = Lexer::new(text, 1, true);
        while let Some(entry) = lexer.next_entry().map_err(|e| lex_error(file, e))? {
            self.entry(entry, file, &mut state, 0)?;
        }
        Ok(())
    }

    /// One entry: a directive or a record.
    fn entry(&mut self, entry: Entry<'_>, file: &Arc<Path>, state: &mut State, depth: usize) -> Result<(), ZoneError> {
        let at = Location {
            file: file.clone(),
            line: entry.line,
        };
        let is_directive = !entry.leading_blank
            && entry
                .tokens
                .first()
                .is_some_and(|t| !t.quoted && t.text.starts_with(b"$"));
        if is_directive {
            self.directive(&entry.tokens, &at, state, depth)
        } else {
            self.record(entry.leading_blank, &entry.tokens, &at, state)
                .map_err(|message| error_at(at, message))
        }
    }

    fn directive(
        &mut self,
        tokens: &[Token<'_>],
        at: &Location,
        state: &mut State,
        depth: usize,
    ) -> Result<(), ZoneError> {
        let fail = |message: String| error_at(at.clone(), message);
        let (name, args) = tokens.split_first().ok_or_else(|| fail("empty line".into()))?;
        let name = String::from_utf8_lossy(name.text).to_ascii_uppercase();
        let arity = |range: std::ops::RangeInclusive<usize>| {
            if range.contains(&args.len()) {
                Ok(())
            } else {
                Err(fail(format!("{name} takes {range:?} arguments, got {}", args.len())))
            }
        };
        match name.as_str() {
            "$ORIGIN" => {
                arity(1..=1)?;
                state.origin = rdata_text::name(&args[0], &state.origin).map_err(|e| fail(format!("$ORIGIN: {e}")))?;
            }
            "$TTL" => {
                arity(1..=1)?;
                state.default_ttl = Some(args[0].str().and_then(record_ttl).map_err(fail)?);
            }
            "$INCLUDE" => {
                arity(1..=2)?;
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(fail(format!(
                        "$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep (does a file include itself?)"
                    )));
                }
                let mut inner = state.clone();
                if let Some(origin) = args.get(1) {
                    inner.origin =
                        rdata_text::name(origin, &state.origin).map_err(|e| fail(format!("$INCLUDE origin: {e}")))?;
                }
                let target = args[0].str().map_err(|e| fail(format!("$INCLUDE: {e}")))?;
                let path: Arc<Path> = include_path(&at.file, target).into();
                // Refusals name the $INCLUDE's own file and line, and nothing of the target.
                let input = self.source.open_include(&path).map_err(fail)?;
                self.read_input(input, &path, inner, depth + 1, Some(at))?;
            }
            "$GENERATE" => self.generate(args, at, state).map_err(fail)?,
            _ => return Err(fail(format!("unknown directive {name}"))),
        }
        Ok(())
    }

    /// `[owner] [ttl] [class] type rdata` with TTL and class in either order
    /// (RFC 1035 5.1), kept unless it lies outside the zone; the caller adds
    /// the location to an error.
    fn record(
        &mut self,
        leading_blank: bool,
        mut tokens: &[Token<'_>],
        location: &Location,
        state: &mut State,
    ) -> Result<(), String> {
        let owner = if leading_blank {
            state
                .owner
                .clone()
                .ok_or("no owner name: the first record must not start with a blank")?
        } else {
            let (first, rest) = tokens.split_first().ok_or("empty record")?;
            tokens = rest;
            rdata_text::name(first, &state.origin).map_err(|e| format!("owner: {e}"))?
        };
        state.owner = Some(owner.clone());

        let (mut ttl, mut class) = (None, None);
        while let Some((token, rest)) = tokens.split_first() {
            let Ok(text) = token.str() else { break };
            if ttl.is_none() && text.starts_with(|c: char| c.is_ascii_digit()) {
                ttl = Some(record_ttl(text)?);
            } else if class.is_none()
                && let Some(code) = class_code(text)
            {
                class = Some(code);
            } else {
                break;
            }
            tokens = rest;
        }
        let (type_token, rdata_tokens) = tokens.split_first().ok_or("missing type")?;
        let rtype = type_token
            .str()
            .ok()
            .and_then(rdata_text::type_code)
            .ok_or_else(|| format!("unknown type {}", type_token.show()))?;
        if rtype == rtype::OPT || (128..=255).contains(&rtype) {
            // RFC 6895 section 3.1: meta and query types describe messages, not data.
            return Err(format!(
                "type {} cannot appear in a zone file",
                rdata_text::type_name(rtype)
            ));
        }
        if let Some(class) = class.filter(|&c| c != self.class) {
            return Err(format!(
                "class {} differs from the zone's class {}",
                class_name(class),
                class_name(self.class)
            ));
        }
        let (rdata, split) = rdata_text::rdata_splitting_strings(rtype, rdata_tokens, &state.origin)
            .map_err(|e| format!("{}: {e}", rdata_text::type_name(rtype)))?;
        if rdata.len() > usize::from(u16::MAX) {
            return Err("rdata longer than 65535 bytes".into());
        }
        let ttl = match ttl {
            Some(ttl) => {
                state.last_ttl = Some(ttl);
                ttl
            }
            None => default_ttl(state, rtype, &rdata)?,
        };
        if !self.source.strict() && !owner.is_within(&self.apex) {
            // Knot skips these with a warning; validation refuses them when strict.
            self.warnings.out_of_zone += 1;
            let message = format!("out-of-zone record {owner} skipped (the zone is {})", self.apex);
            self.warnings.add(location, message);
            return Ok(());
        }
        if split > 0 {
            self.warnings.split_strings += split;
            let message = format!(
                "{} {} longer than 255 bytes split into 255-byte strings",
                rdata_text::type_name(rtype),
                if split == 1 {
                    "character-string"
                } else {
                    "character-strings"
                }
            );
            self.warnings.add(location, message);
        }
        self.records.push(Record {
            owner,
            rtype,
            class: self.class,
            ttl,
            rdata: rdata.into(),
            location: location.clone(),
        });
        Ok(())
    }
}

/// `$TTL`, else the last TTL written, else for the SOA itself its MINIMUM, as
/// BIND does for zones older than RFC 2308.
fn default_ttl(state: &mut State, rtype: u16, rdata: &[u8]) -> Result<u32, String> {
    if let Some(ttl) = state.default_ttl.or(state.last_ttl) {
        return Ok(ttl);
    }
    let minimum = (rtype == rtype::SOA)
        .then(|| rdata.last_chunk::<4>())
        .flatten()
        .map(|m| u32::from_be_bytes(*m).min(MAX_TTL))
        .ok_or("no ttl: write one on the record or set $TTL before it")?;
    state.last_ttl = Some(minimum);
    Ok(minimum)
}

fn record_ttl(text: &str) -> Result<u32, String> {
    let ttl = rdata_text::parse_ttl(text)?;
    if ttl > MAX_TTL {
        return Err(format!("ttl {ttl} is larger than {MAX_TTL} (RFC 2181 section 8)"));
    }
    Ok(ttl)
}

/// `$INCLUDE` paths are relative to the including file's directory.
fn include_path(including: &Path, target: &str) -> PathBuf {
    let target = Path::new(target);
    match including.parent() {
        Some(dir) if target.is_relative() => dir.join(target),
        _ => target.to_path_buf(),
    }
}

fn class_code(text: &str) -> Option<u16> {
    let upper = text.to_ascii_uppercase();
    match upper.as_str() {
        "IN" => Some(class::IN),
        "CH" | "CHAOS" => Some(class::CH),
        "HS" | "HESIOD" => Some(CLASS_HS),
        _ => {
            let digits = upper.strip_prefix("CLASS")?;
            digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| digits.parse().ok())
                .flatten()
        }
    }
}

pub(crate) fn class_name(code: u16) -> String {
    match code {
        class::IN => "IN".into(),
        class::CH => "CH".into(),
        CLASS_HS => "HS".into(),
        other => format!("CLASS{other}"),
    }
}

/// One logical line: the tokens of a record or directive, parentheses joined.
struct Entry<'a> {
    /// Line of the first token.
    line: u32,
    /// Whether the line starts with a blank, so the owner is the previous one.
    leading_blank: bool,
    tokens: Vec<Token<'a>>,
}

/// An error of the lexer, at its line of `file`.
fn lex_error(file: &Arc<Path>, (line, message): (u32, String)) -> ZoneError {
    error_at(
        Location {
            file: file.clone(),
            line,
        },
        message,
    )
}

/// Splits master-file text into entries; errors carry the line they belong to.
struct Lexer<'a> {
    text: &'a [u8],
    at: usize,
    line: u32,
    /// Whether `text` runs to the end of its file; if not, it ends with a
    /// complete line, and an entry still inside parentheses there is left
    /// for a longer text.
    complete: bool,
}

impl<'a> Lexer<'a> {
    fn new(text: &'a [u8], line: u32, complete: bool) -> Self {
        Lexer {
            text,
            at: 0,
            line,
            complete,
        }
    }

    /// The next entry, or none at the end of the text (where `at` and
    /// `line` are left at the start of an entry that continues past it).
    fn next_entry(&mut self) -> Result<Option<Entry<'a>>, (u32, String)> {
        let start = (self.at, self.line);
        let mut entry = Entry {
            line: self.line,
            leading_blank: false,
            tokens: Vec::new(),
        };
        let mut depth = 0u32;
        let mut open_line = 0;
        let mut line_start = true;
        loop {
            let Some(&b) = self.text.get(self.at) else {
                if depth > 0 && !self.complete {
                    (self.at, self.line) = start;
                    return Ok(None);
                }
                if depth > 0 {
                    return Err((open_line, "'(' is never closed".into()));
                }
                return Ok((!entry.tokens.is_empty()).then_some(entry));
            };
            if line_start && depth == 0 && entry.tokens.is_empty() {
                entry.leading_blank = b == b' ' || b == b'\t';
            }
            line_start = false;
            match b {
                b'\n' => {
                    self.at += 1;
                    self.line += 1;
                    line_start = true;
                    if depth == 0 && !entry.tokens.is_empty() {
                        return Ok(Some(entry));
                    }
                }
                b' ' | b'\t' | b'\r' => self.at += 1,
                b';' => {
                    let rest = &self.text[self.at..];
                    self.at += rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
                }
                b'(' => {
                    if depth == 0 {
                        open_line = self.line;
                    }
                    depth += 1;
                    self.at += 1;
                }
                b')' => {
                    depth = depth.checked_sub(1).ok_or((self.line, "')' without '('".to_string()))?;
                    self.at += 1;
                }
                _ => {
                    if entry.tokens.is_empty() {
                        entry.line = self.line;
                    }
                    let token = if b == b'"' { self.quoted() } else { self.word() };
                    entry.tokens.push(token.map_err(|e| (self.line, e))?);
                }
            }
        }
    }

    /// A `"..."` field; it must end on the line it starts on.
    fn quoted(&mut self) -> Result<Token<'a>, String> {
        let start = self.at + 1;
        let end = self.skip_quoted(start)?;
        self.at = end + 1;
        Ok(Token {
            text: &self.text[start..end],
            quoted: true,
        })
    }

    /// A bare field, up to a blank, `;`, or parenthesis. A quote inside it, as
    /// in SVCB's `alpn="h2,h3"`, runs to the closing quote.
    fn word(&mut self) -> Result<Token<'a>, String> {
        let bytes = self.text;
        let start = self.at;
        let mut at = start;
        while let Some(&b) = bytes.get(at) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' => break,
                b'\\' => at = self.skip_escape(at)?,
                b'"' => at = self.skip_quoted(at + 1)? + 1,
                _ => at += 1,
            }
        }
        self.at = at;
        Ok(Token {
            text: &self.text[start..at],
            quoted: false,
        })
    }

    /// Where the quote closing a string that starts at `from` is.
    fn skip_quoted(&self, from: usize) -> Result<usize, String> {
        let bytes = self.text;
        let mut at = from;
        loop {
            match bytes.get(at) {
                None | Some(b'\n') => return Err("quoted string not closed on its line".into()),
                Some(b'"') => return Ok(at),
                Some(b'\\') => at = self.skip_escape(at)?,
                Some(_) => at += 1,
            }
        }
    }

    /// Steps over a backslash and the byte it escapes; `\DDD`'s digits are plain bytes.
    fn skip_escape(&self, at: usize) -> Result<usize, String> {
        match self.text.get(at + 1) {
            None | Some(b'\n') | Some(b'\r') => Err("backslash at the end of a line".into()),
            Some(_) => Ok(at + 2),
        }
    }
}

#[cfg(test)]
mod tests {
    use test_support::TempDir;

    use super::*;

    fn origin() -> Name {
        Name::parse("example.com.", None).expect("origin parses")
    }

    fn parse(text: &str) -> Vec<Record> {
        parse_str(text, Path::new("db.example"), &origin())
            .unwrap_or_else(|e| panic!("zone should parse, got: {e}\n{text}"))
    }

    /// Reads `text` as a file would be read, leniently.
    fn parse_with_warnings(text: &str) -> Parsed {
        let mut records = Vec::new();
        let mut each = |r| records.push(r);
        let mut reader = Reader::new(
            &origin(),
            class::IN,
            Source::new(Path::new("db.example"), &ReadLimits::default()),
            &mut each,
        );
        reader
            .read_text(
                text.as_bytes(),
                &Arc::from(Path::new("db.example")),
                State::new(&origin()),
            )
            .unwrap_or_else(|e| panic!("zone should parse, got: {e}\n{text}"));
        let summary = reader.finish();
        Parsed {
            records,
            warnings: summary.warnings,
        }
    }

    fn error(text: &str) -> String {
        match parse_str(text, Path::new("db.example"), &origin()) {
            Ok(records) => panic!("zone should be rejected, got {records:?}\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    fn name(text: &str) -> Name {
        Name::parse(text, None).expect("test name parses")
    }

    #[test]
    fn owners_ttls_and_classes() {
        let records = parse(
            "$TTL 1h\n\
             @ IN SOA ns1 hostmaster 1 2 3 4 5\n\
             \tNS ns1\n\
             www 300 IN A 192.0.2.1\n\
             \tIN 600 AAAA 2001:db8::1\n\
             mail.example.com. A 192.0.2.2\n\
             $ORIGIN sub\n\
             host CLASS1 A 192.0.2.3\n",
        );
        let got: Vec<_> = records
            .iter()
            .map(|r| {
                (
                    r.owner.to_string(),
                    rdata_text::type_name(r.rtype),
                    r.ttl,
                    r.location.line,
                )
            })
            .collect();
        let want = [
            ("example.com.", "SOA", 3600, 2),
            ("example.com.", "NS", 3600, 3),
            ("www.example.com.", "A", 300, 4),
            ("www.example.com.", "AAAA", 600, 5),
            ("mail.example.com.", "A", 3600, 6),
            ("host.sub.example.com.", "A", 3600, 8),
        ];
        let want: Vec<_> = want
            .iter()
            .map(|&(o, t, ttl, line)| (o.to_string(), t.to_string(), ttl, line))
            .collect();
        assert_eq!(got, want, "owner, type, ttl and line of each record");
        assert!(records.iter().all(|r| r.class == class::IN));
        assert_eq!(records[1].rdata.as_ref(), b"\x03ns1\x07example\x03com\x00");
    }

    #[test]
    fn parentheses_span_lines_and_keep_the_first_line() {
        let records = parse(
            "; a comment line\n\
             \n\
             @ 3600 IN SOA ns1 hostmaster ( ; serial follows\n\
             \t2024010101 ; serial\n\
             \t1h 15m 1w\n\
             \t300 )\n\
             @ NS ns1\n\
             txt TXT ( \"one ; (not a comment)\"\n\
             \t\"two\" )\n\
             after A 192.0.2.9\n",
        );
        let lines: Vec<_> = records.iter().map(|r| r.location.line).collect();
        assert_eq!(lines, [3, 7, 8, 10], "line of each entry's first token");
        assert_eq!(records[0].rdata.len(), 17 + 24 + 20, "SOA: two names and five numbers");
        assert_eq!(
            records[2].rdata.as_ref(),
            b"\x15one ; (not a comment)\x03two".as_slice()
        );
    }

    #[test]
    fn ttl_defaults() {
        let last = parse("@ SOA ns1 h 1 2 3 4 5\n@ 77 NS ns1\nwww A 192.0.2.1\n");
        assert_eq!(
            last.iter().map(|r| r.ttl).collect::<Vec<_>>(),
            [5, 77, 77],
            "SOA MINIMUM, then the last TTL written"
        );
        let directive = parse("$TTL 1d\n@ 60 SOA ns1 h 1 2 3 4 5\nwww A 192.0.2.1\n");
        assert_eq!(directive[1].ttl, 86_400, "$TTL wins over the last TTL written");
        assert!(error("www A 192.0.2.1\n").contains("no ttl"));
        assert!(error("$TTL 2147483648\n").contains("larger"));
        assert!(error("$TTL 1x\n").contains("bad ttl"));
    }

    #[test]
    fn errors_point_to_file_and_line() {
        let cases = [
            ("$TTL 1\n\nfoo CH A 192.0.2.1\n", 3, "class CH differs"),
            ("$TTL 1\n A 192.0.2.1\n", 2, "no owner name"),
            ("$TTL 1\nx BOGUS 1\n", 2, "unknown type"),
            ("$TTL 1\nx AXFR \\# 0\n", 2, "cannot appear"),
            ("$TTL 1\nx OPT \\# 0\n", 2, "cannot appear"),
            ("$TTL 1\nx MX 10\n", 2, "MX: missing exchange name"),
            ("$TTL 1\nx TXT \"open\n", 2, "not closed"),
            ("$TTL 1\nx TXT ( a\n b\n", 2, "never closed"),
            ("$TTL 1\n\nx TXT a )\n", 3, "without '('"),
            ("$TTL 1\nx TXT a\\\n", 2, "backslash"),
            ("$FOO bar\n", 1, "unknown directive"),
            ("$GENERATE 2-1 a A 1.2.3.$\n", 1, "bad $GENERATE range"),
            ("$GENERATE 1-2 a A\n", 1, "$GENERATE takes"),
            (
                "$TTL 1\n$GENERATE 1-300 a$ A 1.2.3.$\n",
                2,
                "$GENERATE at 256: A: bad ipv4",
            ),
            ("$TTL 1\n$GENERATE 0-70000 a$ A 1.2.3.4\n", 2, "more than the 65536"),
            ("$TTL 1\ncaf\u{e9} A 192.0.2.1\n", 2, "outside ASCII"),
            ("$TTL 1\nx CNAME caf\u{e9}\n", 2, "outside ASCII"),
            ("$ORIGIN\n", 1, "$ORIGIN takes"),
            ("$ORIGIN a..b\n", 1, "$ORIGIN"),
            ("$INCLUDE\n", 1, "$INCLUDE takes"),
            ("$INCLUDE no-such-file\n", 1, "cannot read"),
            ("$TTL 1\nx 1 2 A 192.0.2.1\n", 2, "unknown type \"2\""),
            ("$TTL 1\nx A\n", 2, "A: missing ipv4 address"),
            ("$TTL 1\nx\n", 2, "missing type"),
        ];
        for (text, line, needle) in cases {
            let message = error(text);
            let prefix = format!("db.example:{line}: ");
            assert!(
                message.starts_with(&prefix) && message.contains(needle),
                "{text:?} should fail with {prefix}...{needle}..., got {message:?}"
            );
        }
    }

    #[test]
    fn a_huge_token_is_not_echoed_whole() {
        let token = "9".repeat(10_000);
        let message = error(&format!("$TTL 1\nx A {token}\n"));
        assert!(
            message.starts_with("db.example:2: ") && message.len() < MAX_MESSAGE_CHARS + 40,
            "expected a short message, got {} bytes",
            message.len()
        );
    }

    #[test]
    fn generic_types_and_classes() {
        let records = parse("$TTL 1\nx CLASS1 TYPE65534 \\# 4 0A000001\ny type1 \\# 4 0a000002\n");
        assert_eq!(records[0].rtype, 65534);
        assert_eq!(records[0].rdata.as_ref(), [10, 0, 0, 1]);
        assert_eq!((records[1].rtype, records[1].rdata[3]), (1, 2));
        assert_eq!(class_code("chaos"), Some(class::CH));
        assert_eq!(class_code("CLASS65535"), Some(65535));
        assert_eq!(class_code("CLASS65536"), None);
        assert_eq!(class_code("CLASS"), None);
    }

    #[test]
    fn chaos_zone_from_file() {
        let dir = TempDir::new("chaos");
        let path = dir.write("db.server", "$TTL 0\nid CH TXT \"pop1\"\n");
        let server = name("server.");
        let records = parse_file(&path, &server, class::CH, &ReadLimits::default()).expect("CH zone parses");
        assert_eq!(records[0].class, class::CH);
        assert_eq!(records[0].location.to_string(), format!("{}:2", path.display()));
        let wrong = parse_file(
            &path.with_extension("missing"),
            &server,
            class::CH,
            &ReadLimits::default(),
        )
        .expect_err("a missing file is an error");
        assert!(wrong.location.is_none() && wrong.message.starts_with("cannot read"));
    }

    #[test]
    fn include_with_origin_does_not_leak() {
        let dir = TempDir::new("include");
        dir.write("sub/hosts", "$ORIGIN inner\nh A 192.0.2.1\n\tAAAA ::1\n");
        let main = dir.write(
            "db.main",
            "$TTL 60\n$INCLUDE sub/hosts sub\nafter A 192.0.2.2\n$INCLUDE sub/hosts\n",
        );
        let records = parse_file(&main, &origin(), class::IN, &ReadLimits::default()).expect("includes are read");
        let owners: Vec<_> = records.iter().map(|r| r.owner.to_string()).collect();
        assert_eq!(
            owners,
            [
                "h.inner.sub.example.com.",
                "h.inner.sub.example.com.",
                "after.example.com.",
                "h.inner.example.com.",
                "h.inner.example.com.",
            ],
            "included $ORIGIN applies inside only"
        );
        let hosts = dir.0.join("sub/hosts");
        assert_eq!(records[1].location.to_string(), format!("{}:3", hosts.display()));
        assert_eq!(records[2].location.line, 3);

        let looping = dir.write("db.loop", "$INCLUDE db.loop\n");
        let e = parse_file(&looping, &origin(), class::IN, &ReadLimits::default()).expect_err("self-include stops");
        assert!(e.message.contains("nested"), "got {e}");
        dir.write("bad", "$TTL 1\nx A nope\n");
        let outer = dir.write("db.outer", "$INCLUDE bad\n");
        let e = parse_file(&outer, &origin(), class::IN, &ReadLimits::default()).expect_err("bad include");
        assert_eq!(e.location.map(|l| l.line), Some(2), "error inside the included file");
    }

    #[test]
    fn example_zone_from_tests_data() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-data/zones/example.com.zone");
        let records = parse_file(&path, &origin(), class::IN, &ReadLimits::default())
            .unwrap_or_else(|e| panic!("tests-data example zone should parse: {e}"));
        assert!(records.len() > 20, "got {} records", records.len());
    }

    /// Every record and error of `path`, read `block` bytes at a time.
    fn read_in_blocks(path: &Path, block: usize) -> Result<(Vec<Record>, Vec<FileRead>), String> {
        let mut records = Vec::new();
        let mut each = |r| records.push(r);
        let mut source = Source::new(path, &ReadLimits::default());
        let input = source.open_zone_file(path)?;
        let mut reader = Reader::new(&origin(), class::IN, source, &mut each);
        reader.block = block;
        let read = reader.read_input(input, &Arc::from(path), State::new(&origin()), 0, None);
        let files = reader.finish().files;
        read.map_err(|e| e.to_string())?;
        Ok((records, files))
    }

    #[test]
    fn blocks_of_any_size_read_as_the_whole_file() {
        let dir = TempDir::new("blocks");
        std::fs::write(
            dir.0.join("inc"),
            "; included\nin 60 TXT \"a;b(c\" ( \"d\"\n  \"e\" )\n",
        )
        .expect("write");
        let text = "\u{feff}$TTL 300\n\
            @ SOA ns1 host ( 1 ; serial\n  2 3\n 4 5 )\r\n\
            \tNS ns1\n\
            ns1 A 192.0.2.1 ; a comment with ( and \"\n\
            \n\
            $INCLUDE inc sub\n\
            txt TXT \"x\\\"y\" \\065\n\
            $ORIGIN deeper.example.com.\n\
            (\n  a\n ) A 192.0.2.2\n\
            svc SVCB 1 . alpn=\"h2,h3\"\n";
        let zone = dir.0.join("db");
        std::fs::write(&zone, text).expect("write");
        let (whole, files) = read_in_blocks(&zone, 1 << 20).expect("the zone reads");
        assert_eq!(whole.len(), 7, "{whole:?}");
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].size, text.len() as u64);
        for block in 1..=text.len() + 1 {
            let (records, read) = read_in_blocks(&zone, block).expect("the zone reads in blocks");
            assert_eq!(records, whole, "block of {block} bytes");
            assert_eq!(read, files, "block of {block} bytes: the files read, sizes and hashes");
        }

        // Errors name the same line however the file is cut.
        std::fs::write(
            &zone,
            "$TTL 1\n@ SOA ns host 1 2 3 4 5\na ( A\n 192.0.2.1 )\nb A 300.1.1.1\n",
        )
        .expect("write");
        std::fs::write(
            dir.0.join("open"),
            "$TTL 1\n@ SOA ns host 1 2 3 4 5\na ( A\n\n; 192.0.2.1\n",
        )
        .expect("write");
        for block in [1, 2, 7, 100] {
            let e = read_in_blocks(&zone, block).expect_err("a bad address");
            assert!(e.contains("db:5"), "block of {block}: {e}");
            let e = read_in_blocks(&dir.0.join("open"), block).expect_err("never closed");
            assert!(
                e.contains("open:3") && e.contains("never closed"),
                "block of {block}: {e}"
            );
        }
    }

    #[test]
    fn mutations_never_panic() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-data/zones/example.com.zone");
        let text = std::fs::read_to_string(&path).expect("tests-data zone is readable");
        // Every 11th byte keeps the debug-build run short; any position should do.
        for at in (0..text.len()).step_by(11) {
            for c in ["\"", "\\", "(", ")", ";", " ", "\n", "$", "9", "=", ",", "\\0", "é", ""] {
                let mut t = text.as_bytes().to_vec();
                t.splice(at..at + 1, c.bytes());
                let Ok(t) = String::from_utf8(t) else {
                    continue;
                };
                if let Ok(mut records) = parse_str(&t, Path::new("m"), &origin()) {
                    crate::zone::validate::dedup(&mut records);
                    let _ = crate::zone::validate::validate(&origin(), &records);
                    let _ = crate::zone::validate::normalize_ttls(&mut records);
                }
            }
        }
    }

    #[test]
    fn no_prefix_panics() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests-data/zones/example.com.zone");
        let text = std::fs::read_to_string(&path).expect("tests-data zone is readable");
        for (end, _) in text.char_indices() {
            let _ = parse_str(&text[..end], Path::new("prefix"), &origin());
        }
        for start in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
            let _ = parse_str(&text[start..], Path::new("suffix"), &origin());
        }
    }

    #[test]
    fn generate_writes_out_a_range() {
        let records = parse(
            "$TTL 60\n\
             $GENERATE 1-3 host$ A 192.0.2.$\n\
             $GENERATE 10-20/5 r${-10,2,x} 120 IN CNAME t${0,3}\n\
             $GENERATE 1-2 m$ MX 10 mail$.example.net.\n\
             $GENERATE 1-1 t$ TXT \"a\\$ $\"\n\
             $GENERATE 1-1 b$ MX \"2 mail$\"\n\
             $GENERATE 1-1 u$ TXT a\\$ \"$ x\"\n",
        );
        let got: Vec<_> = records
            .iter()
            .map(|r| (r.owner.to_string(), r.ttl, r.location.line))
            .collect();
        let want = [
            ("host1.example.com.", 60, 2),
            ("host2.example.com.", 60, 2),
            ("host3.example.com.", 60, 2),
            ("r00.example.com.", 120, 3),
            ("r05.example.com.", 120, 3),
            ("r0a.example.com.", 120, 3),
            ("m1.example.com.", 60, 4),
            ("m2.example.com.", 60, 4),
            ("t1.example.com.", 60, 5),
            ("b1.example.com.", 60, 6),
            ("u1.example.com.", 60, 7),
        ];
        let want: Vec<_> = want.iter().map(|&(o, t, l)| (o.to_string(), t, l)).collect();
        assert_eq!(got, want, "owner, ttl and line of each generated record");
        assert_eq!(records[2].rdata.as_ref(), [192, 0, 2, 3]);
        assert_eq!(records[5].rdata.as_ref(), b"\x04t020\x07example\x03com\x00");
        assert_eq!(records[7].rdata.as_ref(), b"\x00\x0a\x05mail2\x07example\x03net\x00");
        assert_eq!(
            records[8].rdata.as_ref(),
            b"\x02a$\x011",
            "BIND reads one quoted rdata field as the fields in it; \\$ is a literal $"
        );
        assert_eq!(records[9].rdata.as_ref(), b"\x00\x02\x05mail1\x07example\x03com\x00");
        assert_eq!(
            records[10].rdata.as_ref(),
            b"\x02a$\x031 x",
            "several fields are taken as they are"
        );
    }

    #[test]
    fn strings_take_any_byte_names_only_ascii() {
        let dir = TempDir::new("latin1");
        let path = dir.0.join("db.latin1");
        std::fs::write(
            &path,
            b"$TTL 1\n@ TXT \"caf\xe9 \xff\" caf\xe9\nutf8 TXT \"caf\xc3\xa9\"\n",
        )
        .expect("write");
        let records = parse_file(&path, &origin(), class::IN, &ReadLimits::default()).expect("Latin-1 TXT reads");
        assert_eq!(
            records[0].rdata.as_ref(),
            b"\x06caf\xe9 \xff\x04caf\xe9",
            "Latin-1 bytes as they are"
        );
        assert_eq!(records[1].rdata.as_ref(), b"\x05caf\xc3\xa9", "UTF-8 bytes as they are");
        std::fs::write(&path, b"$TTL 1\ncaf\xe9 A 192.0.2.1\n").expect("write");
        let e = parse_file(&path, &origin(), class::IN, &ReadLimits::default()).expect_err("Knot refuses it too");
        assert!(e.to_string().ends_with(":2: owner: \"caf\u{fffd}\" holds a byte outside ASCII (write an internationalized name as its xn-- labels)"), "{e}");
        std::fs::write(&path, b"$TTL 1\nx A 192.0.2.\xe9\n").expect("write");
        let e = parse_file(&path, &origin(), class::IN, &ReadLimits::default()).expect_err("not an address");
        assert!(e.to_string().contains("bad ipv4 address \"192.0.2.\u{fffd}\""), "{e}");
    }

    #[test]
    fn out_of_zone_records_are_skipped_unless_strict() {
        let dir = TempDir::new("out-of-zone");
        let path = dir.write(
            "db.ooz",
            "$TTL 1\n@ SOA ns1 h 1 2 3 4 5\nwww.example.net. A 192.0.2.1\n@ NS ns1\n$ORIGIN other.\nx A 192.0.2.2\n",
        );
        let parsed = read_file(&path, &origin(), class::IN, &ReadLimits::default()).expect("reads");
        assert_eq!(parsed.records.len(), 2, "SOA and NS kept");
        assert_eq!(parsed.warnings.out_of_zone, 2);
        assert_eq!(parsed.warnings.total(), 2);
        let at = path.display();
        assert_eq!(
            parsed.warnings.messages,
            [
                format!("{at}:3: out-of-zone record www.example.net. skipped (the zone is example.com.)"),
                format!("{at}:6: out-of-zone record x.other. skipped (the zone is example.com.)"),
            ]
        );
        let strict = ReadLimits {
            strict: true,
            ..ReadLimits::default()
        };
        let parsed = read_file(&path, &origin(), class::IN, &strict).expect("reads");
        assert_eq!(parsed.records.len(), 4, "strict keeps them for validation to refuse");
        let e = crate::zone::validate::validate(&origin(), &parsed.records).expect_err("refused");
        assert!(e.to_string().contains(":3: out-of-zone record"), "{e}");
        assert_eq!(
            parse("$TTL 1\nwww.example.net. A 192.0.2.1\n").len(),
            1,
            "text in memory is read strictly: the record is left for validation to refuse"
        );
    }

    #[test]
    fn long_strings_are_split_with_a_warning() {
        let long = "x".repeat(600);
        let parsed = parse_with_warnings(&format!("$TTL 1\nt TXT \"{long}\" y\ns SPF {long} {long}\n"));
        let rdata = &parsed.records[0].rdata;
        assert_eq!(
            (rdata[0], rdata[256], rdata[512]),
            (255, 255, 90),
            "255 + 255 + 90 bytes"
        );
        assert_eq!(&rdata[603..], b"\x01y");
        assert_eq!(parsed.records[1].rdata.len(), 2 * 603);
        assert_eq!(parsed.warnings.split_strings, 3, "strings split, counted one by one");
        assert_eq!(parsed.warnings.messages.len(), 2, "one warning per record");
        assert_eq!(parsed.warnings.unlogged, 0);
        assert!(
            parsed.warnings.messages[0].starts_with("db.example:2: TXT character-string longer than 255"),
            "{:?}",
            parsed.warnings.messages
        );
        assert!(error(&format!("$TTL 1\nh HINFO {long} os\n")).contains("HINFO: cpu longer than 255"));
    }

    #[test]
    fn warnings_past_the_kept_ones_are_counted() {
        let mut text = String::from("$TTL 1\n");
        for i in 0..MAX_KEPT_WARNINGS + 50 {
            text.push_str(&format!("h{i}.example.net. A 192.0.2.1\n"));
        }
        let parsed = parse_with_warnings(&text);
        assert_eq!(parsed.warnings.out_of_zone, MAX_KEPT_WARNINGS as u64 + 50);
        assert_eq!(parsed.warnings.messages.len(), MAX_KEPT_WARNINGS);
        assert_eq!(parsed.warnings.unlogged, 50);
    }
}
