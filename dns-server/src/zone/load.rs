//! Loading one zone: read the master file, check it, index it.

use std::path::Path;

use dns_wire::wire::class;

use super::{ZoneError, build::Builder, parse, source::ReadLimits, tree::Zone};
use crate::name::Name;

/// The zone served when none is configured, built into the binary.
pub(crate) const DEFAULT_ORIGIN: &str = "example.com.";
/// Text of the default zone.
pub(crate) const DEFAULT_ZONE: &str = include_str!("../../default/example.com.zone");

/// Reads, checks and indexes the zone at `origin` from `file`, reading within `limits`.
pub(crate) fn from_file(origin: &Name, file: &Path, limits: &ReadLimits) -> Result<Zone, ZoneError> {
    let mut builder = Builder::new(origin);
    parse::parse_file_each(file, origin, class::IN, limits, &mut |r| builder.push(r))?;
    builder.finish()
}

/// Reads, checks and indexes zone text; `file` names it in errors.
pub(crate) fn from_str(origin: &Name, text: &str, file: &Path) -> Result<Zone, ZoneError> {
    let mut builder = Builder::new(origin);
    parse::parse_str_each(text, file, origin, &mut |r| builder.push(r))?;
    builder.finish()
}

/// The built-in example zone.
pub(crate) fn default_zone() -> Result<Zone, ZoneError> {
    let origin = Name::parse(DEFAULT_ORIGIN, None).expect("the default origin is valid");
    from_str(&origin, DEFAULT_ZONE, Path::new("<built-in example.com zone>"))
}
