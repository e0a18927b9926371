//! The control plane's credentials: a CA, the API server's serving certificate (localhost, 127.0.0.1), the
//! ServiceAccount token signing key (ECDSA P-256), and a static admin token (group system:masters) that the
//! components, the tests and kubectl use. ServiceAccount tokens (TokenRequest) are signed with the real key.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

use crate::TestenvError;

pub struct Pki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub sa_key_pem: String,
    pub sa_pub_pem: String,
    pub admin_token: String,
    /// The identity poolshift runs as in the tests (also system:masters), so the audit log tells its requests
    /// from the components'.
    pub poolshift_token: String,
}

pub fn generate() -> Result<Pki, TestenvError> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(DnType::CommonName, "poolshift-testenv-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate()?;
    let mut server_params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default.svc".to_string(),
    ])?;
    server_params.distinguished_name.push(DnType::CommonName, "kube-apiserver");
    let server_cert = server_params.signed_by(&server_key, &issuer)?;

    let sa_key = KeyPair::generate()?;
    let token = format!("{:032x}", rand::random::<u128>());
    Ok(Pki {
        ca_pem: ca_cert.pem(),
        server_cert_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
        sa_key_pem: sa_key.serialize_pem(),
        sa_pub_pem: sa_key.public_key_pem(),
        admin_token: token,
        poolshift_token: format!("{:032x}", rand::random::<u128>()),
    })
}
