/// A status word, SW1-SW2 (ISO/IEC 7816-4 §5.1.3; PIV meanings from SP 800-73-4 Part 2 §5).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

/// What a status word means to a PIV client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwKind {
    /// `9000`
    Success,
    /// `61xx`: more data waiting (0 means 256 or more).
    MoreData(u8),
    /// `6Cxx`: resend with Le = xx.
    WrongLe(u8),
    /// `63Cx` (or `630x` on a YubiKey NEO): verification failed, x tries left.
    VerificationFailed {
        /// Tries left.
        tries: u8,
    },
    /// `6983`: the reference data (PIN, PUK) is blocked.
    Blocked,
    /// `6982`: security status not satisfied (authenticate first).
    SecurityNotSatisfied,
    /// `6985`: conditions of use not satisfied.
    ConditionsNotSatisfied,
    /// `6A80`: incorrect data.
    IncorrectData,
    /// `6A81`: function not supported.
    FunctionNotSupported,
    /// `6A82`: file or application not found.
    NotFound,
    /// `6A84`: not enough memory.
    NoMemory,
    /// `6A86` or `6B00`: incorrect P1/P2.
    IncorrectP1P2,
    /// `6A88`: referenced data (key) not found.
    ReferenceNotFound,
    /// `6700`: wrong length.
    WrongLength,
    /// `6D00`: instruction not supported.
    InsNotSupported,
    /// `6E00`: class not supported.
    ClaNotSupported,
    /// Anything else.
    Other,
}

impl StatusWord {
    /// `9000`.
    pub const SUCCESS: StatusWord = StatusWord(0x9000);
    /// `6A82`.
    pub const NOT_FOUND: StatusWord = StatusWord(0x6A82);
    /// `6982`.
    pub const SECURITY_NOT_SATISFIED: StatusWord = StatusWord(0x6982);
    /// `6983`.
    pub const BLOCKED: StatusWord = StatusWord(0x6983);
    /// `6985`.
    pub const CONDITIONS_NOT_SATISFIED: StatusWord = StatusWord(0x6985);
    /// `6A80`.
    pub const INCORRECT_DATA: StatusWord = StatusWord(0x6A80);
    /// `6A81`.
    pub const FUNCTION_NOT_SUPPORTED: StatusWord = StatusWord(0x6A81);
    /// `6A84`.
    pub const NO_MEMORY: StatusWord = StatusWord(0x6A84);
    /// `6A86`.
    pub const INCORRECT_P1P2: StatusWord = StatusWord(0x6A86);
    /// `6A88`.
    pub const REFERENCE_NOT_FOUND: StatusWord = StatusWord(0x6A88);
    /// `6700`.
    pub const WRONG_LENGTH: StatusWord = StatusWord(0x6700);
    /// `6D00`.
    pub const INS_NOT_SUPPORTED: StatusWord = StatusWord(0x6D00);
    /// `6E00`.
    pub const CLA_NOT_SUPPORTED: StatusWord = StatusWord(0x6E00);

    /// From SW1 and SW2.
    pub fn from_bytes(sw1: u8, sw2: u8) -> Self {
        StatusWord(u16::from_be_bytes([sw1, sw2]))
    }

    /// `63Cx`: verification failed with x tries left.
    pub fn verification_failed(tries: u8) -> Self {
        StatusWord(0x63C0 | u16::from(tries.min(15)))
    }

    /// `61xx`.
    pub fn more_data(remaining: usize) -> Self {
        StatusWord(0x6100 | if remaining >= 256 { 0 } else { remaining as u16 })
    }

    /// SW1.
    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// SW2.
    pub fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// True for `9000`.
    pub fn is_success(self) -> bool {
        self.0 == 0x9000
    }

    /// Classifies the status word.
    pub fn kind(self) -> SwKind {
        match (self.sw1(), self.sw2()) {
            (0x90, 0x00) => SwKind::Success,
            (0x61, n) => SwKind::MoreData(n),
            (0x6C, n) => SwKind::WrongLe(n),
            (0x63, n) if n & 0xF0 == 0xC0 => SwKind::VerificationFailed { tries: n & 0x0F },
            (0x63, n) if n <= 0x0F => SwKind::VerificationFailed { tries: n },
            (0x69, 0x83) => SwKind::Blocked,
            (0x69, 0x82) => SwKind::SecurityNotSatisfied,
            (0x69, 0x85) => SwKind::ConditionsNotSatisfied,
            (0x6A, 0x80) => SwKind::IncorrectData,
            (0x6A, 0x81) => SwKind::FunctionNotSupported,
            (0x6A, 0x82) => SwKind::NotFound,
            (0x6A, 0x84) => SwKind::NoMemory,
            (0x6A, 0x86) | (0x6B, 0x00) => SwKind::IncorrectP1P2,
            (0x6A, 0x88) => SwKind::ReferenceNotFound,
            (0x67, 0x00) => SwKind::WrongLength,
            (0x6D, 0x00) => SwKind::InsNotSupported,
            (0x6E, 0x00) => SwKind::ClaNotSupported,
            _ => SwKind::Other,
        }
    }
}

impl From<u16> for StatusWord {
    fn from(v: u16) -> Self {
        StatusWord(v)
    }
}

impl std::fmt::Display for StatusWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl std::fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SW {:04X} ({:?})", self.0, self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_piv_status_words() {
        assert_eq!(StatusWord(0x63C2).kind(), SwKind::VerificationFailed { tries: 2 });
        assert_eq!(StatusWord(0x6302).kind(), SwKind::VerificationFailed { tries: 2 }, "NEO form");
        assert_eq!(StatusWord(0x6983).kind(), SwKind::Blocked);
        assert_eq!(StatusWord(0x6B00).kind(), SwKind::IncorrectP1P2);
        assert_eq!(StatusWord(0x6110).kind(), SwKind::MoreData(0x10));
        assert_eq!(StatusWord(0x6F00).kind(), SwKind::Other);
        assert_eq!(StatusWord::verification_failed(3), StatusWord(0x63C3));
        assert_eq!(StatusWord::more_data(300), StatusWord(0x6100));
    }
}
