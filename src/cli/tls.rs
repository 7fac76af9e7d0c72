//! `rapport tls self-signed --host NAME [--host IP] --out DIR`.

use std::path::PathBuf;

use clap::Subcommand;

use crate::core::tls;

use super::Failure;

#[derive(Subcommand, Debug)]
pub enum TlsCommand {
    /// Write a self-signed certificate (cert.pem) and key (key.pem, mode 0600).
    SelfSigned {
        /// DNS name or IP address the certificate is valid for; repeat for more.
        #[arg(long = "host", required = true, value_name = "NAME|IP")]
        hosts: Vec<String>,
        /// Directory to write cert.pem and key.pem into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(cmd: &TlsCommand) -> Result<(), Failure> {
    match cmd {
        TlsCommand::SelfSigned { hosts, out, force } => {
            let cert = out.join("cert.pem");
            let key = out.join("key.pem");
            if !force && (cert.exists() || key.exists()) {
                return Err(Failure::usage(format!(
                    "{} or {} already exists; pass --force to replace them",
                    cert.display(),
                    key.display()
                )));
            }
            let pair = tls::generate_self_signed(hosts).map_err(Failure::usage)?;
            tls::write_pair(&cert, &key, &pair).map_err(Failure::runtime)?;
            say!("certificate: {}", cert.display());
            say!("key:         {} (mode 0600)", key.display());
            say!("hosts:       {}", hosts.join(", "));
            say!("SHA-256:     {}", pair.fingerprint);
            say!();
            say!("Use it with:");
            say!("[tls]");
            say!("mode = \"files\"");
            say!("cert = \"{}\"", cert.display());
            say!("key = \"{}\"", key.display());
            Ok(())
        }
    }
}
