//! RFC 1035 section 5 master-file reader: directives, inherited fields, `file:line` errors.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use dns_wire::wire::{class, rtype};

use super::{
    Location, Record, ZoneError,
    rdata_text::{self, Token},
    source::{MAX_INCLUDE_DEPTH, ReadLimits, Source},
};
use crate::name::Name;

/// The longest error message; a longer one is cut. Messages quote at most
/// one token, and this keeps a huge token from being printed whole.
const MAX_MESSAGE_CHARS: usize = 200;

/// The largest TTL RFC 2181 section 8 allows (2^31 - 1).
const MAX_TTL: u32 = i32::MAX as u32;

/// Hesiod, not in the shared wire constants because only zone files name it.
const CLASS_HS: u16 = 4;

/// Reads a zone file within `limits`; records default to `default_class` and
/// any other class is an error.
#[allow(
    dead_code,
    reason = "the loader streams with parse_file_each; tests and tools collect"
)]
pub(crate) fn parse_file(
    path: &Path,
    origin: &Name,
    default_class: u16,
    limits: &ReadLimits,
) -> Result<Vec<Record>, ZoneError> {
    let mut records = Vec::new();
    parse_file_each(path, origin, default_class, limits, &mut |r| records.push(r))?;
    Ok(records)
}

/// [`parse_file`], handing each record to `each` as it is read rather than
/// collecting them (a zone builder packs them as they come).
pub(crate) fn parse_file_each(
    path: &Path,
    origin: &Name,
    default_class: u16,
    limits: &ReadLimits,
    each: &mut dyn FnMut(Record),
) -> Result<(), ZoneError> {
    let mut source = Source::new(path, limits);
    let text = source.read_zone_file(path).map_err(|message| ZoneError {
        location: None,
        message,
    })?;
    let mut reader = Reader {
        class: default_class,
        records: Sink(each),
        source,
    };
    reader.read(&text, &Arc::from(path), State::new(origin), 0)
}

/// Reads zone text of class IN; `file` names it in locations and anchors
/// relative `$INCLUDE`s, which stay under its directory and the default limits.
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
    let mut reader = Reader {
        class: class::IN,
        records: Sink(each),
        source: Source::new(file, &ReadLimits::default()),
    };
    reader.read(text, &Arc::from(file), State::new(origin), 0)
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
    records: Sink<'a>,
    source: Source,
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

impl Reader<'_> {
    fn read(&mut self, text: &str, file: &Arc<Path>, mut state: State, depth: usize) -> Result<(), ZoneError> {
        let mut lexer = Lexer { text, at: 0, line: 1 };
        loop {
            let entry = lexer.next_entry().map_err(|(line, message)| {
                error_at(
                    Location {
                        file: file.clone(),
                        line,
                    },
                    message,
                )
            })?;
            let Some(entry) = entry else {
                return Ok(());
            };
            let at = Location {
                file: file.clone(),
                line: entry.line,
            };
            let is_directive = !entry.leading_blank
                && entry
                    .tokens
                    .first()
                    .is_some_and(|t| !t.quoted && t.text.starts_with('$'));
            if is_directive {
                self.directive(&entry.tokens, &at, &mut state, depth)?;
            } else {
                let record = self
                    .record(&entry, at.clone(), &mut state)
                    .map_err(|message| error_at(at, message))?;
                self.records.push(record);
            }
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
        let name = name.text.to_ascii_uppercase();
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
                state.origin =
                    Name::parse(args[0].text, Some(&state.origin)).map_err(|e| fail(format!("$ORIGIN: {e}")))?;
            }
            "$TTL" => {
                arity(1..=1)?;
                state.default_ttl = Some(record_ttl(args[0].text).map_err(fail)?);
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
                    inner.origin = Name::parse(origin.text, Some(&state.origin))
                        .map_err(|e| fail(format!("$INCLUDE origin: {e}")))?;
                }
                let path: Arc<Path> = include_path(&at.file, args[0].text).into();
                // Refusals name the $INCLUDE's own file and line, and nothing of the target.
                let text = self.source.read_include(&path).map_err(fail)?;
                self.read(&text, &path, inner, depth + 1)?;
            }
            "$GENERATE" => return Err(fail("$GENERATE is not supported".into())),
            _ => return Err(fail(format!("unknown directive {name}"))),
        }
        Ok(())
    }

    /// `[owner] [ttl] [class] type rdata` with TTL and class in either order
    /// (RFC 1035 5.1); the caller adds the location to an error.
    fn record(&self, entry: &Entry<'_>, location: Location, state: &mut State) -> Result<Record, String> {
        let mut tokens = entry.tokens.as_slice();
        let owner = if entry.leading_blank {
            state
                .owner
                .clone()
                .ok_or("no owner name: the first record must not start with a blank")?
        } else {
            let (first, rest) = tokens.split_first().ok_or("empty record")?;
            tokens = rest;
            Name::parse(first.text, Some(&state.origin)).map_err(|e| format!("owner: {e}"))?
        };
        state.owner = Some(owner.clone());

        let (mut ttl, mut class) = (None, None);
        while let Some((token, rest)) = tokens.split_first() {
            if ttl.is_none() && token.text.starts_with(|c: char| c.is_ascii_digit()) {
                ttl = Some(record_ttl(token.text)?);
            } else if class.is_none()
                && let Some(code) = class_code(token.text)
            {
                class = Some(code);
            } else {
                break;
            }
            tokens = rest;
        }
        let (type_token, rdata_tokens) = tokens.split_first().ok_or("missing type")?;
        let rtype =
            rdata_text::type_code(type_token.text).ok_or_else(|| format!("unknown type {:?}", type_token.text))?;
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
        let rdata = rdata_text::rdata_from_text(rtype, rdata_tokens, &state.origin)
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
        Ok(Record {
            owner,
            rtype,
            class: self.class,
            ttl,
            rdata: rdata.into(),
            location,
        })
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

/// Splits master-file text into entries; errors carry the line they belong to.
struct Lexer<'a> {
    text: &'a str,
    at: usize,
    line: u32,
}

impl<'a> Lexer<'a> {
    fn next_entry(&mut self) -> Result<Option<Entry<'a>>, (u32, String)> {
        let mut entry = Entry {
            line: self.line,
            leading_blank: false,
            tokens: Vec::new(),
        };
        let mut depth = 0u32;
        let mut open_line = 0;
        let mut line_start = true;
        loop {
            let Some(&b) = self.text.as_bytes().get(self.at) else {
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
                    let rest = &self.text.as_bytes()[self.at..];
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
        let bytes = self.text.as_bytes();
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
        let bytes = self.text.as_bytes();
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
        match self.text.as_bytes().get(at + 1) {
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
            ("$GENERATE 1-2 a A 1.2.3.$\n", 1, "not supported"),
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
}
