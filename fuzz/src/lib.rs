//! Shared pieces of the fuzz targets: how one fuzzer input becomes a
//! sequence of APDUs, and a transport that replays fuzzer-chosen answers.
#![forbid(unsafe_code)]

use std::collections::VecDeque;

use apdu::{Transport, TransportError};

/// Splits `input` into length-prefixed chunks.
///
/// Each chunk starts with a length: a byte below `0x80` is the length
/// itself (short APDUs stay cheap to mutate); otherwise its low 7 bits and
/// the next byte form a 15-bit big-endian length, so extended-length APDUs
/// are reachable too. A length running past the end takes what is left.
pub fn split(input: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = input;
    while let Some((&first, r)) = rest.split_first() {
        rest = r;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let Some((&second, r)) = rest.split_first() else { break };
            rest = r;
            (usize::from(first & 0x7F) << 8) | usize::from(second)
        };
        let (chunk, r) = rest.split_at(len.min(rest.len()));
        out.push(chunk);
        rest = r;
    }
    out
}

/// The inverse of [`split`], for writing seeds: prefixes every chunk.
pub fn join(chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        let len = c.len().min(0x7FFF);
        if len < 0x80 {
            out.push(len as u8);
        } else {
            out.push(0x80 | (len >> 8) as u8);
            out.push(len as u8);
        }
        out.extend_from_slice(&c[..len]);
    }
    out
}

/// A card that answers with canned bytes, one answer per transmitted APDU,
/// and is "removed" once the answers run out (as a real reader reports a
/// pulled card), so every exchange terminates.
#[derive(Debug)]
pub struct ReplayCard {
    answers: VecDeque<Vec<u8>>,
    /// Every command the client sent, for assertions on what it emits.
    pub sent: Vec<Vec<u8>>,
}

impl ReplayCard {
    /// A card that will give `answers` in order.
    pub fn new<'a>(answers: impl IntoIterator<Item = &'a [u8]>) -> ReplayCard {
        ReplayCard { answers: answers.into_iter().map(<[u8]>::to_vec).collect(), sent: Vec::new() }
    }
}

impl Transport for ReplayCard {
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.sent.push(command.to_vec());
        self.answers.pop_front().ok_or(TransportError::CardRemoved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_inverts_join() {
        let long = vec![7u8; 300];
        let chunks: Vec<&[u8]> = vec![b"", b"\x00\xA4\x04\x00", &long, b"\x90\x00"];
        assert_eq!(split(&join(&chunks)), chunks);
    }

    #[test]
    fn split_truncates_the_last_chunk() {
        assert_eq!(split(&[5, 1, 2]), vec![&[1u8, 2][..]]);
        assert_eq!(split(&[0x81]), Vec::<&[u8]>::new());
    }
}
