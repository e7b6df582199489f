//! The age path of `nxinfra::secrets::age_file` with one fixed identity: the armor (or binary)
//! reader, the header, the x25519 stanzas, the payload; then, as `secrets::store` does with what
//! decrypts, the secrets document's YAML. Also, on the same text, the recipients and identity
//! parsers (`parse_recipients`, `public_keys_of`).
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nxinfra::secrets::Secrets;
use nxinfra::secrets::age_file::{self, Identities};

/// A test identity made once with `age-keygen` for the fuzzer (it protects nothing): the
/// seeds under corpus/age/ are encrypted to it.
/// Public key: age15qaly8ek6hh0x3668u2szehdakuesw4hlwyrrrx8frhgty8xmszq52hdz6
const IDENTITY: &str = "\
# created: for nxinfra's fuzzer (a test identity, it protects nothing)
# public key: age15qaly8ek6hh0x3668u2szehdakuesw4hlwyrrrx8frhgty8xmszq52hdz6
AGE-SECRET-KEY-1N5DS95XN9580H0TLQ60J7CV3ZX77NRXVRTQX7VQGH26KEXTV8HQSJHHTR6
";

/// The identity read by nxinfra's own `read_identities`, from a file written once.
fn identities() -> &'static (Identities, std::path::PathBuf) {
    static IDS: OnceLock<(Identities, std::path::PathBuf)> = OnceLock::new();
    IDS.get_or_init(|| {
        let file = std::env::temp_dir().join(format!(
            "nxinfra-fuzz-age-identity-{}.txt",
            std::process::id()
        ));
        std::fs::write(&file, IDENTITY).expect("write the fuzzer's identity file");
        let ids = age_file::read_identities(&file).expect("the fuzzer's identity reads");
        let _ = std::fs::remove_file(&file);
        (ids, file)
    })
}

fuzz_target!(|data: &[u8]| {
    let (ids, id_file) = identities();
    let file = Path::new("secrets/secrets.yml.age");
    if let Ok(plain) = age_file::decrypt(file, data, ids, id_file) {
        if let Ok(secrets) = Secrets::from_yaml(file, &plain) {
            let _ = secrets.redactor();
            let _ = secrets.as_placeholders();
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = age_file::parse_recipients(Path::new("secrets/recipients.txt"), text);
        let _ = age_file::public_keys_of(text);
    }
});
