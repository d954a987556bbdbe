//! Pure builders of the PIV command APDUs (SP 800-73-4 Part 2 §3) and of the
//! YubiKey extensions. No I/O: [`crate::PivCard`] sends these. Each is tested
//! against golden bytes.

use crate::secret::{Pin, Puk};
use crate::types::{pin_ref, KeyAlgorithm, ManagementKey, PinPolicy, Slot, PIV_AID};
use apdu::{tlv, Command};

/// "Any length" Le of a short APDU (encoded `00`).
const LE_ANY: usize = 256;

/// SELECT the PIV application by its full AID (Part 2 §3.1.1).
pub fn select() -> Command {
    Command::new(0x00, 0xA4, 0x04, 0x00).with_data(PIV_AID.to_vec()).with_le(LE_ANY)
}

/// The `5C` tag list value of a data object (Part 2 §3.1.2).
fn tag_list(tag: u32) -> Vec<u8> {
    let mut value = Vec::with_capacity(3);
    tlv::write_tag(&mut value, tag);
    tlv::encode(0x5C, &value)
}

/// True for the objects whose PUT DATA carries the object itself, not `5C`/`53`
/// (discovery 7E and the BIT group template 7F61, Part 2 §3.2.2).
pub fn is_self_tagged(tag: u32) -> bool {
    matches!(tag, 0x7E | 0x7F61)
}

/// GET DATA of one object (Part 2 §3.1.2).
pub fn get_data(tag: u32) -> Command {
    Command::new(0x00, 0xCB, 0x3F, 0xFF).with_data(tag_list(tag)).with_le(LE_ANY)
}

/// PUT DATA of one object (Part 2 §3.2.2): `5C tag 53 content`, or for
/// 7E / 7F61 the object `tag content` alone. Empty content deletes (`53 00`).
pub fn put_data(tag: u32, content: &[u8]) -> Command {
    let data = if is_self_tagged(tag) {
        tlv::encode(tag, content)
    } else {
        let mut d = tag_list(tag);
        tlv::write(&mut d, 0x53, content);
        d
    };
    Command::new(0x00, 0xDB, 0x3F, 0xFF).with_data(data)
}

/// VERIFY with no data: asks the PIN's state without spending a try (Part 2 §3.2.1).
pub fn pin_status() -> Command {
    Command::new(0x00, 0x20, 0x00, pin_ref::PIV_PIN)
}

/// VERIFY the PIN (Part 2 §3.2.1).
pub fn verify_pin(pin: &Pin) -> Command {
    Command::new(0x00, 0x20, 0x00, pin_ref::PIV_PIN).with_data(pin.padded().to_vec())
}

/// CHANGE REFERENCE DATA of the PIN (Part 2 §3.2.3).
pub fn change_pin(old: &Pin, new: &Pin) -> Command {
    let data = [old.padded().as_slice(), new.padded().as_slice()].concat();
    Command::new(0x00, 0x24, 0x00, pin_ref::PIV_PIN).with_data(data)
}

/// CHANGE REFERENCE DATA of the PUK (Part 2 §3.2.3).
pub fn change_puk(old: &Puk, new: &Puk) -> Command {
    let data = [old.padded().as_slice(), new.padded().as_slice()].concat();
    Command::new(0x00, 0x24, 0x00, pin_ref::PUK).with_data(data)
}

/// RESET RETRY COUNTER: sets a new PIN with the PUK (Part 2 §3.2.4).
pub fn unblock_pin(puk: &Puk, new_pin: &Pin) -> Command {
    let data = [puk.padded().as_slice(), new_pin.padded().as_slice()].concat();
    Command::new(0x00, 0x2C, 0x00, pin_ref::PIV_PIN).with_data(data)
}

/// GENERAL AUTHENTICATE (Part 2 §3.2.4) with a dynamic authentication template `7C`.
pub fn general_authenticate(algorithm: u8, key_ref: u8, template: &[u8]) -> Command {
    Command::new(0x00, 0x87, algorithm, key_ref).with_data(tlv::encode(0x7C, template)).with_le(LE_ANY)
}

