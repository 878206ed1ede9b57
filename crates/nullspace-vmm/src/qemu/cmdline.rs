//! QEMU `microvm` command lines.

use std::ffi::OsString;

use crate::{Accel, Memory, SaveMode, Start, VmSpec};

use super::QemuConfig;

/// File names inside a VM's directory.
pub(super) const QMP_SOCK: &str = "qmp.sock";
pub(super) const AGENT_SOCK: &str = "agent.sock";
pub(super) const CONSOLE_LOG: &str = "console.log";
pub(super) const QEMU_LOG: &str = "qemu.log";

/// The migration capabilities a save mode needs, as `(name, on)` pairs.
pub(super) fn capabilities(mode: SaveMode) -> [(&'static str, bool); 3] {
    let full = mode == SaveMode::Full;
    [
        ("x-ignore-shared", !full),
        ("mapped-ram", full),
        ("multifd", full),
    ]
}

/// Parallel channels for full-RAM saves and loads.
pub(super) const MULTIFD_CHANNELS: u32 = 4;

/// Build the argument list (without the binary) for `spec`.
pub(super) fn args(spec: &VmSpec, cfg: &QemuConfig) -> Vec<OsString> {
    let mut a = Args::default();
    let kvm = cfg.accel.accel == Accel::Kvm;
    // Under TCG the PIT must stay (Linux calibrates its clock with it).
    let timers = if kvm { ",pit=off,pic=off" } else { "" };
    a.push("-name").push(&spec.name);
    a.push("-M").push(format!(
        "microvm,x-option-roms=off,isa-serial=on,rtc=off,acpi=on,memory-backend=mem{timers}"
    ));
    a.push("-bios").push(&cfg.bios);
    if kvm {
        a.push("-accel").push("kvm");
        a.push("-cpu").push("host,-arch-capabilities");
    } else {
        a.push("-accel")
            .push(format!("tcg,tb-size={}", cfg.tcg_tb_size_mib));
        a.push("-cpu").push("max");
    }
    a.push("-smp").push(spec.vcpus.to_string());
    a.push("-m").push(format!("{}M", spec.memory_mib));
    a.push("-object")
        .push(memory_object(&spec.memory, spec.memory_mib));
    a.push("-nodefaults")
        .push("-no-user-config")
        .push("-nographic")
        .push("-no-reboot");
    a.push("-chardev").push(format!(
        "file,id=con,path={},append=on",
        spec.dir.join(CONSOLE_LOG).display()
    ));
    a.push("-serial").push("chardev:con");
    a.push("-qmp").push(format!(
        "unix:{},server=on,wait=off",
        spec.dir.join(QMP_SOCK).display()
    ));
    a.push("-kernel").push(&spec.kernel.vmlinux);
    a.push("-initrd").push(&spec.kernel.initrd);
    let mut cmdline = spec.kernel.cmdline.clone();
    if let (false, Some(khz)) = (kvm, cfg.tsc_khz) {
        cmdline.push_str(&format!(" tsc_early_khz={khz}"));
    }
    a.push("-append").push(cmdline);
    a.push("-drive").push(format!(
        "id=root,file={},format=qcow2,if=none,discard=unmap",
        spec.disk.path.display()
    ));
    a.push("-device").push("virtio-blk-device,drive=root");
    if let Some(net) = &spec.net {
        a.push("-netdev").push(format!(
            "tap,id=n0,ifname={},script=no,downscript=no,vhost=off",
            net.tap
        ));
        a.push("-device")
            .push(format!("virtio-net-device,netdev=n0,mac={}", net.mac));
    }
    a.push("-device").push("virtio-serial-device");
    a.push("-chardev").push(format!(
        "socket,id=agent,path={},server=on,wait=off",
        spec.dir.join(AGENT_SOCK).display()
    ));
    a.push("-device")
        .push("virtserialport,chardev=agent,name=agent0");
    if let Start::Restore { .. } = &spec.start {
        // Capabilities such as x-ignore-shared cannot be set with -global, so the
        // state is loaded through QMP once the process is up (see `vm.rs`).
        a.push("-incoming").push("defer");
    }
    a.0
}

fn memory_object(memory: &Memory, mib: u64) -> String {
    match memory {
        Memory::Anonymous => format!("memory-backend-ram,id=mem,size={mib}M"),
        Memory::File { path, shared } => format!(
            "memory-backend-file,id=mem,size={mib}M,mem-path={},share={}",
            path.display(),
            on_off(*shared)
        ),
    }
}

fn on_off(b: bool) -> &'static str {
    if b {
        "on"
    } else {
        "off"
    }
}

