//! `$GENERATE` (BIND's syntax): one template written out for a range of numbers.

use super::{Lexer, Location, Reader, State, Token, class_code};

/// The most records one `$GENERATE` may make: a /16 of reverse names fits,
/// and a typo such as `1-4000000000` is an error, not all the memory gone.
pub(super) const MAX_GENERATED: u64 = 65_536;

/// The widest `${offset,width}` field; wider cannot fit in a name anyway.
const MAX_WIDTH: usize = 255;

impl Reader<'_> {
    /// `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs...`: for each
    /// number, `$` becomes the number and `${offset,width,base}` the number
    /// plus offset, zero-padded to width, in base `d`, `o`, `x`, `X`, `n` or
    /// `N` (nibbles, least significant first, dot-separated, for reverse
    /// IPv6 names); `\$` stays a literal `$`. Each record is then read as if
    /// written on this line. As in BIND, an rdata written as one quoted field
    /// (`MX "10 mail$"`) is read as the fields it holds; rdata written as
    /// several fields is taken as it is.
    pub(super) fn generate(&mut self, args: &[Token<'_>], at: &Location, state: &mut State) -> Result<(), String> {
        let usage = "$GENERATE takes start-stop[/step] owner [ttl] [class] type rdata";
        let (range, template) = args.split_first().ok_or(usage)?;
        if template.len() < 3 {
            return Err(usage.into());
        }
        let (start, stop, step) = range_of(&String::from_utf8_lossy(range.text))?;
        let quoted_rdata = is_bind_rdata(template);
        for value in (start..=stop).step_by(step) {
            let texts = template
                .iter()
                .map(|t| substitute(t.text, value))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("$GENERATE: {e}"))?;
            let mut tokens: Vec<Token<'_>> = texts
                .iter()
                .zip(template)
                .map(|(text, t)| Token { text, quoted: t.quoted })
                .collect();
            if quoted_rdata && let Some(rdata) = texts.last() {
                tokens.pop();
                tokens.extend(fields_of(rdata).map_err(|e| format!("$GENERATE at {value}: {e}"))?);
            }
            self.record(false, &tokens, at, state)
                .map_err(|e| format!("$GENERATE at {value}: {e}"))?;
        }
        Ok(())
    }
}

/// Whether the template is BIND's `owner [ttl] [class] type "rdata"`: one
/// quoted field after the type.
fn is_bind_rdata(template: &[Token<'_>]) -> bool {
    let after_owner = template.get(1..).unwrap_or_default();
    let ttl_or_class = |t: &&Token<'_>| {
        t.str()
            .is_ok_and(|s| s.starts_with(|c: char| c.is_ascii_digit()) || class_code(s).is_some())
    };
    let skipped = after_owner.iter().take(2).take_while(ttl_or_class).count();
    matches!(&after_owner[skipped..], [_type, rdata] if rdata.quoted)
}

/// The fields of a quoted rdata, split as a line of the file is.
fn fields_of(text: &[u8]) -> Result<Vec<Token<'_>>, String> {
    let mut lexer = Lexer::new(text, 1, true);
    let entry = lexer.next_entry().map_err(|(_, e)| e)?;
    if lexer.next_entry().map_err(|(_, e)| e)?.is_some() {
        return Err("the quoted rdata holds more than one line".into());
    }
    Ok(entry.map(|e| e.tokens).unwrap_or_default())
}

/// `start-stop[/step]`, counted against [`MAX_GENERATED`].
fn range_of(text: &str) -> Result<(u64, u64, usize), String> {
    let bad = || format!("bad $GENERATE range {text:?}: expected start-stop or start-stop/step");
    let (range, step) = match text.split_once('/') {
        Some((range, step)) => (range, step.parse::<usize>().map_err(|_| bad())?),
        None => (text, 1),
    };
    let (start, stop) = range.split_once('-').ok_or_else(bad)?;
    let number = |t: &str| {
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse::<u32>().ok())
            .flatten()
            .ok_or_else(bad)
    };
    let (start, stop) = (u64::from(number(start)?), u64::from(number(stop)?));
    if start > stop || step == 0 {
        return Err(bad());
    }
    let count = (stop - start) / step as u64 + 1;
    if count > MAX_GENERATED {
        return Err(format!(
            "$GENERATE range {text} makes {count} records, more than the {MAX_GENERATED} one $GENERATE may make"
        ));
    }
    Ok((start, stop, step))
}