/// Step 1 of mutual authentication with the management key: ask for the
/// encrypted witness (`7C 02 80 00`; Part 2 Appendix A.3 of SP 800-73-4 Part 2).
pub fn management_witness_request(key: &ManagementKey) -> Command {
    general_authenticate(key.algorithm().id(), pin_ref::MANAGEMENT, &[0x80, 0x00])
}

/// Step 2: return the decrypted witness and our challenge (`7C {80 W, 81 C}`).
pub fn management_witness_response(key: &ManagementKey, witness: &[u8], challenge: &[u8]) -> Command {
    let mut t = tlv::encode(0x80, witness);
    tlv::write(&mut t, 0x81, challenge);
    general_authenticate(key.algorithm().id(), pin_ref::MANAGEMENT, &t)
}

/// Private-key operation with a slot key: `7C {82 00, 81 data}` (Part 2 §3.2.4).
pub fn sign(slot: Slot, algorithm: KeyAlgorithm, data: &[u8]) -> Command {
    let mut t = vec![0x82, 0x00];
    tlv::write(&mut t, 0x81, data);
    general_authenticate(algorithm.id(), slot.key_ref(), &t)
}

/// GENERATE ASYMMETRIC KEY PAIR (Part 2 §3.3.2): `AC {80 alg [AA pin] [AB touch]}`;
/// the `AA`/`AB` policies are YubiKey extensions, sent only when given.
pub fn generate_key(
    slot: Slot,
    algorithm: KeyAlgorithm,
    pin_policy: Option<PinPolicy>,
    touch_policy: Option<u8>,
) -> Command {
    let mut t = tlv::encode(0x80, &[algorithm.id()]);
    if let Some(p) = pin_policy {
        tlv::write(&mut t, 0xAA, &[p as u8]);
    }
    if let Some(tp) = touch_policy {
        tlv::write(&mut t, 0xAB, &[tp]);
    }
    Command::new(0x00, 0x47, 0x00, slot.key_ref()).with_data(tlv::encode(0xAC, &t)).with_le(LE_ANY)
}

/// YubiKey GET VERSION (`FD`).
pub fn get_version() -> Command {
    Command::new(0x00, 0xFD, 0x00, 0x00).with_le(LE_ANY)
}

/// YubiKey GET SERIAL (`F8`, firmware 5+).
pub fn get_serial() -> Command {
    Command::new(0x00, 0xF8, 0x00, 0x00).with_le(LE_ANY)
}

/// YubiKey GET METADATA (`F7`, firmware 5.3+) of a key or PIN reference.
pub fn get_metadata(key_ref: u8) -> Command {
    Command::new(0x00, 0xF7, 0x00, key_ref).with_le(LE_ANY)
}

/// YubiKey SET MANAGEMENT KEY (`FF`): `alg 9B len key`; P2 `FE` requires touch.
pub fn set_management_key(key: &ManagementKey, require_touch: bool) -> Command {
    let secret = key.expose_secret();
    let mut data = Vec::with_capacity(3 + secret.len());
    data.extend_from_slice(&[key.algorithm().id(), pin_ref::MANAGEMENT, secret.len() as u8]);
    data.extend_from_slice(secret);
    Command::new(0x00, 0xFF, 0xFF, if require_touch { 0xFE } else { 0xFF }).with_data(data)
}

/// YubiKey SET PIN RETRIES (`FA`): resets PIN and PUK to their defaults.
pub fn set_pin_retries(pin_tries: u8, puk_tries: u8) -> Command {
    Command::new(0x00, 0xFA, pin_tries, puk_tries)
}

