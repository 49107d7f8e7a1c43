//! Loading one zone: read the master file, check it, index it.

use std::path::Path;

use dns_wire::wire::class;

use super::{
    ZoneError,
    build::Builder,
    parse,
    source::{FileRead, ReadLimits},
    tree::Zone,
};
use crate::name::Name;

/// The zone served when none is configured, built into the binary.
pub(crate) const DEFAULT_ORIGIN: &str = "example.com.";
/// Text of the default zone.
pub(crate) const DEFAULT_ZONE: &str = include_str!("../../default/example.com.zone");

/// Reads, checks and indexes the zone at `origin` from `file`, reading
/// within `limits`; with every file read (the zone file and its includes),
/// which a reload compares with to skip an unchanged zone. Records are
/// packed as they are read, never held as a list. For a new version of
/// `previous` (a reload of a changed file), the unchanged names' nodes are
/// shared with it rather than copied.
pub(crate) fn from_file_read(
    origin: &Name,
    file: &Path,
    limits: &ReadLimits,
    previous: Option<&Zone>,
) -> Result<(Zone, Vec<FileRead>), ZoneError> {
    let mut builder = Builder::new(origin);
    if let Some(previous) = previous {
        builder = builder.replacing(previous);
    }
    let summary = parse::read_file_each(file, origin, class::IN, limits, &mut |r| builder.push(r))?;
    Ok((builder.finish()?, summary.files))
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

/// Checks and indexes records already read (`check-zone` reads them itself to show the warnings).
pub(crate) fn finish(origin: &Name, records: Vec<super::Record>) -> Result<Zone, ZoneError> {
    let mut builder = Builder::new(origin);
    for record in records {
        builder.push(record);
    }
    builder.finish()
}
