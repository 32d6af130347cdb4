//! TLS to the PostgreSQL server, set in the URL the way libpq sets it (rustls, with the
//! aws-lc-rs provider reqwest already brings). Every connection a node makes to one URL
//! (the pool, the change listener, `slotline migrate`, the copy, a statement's cancel)
//! goes through the one [`Target`] made from it.
//!
//! | `sslmode=` | connection | the server's certificate |
//! | --- | --- | --- |
//! | `disable` | plain | — |
//! | `prefer` (the default) | TLS when the server offers it, else plain | not checked, unless `sslrootcert=` is given: then checked as `verify-ca` |
//! | `require` | TLS, never plain | as `prefer` |
//! | `verify-ca` | TLS | signed by a CA in `sslrootcert=` (a PEM file), or by the system's roots without one |
//! | `verify-full` | TLS | as `verify-ca`, and it names the host connected to |
//!
//! `sslrootcert=system` names the system's roots and, as in libpq 16, asks for
//! `verify-full` (the default with it, and the only mode it may be used with). Unlike
//! libpq, no `~/.postgresql/root.crt` is read: name the CA file in the URL.

use std::{io, path::Path, sync::Arc};

use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms, aws_lc_rs},
    pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
};
use tokio_postgres::{Client, Config, Connection, Socket, config::SslMode, tls::MakeTlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::db::DbError;

/// What one URL connects to, and how.
#[derive(Clone)]
pub struct Target {
    /// The server, with the `sslmode` tokio-postgres knows (`disable`, `prefer`, `require`).
    pub config: Config,
    /// The TLS connector of every connection to it.
    pub tls: MakeRustlsConnect,
    /// Where the server's certificate is checked against, for messages.
    roots: Option<String>,
}

/// A connection's stream under TLS (or plain, as the server and `sslmode` agreed).
pub type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;

/// Where the CA certificates come from.
enum Roots {
    /// Not checked.
    None,
    /// The system's (`rustls-native-certs`).
    System,
    /// A PEM file.
    File(String),
}

impl Target {
    /// Reads `url`'s settings (and the CA file it names). Errors say what to change and
    /// never show the URL's password.
    pub fn new(url: &str) -> Result<Self, DbError> {
        let (rest, ssl) = take_ssl_params(url)?;
        let mut config: Config = rest.parse().map_err(|e| {
            DbError::Unreachable(format!(
                "SLOTLINE_DB is not a PostgreSQL URL slotline can use: {}",
                said(&e)
            ))
        })?;
        let system = ssl.rootcert.as_deref() == Some("system");
        let mode = match ssl.mode.as_deref() {
            None if system => "verify-full",
            None => "prefer",
            Some(m) => m,
        };
        let roots = match (ssl.rootcert, mode) {
            (_, "disable") => Roots::None,
            (Some(_), "prefer" | "require" | "verify-ca") if system => {
                return Err(bad(format!(
                    "sslrootcert=system is for sslmode=verify-full (the system's roots vouch for any name they signed), not sslmode={mode}"
                )));
            }
            (None, "prefer" | "require") => Roots::None,
            (None, _) => Roots::System,
            (Some(_), _) if system => Roots::System,
            (Some(file), _) => Roots::File(file),
        };
        let check_name = match mode {
            "disable" | "prefer" | "require" | "verify-ca" => false,
            "verify-full" => true,
            other => {
                return Err(bad(format!(
                    "sslmode={other} is not one slotline knows: use disable, prefer, require, verify-ca or verify-full"
                )));
            }
        };
        config.ssl_mode(match mode {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            _ => SslMode::Require,
        });
        let provider = Arc::new(aws_lc_rs::default_provider());
        let verifier: Arc<dyn ServerCertVerifier> = match &roots {
            Roots::None => Arc::new(Lenient::unchecked(&provider)),
            Roots::System => checked(system_roots()?, &provider, check_name)?,
            Roots::File(file) => checked(file_roots(file)?, &provider, check_name)?,
        };
        let tls = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(format!("cannot set up TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Self {
            config,
            tls: MakeRustlsConnect::new(tls),
            roots: match roots {
                Roots::None => None,
                Roots::System => Some("the system's CA certificates".into()),
                Roots::File(file) => Some(format!("sslrootcert={file}")),
            },
        })
    }

    /// One connection, whose driver the caller polls or spawns.
    pub async fn connect(
        &self,
        config: &Config,
    ) -> Result<(Client, Connection<Socket, Stream>), DbError> {
        config
            .connect(self.tls.clone())
            .await
            .map_err(|e| self.refused(&e))
    }

    /// One connection driven by a task of its own, which ends when the client is dropped
    /// or the server goes away.
    pub async fn client(&self, config: &Config) -> Result<Client, DbError> {
        let (client, connection) = self.connect(config).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection ended");
            }
        });
        Ok(client)
    }

    /// `e`, a failed connection, as a message saying what to fix.
    pub fn refused(&self, e: &tokio_postgres::Error) -> DbError {
        let roots = self.roots.as_deref().unwrap_or("the CA file");
        let hint = match rustls_error(e) {
            Some(rustls::Error::InvalidCertificate(c)) => match c {
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    "the server's certificate does not name the host in the URL: connect by a name it holds, or check the CA only with sslmode=verify-ca".to_string()
                }
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => {
                    "the server's certificate is out of its dates (or this machine's clock is): renew it".to_string()
                }
                _ => format!(
                    "the server's certificate was not signed by a CA in {roots}: set sslrootcert= to the PEM file of the CA that signed it"
                ),
            },
            Some(_) => "the TLS handshake failed: check the server's ssl settings".to_string(),
            None if said(e).contains("server does not support TLS") => {
                "the URL asks for TLS (sslmode=require or verify-*) and the server offers none: turn ssl on in the server's postgresql.conf, or set sslmode=prefer or disable".to_string()
            }
            None => {
                return DbError::Unreachable(format!("cannot connect to PostgreSQL: {}", said(e)));
            }
        };
        DbError::Unreachable(format!("cannot connect to PostgreSQL: {}; {hint}", said(e)))
    }
}

