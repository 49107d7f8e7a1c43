//! `check-zone` and `check-config`: load what `serve` would, serve nothing,
//! and say what was found (or the first error, as `file:line: message`).

use std::{
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use dns_wire::wire::class;

use crate::{
    cli::absolute_origin,
    config::Config,
    name::Name,
    zone::{
        audit, load,
        parse::{self, Warnings},
        source::ReadLimits,
    },
};

/// Loads the zone `origin` (a trailing dot optional) from `file`; the line
/// to print when it is valid. Each warning is logged at its `file:line` as
/// it is read; the line counts them. `strict` refuses what they warn about.
/// A signed zone is audited as `ldns-verify-zone` would (signatures are not
/// verified): unsigned RRsets, expired signatures or a broken chain fail it,
/// and signatures expiring within `expiry_warn_days` are counted.
pub fn zone(origin: &str, file: &Path, strict: bool, expiry_warn_days: u32) -> anyhow::Result<String> {
    let origin = Name::parse(&absolute_origin(origin), None)?;
    let limits = ReadLimits {
        strict,
        ..ReadLimits::default()
    };
    let parsed = parse::read_file(file, &origin, class::IN, &limits)?;
    let zone = load::finish(&origin, parsed.records)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let signed = match audit::audit(&zone, now, u64::from(expiry_warn_days) * 86_400) {
        None => String::new(),
        Some(found) => {
            if let Some(problems) = found.problems() {
                anyhow::bail!("{}: zone {}: {problems}", file.display(), zone.origin);
            }
            format!(
                ", signed ({}), {} signatures expiring within {expiry_warn_days} days",
                found.denial,
                found.expiring.len()
            )
        }
    };
    Ok(format!(
        "{}: zone {} OK, serial {}, {} names{signed}{}",
        file.display(),
        zone.origin,
        zone.serial,
        zone.node_count(),
        summary(&parsed.warnings)
    ))
}

/// `; N warnings (what: count, ...)`, or nothing.
fn summary(warnings: &Warnings) -> String {
    let kinds: Vec<String> = [
        ("out-of-zone records skipped", warnings.out_of_zone),
        ("strings over 255 bytes split", warnings.split_strings),
    ]
    .iter()
    .filter(|(_, count)| *count > 0)
    .map(|(what, count)| format!("{what}: {count}"))
    .collect();
    match warnings.total() {
        0 => String::new(),
        total => format!("; {total} warnings ({})", kinds.join(", ")),
    }
}

/// Loads the configuration `file` and every zone it names (not the
/// secondary zones, which are transferred, not read); the line to
/// print when all are valid.
pub fn config(file: &Path) -> anyhow::Result<String> {
    let config = Config::load(file)?;
    let limits = config.server.read_limits();
    let mut warnings = 0;
    for zone in config.zones.iter().filter(|z| !z.is_secondary()) {
        let origin = Name::parse(&absolute_origin(&zone.origin), None)?;
        let parsed = parse::read_file(&zone.file, &origin, class::IN, &limits)?;
        load::finish(&origin, parsed.records)?;
        warnings += parsed.warnings.total();
    }
    let warned = match warnings {
        0 => String::new(),
        n => format!(", {n} warnings (logged above)"),
    };
    Ok(format!("{}: OK, {} zones{warned}", file.display(), config.zones.len()))
}
