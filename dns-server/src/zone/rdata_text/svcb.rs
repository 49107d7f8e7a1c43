//! SVCB and HTTPS RDATA (RFC 9460): priority, target, and SvcParams in key order.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::{Ipv4Addr, Ipv6Addr},
};

use data_encoding::BASE64;

use super::{fields::Fields, number, unescape};

/// RFC 9460 section 2.2: priority, target, then SvcParams in increasing key order.
pub(super) fn svcb(f: &mut Fields<'_, '_>) -> Result<(), String> {
    f.u16("priority")?;
    f.name("target name")?;
    let mut params = BTreeMap::new();
    while !f.is_done() {
        let token = f.next("svcparam")?.str()?;
        let (key_text, value) = match token.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (token, None),
        };
        let key = svc_key(key_text)?;
        let value = svc_value(key, value.map(unquote).transpose()?.as_deref())?;
        if params.insert(key, value).is_some() {
            return Err(format!("svcparam {key_text} appears twice"));
        }
    }
    if let Some(mandatory) = params.get(&0) {
        for key in mandatory.chunks(2) {
            let key = u16::from_be_bytes([key[0], key[1]]);
            if !params.contains_key(&key) {
                return Err(format!("mandatory svcparam key{key} is missing"));
            }
        }
    }
    for (key, value) in params {
        let len = u16::try_from(value.len()).map_err(|_| "svcparam value too long")?;
        f.out.extend_from_slice(&key.to_be_bytes());
        f.out.extend_from_slice(&len.to_be_bytes());
        f.out.extend_from_slice(&value);
    }
    Ok(())
}

/// SvcParamKey names of RFC 9460 section 14.3.2, and `keyNNNNN`.
fn svc_key(text: &str) -> Result<u16, String> {
    let key = match text {
        "mandatory" => 0,
        "alpn" => 1,
        "no-default-alpn" => 2,
        "port" => 3,
        "ipv4hint" => 4,
        "ech" => 5,
        "ipv6hint" => 6,
        "dohpath" => 7,
        "ohttp" => 8,
        _ => text
            .strip_prefix("key")
            .and_then(number::<u16>)
            .ok_or_else(|| format!("unknown svcparam key {text:?}"))?,
    };
    if key == u16::MAX {
        return Err("svcparam key65535 is reserved".into());
    }
    Ok(key)
}

/// A SvcParamValue, written `key=value` or `key="value"`, with its escapes decoded.
fn unquote(value: &str) -> Result<Vec<u8>, String> {
    let inner = match value.strip_prefix('"') {
        Some(rest) => rest
            .strip_suffix('"')
            .ok_or_else(|| format!("unterminated quote in svcparam value {value:?}"))?,
        None => value,
    };
    unescape(inner.as_bytes())
}

/// The wire form of one SvcParamValue (RFC 9460 sections 7 and 8).
fn svc_value(key: u16, value: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let needs_value = || format!("svcparam {} needs a value", svc_key_name(key));
    match key {
        0 => {
            let mut keys = BTreeSet::new();
            for item in value_list(value.ok_or_else(needs_value)?)? {
                let k = svc_key(&String::from_utf8_lossy(&item))?;
                if k == 0 || !keys.insert(k) {
                    return Err(format!("bad mandatory list entry key{k}"));
                }
            }
            Ok(keys.into_iter().flat_map(u16::to_be_bytes).collect())
        }
        1 => {
            let mut out = Vec::new();
            for id in value_list(value.ok_or_else(needs_value)?)? {
                let len = u8::try_from(id.len()).map_err(|_| "alpn id longer than 255 bytes")?;
                out.push(len);
                out.extend_from_slice(&id);
            }
            Ok(out)
        }
        2 | 8 => match value {
            None | Some([]) => Ok(Vec::new()),
            Some(_) => Err(format!("svcparam {} takes no value", svc_key_name(key))),
        },
        3 => {
            let text = String::from_utf8_lossy(value.ok_or_else(needs_value)?).into_owned();
            let port: u16 = number(&text).ok_or_else(|| format!("bad port {text:?}"))?;
            Ok(port.to_be_bytes().to_vec())
        }
        4 => ip_list::<Ipv4Addr>(value.ok_or_else(needs_value)?, |a| a.octets().to_vec()),
        6 => ip_list::<Ipv6Addr>(value.ok_or_else(needs_value)?, |a| a.octets().to_vec()),
        5 => BASE64
            .decode(value.ok_or_else(needs_value)?)
            .map_err(|e| format!("bad base64 in ech: {e}")),
        _ => Ok(value.unwrap_or_default().to_vec()),
    }
}

fn svc_key_name(key: u16) -> String {
    let names = [
        "mandatory",
        "alpn",
        "no-default-alpn",
        "port",
        "ipv4hint",
        "ech",
        "ipv6hint",
        "dohpath",
        "ohttp",
    ];
    match names.get(usize::from(key)) {
        Some(name) => (*name).to_string(),
        None => format!("key{key}"),
    }
}

/// RFC 9460 appendix A.1: items split at commas, `\,` and `\\` standing for themselves.
fn value_list(value: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut items = Vec::new();
    let mut item = Vec::new();
    let mut bytes = value.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'\\' => match bytes.next() {
                Some(&escaped) => item.push(escaped),
                None => return Err("dangling backslash in svcparam list".into()),
            },
            b',' => items.push(std::mem::take(&mut item)),
            _ => item.push(b),
        }
    }
    items.push(item);
    if items.iter().any(Vec::is_empty) {
        return Err("empty item in svcparam list".into());
    }
    Ok(items)
}

fn ip_list<A: std::str::FromStr>(value: &[u8], octets: fn(A) -> Vec<u8>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for item in value_list(value)? {
        let text = String::from_utf8_lossy(&item);
        let addr = text
            .parse::<A>()
            .map_err(|_| format!("bad address {text:?} in ip hint"))?;
        out.extend(octets(addr));
    }
    Ok(out)
}
