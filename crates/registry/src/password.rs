//! Password hashing for operator accounts (Argon2id, PHC strings); the
//! checks at sign-in are [`crate::throttle`]'s.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;

use crate::error::Error;

/// Hashes a password with Argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Password(e.to_string()))
}
