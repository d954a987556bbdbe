use crate::StatusWord;

/// Result of the APDU layer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the link to the card failed (raised by a [`crate::Transport`]).
///
/// These are the conditions an operator must be told about in plain words:
/// each is distinct because each has a different remedy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The card left the reader (pulled, or the virtual card disconnected).
    #[error("the card was removed from the reader")]
    CardRemoved,
    /// Another application reset the card: every PIN and key authentication is gone.
    #[error("the card was reset by another application; authentication state was lost")]
    CardReset,
    /// The reader itself disappeared (unplugged, or the PC/SC service stopped).
    #[error("the reader is no longer available")]
    ReaderGone,
    /// Another application holds the card exclusively.
    #[error("the card is in use by another application")]
    SharingViolation,
    /// No card is present in the reader.
    #[error("no card in the reader")]
    NoCard,
    /// The card did not answer in time.
    #[error("the card did not answer in time")]
    Timeout,
    /// Any other failure of the link, with the underlying description.
    #[error("card communication failed: {0}")]
    Other(String),
}

/// Errors of the APDU layer: bad bytes from the card, or a failed link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A response shorter than the two status bytes.
    #[error("the card answered {0} byte(s), fewer than a status word")]
    ResponseTooShort(usize),
    /// A command that cannot be encoded (e.g. data longer than extended APDUs allow).
    #[error("command cannot be encoded: {0}")]
    BadCommand(&'static str),
    /// The card sent more response data than any PIV object may hold.
    #[error("the card's response exceeds {limit} bytes")]
    ResponseTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The card refused a block of a chained command.
    #[error("the card refused a chained block with status {0}")]
    ChainingRefused(StatusWord),
    /// The card kept asking to resend with a different length.
    #[error("the card kept changing the expected length (6Cxx loop)")]
    WrongLengthLoop,
    /// A TLV structure was malformed.
    #[error("malformed TLV: {0}")]
    Tlv(&'static str),
}