/// The TLS settings slotline reads itself, out of the URL, and the URL without them.
#[derive(Default)]
struct SslParams {
    mode: Option<String>,
    rootcert: Option<String>,
}

fn take_ssl_params(url: &str) -> Result<(String, SslParams), DbError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), SslParams::default()));
    };
    let mut ssl = SslParams::default();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => ssl.mode = Some(decode(value)),
            "sslrootcert" => ssl.rootcert = Some(decode(value)),
            "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                return Err(bad(format!(
                    "{key}= is not supported (no client certificates or revocation lists yet): authenticate with a password, and name the server's CA with sslrootcert="
                )));
            }
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, ssl))
}

/// A URL query value, percent-decoded (`+` is kept: a path may hold one).
fn decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn bad(message: String) -> DbError {
    DbError::Unreachable(format!("SLOTLINE_DB's TLS settings: {message}"))
}

/// The CA certificates in the PEM file `file`.
fn file_roots(file: &str) -> Result<RootCertStore, DbError> {
    let fix = "name a PEM file holding the CA certificate that signed the server's";
    let certs = CertificateDer::pem_file_iter(Path::new(file))
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(format!("cannot read sslrootcert={file}: {e}; {fix}")))?;
    if certs.is_empty() {
        return Err(bad(format!(
            "sslrootcert={file} holds no certificate (-----BEGIN CERTIFICATE-----); {fix}"
        )));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| {
            bad(format!(
                "sslrootcert={file} holds a certificate that is not a CA's ({e}); {fix}"
            ))
        })?;
    }
    Ok(roots)
}

/// The system's CA certificates.
fn system_roots() -> Result<RootCertStore, DbError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        return Err(bad(format!(
            "no system CA certificates found ({} errors; install ca-certificates), so the server's cannot be checked: name its CA with sslrootcert=FILE",
            found.errors.len()
        )));
    }
    Ok(roots)
}

