//! YubiKey 5 PIV extensions (vendor instructions outside SP 800-73-4), as
//! documented by Yubico for firmware 5.x; answered by [`Flavour::YubiKey`]
//! cards only.

use apdu::tlv;
use apdu::StatusWord;
use piv::types::pin_ref;
use piv::{KeyAlgorithm, ManagementKeyAlgorithm, Slot};
use zeroize::Zeroizing;

use crate::application::policies;
use crate::card::Request;
use crate::keys::PrivateKey;
use crate::state::{KeyOrigin, PersistentState, Reference, StoredManagementKey};
use crate::Card;

type Reply = Result<Vec<u8>, StatusWord>;

/// Firmware version reported by GET VERSION (FD): a 5.4.3 YubiKey, new
/// enough for metadata (F7, 5.3+) and old enough to default to 3DES.
pub const FIRMWARE_VERSION: [u8; 3] = [5, 4, 3];

const INS_IMPORT_KEY: u8 = 0xFE;
const INS_GET_VERSION: u8 = 0xFD;
const INS_RESET: u8 = 0xFB;
const INS_SET_PIN_RETRIES: u8 = 0xFA;
const INS_ATTEST: u8 = 0xF9;
const INS_GET_SERIAL: u8 = 0xF8;
const INS_GET_METADATA: u8 = 0xF7;
const INS_SET_MANAGEMENT_KEY: u8 = 0xFF;

/// True for the YubiKey vendor instructions.
pub(crate) fn is_vendor_ins(ins: u8) -> bool {
    matches!(ins, 0xF6..=0xFF)
}

