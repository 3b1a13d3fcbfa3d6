//! The system's root certificates, read once per process and shared by every TLS client
//! (reqwest for the model, tools and JWKS; the AWS SDK): left to themselves, each reads and
//! parses the whole system store at start-up (two full loads, ~150 files where the store is a
//! directory of certificates).

use std::sync::OnceLock;

use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The usable roots (certificates rustls can take as trust anchors).
pub fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let certs = match system_bundle() {
            Some(certs) => certs,
            None => {
                let loaded = rustls_native_certs::load_native_certs();
                for error in &loaded.errors {
                    tracing::warn!(%error, "a system root certificate could not be read");
                }
                loaded.certs
            }
        };
        let mut store = rustls::RootCertStore::empty();
        let roots: Vec<CertificateDer<'static>> =
            certs.into_iter().filter(|cert| store.add(cert.clone()).is_ok()).collect();
        if roots.is_empty() {
            tracing::warn!("no system root certificates: TLS connections will fail");
        }
        roots
    })
}

/// The system's bundle file alone (`SSL_CERT_FILE`, else the first of the usual places, e.g.
/// `/etc/ssl/certs/ca-certificates.crt`, `/etc/pki/tls/certs/ca-bundle.crt` on Amazon Linux),
/// where one exists and no `SSL_CERT_DIR` is set: update-ca-certificates and update-ca-trust
/// write every root into it, so the directory of the same certificates (~150 more files,
/// which `rustls-native-certs` reads as well) adds nothing. `None` (read the whole store)
/// when there is no bundle or it cannot be read.
fn system_bundle() -> Option<Vec<CertificateDer<'static>>> {
    if std::env::var_os("SSL_CERT_DIR").is_some() {
        return None;
    }
    let file = openssl_probe::probe().cert_file?;
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(&file).ok()?.filter_map(Result::ok).collect();
    (!certs.is_empty()).then_some(certs)
}

/// The same roots as one PEM bundle (what the AWS SDK's trust store takes).
pub fn native_roots_pem() -> Vec<u8> {
    let mut pem = String::new();
    for cert in native_roots() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in encoded.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roots_are_read_once_and_round_trip_through_pem() {
        let roots = native_roots();
        assert!(!roots.is_empty(), "this machine has system roots");
        assert!(std::ptr::eq(roots, native_roots()), "read once");
        let pem = native_roots_pem();
        let again: Vec<CertificateDer<'static>> =
            rustls_pemfile_free_parse(&pem).expect("the bundle parses");
        assert_eq!(again.as_slice(), roots);
    }

    #[test]
    fn the_bundle_alone_holds_every_root_of_the_whole_store() {
        let whole = rustls_native_certs::load_native_certs().certs;
        let mut store = rustls::RootCertStore::empty();
        let usable: std::collections::BTreeSet<&[u8]> = whole
            .iter()
            .filter(|cert| store.add((*cert).clone()).is_ok())
            .map(AsRef::as_ref)
            .collect();
        let read: std::collections::BTreeSet<&[u8]> =
            native_roots().iter().map(AsRef::as_ref).collect();
        assert_eq!(read, usable);
    }

    fn rustls_pemfile_free_parse(pem: &[u8]) -> Option<Vec<CertificateDer<'static>>> {
        CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>().ok()
    }
}
