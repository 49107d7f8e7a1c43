use super::*;

fn n(text: &str) -> Name {
    Name::parse(text, None).unwrap().to_lowercase()
}

fn txt(strings: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in strings {
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }
    out
}

/// Records of a catalog `cat.example.`: (owner, type, rdata).
struct Records(Vec<(Vec<u8>, u16, Vec<u8>)>);

impl Records {
    fn new() -> Records {
        Records(Vec::new())
    }
    fn add(mut self, owner: &str, t: u16, rdata: Vec<u8>) -> Records {
        self.0.push((n(owner).as_wire().to_vec(), t, rdata));
        self
    }
    fn version(self, v: &str) -> Records {
        self.add("version.cat.example.", rtype::TXT, txt(&[v]))
    }
    fn member(self, id: &str, zone: &str) -> Records {
        self.add(
            &format!("{id}.zones.cat.example."),
            rtype::PTR,
            n(zone).as_wire().to_vec(),
        )
    }
    fn read(&self) -> Result<View, String> {
        read(
            &n("cat.example."),
            self.0.iter().map(|(o, t, r)| (o.as_slice(), *t, r.as_slice())),
        )
    }
}

fn catalog() -> Records {
    Records::new()
        .add("cat.example.", rtype::NS, n("invalid.").as_wire().to_vec())
        .version("2")
}

#[test]
fn members_are_read_with_their_ids() {
    let view = catalog()
        .member("a1", "one.test.")
        .member("B2", "Two.Test.")
        .add("ext.a1.zones.cat.example.", rtype::TXT, txt(&["ignored"]))
        .read()
        .unwrap();
    assert_eq!(view.members.len(), 2);
    assert_eq!(view.members[&n("one.test.")].id, b"a1");
    assert_eq!(
        view.members[&n("two.test.")].id,
        b"b2",
        "IDs and members are lower-cased"
    );
    assert!(view.members[&n("one.test.")].groups.is_empty());
}

#[test]
fn group_and_coo_properties_belong_to_their_member() {
    let view = catalog()
        .member("a1", "one.test.")
        .member("b2", "two.test.")
        .add("group.a1.zones.cat.example.", rtype::TXT, txt(&["eu"]))
        .add(
            "coo.b2.zones.cat.example.",
            rtype::PTR,
            n("new.example.").as_wire().to_vec(),
        )
        .read()
        .unwrap();
    assert_eq!(view.members[&n("one.test.")].groups, ["eu"]);
    assert_eq!(view.members[&n("one.test.")].coo, None);
    assert_eq!(view.members[&n("two.test.")].coo, Some(n("new.example.")));
    assert!(view.members[&n("two.test.")].groups.is_empty());
}

#[test]
fn a_wrong_or_missing_version_is_refused() {
    let wrong = Records::new().version("1").member("a1", "one.test.").read();
    assert!(wrong.unwrap_err().contains("not supported"));
    let missing = Records::new().member("a1", "one.test.").read();
    assert!(missing.unwrap_err().contains("not a catalog zone"));
    let two = catalog().version("3").read();
    assert!(two.is_err());
}

#[test]
fn members_outside_the_rules_refuse_the_version() {
    let twice = catalog().member("a1", "one.test.").member("b2", "one.test.").read();
    assert!(twice.unwrap_err().contains("listed twice"));
    let two_ptrs = catalog().member("a1", "one.test.").member("a1", "two.test.").read();
    assert!(two_ptrs.unwrap_err().contains("PTR records"));
    let itself = catalog().member("a1", "cat.example.").read();
    assert!(itself.is_err());
    let bad_ptr = catalog().add("a1.zones.cat.example.", rtype::PTR, vec![5, b'x']).read();
    assert!(bad_ptr.is_err());
}

fn view(members: &[(&str, &str)]) -> View {
    let mut records = catalog();
    for (id, zone) in members {
        records = records.member(id, zone);
    }
    records.read().unwrap()
}

fn with_coo(mut v: View, member: &str, to: &str) -> View {
    v.members.get_mut(&n(member)).unwrap().coo = Some(n(to));
    v
}

#[test]
fn new_members_go_to_the_first_catalog_listing_them() {
    let (a, b) = (n("a.cat."), n("b.cat."));
    let views = HashMap::from([
        (a.clone(), view(&[("1", "one.test.")])),
        (b.clone(), view(&[("2", "one.test."), ("3", "two.test.")])),
    ]);
    let owners = resolve(&[a.clone(), b.clone()], &views, &BTreeMap::new(), &HashSet::new());
    assert_eq!(owners[&n("one.test.")].catalog, a);
    assert_eq!(owners[&n("two.test.")].catalog, b);
    // Once owned, a later catalog listing it first in order changes nothing.
    let again = resolve(&[b, a.clone()], &views, &owners, &HashSet::new());
    assert_eq!(again[&n("one.test.")].catalog, a);
}

