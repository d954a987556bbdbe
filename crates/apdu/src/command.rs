use crate::{Error, Result};

/// A command APDU (ISO/IEC 7816-4 §5.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte; bit 0x10 marks "more blocks of a chained command follow".
    pub cla: u8,
    /// Instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (Lc is derived from its length).
    pub data: Vec<u8>,
    /// Expected response length: `None` sends no Le (as yubico-piv-tool
    /// does); `Some(256)` is the short-APDU "any length" value `00`.
    pub le: Option<usize>,
}

/// Command data may be a PIN, a PUK or a management-key response: every
/// copy is wiped when it is dropped.
impl Drop for Command {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.data);
    }
}

impl std::fmt::Debug for Command {
    /// Prints the header and lengths only: command data can carry PINs and keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Command({:02X} {:02X} {:02X} {:02X}, {} data bytes, le {:?})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

impl Command {
    /// A command with no data and no Le.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Command { cla, ins, p1, p2, data: Vec::new(), le: None }
    }

    /// Sets the command data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Sets Le.
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// True when the command needs the extended length encoding.
    pub fn is_extended(&self) -> bool {
        self.data.len() > 255 || self.le.is_some_and(|le| le > 256)
    }

    /// Encodes the command: short form when it fits, extended otherwise
    /// (ISO/IEC 7816-4 §5.1, cases 1–4S/2E–4E).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(7 + self.data.len() + 3);
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if self.data.len() > 65535 {
            return Err(Error::BadCommand("data longer than 65535 bytes"));
        }
        if let Some(le) = self.le {
            if le == 0 || le > 65536 {
                return Err(Error::BadCommand("Le must be 1..=65536"));
            }
        }
        if !self.is_extended() {
            if !self.data.is_empty() {
                out.push(self.data.len() as u8);
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                out.push(if le == 256 { 0 } else { le as u8 });
            }
        } else {
            out.push(0);
            if !self.data.is_empty() {
                out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
                out.extend_from_slice(&self.data);
            }
            if let Some(le) = self.le {
                let enc = if le == 65536 { 0u16 } else { le as u16 };
                out.extend_from_slice(&enc.to_be_bytes());
            }
        }
        Ok(out)
    }

    /// Parses a command APDU (the card's side). Accepts short and extended forms.
    pub fn parse(bytes: &[u8]) -> Result<Command> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(Error::BadCommand("fewer than 4 header bytes"));
        };
        let mut cmd = Command::new(*cla, *ins, *p1, *p2);
        match body {
            [] => {}
            [le] => cmd.le = Some(if *le == 0 { 256 } else { *le as usize }),
            [0, rest @ ..] if rest.len() >= 2 => {
                // Extended: either Le only (2 bytes), or Lc (2) + data [+ Le (2)].
                let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                let after = &rest[2..];
                if after.is_empty() {
                    cmd.le = Some(if n == 0 { 65536 } else { n });
                } else if after.len() == n {
                    cmd.data = after.to_vec();
                } else if after.len() == n + 2 {
                    cmd.data = after[..n].to_vec();
                    let le = u16::from_be_bytes([after[n], after[n + 1]]) as usize;
                    cmd.le = Some(if le == 0 { 65536 } else { le });
                } else {
                    return Err(Error::BadCommand("extended length does not match the body"));
                }
            }
            [lc, rest @ ..] => {
                let n = *lc as usize;
                if rest.len() == n {
                    cmd.data = rest.to_vec();
                } else if rest.len() == n + 1 {
                    cmd.data = rest[..n].to_vec();
                    let le = rest[n];
                    cmd.le = Some(if le == 0 { 256 } else { le as usize });
                } else {
                    return Err(Error::BadCommand("Lc does not match the body"));
                }
            }
        }
        Ok(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_encode_to_golden_bytes() {
        let select = Command::new(0, 0xA4, 4, 0).with_data(vec![0xA0, 0, 0, 3, 8]).with_le(256);
        assert_eq!(select.to_bytes().unwrap(), [0, 0xA4, 4, 0, 5, 0xA0, 0, 0, 3, 8, 0]);
        let verify_query = Command::new(0, 0x20, 0, 0x80);
        assert_eq!(verify_query.to_bytes().unwrap(), [0, 0x20, 0, 0x80]);
        let get_response = Command::new(0, 0xC0, 0, 0).with_le(0x10);
        assert_eq!(get_response.to_bytes().unwrap(), [0, 0xC0, 0, 0, 0x10]);
    }

    #[test]
    fn extended_form_is_used_for_long_data() {
        let cmd = Command::new(0, 0xDB, 0x3F, 0xFF).with_data(vec![0xAB; 300]).with_le(65536);
        let bytes = cmd.to_bytes().unwrap();
        assert_eq!(&bytes[..7], &[0, 0xDB, 0x3F, 0xFF, 0, 0x01, 0x2C]);
        assert_eq!(&bytes[bytes.len() - 2..], &[0, 0]);
        assert_eq!(Command::parse(&bytes).unwrap(), cmd);
    }

    #[test]
    fn parse_round_trips_every_case() {
        for cmd in [
            Command::new(0, 1, 2, 3),
            Command::new(0, 1, 2, 3).with_le(256),
            Command::new(0, 1, 2, 3).with_data(vec![1, 2, 3]),
            Command::new(0x10, 1, 2, 3).with_data(vec![9; 255]).with_le(17),
            Command::new(0, 1, 2, 3).with_le(1000),
        ] {
            assert_eq!(Command::parse(&cmd.to_bytes().unwrap()).unwrap(), cmd);
        }
    }

    #[test]
    fn parse_rejects_inconsistent_lengths() {
        assert!(Command::parse(&[0, 1, 2]).is_err());
        assert!(Command::parse(&[0, 1, 2, 3, 5, 1, 2]).is_err());
        assert!(Command::parse(&[0, 1, 2, 3, 0, 0, 5, 1]).is_err());
    }

    #[test]
    fn debug_never_prints_data() {
        let cmd = Command::new(0, 0x20, 0, 0x80).with_data(b"123456\xff\xff".to_vec());
        assert!(!format!("{cmd:?}").contains("31"), "PIN bytes must not be printed");
    }
}
