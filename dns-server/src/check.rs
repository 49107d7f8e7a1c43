//! `check-zone` and `check-config`: load what `serve` would, serve nothing,
//! and say what was found (or the first error, as `file:line: message`).

use std::path::Path;

use crate::{config::Config, name::Name, zone::load};

/// Loads the zone `origin` from `file`; the line to print when it is valid.
pub fn zone(origin: &str, file: &Path) -> anyhow::Result<String> {
    let origin = Name::parse(origin, None)?;
    let zone = load::from_file(&origin, file, &Default::default())?;
    Ok(format!(
        "{}: zone {} OK, serial {}, {} names",
        file.display(),
        zone.origin,
        zone.serial,
        zone.node_count()
    ))
}

/// Loads the configuration `file` and every zone it names; the line to
/// print when all are valid.
pub fn config(file: &Path) -> anyhow::Result<String> {
    let config = Config::load(file)?;
    let limits = config.server.read_limits();
    for zone in &config.zones {
        let origin = Name::parse(&zone.origin, None)?;
        load::from_file(&origin, &zone.file, &limits)?;
    }
    Ok(format!("{}: OK, {} zones", file.display(), config.zones.len()))
}
