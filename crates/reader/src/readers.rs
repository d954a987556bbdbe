use std::ffi::CString;
use std::time::Duration;

use crate::{CardConnection, Error, Result, Watcher};

/// A connection to the PC/SC service (`SCardEstablishContext`).
///
/// Cheap to clone (the context is reference counted); safe to share between
/// threads. Blocking waits get their own context (see [`Readers::watch`]) so
/// that cancelling one never disturbs card connections.
#[derive(Clone)]
pub struct Readers {
    ctx: pcsc::Context,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").finish_non_exhaustive()
    }
}

/// One reader as PC/SC reports it at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderState {
    /// The reader's PC/SC name, e.g. `Virtual PCD 00 00`.
    pub name: String,
    /// A card is in the reader (it may still be mute).
    pub card_present: bool,
    /// The card's Answer To Reset, when a card is present and answered.
    pub atr: Option<Vec<u8>>,
}

impl ReaderState {
    pub(crate) fn from_pcsc(state: &pcsc::ReaderState) -> Self {
        let event = state.event_state();
        let card_present = event.contains(pcsc::State::PRESENT);
        let atr = (card_present && !state.atr().is_empty()).then(|| state.atr().to_vec());
        ReaderState { name: state.name().to_string_lossy().into_owned(), card_present, atr }
    }
}

impl Readers {
    /// Connects to the PC/SC service with user scope.
    ///
    /// Fails with [`Error::NoService`] when pcscd is not running.
    pub fn establish() -> Result<Self> {
        Ok(Readers { ctx: pcsc::Context::establish(pcsc::Scope::User)? })
    }

    /// The names of all readers, in the service's order (the order in which
    /// `opensc-tool -l` numbers them).
    pub fn names(&self) -> Result<Vec<String>> {
        Ok(list_names(&self.ctx)?.into_iter().map(|n| n.to_string_lossy().into_owned()).collect())
    }

    /// All readers with their card state, in the service's order.
    pub fn list(&self) -> Result<Vec<ReaderState>> {
        let mut states: Vec<pcsc::ReaderState> = list_names(&self.ctx)?
            .into_iter()
            .map(|name| pcsc::ReaderState::new(name, pcsc::State::UNAWARE))
            .collect();
        if states.is_empty() {
            return Ok(Vec::new());
        }
        // UNAWARE makes the call return at once with every reader's state.
        self.ctx.get_status_change(Duration::ZERO, &mut states)?;
        Ok(states.iter().map(ReaderState::from_pcsc).collect())
    }

    /// Starts watching readers and cards; see [`Watcher`].
    pub fn watch(&self) -> Result<Watcher> {
        Watcher::new()
    }

    /// Opens a shared connection to the card in `reader`; see [`CardConnection`].
    ///
    /// Fails with [`Error::NoCard`] on an empty reader, [`Error::ReaderGone`]
    /// for an unknown one, and [`Error::SharingViolation`] while another
    /// application holds the card through an exclusive connection. While
    /// another handle holds a transaction on the card, pcsc-lite makes the
    /// connect wait until it ends.
    pub fn connect(&self, reader: &str) -> Result<CardConnection> {
        CardConnection::open(self.ctx.clone(), reader, pcsc::ShareMode::Shared)
    }

    /// Opens an exclusive connection: no other application can connect to
    /// the card until it is closed. For the rare operation that must keep
    /// everyone away for longer than one transaction (a card reset that
    /// spans reconnects); everything else should use a shared connection
    /// and [`CardConnection::transaction`].
    ///
    /// Fails with [`Error::SharingViolation`] while anyone else is connected.
    pub fn connect_exclusive(&self, reader: &str) -> Result<CardConnection> {
        CardConnection::open(self.ctx.clone(), reader, pcsc::ShareMode::Exclusive)
    }
}

pub(crate) fn list_names(ctx: &pcsc::Context) -> Result<Vec<CString>> {
    Ok(ctx.list_readers_owned()?)
}

pub(crate) fn reader_cstring(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::InvalidReaderName(name.to_owned()))
}
