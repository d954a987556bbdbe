//! Sign-in under attack (SPEC §7): each password check is an Argon2id run of
//! ~19 MiB, so only a few run at once (the rest wait briefly, then 429 with
//! `Retry-After`); an account or an address that keeps failing waits longer
//! after each failure and is locked for a while after too many, without any
//! password being checked meanwhile. In memory, per registry process: a
//! restart forgets the counts (the lock is a brake, not the only defence).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// How sign-in is throttled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInPolicy {
    /// Password checks running at once.
    pub concurrent_checks: usize,
    /// How long a sign-in waits for a check to be free before 429.
    pub queue_wait: Duration,
    /// Failures in a row on one account that cost nothing more.
    pub free_failures: u32,
    /// Failures in a row from one address that cost nothing more (higher:
    /// many operators may share one address behind a NAT).
    pub address_free_failures: u32,
    /// Failures in a row on one account that lock it.
    pub lock_after: u32,
    /// Failures in a row from one address that lock it.
    pub address_lock_after: u32,
    /// How long a lock lasts.
    pub lock_for: Duration,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        Self {
            concurrent_checks: 4,
            queue_wait: Duration::from_secs(2),
            free_failures: 3,
            address_free_failures: 20,
            lock_after: 10,
            address_lock_after: 50,
            lock_for: Duration::from_secs(15 * 60),
        }
    }
}

/// Why a sign-in is not even tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    /// Seconds until it may be tried again.
    pub retry_after: u64,
    /// In words.
    pub message: String,
}

/// A lock that a failure just caused (audited once, not per attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locked {
    /// This account.
    Account(String),
    /// This address.
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    not_before: Instant,
    locked_until: Option<Instant>,
    last: Instant,
}

/// The sign-in gate of one registry process.
#[derive(Debug)]
pub struct SignInGate {
    policy: SignInPolicy,
    checks: Semaphore,
    accounts: Mutex<HashMap<String, Strikes>>,
    addresses: Mutex<HashMap<IpAddr, Strikes>>,
    /// Argon2 working memory, reused: a freed 19 MiB buffer is not given
    /// back to the system by the allocator, so each check allocating its own
    /// left the process holding one per check ever run at once.
    memory: Mutex<Vec<Vec<argon2::Block>>>,
}

/// Entries kept before old ones are forgotten (bounds the maps' memory).
const MAX_TRACKED: usize = 10_000;

impl SignInGate {
    /// A gate applying `policy`.
    pub fn new(policy: SignInPolicy) -> Self {
        let checks = Semaphore::new(policy.concurrent_checks.max(1));
        Self {
            policy,
            checks,
            accounts: Mutex::default(),
            addresses: Mutex::default(),
            memory: Mutex::default(),
        }
    }

    /// Whether `password` matches the PHC string `hash`, computed in one of
    /// the gate's reused buffers (at most `concurrent_checks` are kept).
    pub fn verify_password(&self, password: &[u8], hash: &str) -> bool {
        let mut blocks = lock(&self.memory).pop().unwrap_or_default();
        let verified = verify_in(password, hash, &mut blocks);
        let mut pool = lock(&self.memory);
        if pool.len() < self.policy.concurrent_checks.max(1) {
            pool.push(blocks);
        }
        verified
    }

    /// The policy in force.
    pub fn policy(&self) -> &SignInPolicy {
        &self.policy
    }

    /// Whether `username` from `address` may try now.
    pub fn admit(&self, username: &str, address: Option<IpAddr>) -> Result<(), Throttled> {
        let now = Instant::now();
        let key = account_key(username);
        if let Some(s) = lock(&self.accounts).get(&key) {
            refuse(s, now, "this account")?;
        }
        if let Some(a) = address {
            if let Some(s) = lock(&self.addresses).get(&a) {
                refuse(s, now, "this address")?;
            }
        }
        Ok(())
    }

    /// A turn at checking a password: waits at most the policy's queue wait.
    pub async fn check_turn(&self) -> Result<SemaphorePermit<'_>, Throttled> {
        match tokio::time::timeout(self.policy.queue_wait, self.checks.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Throttled {
                retry_after: 1,
                message: "too many sign-ins at once; try again in a moment".into(),
            }),
        }
    }

    /// Counts a failed sign-in; the locks it causes now.
    pub fn failed(&self, username: &str, address: Option<IpAddr>) -> Vec<Locked> {
        let now = Instant::now();
        let mut locked = Vec::new();
        let key = account_key(username);
        let p = &self.policy;
        if strike(&mut lock(&self.accounts), key.clone(), now, p.lock_for, p.free_failures, p.lock_after) {
            locked.push(Locked::Account(key));
        }
        if let Some(a) = address {
            let (free, lock_after) = (p.address_free_failures, p.address_lock_after);
            if strike(&mut lock(&self.addresses), a, now, p.lock_for, free, lock_after) {
                locked.push(Locked::Address(a));
            }
        }
        locked
    }

    /// A successful sign-in clears the account's failures (the address keeps its own).
    pub fn succeeded(&self, username: &str) {
        lock(&self.accounts).remove(&account_key(username));
    }
}

