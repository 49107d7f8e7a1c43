//! Trust anchors in the XML of RFC 7958 (as IANA publishes the root's in
//! root-anchors.xml): each `KeyDigest` valid now becomes a DS anchor.

use quick_xml::{Reader, events::Event};

use super::anchor::Anchor;
use crate::name::Name;

/// One `KeyDigest` element being read.
#[derive(Default)]
struct KeyDigest {
    valid_from: Option<i64>,
    valid_until: Option<i64>,
    key_tag: Option<u16>,
    algorithm: Option<u8>,
    digest_type: Option<u8>,
    digest: Option<Vec<u8>>,
}

impl KeyDigest {
    /// The DS RDATA (RFC 4034 5.1), when every field is there.
    fn ds(&self) -> Option<Vec<u8>> {
        let mut rdata = self.key_tag?.to_be_bytes().to_vec();
        rdata.extend([self.algorithm?, self.digest_type?]);
        rdata.extend(self.digest.as_ref()?);
        Some(rdata)
    }

    /// Whether it is in force at `now` (RFC 7958 2.3: from `validFrom`,
    /// until `validUntil` when there is one).
    fn valid_at(&self, now: i64) -> bool {
        self.valid_from.is_some_and(|from| from <= now) && self.valid_until.is_none_or(|until| now < until)
    }
}

/// Reads an RFC 7958 document; `now` is seconds since the epoch. Digests not
/// valid at `now` are left out; none left is an error.
pub(crate) fn parse(text: &str, now: i64) -> Result<Anchor, String> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut zone: Option<Name> = None;
    let mut current: Option<KeyDigest> = None;
    let mut digests: Vec<KeyDigest> = Vec::new();
    // The element whose text comes next.
    let mut element = String::new();
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_string();
                match name.as_str() {
                    "TrustAnchor" => seen_root = true,
                    "KeyDigest" => {
                        let mut digest = KeyDigest::default();
                        for attribute in start.attributes() {
                            let attribute = attribute.map_err(|e| format!("XML attribute: {e}"))?;
                            let value = attribute
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .map_err(|e| format!("XML attribute: {e}"))?;
                            let when = || unix_time(&value).ok_or_else(|| format!("KeyDigest: bad date {value:?}"));
                            match attribute.key.local_name().as_ref() {
                                "validFrom" => digest.valid_from = Some(when()?),
                                "validUntil" => digest.valid_until = Some(when()?),
                                _ => {}
                            }
                        }
                        current = Some(digest);
                    }
                    _ => {}
                }
                element = name;
            }
            Event::Text(text) => {
                let text = text.xml10_content();
                let text = text.trim();
                let field = |what: &str| format!("{what}: {text:?} is not valid");
                match (element.as_str(), current.as_mut()) {
                    ("Zone", _) => {
                        let absolute = if text.ends_with('.') {
                            text.to_string()
                        } else {
                            format!("{text}.")
                        };
                        zone = Some(Name::parse(&absolute, None).map_err(|_| field("Zone"))?.to_lowercase());
                    }
                    ("KeyTag", Some(d)) => d.key_tag = Some(text.parse().map_err(|_| field("KeyTag"))?),
                    ("Algorithm", Some(d)) => d.algorithm = Some(text.parse().map_err(|_| field("Algorithm"))?),
                    ("DigestType", Some(d)) => d.digest_type = Some(text.parse().map_err(|_| field("DigestType"))?),
                    ("Digest", Some(d)) => {
                        let hex = text.to_ascii_uppercase();
                        let digest = data_encoding::HEXUPPER
                            .decode(hex.as_bytes())
                            .map_err(|_| field("Digest"))?;
                        d.digest = Some(digest);
                    }
                    _ => {}
                }
            }
            Event::End(end) => {
                if end.local_name().as_ref() == "KeyDigest"
                    && let Some(digest) = current.take()
                {
                    digests.push(digest);
                }
                element.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err("not an RFC 7958 document: no TrustAnchor element".into());
    }
    let zone = zone.ok_or("no Zone element")?;
    let mut ds = Vec::new();
    for digest in &digests {
        let rdata = digest
            .ds()
            .ok_or("a KeyDigest lacks KeyTag, Algorithm, DigestType or Digest")?;
        if digest.valid_at(now) {
            ds.push(rdata);
        }
    }
    if ds.is_empty() {
        return Err(format!(
            "no KeyDigest for {zone} is valid now (of {} read)",
            digests.len()
        ));
    }
    Ok(Anchor {
        zone,
        ds,
        keys: Vec::new(),
    })
}

