//! Properties of ids (bounded case counts): every id made by `new_id` gives back its ULID,
//! and whatever string a client sends as an id or a cursor, the sort key taken from it is a
//! 26-character ULID: nothing else of the string (a key separator, a user, a prefix) can
//! reach a key.

use chatkit_store::ids::{new_id, prefix, sort_key};
use proptest::prelude::*;

const PREFIXES: [&str; 7] = [
    prefix::THREAD,
    prefix::MESSAGE,
    prefix::TOOL_CALL,
    prefix::TASK,
    prefix::WORKFLOW,
    prefix::ATTACHMENT,
    prefix::SDK_HIDDEN_CONTEXT,
];

fn crockford(c: char) -> bool {
    c.is_ascii_digit() || (c.is_ascii_uppercase() && !matches!(c, 'I' | 'L' | 'O' | 'U'))
}

/// Strings near the id shape: a real id with up to three characters replaced by separators,
/// lowercase, look-alikes or non-ASCII, and sometimes one character more or less.
fn id_like() -> impl Strategy<Value = String> {
    let odd = prop::sample::select(vec![
        'a', 'z', 'i', 'o', 'I', 'L', 'O', 'U', '_', '#', '%', '/', ' ', 'é', '\u{FF10}',
    ]);
    let edits = prop::collection::vec((0usize..26, odd), 0..4);
    (prop::sample::select(PREFIXES.to_vec()), any::<u128>(), edits, -1i8..=1).prop_map(
        |(p, value, edits, grow)| {
            let mut chars: Vec<char> = ulid::Ulid(value).to_string().chars().collect();
            for (at, c) in edits {
                chars[at] = c;
            }
            match grow {
                -1 => {
                    chars.pop();
                }
                1 => chars.push('0'),
                _ => {}
            }
            format!("{p}_{}", chars.into_iter().collect::<String>())
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_made_id_gives_back_its_ulid(prefix in prop::sample::select(PREFIXES.to_vec()), n in 0usize..3) {
        let ids: Vec<String> = (0..=n).map(|_| new_id(prefix)).collect();
        for id in &ids {
            let key = sort_key(id).expect("a made id has a sort key");
            prop_assert_eq!(format!("{prefix}_{key}"), id.clone());
            prop_assert_eq!(key.len(), 26);
        }
        prop_assert!(ids.windows(2).all(|w| sort_key(&w[0]) < sort_key(&w[1])), "ids sort in creation order");
    }

    #[test]
    fn any_ulid_round_trips(prefix in prop::sample::select(PREFIXES.to_vec()), value in any::<u128>()) {
        let ulid = ulid::Ulid(value).to_string();
        let id = format!("{prefix}_{ulid}");
        prop_assert_eq!(sort_key(&id), Some(ulid.as_str()));
    }

    #[test]
    fn a_sort_key_is_only_ever_a_ulid(id in prop_oneof![any::<String>(), id_like()]) {
        if let Some(key) = sort_key(&id) {
            prop_assert_eq!(key.chars().count(), 26, "{:?}", id);
            prop_assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{:?} -> {:?}", id, key);
            prop_assert!(id.ends_with(key) && id[..id.len() - 26].ends_with('_'), "{:?}", id);
            // the key is the canonical form of the ULID it names: one spelling per ULID
            let parsed = ulid::Ulid::from_string(key).expect("a ULID");
            prop_assert_eq!(parsed.to_string(), key);
        }
    }

    #[test]
    fn canonical_ids_use_only_the_ulid_alphabet(value in any::<u128>()) {
        let ulid = ulid::Ulid(value).to_string();
        prop_assert!(ulid.chars().all(crockford));
    }
}
