//! The manifest a host prints back (`model::manifest::Manifest::parse`, untrusted input), and
//! its round trip: what parses is written (`to_text`) and read back to the same manifest, and
//! writing that again gives the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nxinfra::model::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(manifest) = Manifest::parse(text) else {
        return;
    };
    let written = manifest.to_text();
    let back = match Manifest::parse(&written) {
        Ok(back) => back,
        Err(e) => panic!("to_text wrote a manifest that does not parse ({e}):\n{written}"),
    };
    assert_eq!(back, manifest, "parse(to_text(m)) != m; text:\n{written}");
    assert_eq!(back.to_text(), written, "to_text is not stable");
});
