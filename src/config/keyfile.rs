//! Reading an Ed25519 key file named by the configuration (`[router]
//! node_key`) or the command line (`shardwamp ctl --key`): the formats are
//! [`crate::wamp::cryptosign::parse_private_key`]'s. A file that others than
//! its owner may read gets a warning (in the log, and in the answer for
//! callers that print it), never its content.

use std::path::Path;

use crate::wamp::cryptosign::{parse_private_key, PrivateKey};

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("cannot read key file {path}: {error}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// The file is not a key.
    #[error("key file {path}: {error}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        error: crate::wamp::cryptosign::CryptosignError,
    },
}

/// Reads a private key file. Returns the key and, when the file's mode lets
/// its group or others read it, a warning to show (also logged).
pub fn read_key_file(path: &Path) -> Result<(PrivateKey, Option<String>), KeyFileError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| KeyFileError::Read {
        path: shown.clone(),
        error,
    })?;
    let key = parse_private_key(&bytes).map_err(|error| KeyFileError::Parse {
        path: shown.clone(),
        error,
    })?;
    let warning = readable_by_others(path)
        .then(|| format!("key file {shown} is readable by its group or others: chmod 600 it"));
    if let Some(w) = &warning {
        log::warn!("{w}");
    }
    Ok((key, warning))
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_warns() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("shardwamp-keyfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key.priv");
        std::fs::write(&path, format!("private-key-ed25519: {}\n", "11".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (key, warning) = read_key_file(&path).unwrap();
        assert_eq!(
            key.public_hex(),
            PrivateKey::from_seed(&[0x11; 32]).public_hex()
        );
        assert_eq!(warning, None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_, warning) = read_key_file(&path).unwrap();
        assert!(warning.unwrap().contains("chmod 600"));
        std::fs::write(&path, "garbage-content").unwrap();
        let e = read_key_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("key.priv") && !e.contains("garbage-content"),
            "{e}"
        );
        assert!(read_key_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
