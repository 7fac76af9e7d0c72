//! HTTPS: loading PEM files into a rustls server config (TLS 1.2 and 1.3
//! only, ring provider) whose certificate can be swapped while the server
//! runs (SIGHUP), and generating self-signed certificates.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use ring::rand::SecureRandom;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // Session ids, CSRF and API tokens come from here: without the operating
    // system's random source there is nothing safe to fall back to.
    if ring::rand::SystemRandom::new().fill(&mut buf).is_err() {
        panic!("the operating system's random number generator failed");
    }
    hex(&buf)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a DER certificate as `AB:CD:…`, as browsers show it.
pub fn fingerprint(cert_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert_der);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn read(path: &Path, key: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{key}: cannot read {}: {e}", path.display()))
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path, "tls.cert")?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls.cert: {} is not a valid PEM file: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls.cert: {} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path, "tls.key")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        format!(
            "tls.key: {} holds no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
            path.display()
        )
    })
}

/// The certificate chain and key in `cert` and `key`, checked to belong
/// together.
pub fn load_pair(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, String> {
    let certs = load_certs(cert)?;
    let key_der = load_key(key)?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(certs, key_der, &provider)
        .map(Arc::new)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => format!(
                "tls.key {} does not match the certificate in tls.cert {}",
                key.display(),
                cert.display()
            ),
            other => format!(
                "tls.cert/tls.key ({}, {}): {other}",
                cert.display(),
                key.display()
            ),
        })
}

/// The server's certificate, swappable while the server runs: every new
/// TLS handshake takes the pair current at that moment, connections that
/// are already open keep theirs.
#[derive(Debug)]
pub struct ReloadableCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    /// Load `cert` and `key`; they are read again by [`ReloadableCert::reload`].
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<ReloadableCert>, String> {
        let pair = load_pair(cert, key)?;
        Ok(Arc::new(ReloadableCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(pair),
        }))
    }

    /// Read the files again. On success new handshakes use the new pair and
    /// its fingerprint is returned; on any error (unreadable, not PEM, key
    /// not matching) the pair in use stays and the error names the file.
    pub fn reload(&self) -> Result<String, String> {
        let pair = load_pair(&self.cert, &self.key)?;
        let fp = pair
            .cert
            .first()
            .map(|c| fingerprint(c.as_ref()))
            .unwrap_or_default();
        match self.current.write() {
            Ok(mut current) => *current = pair,
            // A writer panicked mid-swap; the value is a plain Arc, so
            // replacing it is still sound.
            Err(poisoned) => *poisoned.into_inner() = pair,
        }
        Ok(fp)
    }

    /// The certificate file, for log lines.
    pub fn cert_path(&self) -> &Path {
        &self.cert
    }

    fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A rustls server config (TLS 1.2 and 1.3, ring) serving whatever pair
/// `certs` holds at each handshake.
pub fn reloadable_config(certs: Arc<ReloadableCert>) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Build the rustls config from a certificate chain and key file; checks that
/// the key belongs to the certificate.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    reloadable_config(ReloadableCert::load(cert, key)?)
}

/// A freshly generated certificate and key, PEM encoded.
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: String,
}

/// Generate a self-signed certificate for DNS names and IP addresses.
pub fn generate_self_signed(hosts: &[String]) -> Result<SelfSigned, String> {
    if hosts.is_empty() {
        return Err("at least one --host (DNS name or IP address) is needed".into());
    }
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
        .map_err(|e| format!("certificate parameters: {e}"))?;
    for host in hosts {
        let host = host.trim();
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => rcgen::SanType::IpAddress(ip),
            Err(_) if !is_dns_name(host) => {
                return Err(format!(
                    "`{host}` is neither an IP address nor a DNS name (letters, digits, '-' and '.')"
                ));
            }
            Err(_) => {
                rcgen::SanType::DnsName(host.to_string().try_into().map_err(|e| {
                    format!("`{host}` is neither an IP address nor a DNS name: {e}")
                })?)
            }
        };
        params.subject_alt_names.push(san);
    }
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, hosts[0].trim());
    dn.push(rcgen::DnType::OrganizationName, "Rapport self-signed");
    params.distinguished_name = dn;
    // Valid from the start of last year (clock skew) for ten years.
    let year = chrono::Datelike::year(&chrono::Utc::now());
    params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let key = rcgen::KeyPair::generate().map_err(|e| format!("key generation: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("certificate signing: {e}"))?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        fingerprint: fingerprint(cert.der()),
    })
}

/// A DNS name as certificates carry it: dot-separated labels of letters,
/// digits and '-', optionally a leading `*.` wildcard.
fn is_dns_name(host: &str) -> bool {
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Write the certificate (0644) and the key (0600), each atomically.
pub fn write_pair(cert: &Path, key: &Path, pair: &SelfSigned) -> Result<(), String> {
    for path in [cert, key] {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
    }
    write_file(key, pair.key_pem.as_bytes(), 0o600)?;
    write_file(cert, pair.cert_pem.as_bytes(), 0o644)
}

fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(data).map_err(fail)?;
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// Fingerprint of the first certificate in a PEM file.
pub fn file_fingerprint(cert: &Path) -> Result<String, String> {
    Ok(fingerprint(load_certs(cert)?[0].as_ref()))
}
