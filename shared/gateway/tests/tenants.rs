//! Property (bounded case count): with tenancy on, the store user of a verified caller,
//! `t:<tenant>/<sub>`, is different for every different (tenant, sub) pair, whatever the
//! two hold (`/`, `%`, escapes, Unicode), so no organisation's caller can reach another's
//! records by choosing a `sub` or an organisation name.

use chatkit_gateway::Identity;
use proptest::prelude::*;

fn part() -> impl Strategy<Value = String> {
    let piece =
        prop::sample::select(vec!["/", "%", "%2F", "%25", "t:", "a", "b/", "é", "\u{FF0F}", ""]);
    prop_oneof![prop::collection::vec(piece, 0..5).prop_map(|p| p.concat()), any::<String>()]
}

fn store_user(tenant: &str, sub: &str) -> String {
    Identity { user_id: sub.to_string(), tenant: Some(tenant.to_string()), token: None }
        .store_user()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn different_callers_never_share_a_store_user(t1 in part(), s1 in part(), t2 in part(), s2 in part()) {
        prop_assume!((&t1, &s1) != (&t2, &s2));
        prop_assert_ne!(store_user(&t1, &s1), store_user(&t2, &s2));
    }

    #[test]
    fn the_tenant_is_read_back_from_the_store_user(t in part(), s in part()) {
        let user = store_user(&t, &s);
        let (tenant, sub) = user.strip_prefix("t:").unwrap().split_once('/').unwrap();
        prop_assert_eq!(tenant.replace("%2F", "/").replace("%25", "%"), t);
        prop_assert_eq!(sub, s);
    }
}