/// Argon2 verification of `password` against the PHC string `hash`, with
/// `blocks` as working memory (grown as the hash's parameters need).
fn verify_in(password: &[u8], hash: &str, blocks: &mut Vec<argon2::Block>) -> bool {
    use argon2::password_hash::{Output, PasswordHash};
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Ok(params), Some(expected), Some(salt)) =
        (argon2::Params::try_from(&parsed), parsed.hash, parsed.salt)
    else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm) else { return false };
    let version = match parsed.version.map(argon2::Version::try_from) {
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
        None => argon2::Version::default(),
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    blocks.resize(params.block_count(), argon2::Block::default());
    let argon = argon2::Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    if argon.hash_password_into_with_memory(password, salt, &mut out, &mut blocks[..]).is_err() {
        return false;
    }
    // Output's equality is constant-time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

fn account_key(username: &str) -> String {
    username.trim().to_lowercase()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn refuse(s: &Strikes, now: Instant, whom: &str) -> Result<(), Throttled> {
    if let Some(until) = s.locked_until.filter(|u| *u > now) {
        let secs = until.duration_since(now).as_secs().max(1);
        return Err(Throttled {
            retry_after: secs,
            message: format!("too many failed sign-ins from {whom}: locked for {}", minutes(secs)),
        });
    }
    if s.not_before > now {
        let secs = s.not_before.duration_since(now).as_secs().max(1);
        return Err(Throttled {
            retry_after: secs,
            message: format!("failed sign-ins from {whom}: wait {secs} s before the next try"),
        });
    }
    Ok(())
}

fn minutes(secs: u64) -> String {
    if secs >= 60 {
        format!("{} min", secs.div_ceil(60))
    } else {
        format!("{secs} s")
    }
}

/// One more failure for `key`; whether it locked it just now.
fn strike<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, Strikes>,
    key: K,
    now: Instant,
    lock_for: Duration,
    free_failures: u32,
    lock_after: u32,
) -> bool {
    if map.len() >= MAX_TRACKED {
        let horizon = lock_for;
        map.retain(|_, s| s.locked_until.is_some_and(|u| u > now) || now.duration_since(s.last) < horizon);
    }
    let s = map.entry(key).or_insert(Strikes { failures: 0, not_before: now, locked_until: None, last: now });
    // A lock that has run out, or failures long past, start the count again.
    if s.locked_until.is_some_and(|u| u <= now)
        || (s.locked_until.is_none() && now.duration_since(s.last) > lock_for)
    {
        *s = Strikes { failures: 0, not_before: now, locked_until: None, last: now };
    }
    s.failures += 1;
    s.last = now;
    let beyond = s.failures.saturating_sub(free_failures);
    if beyond > 0 {
        // 1 s, 2 s, 4 s, … (at most a minute) before the next try.
        let delay = Duration::from_secs(1u64 << (beyond - 1).min(6)).min(Duration::from_secs(60));
        s.not_before = now + delay;
    }
    if s.failures >= lock_after && s.locked_until.is_none() {
        s.locked_until = Some(now + lock_for);
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SignInPolicy {
        SignInPolicy {
            free_failures: 2,
            lock_after: 4,
            address_free_failures: 6,
            address_lock_after: 6,
            ..SignInPolicy::default()
        }
    }

    #[test]
    fn failures_cost_more_each_time_then_lock_the_account_once() {
        let gate = SignInGate::new(policy());
        let addr: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(gate.admit("Rita", Some(addr)).is_ok());
        assert!(gate.failed("rita", Some(addr)).is_empty());
        assert!(gate.failed("RITA ", Some(addr)).is_empty(), "names compare case- and space-blind");
        assert!(gate.admit("rita", Some(addr)).is_ok(), "the free failures cost nothing");
        assert!(gate.failed("rita", Some(addr)).is_empty());
        let wait = gate.admit("rita", None).unwrap_err();
        assert_eq!(wait.retry_after, 1, "{wait:?}");
        assert_eq!(gate.failed("rita", Some(addr)), [Locked::Account("rita".into())]);
        let locked = gate.admit("rita", None).unwrap_err();
        assert!(locked.retry_after > 800 && locked.message.contains("locked"), "{locked:?}");
        assert!(gate.failed("rita", Some(addr)).is_empty(), "locked once, not per attempt");
        assert!(gate.admit("abe", None).is_ok(), "another account is not held back");
        assert_eq!(gate.failed("abe", Some(addr)), [Locked::Address(addr)], "the address's sixth failure");
        assert!(gate.admit("abe", Some(addr)).is_err() && gate.admit("abe", None).is_ok());
    }

    #[test]
    fn the_reused_memory_verifies_what_argon2_hashed() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        let hash = argon2::Argon2::default().hash_password(b"correct horse", &salt).unwrap().to_string();
        let gate = SignInGate::new(SignInPolicy::default());
        assert!(gate.verify_password(b"correct horse", &hash));
        assert!(!gate.verify_password(b"correct horsf", &hash));
        assert!(!gate.verify_password(b"correct horse", "not a PHC string"));
        assert!(gate.verify_password(b"correct horse", &hash), "again, in the reused buffer");
        assert_eq!(lock(&gate.memory).len(), 1, "one buffer kept");
    }

    #[test]
    fn success_clears_the_account() {
        let gate = SignInGate::new(policy());
        for _ in 0..3 {
            gate.failed("ivy", None);
        }
        assert!(gate.admit("ivy", None).is_err());
        gate.succeeded("ivy");
        assert!(gate.admit("ivy", None).is_ok());
    }

    #[tokio::test]
    async fn only_so_many_checks_run_at_once() {
        let gate = SignInGate::new(SignInPolicy {
            concurrent_checks: 2,
            queue_wait: Duration::from_millis(50),
            ..SignInPolicy::default()
        });
        let (a, b) = (gate.check_turn().await.unwrap(), gate.check_turn().await.unwrap());
        let third = gate.check_turn().await.unwrap_err();
        assert_eq!(third.retry_after, 1);
        drop((a, b));
        assert!(gate.check_turn().await.is_ok(), "a turn is free again");
    }
}