/// One template field with `value` put in.
fn substitute(text: &[u8], value: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() + 8);
    let mut at = 0;
    while let Some(&b) = text.get(at) {
        match b {
            // An escape is copied whole, so `\$` reaches the field's parser as a literal `$`.
            b'\\' => {
                out.extend(text.get(at..at + 2).unwrap_or(&text[at..]));
                at += 2;
            }
            b'$' if text.get(at + 1) == Some(&b'{') => {
                let close = text[at..].iter().position(|&c| c == b'}').ok_or("'${' without '}'")?;
                let spec = String::from_utf8_lossy(&text[at + 2..at + close]);
                out.extend(format_value(value, &spec)?);
                at += close + 1;
            }
            b'$' => {
                out.extend(value.to_string().bytes());
                at += 1;
            }
            _ => {
                out.push(b);
                at += 1;
            }
        }
    }
    Ok(out)
}

/// `offset[,width[,base]]` applied to `value`.
fn format_value(value: u64, spec: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("bad ${{{spec}}}: expected ${{offset[,width[,base]]}}, base one of d o x X n N");
    let mut parts = spec.split(',');
    let offset: i64 = parts.next().unwrap_or("0").trim().parse().map_err(|_| bad())?;
    let width: usize = match parts.next() {
        Some(w) => w.trim().parse().map_err(|_| bad())?,
        None => 0,
    };
    let base = parts.next().map(str::trim).unwrap_or("d");
    if parts.next().is_some() || width > MAX_WIDTH {
        return Err(bad());
    }
    let value = i64::try_from(value)
        .ok()
        .and_then(|v| v.checked_add(offset))
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| format!("${{{spec}}}: the offset makes the number negative"))?;
    let text = match base {
        "d" => format!("{value:0width$}"),
        "o" => format!("{value:0width$o}"),
        "x" => format!("{value:0width$x}"),
        "X" => format!("{value:0width$X}"),
        "n" | "N" => nibbles(value, width, base == "N"),
        _ => return Err(bad()),
    };
    Ok(text.into_bytes())
}

/// BIND's nibble form: hex digits least significant first, each followed by
/// a dot while digits or width remain; `width` counts the dots too.
fn nibbles(mut value: u64, mut width: usize, upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut out = String::new();
    loop {
        out.push(char::from(digits[(value & 0xf) as usize]));
        value >>= 4;
        width = width.saturating_sub(1);
        if width > 0 || value != 0 {
            out.push('.');
            width = width.saturating_sub(1);
        }
        if value == 0 && width == 0 {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(text: &str, value: u64) -> String {
        String::from_utf8(substitute(text.as_bytes(), value).expect("substitutes")).expect("ascii")
    }

    #[test]
    fn dollar_and_modifiers() {
        assert_eq!(sub("host$", 7), "host7");
        assert_eq!(sub("$.$", 3), "3.3");
        assert_eq!(
            sub("a\\$b$", 2),
            "a\\$b2",
            "an escaped $ is kept for the field's parser"
        );
        assert_eq!(sub("h${10}", 5), "h15");
        assert_eq!(sub("h${-1,3}", 5), "h004");
        assert_eq!(sub("${0,4,x}", 255), "00ff");
        assert_eq!(sub("${0,0,X}", 255), "FF");
        assert_eq!(sub("${0,3,o}", 8), "010");
        assert_eq!(sub("${0,0,n}", 0x1a), "a.1");
        assert_eq!(sub("${0,7,N}", 0xab), "B.A.0.0", "width counts the dots");
        assert_eq!(
            sub("${0,8,n}", 0),
            "0.0.0.0.",
            "BIND ends a label run on a dot at odd widths"
        );
        for bad in ["${", "${x}", "${0,1,q}", "${0,1,d,4}", "${-9}", "${0,999}"] {
            assert!(substitute(bad.as_bytes(), 5).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn ranges_are_bounded() {
        assert_eq!(range_of("1-10"), Ok((1, 10, 1)));
        assert_eq!(range_of("0-20/5"), Ok((0, 20, 5)));
        assert_eq!(range_of("0-65535"), Ok((0, 65_535, 1)));
        let e = range_of("0-4000000000").expect_err("too many");
        assert!(e.contains("more than the 65536"), "{e}");
        assert!(
            range_of("0-4000000000/100000").is_ok(),
            "the count, not the span, is bounded"
        );
        for bad in ["5-1", "1-2/0", "1", "a-b", "-1-2", "1-2/", "1-99999999999"] {
            assert!(range_of(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
