use apdu::{Transport, TransportError};
use pcsc::{Disposition, Protocols, ShareMode};

use crate::readers::reader_cstring;
use crate::{Error, Result};

/// A connection to the card in one reader (normally shared; see
/// [`crate::Readers::connect_exclusive`]).
///
/// - Shared mode, so other applications (OpenSC in a browser, a smart-card
///   login) keep working; exclusive work goes in a [`CardTransaction`]
///   (`SCardBeginTransaction`), which every multi-APDU operation should use.
/// - Dropping it disconnects with `LeaveCard`: the card keeps its verified
///   PIN and management-key state (pcsc's own `Card` resets the card on drop,
///   which would wipe that and hand every other application
///   `SCARD_W_RESET_CARD`).
/// - After the card was removed every operation fails with
///   [`Error::CardRemoved`], even once a card is back; then
///   [`CardConnection::reconnect`] reaches the card now in the reader (which
///   may be another card: check its identity).
/// - When another application reset the card, the next operation fails with
///   [`Error::CardReset`]; [`CardConnection::transaction`] then reconnects
///   by itself and says so through [`CardTransaction::was_reset`].
///
/// Transmit buffers are sized for extended APDUs (`MAX_BUFFER_SIZE_EXTENDED`).
pub struct CardConnection {
    card: Option<pcsc::Card>,
    reader: String,
    mode: ShareMode,
    /// The card answered `SCARD_W_RESET_CARD`: reconnect before the next use.
    reset_seen: bool,
    buf: Vec<u8>,
}

impl std::fmt::Debug for CardConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardConnection")
            .field("reader", &self.reader)
            .field("open", &self.card.is_some())
            .finish_non_exhaustive()
    }
}

/// Protocols we accept: the reader picks (T=1 for every PIV card we know;
/// vpcd only offers T=1).
const PROTOCOLS: Protocols = Protocols::ANY;

impl CardConnection {
    pub(crate) fn open(ctx: pcsc::Context, reader: &str, mode: ShareMode) -> Result<Self> {
        let name = reader_cstring(reader)?;
        let card = ctx.connect(&name, mode, PROTOCOLS)?;
        Ok(CardConnection {
            card: Some(card),
            reader: reader.to_owned(),
            mode,
            reset_seen: false,
            buf: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        })
    }

    /// The reader this connection goes through.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    fn card(&mut self) -> Result<&mut pcsc::Card> {
        self.card.as_mut().ok_or(Error::Closed)
    }

    /// The card's Answer To Reset as the reader reports it now.
    pub fn atr(&mut self) -> Result<Vec<u8>> {
        let status = self.card()?.status2_owned();
        Ok(self.note(status)?.atr().to_vec())
    }

    /// Re-establishes the connection (`SCardReconnect`, leaving the card as
    /// it is) after the card was reset by someone else, or removed and a
    /// card put back. Every PIN and key authentication is gone; the caller
    /// must SELECT the application again. Fails with [`Error::NoCard`] while
    /// the reader is empty.
    pub fn reconnect(&mut self) -> Result<()> {
        let mode = self.mode;
        let outcome = self.card()?.reconnect(mode, PROTOCOLS, Disposition::LeaveCard);
        self.reset_seen = false;
        self.note(outcome)
    }

    /// Begins exclusive work with the card (`SCardBeginTransaction`): no other
    /// application's APDUs interleave until the transaction ends.
    ///
    /// If the card had been reset by another application, this reconnects
    /// first and the transaction reports [`CardTransaction::was_reset`].
    ///
    /// While another application holds a transaction on the card,
    /// pcsc-lite makes this (and any transmit outside a transaction) wait
    /// until that transaction ends; it does not fail.
    pub fn transaction(&mut self) -> Result<CardTransaction<'_>> {
        let mut was_reset = false;
        if self.reset_seen {
            self.reconnect()?;
            was_reset = true;
        }
        let card = self.card.as_mut().ok_or(Error::Closed)?;
        let tx = match card.transaction2() {
            Ok(tx) => tx,
            Err((card, pcsc::Error::ResetCard)) => {
                card.reconnect(self.mode, PROTOCOLS, Disposition::LeaveCard)?;
                was_reset = true;
                card.transaction()?
            }
            Err((_, e)) => return Err(e.into()),
        };
        Ok(CardTransaction { tx: Some(tx), buf: &mut self.buf, reset_seen: &mut self.reset_seen, was_reset })
    }

    /// Closes the connection, leaving the card as it is (PIN state kept).
    pub fn disconnect(mut self) -> Result<()> {
        self.close()
    }

    fn close(&mut self) -> Result<()> {
        let Some(card) = self.card.take() else { return Ok(()) };
        match card.disconnect(Disposition::LeaveCard) {
            Ok(()) => Ok(()),
            Err((card, e)) => {
                // Dropping the handle would disconnect with ResetCard; leaking
                // it (until the process ends) is the lesser harm.
                std::mem::forget(card);
                Err(e.into())
            }
        }
    }

    /// Remembers a reset so the next transaction reconnects.
    fn note<T>(&mut self, outcome: std::result::Result<T, pcsc::Error>) -> Result<T> {
        outcome.map_err(|e| {
            if e == pcsc::Error::ResetCard {
                self.reset_seen = true;
            }
            e.into()
        })
    }
}

