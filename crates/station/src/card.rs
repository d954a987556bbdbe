//! UC-READ: the card in a reader, recognised as ours (its CHUID GUID is a
//! device in the replica), blank stock, or foreign, with the actions the
//! signed-in operator may take on it now.

use domain::{Certificate, CredentialProfile, Device, DeviceId, Person, Request};
use piv::{CardInfo, PivCard};
use reader::Readers;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::Result;
use crate::session::Session;

/// The physical card as found in a reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFacts {
    /// The reader.
    pub reader: String,
    /// Answer-to-reset, hex.
    pub atr: String,
    /// Vendor serial, when the card offers one.
    pub serial: Option<String>,
    /// CHUID GUID (hex), if the card has a CHUID.
    pub guid: Option<String>,
}

impl CardFacts {
    pub(crate) fn of(reader: &str, atr: &[u8], info: &CardInfo) -> CardFacts {
        CardFacts {
            reader: reader.to_owned(),
            atr: hex::encode_upper(atr),
            serial: info.serial.map(|s| s.to_string()),
            guid: info.chuid.as_ref().map(|c| c.guid_hex()),
        }
    }

    /// The device id the CHUID names, if it is a UUID.
    pub fn device_id(&self) -> Option<DeviceId> {
        let guid = self.guid.as_deref()?;
        let bytes: [u8; 16] = hex::decode(guid).ok()?.try_into().ok()?;
        Some(DeviceId::new(Uuid::from_bytes(bytes)))
    }

    /// Whether this is the same physical card as `other` (serial when both
    /// have one, else the GUID).
    pub fn same_card(&self, other: &CardFacts) -> bool {
        match (&self.serial, &other.serial) {
            (Some(a), Some(b)) => a == b,
            _ => self.guid.is_some() && self.guid == other.guid,
        }
    }
}

/// What the card in a reader is to this station.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CardView {
    /// A card this deployment encoded (or is encoding).
    Ours {
        /// The card.
        card: CardFacts,
        /// Its record.
        device: Box<Device>,
        /// The cardholder.
        owner: Option<Person>,
        /// The profile version it was encoded with.
        profile: Option<CredentialProfile>,
        /// Every certificate the registry issued for it (valid, on hold, revoked).
        certificates: Vec<Certificate>,
        /// Requests still open for it.
        open_requests: Vec<Request>,
        /// Actions now, each with the refusal that stops this operator, if any.
        actions: Vec<domain::CardAction>,
        /// Approved update and reprovision requests to apply with
        /// "Collect updates" (UC-UPDATE), in the order they are applied.
        pending_updates: Vec<domain::RequestId>,
        /// An interrupted job on this card, to resume or roll back.
        open_job: Option<Uuid>,
        /// What the card itself says (no PIN needed).
        info: Box<CardInfo>,
    },
    /// A temporary card of this deployment (UC-TEMP): its CHUID GUID is a
    /// temporary card in the replica.
    Temporary {
        /// The card.
        card: CardFacts,
        /// Its record.
        temporary: Box<domain::TemporaryCard>,
        /// Who holds it now.
        holder: Option<Person>,
        /// An interrupted initialization, resumed by initializing again.
        open_job: Option<Uuid>,
        /// What the card itself says (no PIN needed).
        info: Box<CardInfo>,
    },
    /// Factory-fresh stock: ready to issue.
    Blank {
        /// The card.
        card: CardFacts,
        /// What the card says.
        info: CardInfo,
    },
    /// A PIV card from elsewhere (or erased from this deployment's records).
    Foreign {
        /// The card.
        card: CardFacts,
        /// What the card says.
        info: CardInfo,
    },
}

/// Reads the card in `reader` (no PIN, nothing written).
pub(crate) fn read(reader_name: &str) -> Result<(CardFacts, CardInfo)> {
    let mut connection = connect(reader_name)?;
    let atr = connection.atr()?;
    let info = {
        let mut tx = connection.transaction()?;
        let info = {
            let mut card = PivCard::new(&mut tx);
            piv::read_info(&mut card)?
        };
        let _ = tx.end();
        info
    };
    let _ = connection.disconnect();
    Ok((CardFacts::of(reader_name, &atr, &info), info))
}

