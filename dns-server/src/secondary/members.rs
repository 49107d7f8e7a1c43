//! A catalog zone's members as secondary zones: started, stopped and reset as each catalog version says.
//!
//! Removed members stop being served (REFUSED, as any zone we do not
//! serve) and their copy on disk and journal are deleted, as RFC 9432 5.3
//! says for zones configured from a catalog. A member whose unique ID
//! changed (5.5), or which moved to another catalog under another ID
//! (5.6), is reset the same way and transferred afresh by AXFR.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::Path,
    sync::Arc,
};

use super::{
    Registry, Secondary,
    catalog_zone::{self, Owned, View},
    store,
};
use crate::{config::Config, name::Name, query::Shared, zone::tree::Zone};

/// The catalogs' latest views and who owns each member.
#[derive(Default)]
pub(crate) struct Members {
    views: HashMap<Name, View>,
    owners: BTreeMap<Name, Owned>,
}

fn origin_of(text: &str) -> Option<Name> {
    Name::parse(text, None).ok().map(|n| n.to_lowercase())
}

impl Registry {
    fn lock_members(&self) -> std::sync::MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `config` with each catalog member added as a secondary zone.
    pub(crate) fn effective(&self, config: &Config) -> Config {
        let owners = self.lock_members().owners.clone();
        let mut config = config.clone();
        for (member, owned) in owners {
            let Some(catalog) = config
                .catalogs
                .iter()
                .find(|c| origin_of(&c.origin).as_ref() == Some(&owned.catalog))
            else {
                continue;
            };
            let zone = catalog.member(&member.to_string(), &owned.groups, &config.server.data_dir);
            config.zones.push(zone);
        }
        config
    }
}

/// The catalog's copy on disk, if there is a usable one.
pub(crate) async fn load_stored(shared: &Arc<Shared>, zone: &Secondary) -> Option<Arc<Zone>> {
    let limits = shared.secondaries.config().server.read_limits();
    let (origin, file) = (zone.origin.clone(), zone.file.clone());
    let loaded = tokio::task::spawn_blocking(move || store::load(&origin, &file, &limits)).await;
    match loaded {
        Ok(Ok(Some(stored))) => Some(Arc::new(stored.zone)),
        Ok(Ok(None)) => None,
        Ok(Err(error)) => {
            tracing::error!(catalog = %zone.origin, %error, "catalog's copy on disk is unusable; waiting for a transfer");
            None
        }
        Err(error) => {
            tracing::error!(catalog = %zone.origin, %error, "reading the catalog's copy on disk failed");
            None
        }
    }
}

/// Deletes a member's copy and journal.
fn remove_data(file: &Path) {
    for path in [file.to_path_buf(), store::journal_path(file)] {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(file = %path.display(), error = %e, "removed member zone's data not deleted");
            }
            _ => {}
        }
    }
}

/// Reads a new version of `catalog` and starts, stops and resets its members accordingly.
pub(crate) async fn catalog_version(shared: &Arc<Shared>, catalog: &Name, zone: &Zone) {
    let view = match catalog_zone::read_zone(catalog, zone) {
        Ok(view) => view,
        Err(error) => {
            tracing::error!(%catalog, serial = zone.serial, %error, "catalog version not used; the previous member set is kept");
            return;
        }
    };
    let registry = &shared.secondaries;
    let config = registry.config();
    let order: Vec<Name> = config.catalogs.iter().filter_map(|c| origin_of(&c.origin)).collect();
    let configured: HashSet<Name> = config.zones.iter().filter_map(|z| origin_of(&z.origin)).collect();
    let before = registry.effective(&config);
    let changes = {
        let mut members = registry.lock_members();
        members.views.insert(catalog.clone(), view);
        let after = catalog_zone::resolve(&order, &members.views, &members.owners, &configured);
        let changes = catalog_zone::changes(&members.owners, &after);
        members.owners = after;
        changes
    };
    if changes == catalog_zone::Changes::default() {
        return;
    }
    let names = |v: &[Name]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ");
    tracing::info!(
        %catalog,
        serial = zone.serial,
        added = names(&changes.added),
        removed = names(&changes.removed),
        reset = names(&changes.reset),
        moved = names(&changes.moved),
        "catalog members changed"
    );
    // Their tasks stop first, so that none publishes a version afterwards.
    let gone: Vec<Name> = changes.removed.iter().chain(&changes.reset).cloned().collect();
    let stopped: Vec<Name> = gone.iter().chain(&changes.moved).cloned().collect();
    registry.stop(&stopped);
    let after = registry.effective(&config);
    let file_of = |c: &Config, member: &Name| {
        c.zones
            .iter()
            .find(|z| origin_of(&z.origin).as_ref() == Some(member))
            .cloned()
    };
    let gone_files: Vec<_> = gone
        .iter()
        .filter_map(|m| file_of(&before, m))
        .map(|z| z.file)
        .collect();
    let new_zones: Vec<_> = changes
        .added
        .iter()
        .chain(&changes.reset)
        .filter_map(|m| Some((m.clone(), file_of(&after, m)?)))
        .collect();
    let sh = shared.clone();
    let swapped = tokio::task::spawn_blocking(move || {
        for file in &gone_files {
            remove_data(file);
        }
        let limits = sh.secondaries.config().server.read_limits();
        let _swapping = sh.secondaries.lock_swaps();
        let live = sh.catalog.load_full();
        let mut catalog = live.without_zones(&gone);
        for (origin, zone) in new_zones {
            let served = crate::service::secondary_zone(origin, &zone, None, &limits, catalog.budget());
            catalog = catalog.with_zone(served);
        }
        let catalog = Arc::new(catalog);
        sh.fast_path.serve_catalog(&catalog);
        let previous = sh.catalog.swap(catalog.clone());
        crate::transfer::versions_swapped(&sh, &previous, &catalog);
    })
    .await;
    if let Err(error) = swapped {
        tracing::error!(%error, "swapping in a catalog's member changes failed");
    }
    registry.sync(shared, &config);
    super::write_state(shared);
}
