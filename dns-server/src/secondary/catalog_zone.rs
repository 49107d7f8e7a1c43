//! Reading a catalog zone (RFC 9432) into its members, and deciding which catalog owns each member.
//!
//! [`read`] checks one version of a catalog: `version.CATALOG TXT "2"`,
//! each member as `<unique-id>.zones.CATALOG PTR <member>` with its
//! `group.<unique-id>.zones.CATALOG TXT` and `coo.<unique-id>.zones.CATALOG
//! PTR <new catalog>` properties. A version outside the rules is an error
//! as a whole (the caller keeps the previous member set), so a half-read
//! catalog never removes zones. Other names (custom properties, the apex
//! NS and SOA) are ignored, as the RFC asks.
//!
//! [`resolve`] decides, over every catalog's latest view, which catalog
//! owns each member: the one that had it, unless that one's `coo` points to
//! a catalog that lists it too (RFC 9432 5.6); a new member goes to the
//! first catalog listing it in configuration order; a zone configured by
//! hand, or a configured catalog, is never taken over (RFC 9432 5.4).

use std::collections::{BTreeMap, HashMap, HashSet};

use dns_wire::wire::rtype;

use crate::{name::Name, zone::tree::Zone};

/// One member as a catalog version lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The unique ID label, lower-cased.
    pub id: Vec<u8>,
    /// The `group` property's values, in zone order.
    pub groups: Vec<String>,
    /// The `coo` property: the catalog this member is moving to.
    pub coo: Option<Name>,
}

/// One catalog version's members, by lower-cased origin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct View {
    pub members: BTreeMap<Name, Entry>,
}

/// The records of `zone`, as [`read`] takes them.
pub(crate) fn read_zone(catalog: &Name, zone: &Zone) -> Result<View, String> {
    let mut records = Vec::new();
    for node in zone.nodes() {
        for set in node.rrsets() {
            for rdata in set.rdatas() {
                records.push((node.owner().to_vec(), set.rtype, rdata.to_vec()));
            }
        }
    }
    read(
        catalog,
        records.iter().map(|(o, t, r)| (o.as_slice(), *t, r.as_slice())),
    )
}

/// The labels of wire name `owner` below `apex` (both lower-cased), leftmost first.
fn relative_labels<'a>(owner: &'a [u8], apex: &[u8]) -> Option<Vec<&'a [u8]>> {
    if !crate::name::is_within(owner, apex) {
        return None;
    }
    let mut labels = Vec::new();
    let mut at = 0;
    while owner.len() - at > apex.len() {
        let len = usize::from(*owner.get(at)?);
        labels.push(owner.get(at + 1..at + 1 + len)?);
        at += 1 + len;
    }
    Some(labels)
}

/// The character-strings of TXT RDATA.
fn txt_strings(rdata: &[u8]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = rdata;
    while let Some((&len, tail)) = rest.split_first() {
        let s = tail.get(..usize::from(len))?;
        out.push(String::from_utf8_lossy(s).into_owned());
        rest = &tail[usize::from(len)..];
    }
    Some(out)
}

fn label_text(label: &[u8]) -> String {
    String::from_utf8_lossy(label).into_owned()
}