impl Session {
    /// Every certificate issued for `device`, as the replica has them.
    pub fn certificates_of(&self, device: DeviceId) -> Result<Vec<Certificate>> {
        let docs: Vec<String> = self
            .store
            .connection()
            .prepare("SELECT doc FROM certificates WHERE device = ?1 ORDER BY n")
            .and_then(|mut stmt| {
                stmt.query_map([device.to_string()], |r| r.get(0))?.collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(store::Error::from)?;
        docs.iter().map(|d| serde_json::from_str(d).map_err(|e| store::Error::from(e).into())).collect()
    }

    /// UC-READ: reads the card in `reader` and says what it is.
    pub fn read_card(&self, reader: &str) -> Result<CardView> {
        let (card, info) = read(reader)?;
        self.view(card, info)
    }

    pub(crate) fn view(&self, card: CardFacts, info: CardInfo) -> Result<CardView> {
        let device = match card.device_id() {
            Some(id) => self.store.get::<Device>(&id.to_string())?,
            None => None,
        };
        let Some(device) = device else {
            let temporary = match card.device_id() {
                Some(id) => self.store.get::<domain::TemporaryCard>(&id.to_string())?,
                None => None,
            };
            if let Some(temporary) = temporary {
                let holder = match temporary.holder {
                    Some(p) => self.store.get::<Person>(&p.to_string())?,
                    None => None,
                };
                let open_job = self
                    .store
                    .jobs_of_device(&temporary.id.to_string())?
                    .into_iter()
                    .find(|j| j.state.is_open())
                    .map(|j| j.id);
                return Ok(CardView::Temporary {
                    card,
                    temporary: Box::new(temporary),
                    holder,
                    open_job,
                    info: Box::new(info),
                });
            }
            if info.looks_blank() {
                return Ok(CardView::Blank { card, info });
            }
            return Ok(CardView::Foreign { card, info });
        };
        let owner = match device.owner {
            Some(p) => self.store.get::<Person>(&p.to_string())?,
            None => None,
        };
        let profile = self
            .store
            .get::<CredentialProfile>(&format!("{}/{}", device.profile.id, device.profile.version))?;
        let certificates = self.certificates_of(device.id)?;
        let requests = self.store.requests_for_device(device.id)?;
        let pending_updates = domain::rules::updates_to_collect(device.id, &requests);
        let open_requests = requests.into_iter().filter(Request::is_open).collect();
        let actions = match &profile {
            Some(p) => domain::machines::card::actions(
                &device,
                (p.settings.card_end_state, p.settings.certificate_end_state),
                &self.actor(),
                OffsetDateTime::now_utc(),
            ),
            None => Vec::new(),
        };
        let open_job = self
            .store
            .jobs_of_device(&device.id.to_string())?
            .into_iter()
            .find(|j| j.state.is_open())
            .map(|j| j.id);
        Ok(CardView::Ours {
            card,
            device: Box::new(device),
            owner,
            profile,
            certificates,
            open_requests,
            actions,
            pending_updates,
            open_job,
            info: Box::new(info),
        })
    }
}

thread_local! {
    /// This thread's PC/SC context, kept from one card session to the next:
    /// establishing one costs pcscd a new client socket and thread, twice
    /// per card of a batch otherwise.
    static CONTEXT: std::cell::RefCell<Option<Readers>> = const { std::cell::RefCell::new(None) };
}

/// A shared connection to the card in `reader_name` through this thread's
/// context; a context pcscd no longer knows (it restarted) is made anew.
fn connect(reader_name: &str) -> Result<reader::CardConnection> {
    if let Some(readers) = CONTEXT.with(|c| c.borrow().clone()) {
        match readers.connect(reader_name) {
            Ok(connection) => return Ok(connection),
            // A stale context: try once with a new one.
            Err(e) if e.is_stale_context() => {}
            Err(e) => return Err(e.into()),
        }
    }
    let readers = Readers::establish()?;
    let connection = readers.connect(reader_name);
    CONTEXT.with(|c| *c.borrow_mut() = Some(readers));
    Ok(connection?)
}

/// A card connection for the duration of one job; the transaction ends and
/// the card is released whatever `work` returns.
pub(crate) fn with_card<R>(
    reader_name: &str,
    work: impl FnOnce(&[u8], &mut PivCard<&mut reader::CardTransaction<'_>>) -> Result<R>,
) -> Result<R> {
    let mut connection = connect(reader_name)?;
    let atr = connection.atr()?;
    let mut tx = connection.transaction()?;
    let result = {
        let mut card = PivCard::new(&mut tx);
        work(&atr, &mut card)
    };
    if let Err(e) = tx.end() {
        tracing::debug!(reader = %reader_name, error = %e, "ending the transaction failed");
    }
    if let Err(e) = connection.disconnect() {
        tracing::debug!(reader = %reader_name, error = %e, "disconnect failed");
    }
    result
}

/// A card this thread already holds: connected, inside its transaction, the
/// PIV application selected (a batch worker's card from its first read to
/// its last write). Its ATR, and the card.
pub(crate) type HeldCard<'a, 'b, 'c> = (&'a [u8], &'a mut PivCard<&'b mut reader::CardTransaction<'c>>);

/// Runs `work` on the held card when there is one (`true`: no other
/// application came between, and it is the card read before), else on a
/// new connection as [`with_card`] makes it (`false`).
pub(crate) fn with_held_or_new<R>(
    reader_name: &str,
    held: Option<HeldCard<'_, '_, '_>>,
    work: impl FnOnce(&[u8], &mut PivCard<&mut reader::CardTransaction<'_>>, bool) -> Result<R>,
) -> Result<R> {
    match held {
        Some((atr, card)) => work(atr, card, true),
        None => with_card(reader_name, |atr, card| work(atr, card, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(serial: Option<&str>, guid: Option<&str>) -> CardFacts {
        CardFacts {
            reader: "r".into(),
            atr: "3B".into(),
            serial: serial.map(str::to_owned),
            guid: guid.map(str::to_owned),
        }
    }

    #[test]
    fn the_chuid_guid_names_the_device() {
        let id = DeviceId::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let guid = hex::encode(id.uuid().as_bytes());
        assert_eq!(facts(None, Some(&guid)).device_id(), Some(id));
        assert_eq!(facts(None, Some("00")).device_id(), None);
        assert_eq!(facts(None, Some("zz")).device_id(), None);
        assert_eq!(facts(None, None).device_id(), None);
    }

    #[test]
    fn the_same_card_by_serial_else_by_guid() {
        assert!(facts(Some("1"), None).same_card(&facts(Some("1"), Some("aa"))));
        assert!(!facts(Some("1"), Some("aa")).same_card(&facts(Some("2"), Some("aa"))));
        assert!(facts(None, Some("aa")).same_card(&facts(Some("2"), Some("aa"))));
        assert!(!facts(None, None).same_card(&facts(None, None)));
    }
}
