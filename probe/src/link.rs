//! The one WebSocket to the app (`ws://`, or `wss://` verifying the app's
//! certificate against the system's roots or `--ca-file`), kept up with
//! capped exponential backoff and jitter.
//!
//! The link sends the frames the publish loop queues and hands every app
//! message back to it; it knows nothing of reports. Control replies and pipe
//! output come through a second, bounded channel that is served only when no
//! report frame waits, so a busy pipe never delays a delta. Its state is an
//! explicit [`LinkEvent`] stream: `Connected(generation)` after each
//! successful upgrade, `App(message)`, `Disconnected`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use periscope_report::{AppMessage, Codec, StreamEncoder};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, info_span, warn, Instrument};

use crate::queue::SendQueue;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A connection that lasted this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// App → probe messages are small: controls and pipe input.
const MAX_APP_MESSAGE: usize = 4 * 1024 * 1024;
/// The app pings every second; this long without a word from it means the
/// connection is dead (a half-open TCP connection never errors by itself).
const APP_SILENT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub enum LinkEvent {
    Connected(u64),
    App(AppMessage),
    Disconnected,
}

/// Capped exponential backoff with "equal jitter": half the step fixed, half random.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max, step: min }
    }

    pub fn reset(&mut self) {
        self.step = self.min;
    }

    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let jitter = crate::sys::random::random_u64() % (half.as_millis() as u64 + 1);
        half + Duration::from_millis(jitter)
    }
}

