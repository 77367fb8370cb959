//! Sealed boxes: how a token crosses from one job to another.
//!
//! The format is libsodium's `crypto_box_seal` (the one GitHub's secrets API uses): an
//! ephemeral X25519 public key (32 bytes), then the XSalsa20-Poly1305 ciphertext, whose
//! 16-byte tag makes a box at least 48 bytes long. Anyone with the recipient's public key can
//! seal, and only the holder of the secret key can open. Boxes are interchangeable with
//! libsodium's in both directions: `tests/seal_interop.rs` checks that against libsodium itself.
//!
//! Errors never carry any part of a key, a box or a plaintext, only lengths, and read as the
//! end of a sentence that starts with the input's name: "input `seal-key`: {error}".

use crypto_box::aead::rand_core::{self, CryptoRng, RngCore};
use crypto_box::aead::OsRng;
use crypto_box::{PublicKey, SecretKey, KEY_SIZE, SEALBYTES};
use std::fmt;
use zeroize::Zeroizing;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use crate::secret::Secret;

/// Why a key or a box was refused. No variant holds key, box or plaintext bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("is not valid base64 (expected the standard or URL-safe alphabet)")]
    NotBase64,
    #[error("is not a sealing key: expected 32 bytes, got {got} bytes after base64 decoding")]
    WrongKeyLength { got: usize },
    #[error(
        "is not a usable public key: it is a low-order point, to which anything sealed could be \
         opened by anyone (libsodium refuses it too)"
    )]
    LowOrderPublicKey,
    #[error(
        "is too short to be a sealed box: got {got} bytes after base64 decoding, \
         a sealed box has at least 48"
    )]
    BoxTooShort { got: usize },
    #[error(
        "does not open with this key: it was sealed to a different public key, \
         or it was altered after sealing"
    )]
    DoesNotOpen,
    #[error("opened, but the sealed value ({len} bytes) is not UTF-8 text")]
    NotUtf8 { len: usize },
    #[error("could not be sealed: the operating system's random number generator failed")]
    NoRandomness,
    #[error("could not be sealed: encryption failed")]
    SealFailed,
}

/// A recipient's 32-byte X25519 public key: what `seal` needs.
#[derive(Clone, PartialEq, Eq)]
pub struct SealPublicKey(PublicKey);

impl SealPublicKey {
    /// Parses a base64 public key (see [`decode_lenient`] for the forms accepted).
    ///
    /// Refuses the few low-order points, exactly as libsodium's `crypto_box_seal` does: sealing
    /// to one gives an all-zero shared secret, so the box would open for anyone. An all-zero
    /// placeholder key ("AAAA…=") is the realistic way to get here.
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let bytes = decode_lenient(text)?;
        let bytes: [u8; KEY_SIZE] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::WrongKeyLength { got: bytes.len() })?;
        if is_low_order(&bytes) {
            return Err(SealError::LowOrderPublicKey);
        }
        Ok(SealPublicKey(PublicKey::from_bytes(bytes)))
    }

    /// Standard base64 with padding, the form GitHub's API and libsodium tools print.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.as_bytes())
    }
}

impl fmt::Debug for SealPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A public key is not a secret; showing it helps tell keys apart.
        write!(f, "SealPublicKey({})", self.to_base64())
    }
}

/// A recipient's 32-byte X25519 secret key: what `open` needs. Wiped on drop; `Debug` prints
/// `***`.
pub struct SealSecretKey(Box<SecretKey>);

impl SealSecretKey {
    /// Parses a base64 secret key (see [`decode_lenient`] for the forms accepted). Every copy of
    /// the decoded bytes made here is wiped.
    pub fn from_base64(text: &Secret) -> Result<Self, SealError> {
        let bytes = decode_lenient(text.expose())?;
        if bytes.len() != KEY_SIZE {
            return Err(SealError::WrongKeyLength { got: bytes.len() });
        }
        let mut array = Zeroizing::new([0u8; KEY_SIZE]);
        array.copy_from_slice(&bytes);
        Ok(SealSecretKey(Box::new(SecretKey::from_bytes(*array))))
    }

