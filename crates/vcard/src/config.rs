//! How a virtual card is made: its identity, its flavour, and the timing and
//! fault models that make it behave like a physical card in a reader.

use std::time::Duration;

use piv::ManagementKeyAlgorithm;
use serde::{Deserialize, Serialize};

/// Which card the simulator imitates beyond the SP 800-73-4 command set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Flavour {
    /// A YubiKey 5 (firmware 5.4.3): answers the vendor instructions FD
    /// (version), F8 (serial), F7 (metadata), FF (set management key), FA (set
    /// retries), FB (reset) and FE (import), so tools that need them work.
    #[default]
    YubiKey,
    /// Plain PIV stock (e.g. an Idemia or Thales card): every vendor
    /// instruction is answered `6D00`, which clients must cope with.
    Generic,
}

impl std::str::FromStr for Flavour {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "yubikey" => Ok(Flavour::YubiKey),
            "generic" => Ok(Flavour::Generic),
            _ => Err(format!("unknown card flavour {s:?} (expected yubikey or generic)")),
        }
    }
}

/// Everything that defines a new card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardConfig {
    /// The serial number the card reports (YubiKey `F8`); makes each card unique.
    pub serial: u32,
    /// Which vendor extensions the card answers.
    pub flavour: Flavour,
    /// The algorithm of the factory management key (3DES before YubiKey 5.7,
    /// AES-192 from 5.7 on); the key bytes are always the well-known default.
    pub management_key_algorithm: ManagementKeyAlgorithm,
    /// Timing model; `None` answers as fast as the host computes.
    pub latency: Option<Latency>,
    /// Faults to inject (removal, corruption); none by default.
    pub faults: Faults,
}

impl CardConfig {
    /// A YubiKey-flavoured card with the 3DES default management key, no
    /// simulated latency and no faults.
    pub fn new(serial: u32) -> Self {
        CardConfig {
            serial,
            flavour: Flavour::YubiKey,
            management_key_algorithm: ManagementKeyAlgorithm::TripleDes,
            latency: None,
            faults: Faults::default(),
        }
    }

    /// Sets the flavour.
    pub fn with_flavour(mut self, flavour: Flavour) -> Self {
        self.flavour = flavour;
        self
    }

    /// Sets the factory management key algorithm.
    pub fn with_management_key_algorithm(mut self, algorithm: ManagementKeyAlgorithm) -> Self {
        self.management_key_algorithm = algorithm;
        self
    }

    /// Sets the timing model.
    pub fn with_latency(mut self, latency: Latency) -> Self {
        self.latency = Some(latency);
        self
    }

    /// Sets the faults.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }
}

/// How a corrupted response is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Corruption {
    /// Every data byte is inverted (or SW1 when there is no data): the
    /// status word looks plausible but the payload is garbage, as after a
    /// line error that the transport's checksums missed.
    #[default]
    FlipData,
    /// Only the first `n` bytes arrive (n = 0 or 1 leaves no status word).
    Truncate(usize),
}

/// Faults injected into the link between host and card.
///
/// APDUs are counted from the card's insertion (index 0 is the first command
/// after insertion; vpcd control messages and ATR polls are not counted).
/// A fault fires once and is then disarmed, unless `repeat` is set, in which
/// case it fires again after every re-insertion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Faults {
    /// Tear (remove the card) at the APDU with this index, i.e. after this
    /// many APDUs were answered. With `tear_at_ins` too, the tear happens at
    /// the first command with that INS from this index on.
    pub tear_after_apdus: Option<u64>,
    /// Tear at the first command with this instruction byte.
    pub tear_at_ins: Option<u8>,
    /// When tearing: `false` pulls the card before the command executes (the
    /// command has no effect); `true` executes it and loses the response
    /// (the card changed but the host cannot know). Both happen with real
    /// readers, depending on when the contacts break.
    pub tear_after_execution: bool,
    /// Damage the response to the APDU with this index.
    pub corrupt_response_at: Option<u64>,
    /// How the response is damaged.
    pub corruption: Corruption,
    /// Keep the faults armed after they fired.
    pub repeat: bool,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Faults::default()
    }

    /// A card that is pulled out when the APDU with index `n` arrives, before executing it.
    pub fn tear_after(n: u64) -> Self {
        Faults { tear_after_apdus: Some(n), ..Faults::default() }
    }

    /// A card that is pulled out at the first command with instruction `ins`, before executing it.
    pub fn tear_at(ins: u8) -> Self {
        Faults { tear_at_ins: Some(ins), ..Faults::default() }
    }

    /// Makes tears happen after the command was executed (its response is lost).
    pub fn after_execution(mut self) -> Self {
        self.tear_after_execution = true;
        self
    }

    /// True when any fault is armed.
    pub fn is_armed(&self) -> bool {
        self.tear_after_apdus.is_some() || self.tear_at_ins.is_some() || self.corrupt_response_at.is_some()
    }
}

