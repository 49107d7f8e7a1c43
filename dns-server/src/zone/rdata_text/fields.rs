//! A cursor over one record's RDATA fields that writes wire format as it goes.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{Ipv4Addr, Ipv6Addr},
};

use data_encoding::{BASE32_DNSSEC, BASE64};

use super::{Token, decode_hex, number, parse_ttl, type_code, unescape};

/// The most bytes one `<character-string>` holds (RFC 1035 3.3).
const MAX_STRING: usize = 255;
use crate::name::Name;

/// A cursor over a record's RDATA fields, writing wire format as it goes.
pub(super) struct Fields<'t, 'a> {
    pub(super) tokens: &'t [Token<'a>],
    pub(super) at: usize,
    pub(super) origin: &'t Name,
    pub(super) out: Vec<u8>,
    /// Strings longer than 255 bytes split by [`Fields::strings_split`].
    pub(super) split: u64,
}

impl<'t, 'a> Fields<'t, 'a> {
    pub(super) fn next(&mut self, what: &str) -> Result<Token<'a>, String> {
        let token = *self.tokens.get(self.at).ok_or_else(|| format!("missing {what}"))?;
        self.at += 1;
        Ok(token)
    }

    pub(super) fn is_done(&self) -> bool {
        self.at >= self.tokens.len()
    }

    /// Takes every field left; at least one must be there.
    pub(super) fn rest(&mut self, what: &str) -> Result<&'t [Token<'a>], String> {
        if self.is_done() {
            return Err(format!("missing {what}"));
        }
        let rest = &self.tokens[self.at..];
        self.at = self.tokens.len();
        Ok(rest)
    }

    pub(super) fn finish(self) -> Result<Vec<u8>, String> {
        match self.tokens.get(self.at) {
            Some(extra) => Err(format!("unexpected {} after the rdata", extra.show())),
            None => Ok(self.out),
        }
    }

    /// An unsigned field of `bits` bits.
    pub(super) fn number<T: std::str::FromStr>(&mut self, what: &str, bits: u32) -> Result<T, String> {
        let token = self.next(what)?;
        token.str().ok().and_then(number).ok_or_else(|| {
            let max = (1u64 << bits) - 1;
            format!("bad {what} {}: expected a number from 0 to {max}", token.show())
        })
    }

    pub(super) fn u8(&mut self, what: &str) -> Result<(), String> {
        let n: u8 = self.number(what, 8)?;
        self.out.push(n);
        Ok(())
    }

    pub(super) fn u16(&mut self, what: &str) -> Result<(), String> {
        let n: u16 = self.number(what, 16)?;
        self.out.extend_from_slice(&n.to_be_bytes());
        Ok(())
    }

    pub(super) fn u32(&mut self, what: &str) -> Result<(), String> {
        let n: u32 = self.number(what, 32)?;
        self.out.extend_from_slice(&n.to_be_bytes());
        Ok(())
    }

    pub(super) fn ttl(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let seconds = token.str().and_then(parse_ttl).map_err(|e| format!("{what}: {e}"))?;
        self.out.extend_from_slice(&seconds.to_be_bytes());
        Ok(())
    }

    pub(super) fn ipv4(&mut self) -> Result<(), String> {
        let token = self.next("ipv4 address")?;
        let addr: Ipv4Addr = token
            .str()
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("bad ipv4 address {}", token.show()))?;
        self.out.extend_from_slice(&addr.octets());
        Ok(())
    }

    pub(super) fn ipv6(&mut self) -> Result<(), String> {
        let token = self.next("ipv6 address")?;
        let addr: Ipv6Addr = token
            .str()
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("bad ipv6 address {}", token.show()))?;
        self.out.extend_from_slice(&addr.octets());
        Ok(())
    }

    pub(super) fn name(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let name = super::name(&token, self.origin).map_err(|e| format!("{what}: {e}"))?;
        self.out.extend_from_slice(name.as_wire());
        Ok(())
    }

    /// A `<character-string>` (RFC 1035 3.3): a length byte, then at most 255 bytes.
    pub(super) fn string(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let bytes = unescape(token.text)?;
        let len = u8::try_from(bytes.len())
            .map_err(|_| format!("{what} longer than 255 bytes: split it into several strings"))?;
        self.out.push(len);
        self.out.extend_from_slice(&bytes);
        Ok(())
    }

    /// One field of a list of `<character-string>`s (TXT, SPF): longer than
    /// 255 bytes, it becomes several strings, as Knot reads it.
    pub(super) fn strings_split(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        let bytes = unescape(token.text)?;
        if bytes.len() > MAX_STRING {
            self.split += 1;
        }
        if bytes.is_empty() {
            self.out.push(0);
        }
        for piece in bytes.chunks(MAX_STRING) {
            self.out.push(piece.len() as u8);
            self.out.extend_from_slice(piece);
        }
        Ok(())
    }

    /// RFC 7043 section 3.2 and 4.2: `bytes` pairs of hex digits joined by hyphens.
    pub(super) fn eui(&mut self, what: &str, bytes: usize) -> Result<(), String> {
        let token = self.next(what)?;
        let bad = || {
            let form = vec!["xx"; bytes].join("-");
            format!("bad {what} {}: expected {form} in hex", token.show())
        };
        let pairs: Vec<&[u8]> = token.text.split(|&b| b == b'-').collect();
        if pairs.len() != bytes || pairs.iter().any(|p| p.len() != 2) {
            return Err(bad());
        }
        let hex: Vec<u8> = pairs.concat();
        let data = decode_hex(&[Token {
            text: &hex,
            quoted: false,
        }])
        .map_err(|_| bad())?;
        self.out.extend(data);
        Ok(())
    }

    /// A string that fills the rest of the RDATA, without a length byte.
    pub(super) fn raw_string(&mut self, what: &str) -> Result<(), String> {
        let token = self.next(what)?;
        self.out.extend(unescape(token.text)?);
        Ok(())
    }

    pub(super) fn hex_rest(&mut self, what: &str) -> Result<(), String> {
        let data = decode_hex(self.rest(what)?).map_err(|e| format!("{what}: {e}"))?;
        self.out.extend(data);
        Ok(())
    }

    pub(super) fn base64_rest(&mut self, what: &str) -> Result<(), String> {
        let text: Vec<u8> = self.rest(what)?.iter().flat_map(|t| t.text.iter().copied()).collect();
        let data = BASE64.decode(&text).map_err(|e| format!("{what}: bad base64: {e}"))?;
        self.out.extend(data);
        Ok(())
    }

    /// Hash algorithm, flags, iterations and salt, shared by NSEC3 and NSEC3PARAM.
    pub(super) fn nsec3_head(&mut self) -> Result<(), String> {
        self.u8("hash algorithm")?;
        self.u8("flags")?;
        self.u16("iterations")?;
        let salt = self.next("salt")?;
        let salt = match salt.text {
            b"-" => Vec::new(),
            _ => decode_hex(&[salt]).map_err(|e| format!("salt: {e}"))?,
        };
        let len = u8::try_from(salt.len()).map_err(|_| "salt longer than 255 bytes")?;
        self.out.push(len);
        self.out.extend(salt);
        Ok(())
    }

    /// RFC 5155 section 3.3: base32hex without padding, either case.
    pub(super) fn next_hashed_owner(&mut self) -> Result<(), String> {
        let token = self.next("next hashed owner name")?;
        let hash = BASE32_DNSSEC
            .decode(token.text)
            .map_err(|e| format!("bad base32hex next hashed owner name: {e}"))?;
        let len = u8::try_from(hash.len()).map_err(|_| "next hashed owner longer than 255 bytes")?;
        self.out.push(len);
        self.out.extend(hash);
        Ok(())
    }

    /// RFC 4034 section 4.1.2: one block per 256-type window, in increasing order,
    /// each as long as its highest type needs.
    pub(super) fn type_bitmap(&mut self) -> Result<(), String> {
        let mut types = BTreeSet::new();
        while !self.is_done() {
            let token = self.next("type")?;
            let code = token.str().ok().and_then(type_code);
            types.insert(code.ok_or_else(|| format!("unknown type {}", token.show()))?);
        }
        let mut windows: BTreeMap<u8, [u8; 32]> = BTreeMap::new();
        for t in types {
            let [window, low] = t.to_be_bytes();
            windows.entry(window).or_insert([0; 32])[usize::from(low / 8)] |= 0x80 >> (low % 8);
        }
        for (window, bits) in windows {
            let len = bits.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            self.out.push(window);
            self.out.push(len as u8);
            self.out.extend_from_slice(&bits[..len]);
        }
        Ok(())
    }
}
