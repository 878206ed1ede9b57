//! Loading kernel modules listed in `/lib/modules/load-order`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Directory of modules and of the load-order file.
pub const MODULES_DIR: &str = "/lib/modules";

/// Module paths (relative to `dir`) of a load-order text, in order.
pub fn parse_load_order(text: &str, dir: &Path) -> Vec<PathBuf> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| dir.join(l.trim_start_matches('/')))
        .collect()
}

/// Whether a module load failed only because the module is already loaded.
pub fn already_loaded(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EEXIST)
}

/// Load one uncompressed `.ko` into the kernel.
pub fn load(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    let params = c"";
    // SAFETY: finit_module reads the open fd and the NUL-terminated params string,
    // both valid for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            0 as libc::c_int,
        )
    };
    if ret == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(err);
    }
    let image = std::fs::read(path)?;
    // SAFETY: init_module reads `image.len()` bytes at `image.as_ptr()` and the
    // NUL-terminated params string; both outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_init_module,
            image.as_ptr(),
            image.len() as libc::c_ulong,
            params.as_ptr(),
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Load every module of the load order, logging each; failures are logged, not fatal.
pub fn load_all(dir: &Path) {
    let order = dir.join("load-order");
    let text = match std::fs::read_to_string(&order) {
        Ok(t) => t,
        Err(e) => {
            crate::log!("no {}: {e}; loading no modules", order.display());
            return;
        }
    };
    for module in parse_load_order(&text, dir) {
        match load(&module) {
            Ok(()) => crate::log!("loaded {}", module.display()),
            Err(e) if already_loaded(&e) => crate::log!("{} already loaded", module.display()),
            Err(e) => crate::log!("cannot load {}: {e}", module.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_order_is_relative_to_dir() {
        let text = "kernel/drivers/virtio/virtio.ko\n\n# comment\n  kernel/fs/ext4/ext4.ko  \n";
        let dir = Path::new("/lib/modules");
        assert_eq!(
            parse_load_order(text, dir),
            [
                PathBuf::from("/lib/modules/kernel/drivers/virtio/virtio.ko"),
                PathBuf::from("/lib/modules/kernel/fs/ext4/ext4.ko"),
            ]
        );
        assert!(already_loaded(&io::Error::from_raw_os_error(libc::EEXIST)));
    }
}