#[test]
fn catalogs_are_never_members() {
    let (a, b) = (n("a.cat."), n("b.cat."));
    let views = HashMap::from([(a.clone(), view(&[("1", "b.cat."), ("2", "one.test.")]))]);
    let owners = resolve(&[a, b], &views, &BTreeMap::new(), &HashSet::new());
    assert_eq!(owners.keys().collect::<Vec<_>>(), [&n("one.test.")]);
}

#[test]
fn zones_configured_by_hand_are_never_members() {
    let a = n("a.cat.");
    let views = HashMap::from([(a.clone(), view(&[("1", "one.test.")]))]);
    let owners = resolve(&[a], &views, &BTreeMap::new(), &HashSet::from([n("one.test.")]));
    assert!(owners.is_empty());
}

#[test]
fn coo_moves_a_member_only_to_a_catalog_listing_it() {
    let (a, b) = (n("a.cat."), n("b.cat."));
    let order = [a.clone(), b.clone()];
    let before = resolve(
        &order,
        &HashMap::from([(a.clone(), view(&[("1", "one.test.")]))]),
        &BTreeMap::new(),
        &HashSet::new(),
    );
    // coo to b, which does not list it yet: it stays with a.
    let pointing = with_coo(view(&[("1", "one.test.")]), "one.test.", "b.cat.");
    let views = HashMap::from([(a.clone(), pointing.clone()), (b.clone(), view(&[]))]);
    let stays = resolve(&order, &views, &before, &HashSet::new());
    assert_eq!(stays[&n("one.test.")].catalog, a);
    // b lists it, under the same ID: moved with its state kept.
    let views = HashMap::from([(a.clone(), pointing), (b.clone(), view(&[("1", "one.test.")]))]);
    let moved = resolve(&order, &views, &stays, &HashSet::new());
    assert_eq!(moved[&n("one.test.")].catalog, b);
    let c = changes(&stays, &moved);
    assert_eq!(c.moved, [n("one.test.")]);
    assert!(c.reset.is_empty() && c.removed.is_empty() && c.added.is_empty());
    // a then drops it: b keeps it.
    let views = HashMap::from([(a.clone(), view(&[])), (b.clone(), view(&[("1", "one.test.")]))]);
    let after = resolve(&order, &views, &moved, &HashSet::new());
    assert_eq!(after[&n("one.test.")].catalog, b);
    // Without coo, a second catalog listing a member never takes it.
    let views = HashMap::from([
        (a.clone(), view(&[("1", "two.test.")])),
        (b, view(&[("9", "two.test.")])),
    ]);
    let first = resolve(&order, &views, &BTreeMap::new(), &HashSet::new());
    let second = resolve(&order, &views, &first, &HashSet::new());
    assert_eq!(second[&n("two.test.")].catalog, a);
}

#[test]
fn a_moved_member_with_a_new_id_is_reset() {
    let (a, b) = (n("a.cat."), n("b.cat."));
    let order = [a.clone(), b.clone()];
    let before = resolve(
        &order,
        &HashMap::from([(a.clone(), view(&[("1", "one.test.")]))]),
        &BTreeMap::new(),
        &HashSet::new(),
    );
    let views = HashMap::from([
        (a, with_coo(view(&[("1", "one.test.")]), "one.test.", "b.cat.")),
        (b, view(&[("7", "one.test.")])),
    ]);
    let after = resolve(&order, &views, &before, &HashSet::new());
    assert_eq!(changes(&before, &after).reset, [n("one.test.")]);
}

#[test]
fn changes_sort_members_added_removed_and_reset() {
    let a = n("a.cat.");
    let views = HashMap::from([(a.clone(), view(&[("1", "one.test."), ("2", "two.test.")]))]);
    let before = resolve(std::slice::from_ref(&a), &views, &BTreeMap::new(), &HashSet::new());
    assert_eq!(changes(&BTreeMap::new(), &before).added.len(), 2);
    let views = HashMap::from([(a.clone(), view(&[("1b", "one.test."), ("3", "three.test.")]))]);
    let after = resolve(std::slice::from_ref(&a), &views, &before, &HashSet::new());
    let c = changes(&before, &after);
    assert_eq!(c.added, [n("three.test.")]);
    assert_eq!(c.removed, [n("two.test.")]);
    assert_eq!(c.reset, [n("one.test.")]);
    // A catalog not read yet keeps its members.
    let kept = resolve(std::slice::from_ref(&a), &HashMap::new(), &after, &HashSet::new());
    assert_eq!(kept, after);
}