    pub fn public_key(&self) -> SealPublicKey {
        SealPublicKey(self.0.public_key())
    }

    /// Standard base64 with padding.
    pub fn to_base64(&self) -> Secret {
        let bytes = Zeroizing::new(self.0.to_bytes());
        // `Secret::new` takes the `String` as it is, so no unwiped copy is left behind.
        Secret::new(STANDARD.encode(*bytes))
    }
}

impl Drop for SealSecretKey {
    fn drop(&mut self) {
        // crypto_box 0.9.1's `SecretKey` wipes its scalar on drop but not the raw key bytes it
        // also keeps, and those fields are private. Assigning a zero key in place drops the old
        // value (wiping its scalar) and overwrites its bytes; `black_box` keeps the compiler
        // from treating that store as dead. It is best effort, as anything without `unsafe`
        // (or the crate's own cooperation) has to be.
        *self.0 = SecretKey::from_bytes([0u8; KEY_SIZE]);
        std::hint::black_box(&*self.0);
    }
}

impl fmt::Debug for SealSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealSecretKey(***)")
    }
}

/// A fresh key pair from the operating system's random number generator; its failure is an
/// error rather than a panic.
pub fn generate_keypair() -> Result<(SealPublicKey, SealSecretKey), SealError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = Zeroizing::new([0u8; KEY_SIZE]);
    ring::rand::SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| SealError::NoRandomness)?;
    let secret = SealSecretKey(Box::new(SecretKey::from_bytes(*bytes)));
    Ok((secret.public_key(), secret))
}

/// Seals `plaintext` to `recipient` with a fresh ephemeral key, as libsodium's
/// `crypto_box_seal` does, and returns the box as standard base64 with padding.
pub fn seal(plaintext: &Secret, recipient: &SealPublicKey) -> Result<String, SealError> {
    let mut rng = CheckedOsRng::default();
    let sealed = recipient
        .0
        .seal(&mut rng, plaintext.expose().as_bytes())
        .map_err(|_| SealError::SealFailed)?;
    if rng.failed {
        // The ephemeral key may not be random: throw the box away.
        return Err(SealError::NoRandomness);
    }
    Ok(STANDARD.encode(sealed))
}

/// Opens a base64 sealed box (see [`decode_lenient`] for the forms accepted) with `key`.
pub fn open(sealed_base64: &str, key: &SealSecretKey) -> Result<Secret, SealError> {
    let sealed = decode_lenient(sealed_base64)?;
    if sealed.len() < SEALBYTES {
        return Err(SealError::BoxTooShort { got: sealed.len() });
    }
    // Poly1305 cannot tell a wrong key from an altered box, so neither can we.
    let plaintext = Zeroizing::new(key.0.unseal(&sealed).map_err(|_| SealError::DoesNotOpen)?);
    let text = std::str::from_utf8(&plaintext).map_err(|_| SealError::NotUtf8 {
        len: plaintext.len(),
    })?;
    Ok(Secret::new(text))
}

