//! Ansible Vault reading (`nxinfra::secrets::vault`) on arbitrary bytes: the header, the hex
//! payload, the HMAC check, the decryption and the padding. Malformed input must be an error,
//! never a panic (the module's own promise).
#![no_main]

use libfuzzer_sys::fuzz_target;
use nxinfra::secrets::vault;

/// The password the seeds under corpus/vault/ are encrypted with (`fixed-*.vault`).
const PASSWORD: &[u8] = b"fixed-password";

fuzz_target!(|data: &[u8]| {
    let looks = vault::is_vault(data);
    let header = vault::parse_header(data);
    if header.is_ok() {
        // A header that parses starts the data as is_vault says a vault does.
        assert!(looks, "parse_header accepted data that is_vault rejects");
    }
    if let Ok(plain) = vault::decrypt(data, PASSWORD) {
        assert!(header.is_ok(), "decrypt accepted data whose header does not parse");
        assert!(plain.len() < data.len(), "plaintext longer than its vault");
    }
});