/// Reads one catalog version from its records (owner wire name, type, RDATA).
pub(crate) fn read<'a>(
    catalog: &Name,
    records: impl Iterator<Item = (&'a [u8], u16, &'a [u8])>,
) -> Result<View, String> {
    let apex = catalog.to_lowercase();
    let mut versions: Vec<Vec<String>> = Vec::new();
    // By unique ID: member PTRs, groups, coo PTRs.
    let mut ptrs: BTreeMap<Vec<u8>, Vec<Name>> = BTreeMap::new();
    let mut groups: HashMap<Vec<u8>, Vec<String>> = HashMap::new();
    let mut coos: HashMap<Vec<u8>, Vec<Name>> = HashMap::new();
    for (owner, t, rdata) in records {
        let Some(owner) = Name::from_wire(owner).map(|n| n.to_lowercase()) else {
            continue;
        };
        let Some(labels) = relative_labels(owner.as_wire(), apex.as_wire()) else {
            return Err(format!("{owner} is outside the catalog"));
        };
        let ptr = || {
            Name::from_wire(rdata)
                .map(|n| n.to_lowercase())
                .ok_or_else(|| format!("{owner} PTR: not a domain name"))
        };
        match (labels.as_slice(), t) {
            ([b"version"], rtype::TXT) => {
                versions.push(txt_strings(rdata).ok_or_else(|| format!("{owner} TXT: malformed"))?);
            }
            ([id, b"zones"], rtype::PTR) => ptrs.entry(id.to_vec()).or_default().push(ptr()?),
            ([b"group", id, b"zones"], rtype::TXT) => groups
                .entry(id.to_vec())
                .or_default()
                .extend(txt_strings(rdata).ok_or_else(|| format!("{owner} TXT: malformed"))?),
            ([b"coo", id, b"zones"], rtype::PTR) => coos.entry(id.to_vec()).or_default().push(ptr()?),
            _ => {}
        }
    }
    match versions.as_slice() {
        [v] if v.len() == 1 && v[0] == "2" => {}
        [] => return Err("no version.CATALOG TXT record: not a catalog zone".into()),
        [v] => return Err(format!("catalog schema version {v:?} is not supported (only \"2\")")),
        _ => return Err("more than one version.CATALOG TXT record".into()),
    }
    let mut view = View::default();
    let mut seen_ids = HashSet::new();
    for (id, targets) in ptrs {
        let [member] = targets.as_slice() else {
            return Err(format!(
                "member ID {:?} has {} PTR records, not one",
                label_text(&id),
                targets.len()
            ));
        };
        if member == &apex || member.as_wire() == [0] {
            return Err(format!(
                "member ID {:?} names {member}, which cannot be a member",
                label_text(&id)
            ));
        }
        let coo = match coos.remove(&id).as_deref() {
            None | Some([]) => None,
            Some([to]) => Some(to.clone()),
            Some(_) => {
                return Err(format!(
                    "member ID {:?} has more than one coo property",
                    label_text(&id)
                ));
            }
        };
        seen_ids.insert(id.clone());
        let entry = Entry {
            groups: groups.remove(&id).unwrap_or_default(),
            id,
            coo,
        };
        if let Some(other) = view.members.insert(member.clone(), entry) {
            return Err(format!(
                "{member} is listed twice (member IDs {:?} and {:?})",
                label_text(&other.id),
                label_text(&view.members[member].id)
            ));
        }
    }
    Ok(view)
}

/// Which catalog serves a member, under which unique ID and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owned {
    pub catalog: Name,
    pub id: Vec<u8>,
    pub groups: Vec<String>,
}

/// The owner of every member, given each catalog's latest view (`order`:
/// the catalogs in configuration order), the owners before, and the zones
/// configured by hand (never members).
pub(crate) fn resolve(
    order: &[Name],
    views: &HashMap<Name, View>,
    previous: &BTreeMap<Name, Owned>,
    configured: &HashSet<Name>,
) -> BTreeMap<Name, Owned> {
    let owned = |catalog: &Name, entry: &Entry| Owned {
        catalog: catalog.clone(),
        id: entry.id.clone(),
        groups: entry.groups.clone(),
    };
    let mut owners = BTreeMap::new();
    // Members of a catalog not read yet (still being transferred) stay as they were.
    for (member, was) in previous {
        if !views.contains_key(&was.catalog) && order.contains(&was.catalog) {
            owners.insert(member.clone(), was.clone());
        }
    }
    for catalog in order {
        let Some(view) = views.get(catalog) else {
            continue;
        };
        for (member, entry) in &view.members {
            // A catalog is never another catalog's member (its origin is taken).
            if configured.contains(member) || order.contains(member) || owners.contains_key(member) {
                continue;
            }
            let owner = match previous.get(member) {
                // Its owner still lists it: it stays, unless the owner hands it
                // over (coo) to a catalog that lists it too.
                Some(was) if views.get(&was.catalog).is_some_and(|v| v.members.contains_key(member)) => {
                    let current = &views[&was.catalog].members[member];
                    match current
                        .coo
                        .as_ref()
                        .and_then(|to| Some((to, views.get(to)?.members.get(member)?)))
                    {
                        Some((to, moved)) if order.contains(to) => owned(to, moved),
                        _ => owned(&was.catalog, current),
                    }
                }
                // New, or dropped by its owner: the first catalog listing it.
                _ => owned(catalog, entry),
            };
            owners.insert(member.clone(), owner);
        }
    }
    owners
}

/// What changed between two owner maps.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Changes {
    /// Members to start serving.
    pub added: Vec<Name>,
    /// Members to stop serving (their data removed).
    pub removed: Vec<Name>,
    /// Members whose state is reset (data removed, fresh AXFR): a new unique ID.
    pub reset: Vec<Name>,
    /// Members whose settings may differ (new owner or group), state kept.
    pub moved: Vec<Name>,
}

/// The changes from `before` to `after`.
pub(crate) fn changes(before: &BTreeMap<Name, Owned>, after: &BTreeMap<Name, Owned>) -> Changes {
    let mut c = Changes::default();
    for (member, now) in after {
        match before.get(member) {
            None => c.added.push(member.clone()),
            Some(was) if was.id != now.id => c.reset.push(member.clone()),
            Some(was) if was != now => c.moved.push(member.clone()),
            Some(_) => {}
        }
    }
    c.removed = before.keys().filter(|m| !after.contains_key(*m)).cloned().collect();
    c
}

#[cfg(test)]
mod tests;
