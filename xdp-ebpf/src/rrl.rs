//! Response rate limiting per source prefix (/24 for IPv4, /56 for IPv6):
//! a token bucket each, in an LRU map; every Nth limited query "slips"
//! through as a TC=1 reply so a real client behind a spoofed flood can
//! still get its answer over TCP (as BIND's and Knot's RRL do).

use aya_ebpf::{helpers::bpf_ktime_get_coarse_ns, programs::XdpContext};
use xdp_abi::{Bucket, CONFIG_RATE_LIMIT, TOKEN_SCALE, XdpConfig};

use crate::{
    maps::RRL,
    parse::{Datagram, ptr_at},
};

/// Idle time after which a bucket is simply full again.
const REFILL_CAP_NS: u64 = 10_000_000_000;

/// What to do with a query.
pub enum Limit {
    /// Under the rate.
    Allow,
    /// Over it: drop.
    Drop,
    /// Over it, but this one gets a TC=1 reply.
    Slip,
}

/// Takes a token from the source prefix's bucket.
#[inline(always)]
pub fn check(ctx: &XdpContext, d: &Datagram, cfg: &XdpConfig) -> Result<Limit, ()> {
    if cfg.flags & CONFIG_RATE_LIMIT == 0 || cfg.rrl_rate == 0 {
        return Ok(Limit::Allow);
    }
    let key = prefix_key(ctx, d)?;
    // The clock as of the last tick, ~55 ns cheaper than the fine one on a
    // VM: the refill then comes a tick at a time, the same tokens on average.
    // SAFETY: no preconditions.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let burst = cfg.rrl_burst.max(1) as u64 * TOKEN_SCALE;
    let Some(b) = RRL.get_ptr_mut(key) else {
        let fresh = Bucket {
            last_ns: now,
            tokens: burst - TOKEN_SCALE,
            limited: 0,
        };
        let _ = RRL.insert(key, fresh, 0);
        return Ok(Limit::Allow);
    };
    // SAFETY: a map value pointer stays valid during the run; concurrent
    // updates from other CPUs may lose a token here or there, which is fine.
    let b = unsafe { &mut *b };
    let elapsed = now.saturating_sub(b.last_ns);
    let tokens = if elapsed >= REFILL_CAP_NS {
        burst
    } else {
        // tokens per ns = rate * SCALE / 1e9; rate is at most 1e8 (userspace caps it).
        let added = elapsed * cfg.rrl_rate as u64 / (1_000_000_000 / TOKEN_SCALE);
        let t = b.tokens + added;
        if t > burst { burst } else { t }
    };
    b.last_ns = now;
    if tokens >= TOKEN_SCALE {
        b.tokens = tokens - TOKEN_SCALE;
        return Ok(Limit::Allow);
    }
    b.tokens = tokens;
    b.limited += 1;
    if cfg.rrl_slip != 0 && b.limited % cfg.rrl_slip as u64 == 0 {
        Ok(Limit::Slip)
    } else {
        Ok(Limit::Drop)
    }
}

/// The bucket's key: a family tag and the /24 or /56 prefix.
#[inline(always)]
fn prefix_key(ctx: &XdpContext, d: &Datagram) -> Result<[u8; 8], ()> {
    let mut key = [0u8; 8];
    if d.v6 {
        let src = ptr_at::<[u8; 7]>(ctx, d.l3 + 8)?;
        key[0] = 6;
        // SAFETY: ptr_at checked the 7 bytes.
        key[1..8].copy_from_slice(unsafe { &*src });
    } else {
        let src = ptr_at::<[u8; 3]>(ctx, d.l3 + 12)?;
        key[0] = 4;
        // SAFETY: ptr_at checked the 3 bytes.
        key[1..4].copy_from_slice(unsafe { &*src });
    }
    Ok(key)
}