/// Standard alphabet, with or without padding.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// URL-safe alphabet, with or without padding.
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes base64 the way people hand keys and boxes over, into memory that is wiped.
///
/// - ASCII whitespace anywhere is ignored: around the value because keys get pasted with a
///   trailing newline, inside it because `base64` and `openssl base64` wrap at 76 and 64
///   columns.
/// - What we print is standard base64 with padding (GitHub's API and libsodium tools use it),
///   but the URL-safe alphabet and missing padding are accepted too: Python's
///   `urlsafe_b64encode`, JWK and many CLIs produce them. This cannot mis-decode: the two
///   alphabets differ only in `+/` versus `-_`, so a string decodes under at most one of them,
///   and padding carries no information. Non-canonical trailing bits are still refused.
fn decode_lenient(text: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
    // Built with its final capacity so that no unwiped reallocation is left behind.
    let mut compact = Zeroizing::new(String::with_capacity(text.len()));
    compact.extend(text.chars().filter(|c| !c.is_ascii_whitespace()));
    let engine = if compact.contains(['-', '_']) {
        &URL_SAFE_LENIENT
    } else {
        &STANDARD_LENIENT
    };
    let mut decoded = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(compact.len())]);
    // The engine's error names the offending character, which may be part of a key: drop it.
    let len = engine
        .decode_slice(compact.as_bytes(), &mut decoded[..])
        .map_err(|_| SealError::NotBase64)?;
    decoded.truncate(len);
    Ok(decoded)
}

/// The X25519 points whose multiples are all-zero, as libsodium lists them in
/// `crypto_scalarmult/curve25519/ref10/x25519_ref10.c`: 0 and 1 (and their non-canonical
/// forms p and p + 1), p − 1, and the two points of order 8. X25519 ignores bit 255, so the
/// comparison does too.
const LOW_ORDER_POINTS: [[u8; KEY_SIZE]; 7] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    p_plus(-1),
    p_plus(0),
    p_plus(1),
];

/// The little-endian encoding of 2^255 − 19 + `delta`, for small `delta`.
const fn p_plus(delta: i8) -> [u8; KEY_SIZE] {
    let mut bytes = [0xff; KEY_SIZE];
    bytes[0] = (0xed_i16 + delta as i16) as u8;
    bytes[31] = 0x7f;
    bytes
}

fn is_low_order(point: &[u8; KEY_SIZE]) -> bool {
    LOW_ORDER_POINTS
        .iter()
        .any(|low| low[..31] == point[..31] && low[31] == point[31] & 0x7f)
}

/// `OsRng` that records a failure instead of panicking, so `seal` can return an error.
/// After a failure the bytes it handed out are not random, and `seal` discards the box.
#[derive(Default)]
struct CheckedOsRng {
    failed: bool,
}

impl RngCore for CheckedOsRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        if OsRng.try_fill_bytes(dest).is_err() {
            self.failed = true;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        OsRng
            .try_fill_bytes(dest)
            .inspect_err(|_| self.failed = true)
    }
}

impl CryptoRng for CheckedOsRng {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A fixed key pair for the table tests (the all-0x07 secret key).
    fn fixed_secret() -> SealSecretKey {
        SealSecretKey(Box::new(SecretKey::from_bytes([7; KEY_SIZE])))
    }

    #[test]
    fn decode_lenient_accepts_the_forms_people_paste() {
        // These bytes encode with '+' and '/' (standard) or '-' and '_' (URL-safe), and need
        // padding.
        let bytes = b"hello?>\xfb\xff\xfb";
        let cases: &[(&str, &str)] = &[
            ("standard, padded", "aGVsbG8/Pvv/+w=="),
            ("standard, unpadded", "aGVsbG8/Pvv/+w"),
            ("URL-safe, padded", "aGVsbG8_Pvv_-w=="),
            ("URL-safe, unpadded", "aGVsbG8_Pvv_-w"),
            ("trailing newline", "aGVsbG8/Pvv/+w==\n"),
            ("CRLF and spaces around", "  aGVsbG8/Pvv/+w==\r\n"),
            ("tabs and leading newline", "\n\taGVsbG8/Pvv/+w==\t"),
            ("wrapped across lines", "aGVsbG8/\nPvv/+w==\n"),
        ];
        for (name, text) in cases {
            let got = decode_lenient(text).map(|b| b.to_vec());
            assert_eq!(got, Ok(bytes.to_vec()), "{name}");
        }
        assert_eq!(decode_lenient("").map(|b| b.len()), Ok(0));
        assert_eq!(decode_lenient(" \n ").map(|b| b.len()), Ok(0));
    }

