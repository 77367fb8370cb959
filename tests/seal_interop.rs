//! token-lease's sealed boxes against libsodium's, in both directions.
//!
//! - Boxes libsodium sealed (tests/fixtures/sealed/sealed-by-libsodium.json, made by
//!   make_fixtures.py with PyNaCl) must open with `open`.
//! - Boxes `seal` made (sealed-by-token-lease.json) must open with `open`; make_fixtures.py
//!   checked that libsodium opens them too when they were committed.
//! - `libsodium_opens_boxes_sealed_now` hands freshly sealed boxes to libsodium through
//!   open_with_libsodium.py. Without PyNaCl it says it skipped and passes, unless
//!   TOKEN_LEASE_REQUIRE_LIBSODIUM=1 (CI sets it after `pip install pynacl`).
//!
//! Regenerate the token-lease fixture with
//! `cargo test --test seal_interop -- --ignored regenerate_token_lease_fixture`,
//! then run make_fixtures.py to have libsodium check it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};
use token_lease::seal::*;
use token_lease::secret::Secret;

const LIBSODIUM_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/sealed/sealed-by-libsodium.json"
);
const TOKEN_LEASE_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/sealed/sealed-by-token-lease.json"
);
const OPENER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/sealed/open_with_libsodium.py"
);
/// open_with_libsodium.py's exit status when PyNaCl is not importable.
const OPENER_SKIPPED: i32 = 77;
/// Bytes a sealed box adds to its plaintext: ephemeral public key and Poly1305 tag.
const SEAL_OVERHEAD: usize = 48;

struct Case {
    name: String,
    plaintext: String,
    sealed: String,
}

struct Fixture {
    public: SealPublicKey,
    secret: SealSecretKey,
    cases: Vec<Case>,
}

