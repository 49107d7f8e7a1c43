//! Loading one zone: read the master file, check it, index it.

use std::path::Path;

use dns_wire::wire::class;

use super::{
    ZoneError, parse,
    source::{FileRead, ReadLimits},
    tree::Zone,
    validate,
};
use crate::name::Name;

/// The zone served when none is configured, built into the binary.
pub(crate) const DEFAULT_ORIGIN: &str = "example.com.";
/// Text of the default zone.
pub(crate) const DEFAULT_ZONE: &str = include_str!("../../default/example.com.zone");

/// Reads, checks and indexes the zone at `origin` from `file`, reading
/// within `limits`; with every file read (the zone file and its includes),
/// which a reload compares with to skip an unchanged zone.
pub(crate) fn from_file_read(
    origin: &Name,
    file: &Path,
    limits: &ReadLimits,
) -> Result<(Zone, Vec<FileRead>), ZoneError> {
    let parsed = parse::read_file(file, origin, class::IN, limits)?;
    Ok((finish(origin, parsed.records)?, parsed.files))
}

/// Reads, checks and indexes zone text; `file` names it in errors.
pub(crate) fn from_str(origin: &Name, text: &str, file: &Path) -> Result<Zone, ZoneError> {
    let records = parse::parse_str(text, file, origin)?;
    finish(origin, records)
}

/// The built-in example zone.
pub(crate) fn default_zone() -> Result<Zone, ZoneError> {
    let origin = Name::parse(DEFAULT_ORIGIN, None).expect("the default origin is valid");
    from_str(&origin, DEFAULT_ZONE, Path::new("<built-in example.com zone>"))
}

/// Checks and indexes records already read (`check-zone` reads them itself to show the warnings).
pub(crate) fn finish(origin: &Name, mut records: Vec<super::Record>) -> Result<Zone, ZoneError> {
    validate::dedup(&mut records);
    validate::validate(origin, &records)?;
    Zone::build(origin, records)
}
