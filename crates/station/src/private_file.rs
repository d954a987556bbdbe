//! Files only this user may read (the workstation key, the offline sign-in
//! verifiers): made new, never over an existing file.
//!
//! Unix: mode 0600 from the moment the file exists. Windows: the file
//! inherits the access list of the station's data directory, which lives in
//! the user's own profile (`%LOCALAPPDATA%`): the user, SYSTEM and the
//! administrators only, as for every per-user secret there.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `path` (it must not exist) for writing, readable by this user only.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_the_user_reads_it_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        drop(super::create_new(&path).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(super::create_new(&path).unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    }
}