fn load(path: &str) -> Fixture {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let field = |v: &Value, key: &str| -> String {
        v[key]
            .as_str()
            .unwrap_or_else(|| panic!("{path}: `{key}` is not a string"))
            .to_string()
    };
    let cases = doc["cases"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: no `cases` array"))
        .iter()
        .map(|case| Case {
            name: field(case, "name"),
            plaintext: field(case, "plaintext"),
            sealed: field(case, "sealed"),
        })
        .collect();
    Fixture {
        public: SealPublicKey::from_base64(&field(&doc, "public_key")).unwrap(),
        secret: SealSecretKey::from_base64(&Secret::new(field(&doc, "secret_key"))).unwrap(),
        cases,
    }
}

/// Both fixture files seal the same kinds of token; check they are all there.
fn assert_covers_the_token_kinds(fixture: &Fixture, path: &str) {
    let lengths: Vec<usize> = fixture.cases.iter().map(|c| c.plaintext.len()).collect();
    for want in [0, 40, 300, 4096] {
        assert!(lengths.contains(&want), "{path}: no {want}-byte plaintext");
    }
    assert!(
        fixture.cases.iter().any(|c| !c.plaintext.is_ascii()),
        "{path}: no unicode plaintext"
    );
    assert!(fixture
        .cases
        .iter()
        .any(|c| c.plaintext.starts_with("ghs_12345_eyJ") && c.plaintext.len() == 300));
}

fn assert_fixture_opens(path: &str) {
    let fixture = load(path);
    assert_eq!(fixture.secret.public_key(), fixture.public, "{path}");
    assert_covers_the_token_kinds(&fixture, path);
    let (_, stranger) = generate_keypair().unwrap();
    for case in &fixture.cases {
        let name = &case.name;
        let box_len = STANDARD.decode(&case.sealed).unwrap().len();
        assert_eq!(
            box_len,
            case.plaintext.len() + SEAL_OVERHEAD,
            "{path}: {name}"
        );
        let opened =
            open(&case.sealed, &fixture.secret).unwrap_or_else(|e| panic!("{path}: {name}: {e}"));
        assert_eq!(opened.expose(), case.plaintext, "{path}: {name}");
        assert_eq!(
            open(&case.sealed, &stranger),
            Err(SealError::DoesNotOpen),
            "{path}: {name}"
        );
    }
}

#[test]
fn opens_every_box_libsodium_sealed() {
    assert_fixture_opens(LIBSODIUM_FIXTURE);
}

#[test]
fn opens_the_committed_token_lease_boxes() {
    assert_fixture_opens(TOKEN_LEASE_FIXTURE);
}

/// The plaintexts of the token-lease fixture and of the live test.
fn token_cases() -> Vec<(String, String)> {
    let stateless: String = format!("ghs_12345_eyJ{}", "aBcD0123_-".repeat(29))
        .chars()
        .take(300)
        .collect();
    vec![
        ("empty".into(), String::new()),
        (
            "installation token".into(),
            format!("ghs_{}", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"),
        ),
        ("stateless-style token, 300 chars".into(), stateless),
        ("unicode".into(), "jeton-clé-ключ-トークン-🔑".into()),
        ("4 KiB".into(), "0123456789abcdef".repeat(256)),
    ]
}

fn fixture_json(
    public: &SealPublicKey,
    secret: &SealSecretKey,
    cases: &[(String, String)],
) -> Value {
    let cases: Vec<Value> = cases
        .iter()
        .map(|(name, plaintext)| {
            let sealed = seal(&Secret::new(plaintext.as_str()), public).unwrap();
            json!({"name": name, "plaintext": plaintext, "sealed": sealed})
        })
        .collect();
    json!({
        "comment": "Boxes sealed by token-lease's seal() (tests/seal_interop.rs \
            regenerate_token_lease_fixture). Test key, not a secret. make_fixtures.py checks \
            that libsodium opens them.",
        "secret_key": secret.to_base64().expose(),
        "public_key": public.to_base64(),
        "cases": cases,
    })
}

#[test]
#[ignore = "rewrites tests/fixtures/sealed/sealed-by-token-lease.json; run make_fixtures.py after"]
fn regenerate_token_lease_fixture() {
    let (public, secret) = generate_keypair().unwrap();
    let doc = fixture_json(&public, &secret, &token_cases());
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    std::fs::write(TOKEN_LEASE_FIXTURE, text).unwrap();
}

/// A directory of its own under the system temp dir, removed on drop (also when a test fails).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path =
            std::env::temp_dir().join(format!("token-lease-{tag}-{}-{nanos}", std::process::id()));
        // `create_dir`, not `create_dir_all`: fail rather than share a directory.
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn libsodium_opens_boxes_sealed_now() {
    let require = std::env::var("TOKEN_LEASE_REQUIRE_LIBSODIUM").is_ok_and(|v| v == "1");
    let skip = |reason: &str| {
        assert!(
            !require,
            "TOKEN_LEASE_REQUIRE_LIBSODIUM=1 but libsodium is not usable: {reason}"
        );
        // Straight to stderr, past the test harness's capture, so a skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "libsodium_opens_boxes_sealed_now: SKIPPED ({reason}); \
             `pip install pynacl` to run it, TOKEN_LEASE_REQUIRE_LIBSODIUM=1 to require it"
        );
    };

    let (public, secret) = generate_keypair().unwrap();
    let mut cases = token_cases();
    // Lengths around the 16- and 64-byte block sizes of Poly1305 and Salsa20, and a large one.
    for len in [1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 65536] {
        cases.push((format!("{len} bytes"), "x".repeat(len)));
    }
    cases.push((
        "control characters".into(),
        "\0\t\n\r\u{7f}\u{1b}[0m".into(),
    ));
    let doc = fixture_json(&public, &secret, &cases);

    let dir = TempDir::new("seal");
    let file = dir.0.join("sealed-now.json");
    std::fs::write(&file, serde_json::to_string(&doc).unwrap()).unwrap();

    let output = match Command::new("python3").arg(OPENER).arg(&file).output() {
        Ok(output) => output,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return skip("python3 is not installed");
        }
        Err(err) => panic!("cannot run python3 {OPENER}: {err}"),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(OPENER_SKIPPED) {
        return skip(stderr.trim());
    }
    assert!(
        output.status.success(),
        "libsodium did not open the boxes token-lease sealed ({}):\n{}{stderr}",
        output.status,
        String::from_utf8_lossy(&output.stdout)
    );
}

fn shared_keys() -> &'static (SealPublicKey, SealSecretKey) {
    static KEYS: OnceLock<(SealPublicKey, SealSecretKey)> = OnceLock::new();
    KEYS.get_or_init(|| generate_keypair().unwrap())
}