/// YubiKey RESET (`FB`): only accepted when PIN and PUK are both blocked.
pub fn reset() -> Command {
    Command::new(0x00, 0xFB, 0x00, 0x00)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ManagementKeyAlgorithm;

    fn bytes(c: Command) -> Vec<u8> {
        c.to_bytes().unwrap()
    }

    #[test]
    fn select_and_data_objects_encode_to_golden_bytes() {
        assert_eq!(bytes(select()), hex::decode("00A4040009A0000003080000100000").unwrap());
        assert_eq!(bytes(get_data(0x5FC102)), hex::decode("00CB3FFF055C035FC10200").unwrap());
        assert_eq!(bytes(get_data(0x7E)), hex::decode("00CB3FFF035C017E00").unwrap());
        assert_eq!(bytes(get_data(0x7F61)), hex::decode("00CB3FFF045C027F6100").unwrap());
        assert_eq!(
            bytes(put_data(0x5FC10C, &[0xC1, 1, 0])),
            hex::decode("00DB3FFF0A5C035FC10C5303C10100").unwrap()
        );
        assert_eq!(bytes(put_data(0x5FC105, &[])), hex::decode("00DB3FFF075C035FC1055300").unwrap());
        assert_eq!(bytes(put_data(0x7E, &[0x4F, 0])), hex::decode("00DB3FFF047E024F00").unwrap());
    }

    #[test]
    fn pin_commands_encode_to_golden_bytes() {
        let pin = Pin::new("123456").unwrap();
        let new = Pin::new("87654321").unwrap();
        let puk = Puk::new("12345678").unwrap();
        assert_eq!(bytes(pin_status()), hex::decode("00200080").unwrap());
        assert_eq!(bytes(verify_pin(&pin)), hex::decode("0020008008313233343536FFFF").unwrap());
        assert_eq!(
            bytes(change_pin(&pin, &new)),
            hex::decode("0024008010313233343536FFFF3837363534333231").unwrap()
        );
        assert_eq!(
            bytes(unblock_pin(&puk, &pin)),
            hex::decode("002C008010313233343536373831323334353 6FFFF".replace(' ', "")).unwrap()
        );
        assert_eq!(&bytes(change_puk(&puk, &puk))[..5], &[0x00, 0x24, 0x00, 0x81, 0x10]);
    }

    #[test]
    fn authenticate_generate_and_sign_encode_to_golden_bytes() {
        let key = ManagementKey::factory_default(ManagementKeyAlgorithm::TripleDes);
        assert_eq!(bytes(management_witness_request(&key)), hex::decode("0087039B047C02800000").unwrap());
        assert_eq!(
            bytes(management_witness_response(&key, &[1; 8], &[2; 8])),
            hex::decode("0087039B167C14800801010101010101018108020202020202020200").unwrap()
        );
        assert_eq!(
            bytes(generate_key(Slot::Authentication, KeyAlgorithm::EccP256, Some(PinPolicy::Once), Some(1))),
            hex::decode("0047009A0BAC09800111AA0102AB010100").unwrap()
        );
        assert_eq!(
            bytes(generate_key(Slot::Signature, KeyAlgorithm::Rsa2048, None, None)),
            hex::decode("0047009C05AC0380010700").unwrap()
        );
        assert_eq!(
            bytes(sign(Slot::Signature, KeyAlgorithm::EccP256, &[0xAB; 32])),
            [hex::decode("0087119C267C24820081 20".replace(' ', "")).unwrap(), vec![0xAB; 32], vec![0]]
                .concat()
        );
        let rsa = sign(Slot::Authentication, KeyAlgorithm::Rsa2048, &[0; 256]);
        assert_eq!(&rsa.data[..8], &[0x7C, 0x82, 0x01, 0x06, 0x82, 0x00, 0x81, 0x82]);
    }

    #[test]
    fn yubikey_extensions_encode_to_golden_bytes() {
        assert_eq!(bytes(get_version()), hex::decode("00FD000000").unwrap());
        assert_eq!(bytes(get_serial()), hex::decode("00F8000000").unwrap());
        assert_eq!(bytes(get_metadata(0x9B)), hex::decode("00F7009B00").unwrap());
        assert_eq!(bytes(set_pin_retries(5, 4)), hex::decode("00FA0504").unwrap());
        assert_eq!(bytes(reset()), hex::decode("00FB0000").unwrap());
        let key = ManagementKey::new(ManagementKeyAlgorithm::Aes128, &[0x11; 16]).unwrap();
        let cmd = bytes(set_management_key(&key, false));
        assert_eq!(&cmd[..8], &[0x00, 0xFF, 0xFF, 0xFF, 19, 0x08, 0x9B, 16]);
        assert_eq!(&cmd[8..], &[0x11; 16]);
        assert_eq!(set_management_key(&key, true).p2, 0xFE);
    }
}