#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn push(&mut self, s: impl AsRef<std::ffi::OsStr>) -> &mut Self {
        self.0.push(s.as_ref().to_owned());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AccelChoice, Disk, Kernel, Net};
    use std::path::PathBuf;

    fn spec(start: Start, memory: Memory) -> VmSpec {
        VmSpec {
            name: "t".into(),
            dir: PathBuf::from("/run/vm"),
            vcpus: 1,
            memory_mib: 512,
            memory,
            kernel: Kernel {
                vmlinux: "/img/vmlinux".into(),
                initrd: "/img/initrd".into(),
                cmdline: "console=ttyS0".into(),
            },
            disk: Disk {
                path: "/run/vm/disk.qcow2".into(),
            },
            net: Some(Net {
                tap: "tap0".into(),
                mac: "02:00:00:00:00:01".into(),
                netns: None,
            }),
            start,
            die_with_parent: false,
        }
    }

    fn cfg(accel: Accel) -> QemuConfig {
        QemuConfig {
            accel: AccelChoice {
                accel,
                reason: String::new(),
            },
            tsc_khz: Some(2_445_406),
            ..QemuConfig::default()
        }
    }

    fn joined(args: Vec<OsString>) -> String {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn tcg_boot_keeps_pit_and_passes_tsc() {
        let s = joined(args(
            &spec(Start::Boot, Memory::Anonymous),
            &cfg(Accel::Tcg),
        ));
        assert!(s.contains("-accel tcg,tb-size="), "{s}");
        assert!(s.contains("-cpu max"));
        assert!(!s.contains("pit=off"));
        assert!(s.contains("console=ttyS0 tsc_early_khz=2445406"));
        assert!(s.contains("memory-backend-ram,id=mem,size=512M"));
        assert!(!s.contains("-incoming"));
    }

    #[test]
    fn kvm_uses_host_cpu_and_no_pit() {
        let s = joined(args(
            &spec(Start::Boot, Memory::Anonymous),
            &cfg(Accel::Kvm),
        ));
        assert!(s.contains("-accel kvm -cpu host,-arch-capabilities"), "{s}");
        assert!(s.contains("pit=off,pic=off"));
        assert!(!s.contains("tsc_early_khz"));
    }

    #[test]
    fn restore_from_template_maps_ram_privately_and_ignores_shared() {
        let start = Start::Restore {
            state: "/tpl/state".into(),
            mode: SaveMode::DeviceOnly,
        };
        let mem = Memory::File {
            path: "/tpl/mem".into(),
            shared: false,
        };
        let s = joined(args(&spec(start, mem), &cfg(Accel::Tcg)));
        assert!(s.contains("mem-path=/tpl/mem,share=off"), "{s}");
        assert!(s.ends_with("-incoming defer"));
        assert_eq!(
            capabilities(SaveMode::DeviceOnly),
            [
                ("x-ignore-shared", true),
                ("mapped-ram", false),
                ("multifd", false)
            ]
        );
    }

    #[test]
    fn restore_full_uses_mapped_ram_and_multifd() {
        let start = Start::Restore {
            state: "/snap/state".into(),
            mode: SaveMode::Full,
        };
        let s = joined(args(&spec(start, Memory::Anonymous), &cfg(Accel::Tcg)));
        assert!(s.contains("memory-backend-ram,id=mem"), "{s}");
        assert!(s.ends_with("-incoming defer"));
        assert_eq!(
            capabilities(SaveMode::Full),
            [
                ("x-ignore-shared", false),
                ("mapped-ram", true),
                ("multifd", true)
            ]
        );
    }
}
