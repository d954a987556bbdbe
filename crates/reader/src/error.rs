use apdu::TransportError;

/// Result of the reader layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a PC/SC operation failed.
///
/// The variants an operator can act on are distinct (start the service, plug
/// the reader back, put the card back, close the other application); the rest
/// keep the PC/SC code for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The PC/SC service (pcscd) is not running or stopped while in use.
    #[error("the smart card service (pcscd) is not running")]
    NoService,
    /// The reader was unplugged, or no reader by that name exists.
    #[error("the reader is no longer available")]
    ReaderGone,
    /// The card left the reader while a connection to it was open.
    #[error("the card was removed from the reader")]
    CardRemoved,
    /// There is no card in the reader.
    #[error("no card in the reader")]
    NoCard,
    /// Another application reset the card: every verified PIN and
    /// management-key authentication is gone. Reconnect and re-SELECT.
    #[error("the card was reset by another application")]
    CardReset,
    /// Another application holds the card (exclusive connection or transaction).
    #[error("the card is in use by another application")]
    SharingViolation,
    /// The card is present but does not answer (no usable ATR).
    #[error("the card does not respond")]
    CardUnresponsive,
    /// A wait ran out of time.
    #[error("timed out")]
    Timeout,
    /// A blocking wait was cancelled through a [`crate::WatchCancel`].
    #[error("the wait was cancelled")]
    Cancelled,
    /// A reader name that cannot be passed to PC/SC (it contains a NUL byte).
    #[error("invalid reader name {0:?}")]
    InvalidReaderName(String),
    /// The connection was already closed.
    #[error("the card connection is closed")]
    Closed,
    /// Any other PC/SC failure.
    #[error("PC/SC error: {0}")]
    Pcsc(pcsc::Error),
}

impl Error {
    /// Whether the PC/SC context this came through is no longer known to
    /// the service (pcscd stopped or restarted since it was established):
    /// a new context may succeed where this one cannot.
    pub fn is_stale_context(&self) -> bool {
        matches!(self, Error::NoService | Error::Pcsc(pcsc::Error::InvalidHandle))
    }
}

impl From<pcsc::Error> for Error {
    fn from(e: pcsc::Error) -> Self {
        use pcsc::Error as P;
        match e {
            P::NoService | P::ServiceStopped => Error::NoService,
            P::ReaderUnavailable | P::UnknownReader => Error::ReaderGone,
            P::RemovedCard => Error::CardRemoved,
            P::NoSmartcard => Error::NoCard,
            P::ResetCard => Error::CardReset,
            P::SharingViolation => Error::SharingViolation,
            P::UnresponsiveCard | P::UnpoweredCard => Error::CardUnresponsive,
            P::Timeout => Error::Timeout,
            P::Cancelled => Error::Cancelled,
            other => Error::Pcsc(other),
        }
    }
}

impl From<Error> for TransportError {
    fn from(e: Error) -> Self {
        match e {
            Error::NoService | Error::ReaderGone => TransportError::ReaderGone,
            Error::CardRemoved => TransportError::CardRemoved,
            Error::NoCard => TransportError::NoCard,
            Error::CardReset => TransportError::CardReset,
            Error::SharingViolation => TransportError::SharingViolation,
            Error::Timeout => TransportError::Timeout,
            other => TransportError::Other(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcsc_errors_map_to_the_typed_transport_errors() {
        let cases = [
            (pcsc::Error::RemovedCard, TransportError::CardRemoved),
            (pcsc::Error::NoSmartcard, TransportError::NoCard),
            (pcsc::Error::ResetCard, TransportError::CardReset),
            (pcsc::Error::ReaderUnavailable, TransportError::ReaderGone),
            (pcsc::Error::UnknownReader, TransportError::ReaderGone),
            (pcsc::Error::NoService, TransportError::ReaderGone),
            (pcsc::Error::ServiceStopped, TransportError::ReaderGone),
            (pcsc::Error::SharingViolation, TransportError::SharingViolation),
            (pcsc::Error::Timeout, TransportError::Timeout),
        ];
        for (pcsc_error, expected) in cases {
            assert_eq!(TransportError::from(Error::from(pcsc_error)), expected, "{pcsc_error:?}");
        }
    }

    #[test]
    fn only_an_unknown_context_or_a_stopped_service_is_stale() {
        assert!(Error::from(pcsc::Error::InvalidHandle).is_stale_context());
        assert!(Error::from(pcsc::Error::ServiceStopped).is_stale_context());
        assert!(Error::from(pcsc::Error::NoService).is_stale_context());
        for other in [pcsc::Error::CommError, pcsc::Error::SharingViolation, pcsc::Error::NoSmartcard] {
            assert!(!Error::from(other).is_stale_context(), "{other:?} is no reason for a new context");
        }
    }

    #[test]
    fn unlisted_pcsc_errors_keep_their_description() {
        let e = TransportError::from(Error::from(pcsc::Error::CommError));
        assert!(matches!(e, TransportError::Other(ref s) if s.contains("PC/SC")), "{e:?}");
    }
}
