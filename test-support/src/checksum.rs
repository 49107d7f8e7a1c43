//! The Internet checksum (RFC 1071) and the UDP pseudo-header (RFC 768, RFC
//! 8200 section 8.1), written out again here: independent of `dns_wire`'s
//! incremental code, so a frame built or checked here can catch its mistakes.
use std::net::IpAddr;

/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// 16-bit big-endian words summed without folding; an odd last byte is padded with zero.
pub fn sum(bytes: &[u8]) -> u64 {
    bytes
        .chunks(2)
        .map(|pair| u64::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)])))
        .sum()
}

/// Folds carries back in until the sum fits in 16 bits.
pub fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The ones'-complement sum of `bytes`, folded to 16 bits. A header whose
/// checksum field is right sums to 0xffff.
pub fn ones_sum(bytes: &[u8]) -> u16 {
    fold(sum(bytes))
}

/// The checksum to write into a header (IPv4, ICMP): the complement of the
/// sum of `bytes` taken with a zero checksum field.
pub fn internet(bytes: &[u8]) -> u16 {
    !ones_sum(bytes)
}

/// The pseudo-header's contribution to a UDP checksum.
fn pseudo_header_sum(src: IpAddr, dst: IpAddr, udp_len: usize) -> u64 {
    let octets = |a: IpAddr| match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    sum(&octets(src)) + sum(&octets(dst)) + u64::from(PROTO_UDP) + udp_len as u64
}

/// The UDP checksum of `segment` (header with a zero checksum field, then
/// payload) from `src` to `dst`. Zero is sent as all ones, since a zero
/// checksum means "none".
pub fn udp(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    match !fold(pseudo_header_sum(src, dst, segment.len()) + sum(segment)) {
        0 => 0xffff,
        check => check,
    }
}

/// What a receiver checks: the pseudo-header plus the segment as sent sum to all ones.
pub fn udp_verifies(src: IpAddr, dst: IpAddr, segment: &[u8]) -> bool {
    fold(pseudo_header_sum(src, dst, segment.len()) + sum(segment)) == 0xffff
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn a_known_ipv4_header() {
        // 192.168.0.1 -> 192.168.0.199, UDP, DF, TTL 64, length 0x73, id 0: checksum 0xb861.
        let mut header = [
            0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 192, 168, 0, 1, 192, 168, 0, 199,
        ];
        assert_eq!(internet(&header), 0xb861);
        header[10..12].copy_from_slice(&0xb861u16.to_be_bytes());
        assert_eq!(ones_sum(&header), 0xffff, "a right header sums to all ones");
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        assert_eq!(ones_sum(&[0x12]), 0x1200);
        assert_eq!(ones_sum(&[0xff, 0xff, 0x00, 0x01]), 0x0001, "the carry wraps around");
    }

    #[test]
    fn udp_checksums_verify_and_zero_is_all_ones() {
        let (src, dst) = (Ipv4Addr::new(198, 18, 0, 2).into(), Ipv4Addr::new(198, 18, 0, 1).into());
        let mut segment = vec![0x9c, 0x40, 0, 53, 0, 10, 0, 0, 0x12, 0x34];
        let check = udp(src, dst, &segment);
        segment[6..8].copy_from_slice(&check.to_be_bytes());
        assert!(udp_verifies(src, dst, &segment));
        segment[9] ^= 1;
        assert!(!udp_verifies(src, dst, &segment), "a flipped bit breaks it");
        let zero = (0..=u16::MAX).find_map(|word| {
            let mut s = vec![0x9c, 0x40, 0, 53, 0, 10, 0, 0];
            s.extend_from_slice(&word.to_be_bytes());
            (!fold(pseudo_header_sum(src, dst, s.len()) + sum(&s)) == 0).then_some(s)
        });
        let zero = zero.expect("some payload sums to all ones");
        assert_eq!(udp(src, dst, &zero), 0xffff);
    }
}
