//! The history of a table: versions, deletions, late versions, bad rows, keys of several fields.

use super::*;

fn row(id: &str, zone: &str, since: i64) -> Found {
    Found::Row {
        values: vec![Value::Str(id.into()), Value::Str(zone.into()), Value::Int(since)],
        version: None,
    }
}

fn read(found: Vec<Found>, read_at: i64) -> TableRead {
    TableRead {
        found: found
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let origin = Origin {
                    partition: 0,
                    offset: i as u64 + 1,
                    raw: String::new(),
                };
                (origin, f)
            })
            .collect(),
        complete: true,
        read_at,
        caught_up: true,
    }
}

fn key(id: &str) -> Key {
    Key::from(vec![Value::Str(id.into())])
}

/// Review B19: two different rows for one key and version were resolved by row order (a file's last, a
/// PostgreSQL table's heap order). Now both are dead letters in either order, identical duplicates are
/// harmless, and a later read cannot rewrite a version already read.
#[test]
fn differing_rows_of_one_key_and_version_are_dead_letters_in_any_order() {
    for rows in [
        vec![
            row("a", "DUP-A", 10),
            row("a", "DUP-B", 10),
            row("b", "east", 5),
            row("b", "east", 5),
        ],
        vec![
            row("b", "east", 5),
            row("a", "DUP-B", 10),
            row("b", "east", 5),
            row("a", "DUP-A", 10),
        ],
    ] {
        let mut h = TableHistory::new(&[0], Some(2));
        let applied = h.apply(read(rows, 1000), 0);
        let reasons: Vec<&str> = applied.dead.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(
            reasons
                .iter()
                .all(|r| r.contains("rows with key a and version 10 differ")),
            "{reasons:?}"
        );
        assert!(h.versions(&key("a")).is_empty());
        assert_eq!(h.versions(&key("b")).len(), 1);
        let later = h.apply(read(vec![row("b", "west", 5), row("b", "east", 5)], 2000), 0);
        let reasons: Vec<&str> = later.dead.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(
            reasons,
            ["key b already has another row at version 5 (read earlier): a version is never rewritten"]
        );
        assert_eq!(
            h.versions(&key("b"))[0].1,
            Some(Key::from(vec![
                Value::Str("b".into()),
                Value::Str("east".into()),
                Value::Int(5)
            ]))
        );
    }
}

#[test]
fn versioned_rows_hold_from_their_version_and_rereads_change_nothing() {
    let mut h = TableHistory::new(&[0], Some(2));
    let rows = || vec![row("a", "north", 10), row("a", "south", 20), row("b", "east", 5)];
    let applied = h.apply(read(rows(), 1000), 0);
    assert_eq!(applied.known_until, 1000);
    // a: +north@10, -north+south@20; b: +east@5.
    assert_eq!(applied.updates.len(), 4);
    assert_eq!(
        h.versions(&key("a")).iter().map(|v| v.0).collect::<Vec<_>>(),
        vec![10, 20]
    );
    let again = h.apply(read(rows(), 2000), 0);
    assert!(again.updates.is_empty(), "{:?}", again.updates);
    assert_eq!(again.known_until, 2000);
}

#[test]
fn a_late_version_applies_from_known_until_and_a_missing_key_is_deleted_there() {
    let mut h = TableHistory::new(&[0], Some(2));
    h.apply(read(vec![row("a", "north", 10), row("b", "east", 5)], 1000), 0);
    let applied = h.apply(read(vec![row("a", "north", 10), row("a", "west", 500)], 2000), 0);
    assert_eq!(applied.late, 1);
    assert_eq!(h.versions(&key("a")).last().unwrap().0, 1000);
    assert_eq!(h.versions(&key("b")).last(), Some(&(1000, None)));
    assert_eq!(h.len(), 1);
}

#[test]
fn rows_without_version_hold_from_the_start_then_from_the_read_that_saw_them_change() {
    let mut h = TableHistory::new(&[0], None);
    h.apply(read(vec![row("a", "north", 0)], 1000), 250);
    assert_eq!(h.known_until(), 750);
    assert_eq!(h.versions(&key("a"))[0].0, 0);
    let applied = h.apply(read(vec![row("a", "south", 0)], 2000), 250);
    assert_eq!(h.versions(&key("a"))[1].0, 750);
    assert_eq!(applied.updates.len(), 2);
    // The whole history rebuilds the same collection.
    let mut all = h.all_updates();
    all.sort();
    assert_eq!(all.len(), 3);
}

/// A key of several fields: the same id at two sites is two keys; a NULL key field is a dead letter; the
/// history restored from a checkpoint (which keeps the key's first field only) is keyed as before.
#[test]
fn keys_of_several_fields_survive_a_checkpoint() {
    let site_row = |site: &str, id: &str, zone: &str| Found::Row {
        values: vec![
            Value::Str(site.into()),
            Value::Str(id.into()),
            Value::Str(zone.into()),
            Value::Int(0),
        ],
        version: None,
    };
    let rows = || {
        vec![
            site_row("north", "a", "n1"),
            site_row("south", "a", "s1"),
            Found::Row {
                values: vec![
                    Value::Null,
                    Value::Str("b".into()),
                    Value::Str("x".into()),
                    Value::Int(0),
                ],
                version: None,
            },
        ]
    };
    let mut h = TableHistory::new(&[0, 1], Some(3));
    let applied = h.apply(read(rows(), 1000), 0);
    assert_eq!(applied.dead.len(), 1);
    assert_eq!(applied.dead[0].1, "the row has no key (a key field is missing or null)");
    let south_a = Key::from(vec![Value::Str("south".into()), Value::Str("a".into())]);
    assert_eq!(h.versions(&south_a).len(), 1);
    let bytes = crate::checkpoint::encode(&h);
    let mut restored = crate::checkpoint::decode::<TableHistory>(&bytes)
        .unwrap()
        .restored(&[0, 1]);
    let again = restored.apply(read(rows(), 2000), 0);
    assert!(again.updates.is_empty(), "{:?}", again.updates);
    assert!(again.dead.is_empty());
    assert_eq!(restored.len(), 2);
    let deleted = restored.apply(
        TableRead {
            complete: false,
            ..read(
                vec![Found::Delete {
                    key: south_a.clone(),
                    at: Some(5000),
                }],
                3000,
            )
        },
        0,
    );
    assert_eq!(deleted.updates.len(), 1);
    assert_eq!(restored.versions(&south_a).last(), Some(&(5000, None)));
}

#[test]
fn bad_rows_are_reported_once() {
    let mut h = TableHistory::new(&[0], Some(2));
    let bad = || {
        vec![Found::Row {
            values: vec![Value::Null, Value::Str("x".into()), Value::Int(1)],
            version: None,
        }]
    };
    assert_eq!(h.apply(read(bad(), 10), 0).dead.len(), 1);
    assert_eq!(h.apply(read(bad(), 20), 0).dead.len(), 0);
}
