use crate::{Command, Error, Response, Result, StatusWord, SwKind, TransportError};

/// The largest response [`exchange`] accepts. A PIV object is at most a few
/// KiB; anything far larger is a misbehaving card, not data to keep reading.
pub const MAX_RESPONSE_LEN: usize = 16 * 1024;

/// Short-APDU block size used for command chaining (ISO/IEC 7816-4 §5.1.1.1).
const CHAIN_BLOCK: usize = 255;

/// Moves one raw APDU to the card and its raw response back.
///
/// Implemented by the PC/SC reader, the in-process virtual card and test
/// doubles. It knows nothing of chaining or `61xx`: [`exchange`] does that.
pub trait Transport {
    /// Sends one command APDU and returns the response APDU (data ‖ SW1 SW2).
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command)
    }
}

impl<T: Transport + ?Sized> Transport for Box<T> {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit(command)
    }
}

/// Sends `command` the way every PIV client must:
///
/// - data over 255 bytes goes out as a chain of short blocks, CLA | `10` on
///   all but the last, each of which must be answered `9000`;
/// - `61xx` answers are followed by GET RESPONSE until the data is complete;
/// - a `6Cxx` answer is resent once with Le = xx.
///
/// Status words other than these are returned to the caller to interpret.
pub fn exchange<T: Transport + ?Sized>(transport: &mut T, command: &Command) -> Result<Response> {
    let mut last = command.clone();
    if command.data.len() > CHAIN_BLOCK {
        let blocks: Vec<&[u8]> = command.data.chunks(CHAIN_BLOCK).collect();
        let (final_block, leading) = blocks.split_last().ok_or(Error::BadCommand("empty chain"))?;
        for block in leading {
            let part = Command {
                cla: command.cla | 0x10,
                ins: command.ins,
                p1: command.p1,
                p2: command.p2,
                data: block.to_vec(),
                le: None,
            };
            let response = transmit(transport, &part)?;
            if !response.is_ok() {
                return Err(Error::ChainingRefused(response.sw));
            }
        }
        last.data = final_block.to_vec();
    }

    let mut response = transmit(transport, &last)?;
    if let SwKind::WrongLe(n) = response.sw.kind() {
        last.le = Some(if n == 0 { 256 } else { n as usize });
        response = transmit(transport, &last)?;
        if matches!(response.sw.kind(), SwKind::WrongLe(_)) {
            return Err(Error::WrongLengthLoop);
        }
    }

    let mut data = std::mem::take(&mut response.data);
    let mut sw = response.sw;
    while let SwKind::MoreData(n) = sw.kind() {
        let get_response =
            Command::new(command.cla & !0x10, 0xC0, 0, 0).with_le(if n == 0 { 256 } else { n as usize });
        let next = transmit(transport, &get_response)?;
        data.extend_from_slice(&next.data);
        if data.len() > MAX_RESPONSE_LEN {
            return Err(Error::ResponseTooLong { limit: MAX_RESPONSE_LEN });
        }
        sw = next.sw;
    }
    if data.len() > MAX_RESPONSE_LEN {
        return Err(Error::ResponseTooLong { limit: MAX_RESPONSE_LEN });
    }
    Ok(Response { data, sw })
}

fn transmit<T: Transport + ?Sized>(transport: &mut T, command: &Command) -> Result<Response> {
    // The encoded command may carry a PIN, PUK or key: wiped once sent.
    let bytes = zeroize::Zeroizing::new(command.to_bytes()?);
    let raw = zeroize::Zeroizing::new(transport.transmit(&bytes)?);
    Response::parse(&raw)
}

impl From<StatusWord> for Response {
    fn from(sw: StatusWord) -> Self {
        Response { data: Vec::new(), sw }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Replays canned answers and records what was sent.
    struct Script {
        answers: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl Transport for Script {
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
            self.sent.push(command.to_vec());
            self.answers.pop_front().ok_or(TransportError::CardRemoved)
        }
    }

    fn script(answers: &[&[u8]]) -> Script {
        Script { answers: answers.iter().map(|a| a.to_vec()).collect(), sent: Vec::new() }
    }

    #[test]
    fn long_data_is_chained_in_255_byte_blocks() {
        let mut t = script(&[&[0x90, 0], &[0x90, 0], &[0x90, 0]]);
        let cmd = Command::new(0, 0xDB, 0x3F, 0xFF).with_data(vec![7u8; 600]);
        let r = exchange(&mut t, &cmd).unwrap();
        assert!(r.is_ok());
        assert_eq!(t.sent.len(), 3);
        assert_eq!(&t.sent[0][..5], &[0x10, 0xDB, 0x3F, 0xFF, 0xFF]);
        assert_eq!(&t.sent[1][..5], &[0x10, 0xDB, 0x3F, 0xFF, 0xFF]);
        assert_eq!(&t.sent[2][..5], &[0x00, 0xDB, 0x3F, 0xFF, 90], "last block clears the chain bit");
    }

    #[test]
    fn refused_chain_block_stops_the_chain() {
        let mut t = script(&[&[0x69, 0x82]]);
        let cmd = Command::new(0, 0xDB, 0x3F, 0xFF).with_data(vec![7u8; 300]);
        assert_eq!(exchange(&mut t, &cmd), Err(Error::ChainingRefused(StatusWord(0x6982))));
        assert_eq!(t.sent.len(), 1);
    }

    #[test]
    fn more_data_is_collected_with_get_response() {
        let mut t = script(&[&[1, 2, 0x61, 0x02], &[3, 4, 0x61, 0x01], &[5, 0x90, 0]]);
        let r = exchange(&mut t, &Command::new(0, 0xCB, 0x3F, 0xFF)).unwrap();
        assert_eq!(r.data, [1, 2, 3, 4, 5]);
        assert_eq!(t.sent[1], [0, 0xC0, 0, 0, 2]);
        assert_eq!(t.sent[2], [0, 0xC0, 0, 0, 1]);
    }

    #[test]
    fn wrong_le_is_retried_once_with_the_given_length() {
        let mut t = script(&[&[0x6C, 0x03], &[9, 9, 9, 0x90, 0]]);
        let r = exchange(&mut t, &Command::new(0, 0xCA, 0, 0).with_le(256)).unwrap();
        assert_eq!(r.data, [9, 9, 9]);
        assert_eq!(t.sent[1], [0, 0xCA, 0, 0, 3]);
        let mut looping = script(&[&[0x6C, 0x03], &[0x6C, 0x04]]);
        assert_eq!(exchange(&mut looping, &Command::new(0, 0xCA, 0, 0)), Err(Error::WrongLengthLoop));
    }

    #[test]
    fn endless_more_data_is_cut_off() {
        struct Endless;
        impl Transport for Endless {
            fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, TransportError> {
                let mut v = vec![0u8; 256];
                v.extend_from_slice(&[0x61, 0x00]);
                Ok(v)
            }
        }
        let r = exchange(&mut Endless, &Command::new(0, 0xCB, 0x3F, 0xFF));
        assert_eq!(r, Err(Error::ResponseTooLong { limit: MAX_RESPONSE_LEN }));
    }

    #[test]
    fn transport_errors_and_short_answers_are_typed() {
        let mut empty = script(&[]);
        assert_eq!(
            exchange(&mut empty, &Command::new(0, 0xA4, 4, 0)),
            Err(Error::Transport(TransportError::CardRemoved))
        );
        let mut short = script(&[&[0x90]]);
        assert_eq!(exchange(&mut short, &Command::new(0, 0xA4, 4, 0)), Err(Error::ResponseTooShort(1)));
    }
}