/// A verifier of chains to `roots`, and of the host name when `check_name`.
fn checked(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
    check_name: bool,
) -> Result<Arc<dyn ServerCertVerifier>, DbError> {
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad(format!("cannot use the CA certificates: {e}")))?;
    Ok(if check_name {
        webpki
    } else {
        Arc::new(Lenient {
            chain: Some(webpki),
            algorithms: provider.signature_verification_algorithms,
        })
    })
}

/// What `verify-full` does not check: the name (`verify-ca`: the chain must reach a root;
/// webpki checks the chain before the name, so a name error means the chain was good),
/// or the certificate at all (`prefer` and `require` without a CA, libpq's meaning:
/// encrypted, and the handshake's signatures checked, but the certificate taken as
/// shown).
#[derive(Debug)]
struct Lenient {
    /// The chain's check (`verify-ca`), or none.
    chain: Option<Arc<WebPkiServerVerifier>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Lenient {
    fn unchecked(provider: &CryptoProvider) -> Self {
        Self {
            chain: None,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `e` with its causes (tokio-postgres shows only its kind: "error performing TLS
/// handshake"), e.g. "…: invalid peer certificate: UnknownIssuer".
fn said(e: &tokio_postgres::Error) -> String {
    let mut said = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        said = format!("{said}: {c}");
        cause = c.source();
    }
    said
}

/// The rustls error under a failed connection's, if TLS failed.
fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(r) = c.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = c
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> Result<(SslMode, bool), String> {
        Target::new(url)
            .map(|t| (t.config.get_ssl_mode(), t.roots.is_some()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn sslmode_reads_as_libpq_reads_it() {
        let base = "postgres://app:s3cret@db/x";
        assert_eq!(mode(base), Ok((SslMode::Prefer, false)));
        assert_eq!(
            mode(&format!("{base}?sslmode=disable")),
            Ok((SslMode::Disable, false))
        );
        assert_eq!(
            mode(&format!("{base}?sslmode=require")),
            Ok((SslMode::Require, false))
        );
        assert_eq!(
            mode(&format!("{base}?sslmode=verify-full&sslrootcert=system")),
            Ok((SslMode::Require, true))
        );
        assert_eq!(
            mode(&format!("{base}?sslrootcert=system")),
            Ok((SslMode::Require, true))
        );
        for refused in [
            "sslmode=allow",
            "sslmode=nope",
            "sslrootcert=system&sslmode=require",
            "sslcert=/c.pem",
        ] {
            let e = mode(&format!("{base}?{refused}")).unwrap_err();
            assert!(e.contains("SLOTLINE_DB's TLS settings"), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn the_other_settings_of_the_url_reach_tokio_postgres() {
        let t = Target::new(
            "postgres://app@db1,db2/slotline?target_session_attrs=read-write&sslmode=require&application_name=a%20b",
        )
        .unwrap();
        assert_eq!(t.config.get_hosts().len(), 2);
        assert_eq!(t.config.get_application_name(), Some("a b"));
        assert_eq!(
            t.config.get_target_session_attrs(),
            tokio_postgres::config::TargetSessionAttrs::ReadWrite
        );
    }

    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_is_named_with_what_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.crt");
        let empty = dir.path().join("empty.crt");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for file in [&missing, &empty] {
            let url = format!(
                "postgres://app:s3cret@db/x?sslmode=verify-full&sslrootcert={}",
                file.display()
            );
            let e = Target::new(&url).err().unwrap().to_string();
            assert!(
                e.contains(&format!("sslrootcert={}", file.display())),
                "{e}"
            );
            assert!(e.contains("PEM file holding the CA"), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn a_query_value_is_percent_decoded() {
        assert_eq!(decode("%2Fetc%2Fca.crt"), "/etc/ca.crt");
        assert_eq!(decode("a%zzb%"), "a%zzb%");
    }
}