    #[test]
    fn decode_lenient_refuses_what_is_not_base64() {
        let cases: &[(&str, &str)] = &[
            ("mixed alphabets", "aGVsbG8/Pvv_-w=="),
            ("illegal character", "aGVs*G8/Pvv/+w=="),
            ("non-ASCII", "aGVsbG8/Pvv/+wé="),
            ("non-ASCII whitespace", "aGVsbG8/Pvv/+w==\u{a0}"),
            ("impossible length", "aGVsb"),
            ("too much padding", "aGVsbG8/Pvv/+w==="),
            ("padding in the middle", "aGU=bG8/"),
            ("non-canonical trailing bits", "aGVsbG8/Pvv/+x=="),
            ("a hex string", "0x1234"),
        ];
        for (name, text) in cases {
            assert_eq!(
                decode_lenient(text).map(|b| b.len()),
                Err(SealError::NotBase64),
                "{name}"
            );
        }
    }

    #[test]
    fn key_parsers_check_length_and_low_order_points() {
        let key_of = |bytes: &[u8]| STANDARD.encode(bytes);
        let good = fixed_secret().public_key().to_base64();
        let cases: Vec<(&str, String, Result<(), SealError>)> = vec![
            ("a real key", good.clone(), Ok(())),
            ("a real key pasted", format!(" {good}\n"), Ok(())),
            (
                "empty",
                String::new(),
                Err(SealError::WrongKeyLength { got: 0 }),
            ),
            (
                "31 bytes",
                key_of(&[9; 31]),
                Err(SealError::WrongKeyLength { got: 31 }),
            ),
            (
                "33 bytes",
                key_of(&[9; 33]),
                Err(SealError::WrongKeyLength { got: 33 }),
            ),
            (
                "64 bytes",
                key_of(&[9; 64]),
                Err(SealError::WrongKeyLength { got: 64 }),
            ),
            ("not base64", "not a key!".into(), Err(SealError::NotBase64)),
        ];
        for (name, text, want) in &cases {
            let public = SealPublicKey::from_base64(text).map(|_| ());
            assert_eq!(&public, want, "public key: {name}");
            let secret = SealSecretKey::from_base64(&Secret::new(text.as_str())).map(|_| ());
            assert_eq!(&secret, want, "secret key: {name}");
        }
    }

    #[test]
    fn low_order_public_keys_are_refused_as_libsodium_does() {
        // Checked against libsodium 1.0.x (PyNaCl 1.6): `crypto_box_seal` refuses exactly these,
        // with or without bit 255 set, and accepts their neighbours.
        for point in LOW_ORDER_POINTS {
            for top_bit in [0, 0x80] {
                let mut bytes = point;
                bytes[31] |= top_bit;
                assert_eq!(
                    SealPublicKey::from_base64(&STANDARD.encode(bytes)),
                    Err(SealError::LowOrderPublicKey),
                    "{bytes:02x?}"
                );
            }
        }
        for neighbour in [p_plus(-2), p_plus(2), [2; KEY_SIZE]] {
            assert!(SealPublicKey::from_base64(&STANDARD.encode(neighbour)).is_ok());
        }
        // The secret key's own public key is never low-order.
        assert!(!is_low_order(fixed_secret().public_key().0.as_bytes()));
    }

    #[test]
    fn keys_round_trip_through_base64() {
        let (public, secret) = generate_keypair().unwrap();
        assert_eq!(secret.public_key(), public);
        let again = SealSecretKey::from_base64(&secret.to_base64()).map(|k| k.public_key());
        assert_eq!(again, Ok(public.clone()));
        assert_eq!(
            SealPublicKey::from_base64(&public.to_base64()),
            Ok(public.clone())
        );
        // Standard base64, padded: 32 bytes are 44 characters ending in one '='.
        assert_eq!(public.to_base64().len(), 44);
        assert!(public.to_base64().ends_with('='));
        assert_eq!(secret.to_base64().expose().len(), 44);
    }

