use crate::{Error, Result, StatusWord};

/// A response APDU: data followed by the status word (ISO/IEC 7816-4 §5.1).
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data.
    pub data: Vec<u8>,
    /// SW1-SW2.
    pub sw: StatusWord,
}

impl std::fmt::Debug for Response {
    /// Prints lengths only: responses can carry keys and challenges.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Response({} data bytes, {})", self.data.len(), self.sw)
    }
}

impl Response {
    /// A response with data and a status word.
    pub fn new(data: Vec<u8>, sw: impl Into<StatusWord>) -> Self {
        Response { data, sw: sw.into() }
    }

    /// Parses raw response bytes (data ‖ SW1 SW2).
    pub fn parse(bytes: &[u8]) -> Result<Response> {
        if bytes.len() < 2 {
            return Err(Error::ResponseTooShort(bytes.len()));
        }
        let (data, sw) = bytes.split_at(bytes.len() - 2);
        Ok(Response { data: data.to_vec(), sw: StatusWord::from_bytes(sw[0], sw[1]) })
    }

    /// Encodes the response (the card's side).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.0.to_be_bytes());
        out
    }

    /// True for `9000`.
    pub fn is_ok(&self) -> bool {
        self.sw.is_success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_splits_status_word() {
        let r = Response::parse(&[1, 2, 0x90, 0]).unwrap();
        assert_eq!(r.data, [1, 2]);
        assert!(r.is_ok());
        assert_eq!(r.to_bytes(), [1, 2, 0x90, 0]);
        assert_eq!(Response::parse(&[0x90]), Err(Error::ResponseTooShort(1)));
    }
}