impl Card {
    pub(crate) fn vendor(&mut self, req: &Request) -> Reply {
        match req.ins {
            INS_GET_VERSION => Ok(FIRMWARE_VERSION.to_vec()),
            INS_GET_SERIAL => Ok(self.state.serial.to_be_bytes().to_vec()),
            INS_GET_METADATA => self.metadata(req.p2),
            INS_SET_MANAGEMENT_KEY => self.set_management_key(req),
            INS_SET_PIN_RETRIES => self.set_pin_retries(req),
            INS_RESET => self.yubikey_reset(),
            INS_IMPORT_KEY => self.import_key(req),
            INS_ATTEST => Err(StatusWord::REFERENCE_NOT_FOUND),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    /// GET METADATA (F7, firmware 5.3+): `01` algorithm, `02` {PIN policy,
    /// touch policy}, `03` origin, `04` public key, `05` is-default, `06`
    /// {total, remaining} tries.
    fn metadata(&self, reference: u8) -> Reply {
        let mut out = Vec::new();
        match reference {
            pin_ref::MANAGEMENT => {
                let m = &self.state.management;
                tlv::write(&mut out, 0x01, &[m.algorithm.id()]);
                tlv::write(&mut out, 0x02, &[0x00, m.touch_policy]);
                tlv::write(&mut out, 0x05, &[u8::from(m.is_default())]);
            }
            pin_ref::PIV_PIN | pin_ref::PUK => {
                let (r, default) = if reference == pin_ref::PIV_PIN {
                    (&self.state.pin, self.pin_is_default())
                } else {
                    (&self.state.puk, self.puk_is_default())
                };
                tlv::write(&mut out, 0x01, &[0xFF]);
                tlv::write(&mut out, 0x05, &[u8::from(default)]);
                tlv::write(&mut out, 0x06, &[r.total, r.remaining]);
            }
            r => {
                let slot = Slot::from_key_ref(r).ok_or(StatusWord::REFERENCE_NOT_FOUND)?;
                let stored = self.state.keys.get(&slot.key_ref()).ok_or(StatusWord::REFERENCE_NOT_FOUND)?;
                let key =
                    PrivateKey::from_pkcs8(stored.algorithm, &stored.pkcs8).ok_or(StatusWord(0x6F00))?;
                tlv::write(&mut out, 0x01, &[stored.algorithm.id()]);
                tlv::write(&mut out, 0x02, &[stored.pin_policy as u8, stored.touch_policy]);
                tlv::write(&mut out, 0x03, &[stored.origin.id()]);
                tlv::write(&mut out, 0x04, &key.public_key_template());
            }
        }
        Ok(out)
    }

    /// SET MANAGEMENT KEY (FF): `00 FF FF FF|FE`, data `alg 9B len key`;
    /// needs the current management key. P2 FE asks for touch.
    fn set_management_key(&mut self, req: &Request) -> Reply {
        if req.p1 != 0xFF || !matches!(req.p2, 0xFF | 0xFE) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if !self.volatile.management_authenticated {
            return Err(StatusWord::SECURITY_NOT_SATISFIED);
        }
        let [alg, reference, len, key @ ..] = req.data.as_slice() else {
            return Err(StatusWord::INCORRECT_DATA);
        };
        let algorithm = match *alg {
            0x00 => None,
            id => ManagementKeyAlgorithm::from_id(id),
        }
        .ok_or(StatusWord::INCORRECT_DATA)?;
        if *reference != pin_ref::MANAGEMENT
            || usize::from(*len) != key.len()
            || key.len() != algorithm.key_len()
        {
            return Err(StatusWord::INCORRECT_DATA);
        }
        self.state.management = StoredManagementKey {
            algorithm,
            key: Zeroizing::new(key.to_vec()),
            touch_policy: if req.p2 == 0xFE { 2 } else { 1 },
        };
        self.dirty = true;
        Ok(Vec::new())
    }

    /// SET PIN RETRIES (FA): `00 FA pin-tries puk-tries`; needs the
    /// management key and the PIN, and resets PIN and PUK to their defaults.
    fn set_pin_retries(&mut self, req: &Request) -> Reply {
        if !self.volatile.management_authenticated || !self.volatile.pin_verified {
            return Err(StatusWord::SECURITY_NOT_SATISFIED);
        }
        if !(1..=15).contains(&req.p1) || !(1..=15).contains(&req.p2) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        self.state.pin = Reference::new(piv::types::DEFAULT_PIN, req.p1);
        self.state.puk = Reference::new(piv::types::DEFAULT_PUK, req.p2);
        self.volatile.pin_verified = false;
        self.volatile.pin_fresh = false;
        self.dirty = true;
        Ok(Vec::new())
    }

    /// RESET (FB): back to factory state, keeping the serial; allowed only
    /// when both PIN and PUK are blocked, so it cannot be used to bypass them.
    fn yubikey_reset(&mut self) -> Reply {
        if !(self.state.pin.is_blocked() && self.state.puk.is_blocked()) {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        self.state = PersistentState::factory(
            self.state.serial,
            self.state.flavour,
            self.state.factory_management_algorithm,
        );
        let selected = self.volatile.selected;
        self.reset();
        self.volatile.selected = selected;
        self.dirty = true;
        Ok(Vec::new())
    }

    /// IMPORT KEY (FE): `00 FE alg slot`, RSA `01 P 02 Q [03 dP 04 dQ 05
    /// qInv]`, EC `06 d`, optional `AA`/`AB` policies; needs the management key.
    fn import_key(&mut self, req: &Request) -> Reply {
        let algorithm = KeyAlgorithm::from_id(req.p1).ok_or(StatusWord::INCORRECT_P1P2)?;
        let slot = Slot::from_key_ref(req.p2).ok_or(StatusWord::INCORRECT_P1P2)?;
        if !self.volatile.management_authenticated {
            return Err(StatusWord::SECURITY_NOT_SATISFIED);
        }
        let fields = tlv::parse_all(&req.data).map_err(|_| StatusWord::INCORRECT_DATA)?;
        let one_byte = |tag: u32| -> Result<Option<u8>, StatusWord> {
            match fields.iter().find(|t| t.tag == tag).map(|t| t.value) {
                None => Ok(None),
                Some([b]) => Ok(Some(*b)),
                Some(_) => Err(StatusWord::INCORRECT_DATA),
            }
        };
        let (pin_policy, touch_policy) = policies(slot, one_byte(0xAA)?, one_byte(0xAB)?)?;
        let key = PrivateKey::import(algorithm, &fields)?;
        self.store_key(slot, key, pin_policy, touch_policy, KeyOrigin::Imported)?;
        Ok(Vec::new())
    }
}