/// Timing model of a card in a reader.
///
/// The card sleeps inside [`crate::Card::process`] until the modelled time
/// has passed (time the host really spent computing counts towards it), so
/// wall-clock behaviour — progress bars, timeouts, the cost of extra APDUs —
/// is realistic. Total time per APDU is `per_apdu + per_byte × (bytes in +
/// bytes out) + the operation's own cost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    /// Fixed cost of one command/response round trip (reader, T=1 block
    /// framing, card OS dispatch).
    pub per_apdu: Duration,
    /// Transfer time of one byte on the contact interface.
    pub per_byte: Duration,
    /// On-card RSA-2048 key generation.
    pub generate_rsa2048: Duration,
    /// On-card P-256 key generation.
    pub generate_p256: Duration,
    /// On-card P-384 key generation.
    pub generate_p384: Duration,
    /// One RSA-2048 private-key operation.
    pub sign_rsa2048: Duration,
    /// One ECDSA signature or ECDH agreement.
    pub sign_ecc: Duration,
    /// Each management-key GENERAL AUTHENTICATE step (block cipher + RNG).
    pub management_auth: Duration,
    /// Writing data objects to non-volatile memory, per KiB written.
    pub put_data_per_kb: Duration,
}

impl Latency {
    /// Figures of a typical contact PIV card in a USB CCID reader.
    ///
    /// Reasoning behind each figure (these are engineering estimates, not
    /// measurements of one product):
    /// - `per_byte` 90 µs: T=1 after a PPS to about 115 kbit/s is ~10 bits
    ///   per byte including guard time, i.e. ~87 µs; CCID framing adds a little.
    /// - `per_apdu` 8 ms: a USB CCID round trip (two bulk transfers) costs
    ///   1–3 ms, T=1 block exchange plus the card OS dispatching a command
    ///   another few milliseconds; simple commands (SELECT, GET DATA on a
    ///   small object, VERIFY) on real cards typically take 5–20 ms.
    /// - `generate_rsa2048` 6 s: prime search on a secure microcontroller is
    ///   slow and highly variable, commonly several seconds up to tens of
    ///   seconds; 6 s is a middle value.
    /// - `generate_p256` 150 ms, `generate_p384` 300 ms: one scalar
    ///   multiplication on the crypto coprocessor plus key storage; ECC
    ///   keygen on PIV tokens is perceived as near-instant (100–200 ms for
    ///   P-256, roughly double for P-384).
    /// - `sign_rsa2048` 350 ms: a CRT private-key operation on a card
    ///   coprocessor, commonly 300–500 ms on contact PIV cards.
    /// - `sign_ecc` 75 ms: ECDSA P-256 is typically 50–100 ms on card.
    /// - `management_auth` 20 ms: a block cipher operation and an 8/16-byte
    ///   random number are cheap; this is mostly command dispatch.
    /// - `put_data_per_kb` 50 ms: EEPROM/flash page writes of a few ms per
    ///   64-byte page, i.e. tens of milliseconds per KiB (a certificate of
    ///   ~1 KiB costs a noticeable fraction of a second with transfer time).
    pub fn contact_card() -> Latency {
        Latency {
            per_apdu: Duration::from_millis(8),
            per_byte: Duration::from_micros(90),
            generate_rsa2048: Duration::from_secs(6),
            generate_p256: Duration::from_millis(150),
            generate_p384: Duration::from_millis(300),
            sign_rsa2048: Duration::from_millis(350),
            sign_ecc: Duration::from_millis(75),
            management_auth: Duration::from_millis(20),
            put_data_per_kb: Duration::from_millis(50),
        }
    }

    /// Every cost zero (useful as a base to set single figures in tests).
    pub fn zero() -> Latency {
        Latency {
            per_apdu: Duration::ZERO,
            per_byte: Duration::ZERO,
            generate_rsa2048: Duration::ZERO,
            generate_p256: Duration::ZERO,
            generate_p384: Duration::ZERO,
            sign_rsa2048: Duration::ZERO,
            sign_ecc: Duration::ZERO,
            management_auth: Duration::ZERO,
            put_data_per_kb: Duration::ZERO,
        }
    }
}