    #[test]
    fn debug_never_shows_the_secret_key() {
        let secret = fixed_secret();
        assert_eq!(format!("{secret:?}"), "SealSecretKey(***)");
        let public = secret.public_key();
        assert_eq!(
            format!("{public:?}"),
            format!("SealPublicKey({})", public.to_base64())
        );
    }

    #[test]
    fn seal_then_open() {
        let (public, secret) = generate_keypair().unwrap();
        for text in ["", "ghs_0123456789abcdefghijklmnopqrstuvwxyz", "ключ 🔑"] {
            let sealed = seal(&Secret::new(text), &public);
            let sealed = match sealed {
                Ok(sealed) => sealed,
                Err(err) => panic!("seal failed: {err}"),
            };
            assert_eq!(
                STANDARD.decode(&sealed).map(|b| b.len()),
                Ok(text.len() + SEALBYTES)
            );
            assert_eq!(open(&sealed, &secret), Ok(Secret::new(text)));
            // Each seal uses a fresh ephemeral key.
            assert_ne!(seal(&Secret::new(text), &public), Ok(sealed));
        }
    }

    #[test]
    fn open_errors() {
        let secret = fixed_secret();
        let public = secret.public_key();
        let sealed = |bytes: &[u8]| {
            let mut rng = CheckedOsRng::default();
            STANDARD.encode(public.0.seal(&mut rng, bytes).unwrap_or_default())
        };
        let good = sealed(b"ghs_token");
        let mut tampered = STANDARD.decode(&good).unwrap_or_default();
        tampered[40] ^= 1;
        let cases: Vec<(&str, String, Result<&str, SealError>)> = vec![
            ("good", good.clone(), Ok("ghs_token")),
            (
                "good, URL-safe unpadded",
                good.replace('+', "-").replace('/', "_").replace('=', ""),
                Ok("ghs_token"),
            ),
            ("not base64", "%%%".into(), Err(SealError::NotBase64)),
            (
                "empty",
                String::new(),
                Err(SealError::BoxTooShort { got: 0 }),
            ),
            (
                "47 bytes",
                STANDARD.encode([1; 47]),
                Err(SealError::BoxTooShort { got: 47 }),
            ),
            (
                "48 bytes of junk",
                STANDARD.encode([1; 48]),
                Err(SealError::DoesNotOpen),
            ),
            (
                "tampered",
                STANDARD.encode(&tampered),
                Err(SealError::DoesNotOpen),
            ),
            (
                "not UTF-8",
                sealed(b"\xff\xfe ghs"),
                Err(SealError::NotUtf8 { len: 6 }),
            ),
        ];
        for (name, text, want) in cases {
            assert_eq!(open(&text, &secret), want.map(Secret::new), "{name}");
        }
        let (_, other) = generate_keypair().unwrap();
        assert_eq!(open(&good, &other), Err(SealError::DoesNotOpen));
    }

    #[test]
    fn messages_read_after_the_input_name_and_carry_only_lengths() {
        let cases = [
            (SealError::NotBase64, "input `seal-key`: is not valid base64 (expected the standard or URL-safe alphabet)"),
            (SealError::WrongKeyLength { got: 31 }, "input `seal-key`: is not a sealing key: expected 32 bytes, got 31 bytes after base64 decoding"),
            (SealError::BoxTooShort { got: 12 }, "input `seal-key`: is too short to be a sealed box: got 12 bytes after base64 decoding, a sealed box has at least 48"),
            (SealError::DoesNotOpen, "input `seal-key`: does not open with this key: it was sealed to a different public key, or it was altered after sealing"),
            (SealError::NotUtf8 { len: 6 }, "input `seal-key`: opened, but the sealed value (6 bytes) is not UTF-8 text"),
        ];
        for (err, want) in cases {
            assert_eq!(format!("input `seal-key`: {err}"), want);
        }
    }
}
