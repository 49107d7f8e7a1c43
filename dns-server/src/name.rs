//! Domain names in uncompressed wire format, the form the server stores and compares.

use std::fmt;

use dns_wire::wire::{MAX_LABEL_LEN, MAX_NAME_LEN, ascii_lower};

/// A fully qualified domain name in uncompressed wire format (root label included).
///
/// Equality and hashing are byte-wise: store lower-cased names (see
/// [`Name::to_lowercase`]) where case must not matter.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Name(Box<[u8]>);

/// Why text or bytes are not a domain name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum NameError {
    /// The presentation-format text could not be parsed.
    #[error("bad domain name {text:?}: {reason}")]
    Text {
        /// What was given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A relative name was given where no origin is known.
    #[error("relative name {0:?} without an origin")]
    Relative(String),
    /// The name is longer than 255 bytes in wire format.
    #[error("domain name too long")]
    TooLong,
}

impl Name {
    /// The root name `.`.
    pub(crate) fn root() -> Self {
        Self(Box::new([0]))
    }

    /// Takes a wire-format name, checking label and name lengths; no pointers.
    pub(crate) fn from_wire(wire: &[u8]) -> Option<Self> {
        let len = dns_wire::query::question_name_len(wire)?;
        (len == wire.len()).then(|| Self(wire.into()))
    }

    /// Parses presentation format (`www`, `www.example.com.`, `@`, escapes
    /// such as `\.` and `\065`); a relative name is appended to `origin`.
    pub(crate) fn parse(text: &str, origin: Option<&Name>) -> Result<Self, NameError> {
        if text == "@" {
            return origin.cloned().ok_or_else(|| NameError::Relative(text.into()));
        }
        let bad = |reason: String| NameError::Text {
            text: text.into(),
            reason,
        };
        let parsed = hickory_proto::rr::Name::from_ascii(text).map_err(|e| bad(e.to_string()))?;
        let mut wire = Vec::with_capacity(text.len() + 2);
        for label in parsed.iter() {
            if label.len() > MAX_LABEL_LEN {
                return Err(bad("label longer than 63 bytes".into()));
            }
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
        }
        if !parsed.is_fqdn() {
            let origin = origin.ok_or_else(|| NameError::Relative(text.into()))?;
            wire.extend_from_slice(&origin.0);
        } else {
            wire.push(0);
        }
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong);
        }
        Ok(Self(wire.into()))
    }

    /// The wire-format bytes.
    pub(crate) fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// The same name with ASCII letters lower-cased (RFC 4343).
    pub(crate) fn to_lowercase(&self) -> Self {
        Self(self.0.iter().map(|&b| ascii_lower(b)).collect())
    }

    /// Number of labels, the root not counted (`example.com.` has 2).
    pub(crate) fn label_count(&self) -> usize {
        suffixes(&self.0).count() - 1
    }

    /// Whether the first label is `*`.
    #[cfg(test)]
    pub(crate) fn is_wildcard(&self) -> bool {
        self.0.starts_with(b"\x01*")
    }

    /// Whether this name equals `zone` or lies below it (case-insensitive).
    pub(crate) fn is_within(&self, zone: &Name) -> bool {
        is_within(&self.0, &zone.0)
    }

    /// The name one label up, or `None` for the root.
    pub(crate) fn parent(&self) -> Option<Name> {
        parent(&self.0).map(|p| Self(p.into()))
    }

    /// `*.` prepended to this name.
    #[cfg(test)]
    pub(crate) fn wildcard_child(&self) -> Option<Name> {
        wildcard_of(&self.0).map(|w| Self(w.into()))
    }
}

/// The name and each of its ancestors, from itself up to the root, as wire slices.
pub(crate) fn suffixes(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = Some(0usize);
    std::iter::from_fn(move || {
        let start = at?;
        let len = *wire.get(start)? as usize;
        at = (len != 0).then_some(start + 1 + len);
        wire.get(start..)
    })
}

/// The name one label up, or `None` for the root.
pub(crate) fn parent(wire: &[u8]) -> Option<&[u8]> {
    let len = *wire.first()? as usize;
    if len == 0 { None } else { wire.get(1 + len..) }
}

/// Whether `name` equals `zone` or lies below it, comparing ASCII case-insensitively.
pub(crate) fn is_within(name: &[u8], zone: &[u8]) -> bool {
    suffixes(name).any(|s| s.len() == zone.len() && s.eq_ignore_ascii_case(zone))
}

/// `*.name` in wire format, when it fits in 255 bytes.
pub(crate) fn wildcard_of(wire: &[u8]) -> Option<Vec<u8>> {
    if wire.len() + 2 > MAX_NAME_LEN {
        return None;
    }
    let mut w = Vec::with_capacity(wire.len() + 2);
    w.extend_from_slice(b"\x01*");
    w.extend_from_slice(wire);
    Some(w)
}

/// Writes a wire-format name in presentation format, escaping as RFC 4343 asks.
pub(crate) fn write_presentation(wire: &[u8], f: &mut impl fmt::Write) -> fmt::Result {
    let mut at = 0;
    let mut wrote_label = false;
    while let Some(&len) = wire.get(at) {
        if len == 0 {
            break;
        }
        let label = wire.get(at + 1..at + 1 + len as usize).unwrap_or_default();
        for &b in label {
            match b {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => write!(f, "\\{}", b as char)?,
                0x21..=0x7e => f.write_char(b as char)?,
                _ => write!(f, "\\{b:03}")?,
            }
        }
        f.write_char('.')?;
        wrote_label = true;
        at += 1 + len as usize;
    }
    if !wrote_label {
        f.write_char('.')?;
    }
    Ok(())
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_presentation(&self.0, f)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_relative_absolute_and_escapes() {
        let origin = Name::parse("example.com.", None).expect("origin parses");
        assert_eq!(origin.as_wire(), b"\x07example\x03com\x00");
        let www = Name::parse("www", Some(&origin)).expect("relative name parses");
        assert_eq!(www.as_wire(), b"\x03www\x07example\x03com\x00");
        assert_eq!(Name::parse("@", Some(&origin)), Ok(origin.clone()));
        let dotted = Name::parse("a\\.b.example.com.", None).expect("escaped dot parses");
        assert_eq!(dotted.as_wire(), b"\x03a.b\x07example\x03com\x00");
        assert_eq!(dotted.to_string(), "a\\.b.example.com.");
        assert!(matches!(Name::parse("www", None), Err(NameError::Relative(_))));
    }

    #[test]
    fn hierarchy() {
        let name = Name::parse("A.b.Example.com.", None).expect("parses");
        let zone = Name::parse("example.COM.", None).expect("parses");
        assert!(name.is_within(&zone));
        assert!(!zone.is_within(&name));
        assert_eq!(name.label_count(), 4);
        assert_eq!(Name::root().label_count(), 0);
        assert_eq!(name.to_lowercase().to_string(), "a.b.example.com.");
        let all: Vec<_> = suffixes(name.as_wire()).map(|s| s.len()).collect();
        assert_eq!(all, vec![17, 15, 13, 5, 1]);
        assert_eq!(Name::root().to_string(), ".");
        assert!(zone.wildcard_child().expect("fits").is_wildcard());
    }
}
