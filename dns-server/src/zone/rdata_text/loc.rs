//! LOC RDATA (RFC 1876): latitude, longitude, altitude and precisions from
//! `d [m [s]] N|S d [m [s]] E|W alt[m] [size[m] [hp[m] [vp[m]]]]`.

use super::fields::Fields;

/// 2^31 thousandths of an arc-second: the equator and the prime meridian (RFC 1876 section 2).
const EQUATOR: i64 = 1 << 31;
/// Thousandths of an arc-second in a degree.
const DEGREE: i64 = 3_600_000;
/// Altitudes are stored in centimetres from 100,000 m below the WGS 84 spheroid.
const ALTITUDE_BASE_CM: i64 = 10_000_000;
/// The defaults RFC 1876 section 3 gives for the fields a record may leave out, in centimetres.
const DEFAULT_SIZE_CM: u64 = 100;
const DEFAULT_HORIZONTAL_CM: u64 = 1_000_000;
const DEFAULT_VERTICAL_CM: u64 = 1_000;
/// The largest size or precision, 90,000,000 m: 9 * 10^9 cm.
const MAX_PRECISION_CM: u64 = 9_000_000_000;

/// RFC 1876 section 2: version 0, three precisions, then three 32-bit coordinates.
pub(super) fn loc(f: &mut Fields<'_, '_>) -> Result<(), String> {
    let latitude = coordinate(f, "latitude", 90, [b'N', b'S'])?;
    let longitude = coordinate(f, "longitude", 180, [b'E', b'W'])?;
    let altitude = f.next("altitude")?;
    let altitude = altitude
        .str()
        .ok()
        .and_then(|t| centimetres(t, true))
        .map(|cm| cm + ALTITUDE_BASE_CM)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            format!(
                "bad altitude {}: expected metres from -100000.00 to 42849672.95",
                altitude.show()
            )
        })?;
    let mut precision = |what: &str, default: u64| -> Result<u8, String> {
        if f.is_done() {
            return Ok(encode_precision(default));
        }
        let token = f.next(what)?;
        token
            .str()
            .ok()
            .and_then(|t| centimetres(t, false))
            .and_then(|cm| u64::try_from(cm).ok())
            .filter(|&cm| cm <= MAX_PRECISION_CM)
            .map(encode_precision)
            .ok_or_else(|| format!("bad {what} {}: expected metres from 0 to 90000000.00", token.show()))
    };
    let size = precision("size", DEFAULT_SIZE_CM)?;
    let horizontal = precision("horizontal precision", DEFAULT_HORIZONTAL_CM)?;
    let vertical = precision("vertical precision", DEFAULT_VERTICAL_CM)?;
    f.out.extend_from_slice(&[0, size, horizontal, vertical]);
    for value in [latitude, longitude, altitude] {
        f.out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(())
}

/// `d [m [s]] H`, H one of `hemispheres` (the first positive), as 2^31 plus
/// or minus thousandths of an arc-second.
fn coordinate(f: &mut Fields<'_, '_>, what: &str, max_degrees: i64, hemispheres: [u8; 2]) -> Result<u32, String> {
    let is_hemisphere = |text: &[u8]| match text {
        [h] => hemispheres.iter().position(|c| c.eq_ignore_ascii_case(h)),
        _ => None,
    };
    let mut parts = Vec::new();
    let sign = loop {
        let token = f.next(&format!("{what} hemisphere"))?;
        if let Some(which) = is_hemisphere(token.text) {
            break if which == 0 { 1 } else { -1 };
        }
        if parts.len() == 3 {
            return Err(format!(
                "bad {what}: expected {} or {} after the seconds, got {}",
                char::from(hemispheres[0]),
                char::from(hemispheres[1]),
                token.show()
            ));
        }
        parts.push(token);
    };
    let bad = || format!("bad {what}: expected degrees 0-{max_degrees}, minutes 0-59, seconds 0-59.999");
    let [limit_d, limit_m, limit_s] = [max_degrees, 59, 59_999];
    let mut value: i64 = 0;
    for (i, (token, (scale, limit))) in parts
        .iter()
        .zip([(DEGREE, limit_d), (60_000, limit_m), (1, limit_s)])
        .enumerate()
    {
        let text = token.str().map_err(|_| bad())?;
        let n = if i == 2 {
            decimal(text, 3)
        } else {
            text.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| text.parse().ok())
                .flatten()
        }
        .filter(|n| (0..=limit).contains(n))
        .ok_or_else(bad)?;
        value += n * scale;
    }
    if parts.is_empty() || value > max_degrees * DEGREE {
        return Err(bad());
    }
    u32::try_from(EQUATOR + sign * value).map_err(|_| bad())
}

/// Metres with up to two decimals and an optional `m`, in centimetres.
fn centimetres(text: &str, signed: bool) -> Option<i64> {
    let text = text.strip_suffix(['m', 'M']).unwrap_or(text);
    match text.strip_prefix('-') {
        Some(rest) if signed => decimal(rest, 2).map(|v| -v),
        Some(_) => None,
        None => decimal(text, 2),
    }
}

/// `digits[.digits]` with at most `places` decimals, times 10^places.
fn decimal(text: &str, places: u32) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || !digits(whole) || !digits(fraction) || fraction.len() > places as usize {
        return None;
    }
    let scale = 10i64.pow(places);
    let fraction_value = if fraction.is_empty() {
        0
    } else {
        fraction.parse::<i64>().ok()? * 10i64.pow(places - fraction.len() as u32)
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(fraction_value)
}

/// RFC 1876 section 2: a mantissa and a power of ten, four bits each; the
/// mantissa is cut, not rounded, as BIND and Knot cut it.
fn encode_precision(mut cm: u64) -> u8 {
    let mut exponent = 0u8;
    while cm > 9 {
        cm /= 10;
        exponent += 1;
    }
    ((cm as u8) << 4) | exponent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(decimal("23.5", 3), Some(23_500));
        assert_eq!(decimal("23", 3), Some(23_000));
        assert_eq!(decimal("0.001", 3), Some(1));
        assert_eq!(decimal("1.0001", 3), None);
        assert_eq!(decimal(".5", 3), None);
        assert_eq!(centimetres("-2.00m", true), Some(-200));
        assert_eq!(centimetres("10000m", false), Some(1_000_000));
        assert_eq!(centimetres("-1", false), None);
        assert_eq!(encode_precision(100), 0x12);
        assert_eq!(encode_precision(1_000_000), 0x16);
        assert_eq!(encode_precision(3_000), 0x33);
        assert_eq!(encode_precision(2_550), 0x23, "cut, not rounded");
        assert_eq!(encode_precision(0), 0x00);
        assert_eq!(encode_precision(MAX_PRECISION_CM), 0x99);
    }
}
