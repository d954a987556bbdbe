//! Arbitrary input never panics the card.
#![allow(clippy::unwrap_used)]

mod common;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_apdus_never_panic(apdus in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..6)) {
        let mut c = common::card();
        for a in &apdus {
            let r = c.process(a);
            prop_assert!(r.len() >= 2);
        }
    }

    #[test]
    fn arbitrary_bodies_for_piv_instructions_never_panic(
        ins in prop_oneof![Just(0xCBu8), Just(0xDB), Just(0x20), Just(0x24), Just(0x2C), Just(0x87), Just(0x47),
                           Just(0xF7), Just(0xFF), Just(0xFA), Just(0xFB), Just(0xFE), Just(0xC0)],
        cla in prop_oneof![Just(0u8), Just(0x10)],
        p1 in any::<u8>(), p2 in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..255),
    ) {
        let mut c = common::admin_card();
        common::verify(&mut c, b"123456");
        let mut apdu = vec![cla, ins, p1, p2];
        if !body.is_empty() {
            apdu.push(body.len() as u8);
            apdu.extend_from_slice(&body);
        }
        let r = c.process(&apdu);
        prop_assert!(r.len() >= 2);
    }
}
