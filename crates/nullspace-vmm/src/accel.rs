//! Choice of accelerator: KVM where it can run a stock kernel, TCG otherwise.

use std::fs;
use std::path::Path;

/// A CPU accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation through `/dev/kvm`.
    Kvm,
    /// QEMU's software emulation.
    Tcg,
}

/// The accelerator chosen and the reason it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelChoice {
    /// The accelerator.
    pub accel: Accel,
    /// Why, in one sentence.
    pub reason: String,
}

impl Accel {
    /// Name as QEMU spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }

    /// Choose the accelerator for this host.
    ///
    /// `NULLSPACE_ACCEL=kvm|tcg` forces a choice. Otherwise KVM is used only when
    /// `/dev/kvm` opens, the CPU advertises VT-x or AMD-V, and KVM is not PVM
    /// (which runs only guests built for it and emulates stock kernels to death).
    pub fn detect() -> AccelChoice {
        Self::detect_in(Path::new("/"), std::env::var("NULLSPACE_ACCEL").ok())
    }

    fn detect_in(root: &Path, forced: Option<String>) -> AccelChoice {
        match forced.as_deref() {
            Some("kvm") => return choice(Accel::Kvm, "forced by NULLSPACE_ACCEL=kvm"),
            Some("tcg") => return choice(Accel::Tcg, "forced by NULLSPACE_ACCEL=tcg"),
            _ => {}
        }
        if root.join("sys/module/kvm_pvm").exists() {
            return choice(
                Accel::Tcg,
                "KVM here is PVM (kvm_pvm loaded), which cannot run stock guest kernels",
            );
        }
        let cpuinfo = fs::read_to_string(root.join("proc/cpuinfo")).unwrap_or_default();
        let has_vt = cpuinfo
            .lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"));
        if !has_vt {
            return choice(
                Accel::Tcg,
                "the CPU advertises neither VT-x (vmx) nor AMD-V (svm)",
            );
        }
        match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(root.join("dev/kvm"))
        {
            Ok(_) => choice(
                Accel::Kvm,
                "/dev/kvm is usable and the CPU has hardware virtualisation",
            ),
            Err(e) => choice(Accel::Tcg, &format!("/dev/kvm cannot be opened: {e}")),
        }
    }
}

fn choice(accel: Accel, reason: &str) -> AccelChoice {
    AccelChoice {
        accel,
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_root(pvm: bool, flags: &str, kvm: bool) -> tempdir::Dir {
        let d = tempdir::Dir::new();
        fs::create_dir_all(d.0.join("proc")).unwrap();
        fs::create_dir_all(d.0.join("dev")).unwrap();
        fs::write(d.0.join("proc/cpuinfo"), format!("flags\t: fpu {flags}\n")).unwrap();
        if pvm {
            fs::create_dir_all(d.0.join("sys/module/kvm_pvm")).unwrap();
        }
        if kvm {
            fs::write(d.0.join("dev/kvm"), "").unwrap();
        }
        d
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                let p = std::env::temp_dir().join(format!(
                    "ns-accel-{}-{}",
                    std::process::id(),
                    rand_suffix()
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        fn rand_suffix() -> u64 {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            N.fetch_add(1, Ordering::Relaxed)
        }
    }

    #[test]
    fn pvm_means_tcg() {
        let r = fake_root(true, "vmx", true);
        let c = Accel::detect_in(&r.0, None);
        assert_eq!(c.accel, Accel::Tcg);
        assert!(c.reason.contains("PVM"));
    }

    #[test]
    fn no_vt_means_tcg_and_vt_with_kvm_means_kvm() {
        let r = fake_root(false, "sse2", true);
        assert_eq!(Accel::detect_in(&r.0, None).accel, Accel::Tcg);
        let r = fake_root(false, "sse2 vmx", true);
        assert_eq!(Accel::detect_in(&r.0, None).accel, Accel::Kvm);
        let r = fake_root(false, "svm", false);
        let c = Accel::detect_in(&r.0, None);
        assert_eq!(c.accel, Accel::Tcg);
        assert!(c.reason.contains("/dev/kvm"));
    }

    #[test]
    fn env_forces() {
        let r = fake_root(true, "", false);
        assert_eq!(Accel::detect_in(&r.0, Some("kvm".into())).accel, Accel::Kvm);
    }
}