/// Seconds since the epoch of an XML Schema dateTime with an offset
/// (`2017-02-02T00:00:00+00:00`, or `Z`); fractions of a second are dropped.
fn unix_time(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let mut ymd = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (ymd.next()??, ymd.next()??, ymd.next()??);
    let (clock, offset) = match time.find(['Z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, ""),
    };
    let mut hms = clock.splitn(3, ':');
    let hour: i64 = hms.next()?.parse().ok()?;
    let minute: i64 = hms.next()?.parse().ok()?;
    let second: i64 = hms.next()?.split('.').next()?.parse().ok()?;
    let offset = match offset.split_at_checked(1) {
        None | Some(("Z", "")) => 0,
        Some((sign, rest)) => {
            let (h, m) = rest.split_once(':')?;
            let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
            // XML Schema's offsets are -14:00..+14:00; larger numbers
            // would overflow the arithmetic below.
            if !(0..=14).contains(&h) || !(0..60).contains(&m) {
                return None;
            }
            let minutes = h * 60 + m;
            if sign == "-" { -minutes * 60 } else { minutes * 60 }
        }
    };
    // Four-digit years, as the schema's dateTime writes them (a larger one
    // would overflow the seconds; found by the trust_anchor fuzz target).
    let valid = (0..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..=60).contains(&second);
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IANA's root-anchors.xml in its 2024 shape (KSK-2010 expired, KSK-2017,
    /// KSK-2024), with a `Flags` element of RFC 9718 (skipped) and without
    /// the `PublicKey` ones.
    const IANA: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<TrustAnchor source="http://data.iana.org/root-anchors/root-anchors.xml">
<Zone>.</Zone>
<KeyDigest id="Kjqmt7v" validFrom="2010-07-15T00:00:00+00:00" validUntil="2019-01-11T00:00:00+00:00">
<KeyTag>19036</KeyTag>
<Algorithm>8</Algorithm>
<DigestType>2</DigestType>
<Digest>49AAC11D7B6F6446702E54A1607371607A1A41855200FD2CE1CDDE32F24E8FB5</Digest>
</KeyDigest>
<KeyDigest id="Klajeyz" validFrom="2017-02-02T00:00:00+00:00">
<KeyTag>20326</KeyTag>
<Algorithm>8</Algorithm>
<DigestType>2</DigestType>
<Digest>E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D</Digest>
<Flags>257</Flags>
</KeyDigest>
<KeyDigest id="Kmyv6jo" validFrom="2024-07-18T00:00:00+00:00">
<KeyTag>38696</KeyTag>
<Algorithm>8</Algorithm>
<DigestType>2</DigestType>
<Digest>683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16</Digest>
</KeyDigest>
</TrustAnchor>
"#;

    #[test]
    fn dates_are_read_with_their_offsets() {
        assert_eq!(unix_time("1970-01-01T00:00:00+00:00"), Some(0));
        assert_eq!(unix_time("2017-02-02T00:00:00Z"), Some(1_485_993_600));
        assert_eq!(unix_time("2017-02-02T01:00:00+01:00"), Some(1_485_993_600));
        assert_eq!(unix_time("2017-02-01T23:00:00-01:00"), Some(1_485_993_600));
        assert_eq!(unix_time("2024-02-29T12:30:15.5+00:00"), Some(1_709_209_815));
        assert_eq!(unix_time("2017-13-02T00:00:00Z"), None);
        // Numbers that would overflow the arithmetic are refused, not wrapped.
        assert_eq!(unix_time("202666666666666660-01-5T00:00:00Z"), None);
        assert_eq!(unix_time("-9223372036854775808-01-01T00:00:00Z"), None);
        assert_eq!(unix_time("2017-02-02T00:00:00+99999999999999999:00"), None);
        assert_eq!(unix_time("2017-02-02T00:00:00-15:00"), None);
        assert_eq!(unix_time("2017-02-02T00:00:00+14:00"), Some(1_485_993_600 - 14 * 3600));
        assert_eq!(unix_time("9999-12-31T23:59:60Z"), Some(253_402_300_800));
        assert_eq!(unix_time("yesterday"), None);
    }

    #[test]
    fn the_iana_file_gives_the_digests_valid_now() {
        let now = unix_time("2026-01-01T00:00:00Z").expect("date");
        let anchor = parse(IANA, now).expect("parses");
        assert_eq!(anchor.zone, Name::root());
        let tags: Vec<u16> = anchor.ds.iter().map(|d| u16::from_be_bytes([d[0], d[1]])).collect();
        assert_eq!(tags, vec![20326, 38696], "KSK-2010 expired in 2019");
        // The same DS records as the built-in anchors.
        let built_in = super::super::anchor::Anchors::root();
        assert_eq!(built_in.for_zone(&Name::root()).expect("root").ds, anchor.ds);
        // Before KSK-2024's validFrom, only KSK-2017; in 2015, only KSK-2010.
        let before = parse(IANA, unix_time("2024-07-17T23:59:59Z").expect("date")).expect("parses");
        assert_eq!(before.ds.len(), 1);
        let old = parse(IANA, unix_time("2015-01-01T00:00:00Z").expect("date")).expect("parses");
        assert_eq!(u16::from_be_bytes([old.ds[0][0], old.ds[0][1]]), 19036);
        assert!(
            parse(IANA, unix_time("2000-01-01T00:00:00Z").expect("date")).is_err(),
            "none valid yet"
        );
    }

    #[test]
    fn broken_documents_are_refused() {
        let now = unix_time("2026-01-01T00:00:00Z").expect("date");
        assert!(parse("<TrustAnchor><Zone>.</Zone>", now).is_err(), "no digest");
        assert!(parse("<Other/>", now).is_err());
        let no_digest = IANA.replace(
            "<Digest>683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16</Digest>",
            "",
        );
        assert!(parse(&no_digest, now).is_err(), "a KeyDigest without its Digest");
        let bad_hex = IANA.replace("683D2D0A", "683D2D0X");
        assert!(parse(&bad_hex, now).is_err());
        let bad_date = IANA.replace("2024-07-18T00:00:00+00:00", "soon");
        assert!(parse(&bad_date, now).is_err());
        assert!(
            parse("<TrustAnchor><Zone>.</Zone><KeyDigest></Trust", now).is_err(),
            "not XML"
        );
    }
}
