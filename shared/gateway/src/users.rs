//! How users appear in logs.

/// The user as logs show it: a keyed HMAC-SHA256 of the user id (96 bits, hex), so log readers
/// can follow one user's requests without learning who it is, and an email cannot be found by
/// hashing guesses without the key.
pub struct UserHasher(aws_lc_rs::hmac::Key);

impl UserHasher {
    /// A hasher with a configured key (`CHATKIT_USER_HASH_KEY`): stable across containers.
    pub fn new(key: &[u8]) -> Self {
        Self(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key))
    }

    /// A hasher with a random key: hashes are stable only within this process.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        aws_lc_rs::rand::fill(&mut key).expect("the system random source works");
        Self::new(&key)
    }

    /// The log form of `user`.
    pub fn hash(&self, user: &str) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.0, user.as_bytes());
        tag.as_ref()[..12].iter().map(|b| format!("{b:02x}")).collect()
    }
}