/// How to reach the app.
pub struct Target {
    pub url: String,
    pub token: Option<String>,
    /// For `wss://`: the TLS settings (roots to verify the app's certificate against).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

/// The TLS client settings for `wss://`: the CAs in `ca_file`, else the system's trusted roots.
pub fn tls_config(ca_file: Option<&Path>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|error| anyhow::anyhow!("reading the CA file {}: {error}", path.display()))?
                .collect::<Result<_, _>>()
                .map_err(|error| anyhow::anyhow!("reading the CA file {}: {error}", path.display()))?;
            if certificates.is_empty() {
                anyhow::bail!("the CA file {} holds no PEM certificate", path.display());
            }
            for certificate in certificates {
                roots.add(certificate).map_err(|error| anyhow::anyhow!("a CA in {}: {error}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for certificate in found.certs {
                // A broken system certificate is skipped, as browsers do.
                let _ = roots.add(certificate);
            }
        }
    }
    // ring is deprecated in rustls only for lacking post-quantum key exchange; aws-lc-rs, the
    // alternative, builds a large C library, and nothing here calls for it yet.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// TLS settings that accept exactly the certificate in `pem` (the first one
/// there), whatever its name and issuer: for the app's built-in probe, which
/// reaches its own app on loopback under a name the certificate may not carry.
/// TLS 1.3 only: the handshake signature is checked against the pinned key.
pub fn pinned_tls_config(pem: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    let certificate = CertificateDer::pem_file_iter(pem)
        .map_err(|error| anyhow::anyhow!("reading {}: {error}", pem.display()))?
        .next()
        .ok_or_else(|| anyhow::anyhow!("{} holds no PEM certificate", pem.display()))?
        .map_err(|error| anyhow::anyhow!("reading {}: {error}", pem.display()))?;
    // Read as a trust anchor: that accepts a self-signed CA certificate too.
    let anchor = webpki::anchor_from_trusted_cert(&certificate)
        .map_err(|error| anyhow::anyhow!("the certificate in {}: {error}", pem.display()))?;
    let key = webpki::spki_for_anchor(&anchor);
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCert { certificate: certificate.clone(), key, provider: provider.clone() });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts one exact certificate; the handshake signature is still checked against its key.
#[derive(Debug)]
struct PinnedCert {
    certificate: rustls::pki_types::CertificateDer<'static>,
    key: rustls::pki_types::SubjectPublicKeyInfoDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.certificate.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer))
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        // Never called: this configuration speaks TLS 1.3 only.
        Err(rustls::Error::General("TLS 1.2 is not used with a pinned certificate".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &self.key,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects, pumps and reconnects until dropped.
pub async fn maintain(
    target: Target,
    queue: Arc<SendQueue>,
    mut side: mpsc::Receiver<Vec<u8>>,
    events: mpsc::Sender<LinkEvent>,
) {
    let url = target.url.clone();
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    let mut failures = 0u32;
    loop {
        match connect(&target).await {
            Ok(socket) => {
                // Replies meant for the previous connection mean nothing on this one.
                while side.try_recv().is_ok() {}
                let generation = queue.start_generation();
                if failures > 0 {
                    info!(app = %url, after_failures = failures, "connected to the app");
                } else {
                    info!(app = %url, "connected to the app");
                }
                failures = 0;
                if events.send(LinkEvent::Connected(generation)).await.is_err() {
                    return;
                }
                let started = tokio::time::Instant::now();
                let outcome = pump(socket, generation, &queue, &mut side, &events)
                    .instrument(info_span!("app_connection", app = %url, generation))
                    .await;
                queue.start_generation();
                if events.send(LinkEvent::Disconnected).await.is_err() {
                    return;
                }
                match outcome {
                    Ok(()) => info!(app = %url, "the app closed the connection"),
                    Err(error) => warn!(app = %url, %error, "lost the connection to the app"),
                }
                if started.elapsed() >= STABLE_AFTER {
                    backoff.reset();
                }
            }
            Err(error) => {
                if failures == 0 {
                    warn!(app = %url, %error, "cannot reach the app; collecting meanwhile and retrying with backoff");
                } else {
                    debug!(app = %url, %error, failures, "still cannot reach the app");
                }
                failures += 1;
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(target: &Target) -> anyhow::Result<Socket> {
    let mut request = target.url.as_str().into_client_request()?;
    if let Some(token) = &target.token {
        request.headers_mut().insert(AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}"))?);
    }
    let connector = target.tls.clone().map(tokio_tungstenite::Connector::Rustls);
    let connecting = tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector);
    let (socket, _response) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| anyhow::anyhow!("connecting timed out after {CONNECT_TIMEOUT:?}"))??;
    Ok(socket)
}

async fn pump(
    socket: Socket,
    generation: u64,
    queue: &SendQueue,
    side: &mut mpsc::Receiver<Vec<u8>>,
    events: &mpsc::Sender<LinkEvent>,
) -> anyhow::Result<()> {
    let (mut sink, mut stream) = socket.split();
    let codec = Codec::with_limit(MAX_APP_MESSAGE);
    // Queued frames are serialized bodies; each is compressed here, in send
    // order, on this connection's stream (the queue may drop, the stream may not).
    let mut encoder = StreamEncoder::new()?;
    let silence = tokio::time::sleep(APP_SILENT);
    tokio::pin!(silence);
    loop {
        tokio::select! {
            // Reports first: pipe output waits for them, never the reverse.
            biased;
            body = queue.pop(generation) => {
                let frame = encoder.frame(&body)?;
                sink.send(Message::Binary(frame.into())).await?;
            }
            Some(body) = side.recv() => {
                let frame = encoder.frame(&body)?;
                sink.send(Message::Binary(frame.into())).await?;
            }
            () = &mut silence => anyhow::bail!("the app sent nothing for {APP_SILENT:?}"),
            message = stream.next() => {
                silence.as_mut().reset(tokio::time::Instant::now() + APP_SILENT);
                match message {
                Some(Ok(Message::Binary(bytes))) => match codec.decode::<AppMessage>(&bytes) {
                    Ok(AppMessage::Rejected { reason }) => {
                        anyhow::bail!("the app rejected this probe: {reason}");
                    }
                    Ok(message) => {
                        if events.send(LinkEvent::App(message)).await.is_err() {
                            return Ok(());
                        }
                    }
                    Err(error) => warn!(%error, "undecodable message from the app; ignored"),
                },
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                // Pings are answered by tungstenite itself; text frames are not part of the protocol.
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error.into()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..8).map(|_| backoff.next_delay()).collect();
        for (delay, step) in delays.iter().zip([100u64, 200, 400, 800, 1000, 1000, 1000, 1000]) {
            assert!(
                *delay >= Duration::from_millis(step / 2) && *delay <= Duration::from_millis(step),
                "{delay:?} for {step}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