/// Empty, short ASCII, arbitrary unicode (control characters included) and long strings.
fn plaintexts() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9_]{1,100}",
        any::<String>(),
        "\\PC{0,300}",
        "[ -~]{1000,8000}",
    ]
}

fn sealed_bytes(text: &str) -> Vec<u8> {
    let sealed = seal(&Secret::new(text), &shared_keys().0).unwrap();
    STANDARD.decode(sealed).unwrap()
}

proptest! {
    #[test]
    fn seal_then_open_round_trips(text in plaintexts()) {
        let (public, secret) = shared_keys();
        let sealed = seal(&Secret::new(text.as_str()), public).unwrap();
        let opened = open(&sealed, secret).unwrap();
        prop_assert_eq!(opened.expose(), text.as_str());
    }

    #[test]
    fn a_flipped_byte_anywhere_does_not_open(
        text in plaintexts(),
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let mut sealed = sealed_bytes(&text);
        let at = at.index(sealed.len());
        sealed[at] ^= mask;
        prop_assert_eq!(
            open(&STANDARD.encode(&sealed), &shared_keys().1),
            Err(SealError::DoesNotOpen)
        );
    }

    #[test]
    fn a_truncated_box_does_not_open(text in plaintexts(), cut in any::<prop::sample::Index>()) {
        let sealed = sealed_bytes(&text);
        let len = cut.index(sealed.len());
        let want = if len < SEAL_OVERHEAD {
            SealError::BoxTooShort { got: len }
        } else {
            SealError::DoesNotOpen
        };
        prop_assert_eq!(open(&STANDARD.encode(&sealed[..len]), &shared_keys().1), Err(want));
    }

    #[test]
    fn the_wrong_key_does_not_open(text in plaintexts()) {
        let sealed = seal(&Secret::new(text.as_str()), &shared_keys().0).unwrap();
        let (_, stranger) = generate_keypair().unwrap();
        prop_assert_eq!(open(&sealed, &stranger), Err(SealError::DoesNotOpen));
    }

    /// Changing a character of the base64 text never panics, and never opens to anything but
    /// the original: some changes are harmless by design ('+' to '-' is the URL-safe spelling
    /// of the same bytes when it is the only such character, '=' may be dropped).
    #[test]
    fn a_changed_base64_character_fails_or_changes_nothing(
        text in "[ -~]{0,64}",
        at in any::<prop::sample::Index>(),
        replacement in any::<char>(),
    ) {
        let (public, secret) = shared_keys();
        let sealed = seal(&Secret::new(text.as_str()), public).unwrap();
        let mut chars: Vec<char> = sealed.chars().collect();
        let at = at.index(chars.len());
        chars[at] = replacement;
        let changed: String = chars.into_iter().collect();
        match open(&changed, secret) {
            Ok(opened) => prop_assert_eq!(opened.expose(), text.as_str()),
            Err(SealError::NotBase64 | SealError::BoxTooShort { .. } | SealError::DoesNotOpen) => {}
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    /// Key parsers take any text without panicking, and accept only 32-byte keys.
    #[test]
    fn key_parsers_never_panic(text in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        for candidate in [text, STANDARD.encode(&bytes)] {
            let public = SealPublicKey::from_base64(&candidate);
            let secret = SealSecretKey::from_base64(&Secret::new(candidate.as_str()));
            prop_assert_eq!(public.is_ok() || public == Err(SealError::LowOrderPublicKey), secret.is_ok());
            if let Err(SealError::WrongKeyLength { got }) = secret {
                prop_assert_ne!(got, 32);
            }
        }
    }
}