impl Drop for CardConnection {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::debug!(reader = %self.reader, error = %e, "disconnect failed");
        }
    }
}

/// Outside a transaction, one APDU at a time (fine for a single command;
/// use [`CardConnection::transaction`] for anything that must not interleave
/// with other applications).
impl Transport for CardConnection {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let card = self.card.as_ref().ok_or(Error::Closed)?;
        let started = std::time::Instant::now();
        let outcome = card.transmit(command, &mut self.buf).map(<[u8]>::to_vec);
        crate::tally::record(started.elapsed());
        let outcome = explain_failed_transmit(card, outcome);
        Ok(self.note(outcome)?)
    }
}

/// An answer without a status word is not a card's answer: vpcd (and some
/// reader drivers) hand back zero bytes when the card left mid-command,
/// before the reader's next presence poll notices. Watch the reader for up
/// to [`MUTE_ANSWER_GRACE`] so a pulled card is reported as removed rather
/// than as a malformed response. Only this error path waits.
///
/// pcsc-lite reports a reader driver's communication error during a
/// transmit as `SCARD_E_NOT_TRANSACTED`; that too is usually a card leaving.
fn explain_failed_transmit(
    card: &pcsc::Card,
    outcome: std::result::Result<Vec<u8>, pcsc::Error>,
) -> std::result::Result<Vec<u8>, pcsc::Error> {
    let unexplained = match outcome {
        Ok(response) if response.len() >= 2 => return Ok(response),
        Ok(response) => Ok(response),
        Err(pcsc::Error::NotTransacted) => Err(pcsc::Error::NotTransacted),
        Err(e) => return Err(e),
    };
    let deadline = std::time::Instant::now() + MUTE_ANSWER_GRACE;
    loop {
        let status = card.status2_owned();
        tracing::debug!(status = ?status.as_ref().map(|s| s.status()), "card status after a failed transmit");
        match status {
            Ok(status) if status.status().contains(pcsc::Status::PRESENT) => {}
            Ok(_) | Err(pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard) => {
                return Err(pcsc::Error::RemovedCard)
            }
            Err(pcsc::Error::ReaderUnavailable | pcsc::Error::UnknownReader) => {
                return Err(pcsc::Error::ReaderUnavailable)
            }
            // Anything else (the handle is stale after the card left): look again.
            Err(_) => {}
        }
        if std::time::Instant::now() >= deadline {
            return unexplained;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// How long a mute answer is given to turn into a removal (pcscd polls
/// readers every 0.4 s).
const MUTE_ANSWER_GRACE: std::time::Duration = std::time::Duration::from_millis(1200);

/// Exclusive access to the card until dropped (which ends the transaction
/// with `LeaveCard`). Implements [`Transport`], so `apdu::exchange` and the
/// PIV layer run on it directly.
pub struct CardTransaction<'c> {
    tx: Option<pcsc::Transaction<'c>>,
    buf: &'c mut Vec<u8>,
    reset_seen: &'c mut bool,
    was_reset: bool,
}

impl std::fmt::Debug for CardTransaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardTransaction").field("was_reset", &self.was_reset).finish_non_exhaustive()
    }
}

impl CardTransaction<'_> {
    /// The card had been reset (by another application) before this
    /// transaction began: its PIN and key authentication are gone and the
    /// application must be selected again.
    pub fn was_reset(&self) -> bool {
        self.was_reset
    }

    /// Ends the transaction, leaving the card as it is, and reports errors
    /// that dropping would swallow.
    pub fn end(mut self) -> Result<()> {
        self.release()
    }

    /// Ends the transaction now, through a borrow (the owner may end it
    /// again, which does nothing): other applications may use the card as
    /// soon as the work that needed it is done. Commands sent afterwards
    /// fail with [`Error::Closed`].
    pub fn release(&mut self) -> Result<()> {
        let Some(tx) = self.tx.take() else { return Ok(()) };
        tx.end(Disposition::LeaveCard).map_err(|(_, e)| e.into())
    }
}

impl Transport for CardTransaction<'_> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        let tx = self.tx.as_ref().ok_or(Error::Closed)?;
        let started = std::time::Instant::now();
        let sent = tx.transmit(command, self.buf).map(<[u8]>::to_vec);
        crate::tally::record(started.elapsed());
        match explain_failed_transmit(tx, sent) {
            Ok(response) => Ok(response),
            Err(e) => {
                if e == pcsc::Error::ResetCard {
                    *self.reset_seen = true;
                }
                Err(Error::from(e).into())
            }
        }
    }
}
