//! Templates: a guest booted once, warmed, and saved so machines restore from it.
//!
//! A template directory holds `disk.qcow2` (the booted guest's disk, an overlay
//! over the image's rootfs, read-only from then on), `mem` (guest RAM, written
//! through a shared mapping while the template ran), `state` (device state only,
//! saved with `x-ignore-shared`), `overlay.qcow2` (an empty overlay over
//! `disk.qcow2` that each machine copies as its own disk) and `manifest.json`,
//! written last, which marks the template complete.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nullspace_guest_proto::ExecRequest;
use nullspace_vmm::{Disk, Kernel, Memory, Net, SaveMode, Start, VmSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::agent::Agent;
use crate::disk::create_overlay;
use crate::error::{io, RuntimeError};
use crate::image::ImageArtifacts;
use crate::netns::{MachineNet, GATEWAY, GUEST_IP, GUEST_MAC, TAP};
use crate::runtime::Runtime;
use crate::teardown::Teardown;

/// Version of the template recipe; bump to rebuild every template.
const RECIPE: u32 = 1;
/// How long a template's first boot may take (software emulation is slow).
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
/// Commands run before saving so machines start with a warm page cache.
pub(crate) const WARMUP: &[&str] = &[
    "python3 -c 'import json, os, sys, subprocess, uuid, random'",
    "python3 --version; git --version; curl --version; ls -la /workspace; id user",
    "sudo -n true",
    "sync",
];

/// A saved template ready to restore machines from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Template {
    /// Template name (e.g. `base`).
    pub name: String,
    /// Hash of the template's inputs.
    pub key: String,
    /// Directory holding its files.
    pub dir: PathBuf,
    /// Image it was built from.
    pub image_key: String,
    /// Guest kernel.
    pub vmlinux: PathBuf,
    /// Guest initramfs.
    pub initrd: PathBuf,
    /// Kernel command line it booted with.
    pub cmdline: String,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in MiB.
    pub memory_mib: u64,
    /// Accelerator it was saved under (state does not move between accelerators).
    pub accel: String,
    /// Time from VMM start to the agent answering, when it was built.
    pub boot_ms: u64,
}

impl Template {
    /// The template's frozen disk.
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.qcow2")
    }
    /// The template's RAM file.
    pub fn mem(&self) -> PathBuf {
        self.dir.join("mem")
    }
    /// The template's device state.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
    /// Empty overlay over the disk that machines copy.
    pub fn overlay_seed(&self) -> PathBuf {
        self.dir.join("overlay.qcow2")
    }

    fn load(dir: &Path) -> Option<Template> {
        let text = std::fs::read(dir.join("manifest.json")).ok()?;
        let t: Template = serde_json::from_slice(&text).ok()?;
        [t.disk(), t.mem(), t.state(), t.overlay_seed()]
            .iter()
            .all(|p| p.exists())
            .then_some(t)
    }
}

/// Kernel command line of every guest.
pub(crate) fn kernel_cmdline(hostname: &str) -> String {
    format!(
        "console=ttyS0 panic=-1 loglevel=4 random.trust_cpu=on \
         nullspace.hostname={hostname} nullspace.ip={GUEST_IP} nullspace.gw={GATEWAY}"
    )
}

fn template_key(rt: &Runtime, image: &ImageArtifacts) -> String {
    let cfg = rt.config();
    let mut h = Sha256::new();
    h.update(format!(
        "recipe={RECIPE}\nimage={}\nvcpus={}\nmem={}\naccel={}\n",
        image.key,
        cfg.vcpus,
        cfg.memory_mib,
        cfg.qemu.accel.accel.as_str()
    ));
    hex::encode(&h.finalize()[..8])
}

/// Build template `name` from `image`, or return it if already built.
pub(crate) async fn ensure(
    rt: &Runtime,
    name: &str,
    image: &ImageArtifacts,
    warmup: &[&str],
) -> Result<Template, RuntimeError> {
    let key = template_key(rt, image);
    let parent = rt.config().templates_dir().join(name);
    let dir = parent.join(&key);
    if let Some(t) = Template::load(&dir) {
        return Ok(t);
    }
    std::fs::create_dir_all(&parent).map_err(io("create", &parent))?;
    if dir.exists() {
        // An interrupted build: no manifest, so nothing refers to it.
        std::fs::remove_dir_all(&dir).map_err(io("remove incomplete template", &dir))?;
    }
    let tmp = parent.join(format!(".build-{key}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io("create", &tmp))?;
    let built = boot_and_save(rt, name, &key, image, &tmp, warmup).await;
    let mut template = match built {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &dir).map_err(io("move template into place", &dir))?;
    template.dir = dir.clone();
    create_overlay(&template.overlay_seed(), &template.disk(), "qcow2").await?;
    let manifest = serde_json::to_vec_pretty(&template).expect("template serializes");
    let m_tmp = dir.join("manifest.json.tmp");
    std::fs::write(&m_tmp, manifest).map_err(io("write", &m_tmp))?;
    std::fs::rename(&m_tmp, dir.join("manifest.json")).map_err(io("write", &m_tmp))?;
    tracing::info!(name, key, boot_ms = template.boot_ms, "template built");
    Ok(template)
}

async fn boot_and_save(
    rt: &Runtime,
    name: &str,
    key: &str,
    image: &ImageArtifacts,
    dir: &Path,
    warmup: &[&str],
) -> Result<Template, RuntimeError> {
    let cfg = rt.config();
    create_overlay(&dir.join("disk.qcow2"), &image.rootfs, "raw").await?;
    let mem = dir.join("mem");
    std::fs::File::create(&mem)
        .and_then(|f| f.set_len(cfg.memory_mib << 20))
        .map_err(io("create RAM file", &mem))?;
    let mut teardown = Teardown::default();
    let result = async {
        let net = MachineNet::create(rt.slots(), &crate::netpool::netns_key(rt.owner(), 't')).await?;
        {
            let (net, slots) = (net.clone(), rt.slots_arc());
            teardown.push("delete template network", async move {
                net.delete(&slots).await.map_err(|e| e.to_string())
            });
        }
        let cmdline = kernel_cmdline("nullspace");
        let spec = VmSpec {
            name: format!("template-{name}"),
            dir: dir.to_owned(),
            vcpus: cfg.vcpus,
            memory_mib: cfg.memory_mib,
            memory: Memory::File {
                path: mem.clone(),
                shared: true,
            },
            kernel: Kernel {
                vmlinux: image.vmlinux.clone(),
                initrd: image.initrd.clone(),
                cmdline: cmdline.clone(),
            },
            disk: Disk {
                path: dir.join("disk.qcow2"),
            },
            net: Some(Net {
                tap: TAP.into(),
                mac: GUEST_MAC.into(),
                netns: Some(net.path()),
            }),
            start: Start::Boot,
            die_with_parent: true,
        };
        let started = Instant::now();
        let vm: std::sync::Arc<dyn nullspace_vmm::Vm> = rt.backend().start(spec).await?.into();
        {
            let vm = vm.clone();
            teardown.push("stop template VM", async move {
                vm.destroy().await.map_err(|e| e.to_string())
            });
        }
        let agent = Agent::connect(&vm.agent_socket(), BOOT_TIMEOUT).await?;
        let hello = tokio::select! {
            r = agent.hello(None, BOOT_TIMEOUT) => r,
            _ = wait_dead(vm.as_ref()) => {
                return Err(RuntimeError::Template {
                    name: name.into(),
                    reason: format!("guest stopped during boot; console: {}", console_tail(&vm.console_log())),
                });
            }
        };
        hello.map_err(|e| RuntimeError::Template {
            name: name.into(),
            reason: format!("guest agent did not come up: {e}; console: {}", console_tail(&vm.console_log())),
        })?;
        let boot_ms = started.elapsed().as_millis() as u64;
        for cmd in warmup {
            let out = agent
                .exec(
                    ExecRequest {
                        shell: Some((*cmd).into()),
                        timeout_ms: Some(120_000),
                        ..Default::default()
                    },
                    None,
                    1 << 20,
                )
                .await?;
            if out.result.exit_code != Some(0) {
                return Err(RuntimeError::Template {
                    name: name.into(),
                    reason: format!(
                        "warm-up `{cmd}` failed ({:?}): {}",
                        out.result,
                        String::from_utf8_lossy(&out.stderr)
                    ),
                });
            }
        }
        vm.pause().await?;
        vm.save(&dir.join("state"), SaveMode::DeviceOnly).await?;
        Ok(Template {
            name: name.into(),
            key: key.into(),
            dir: dir.to_owned(),
            image_key: image.key.clone(),
            vmlinux: image.vmlinux.clone(),
            initrd: image.initrd.clone(),
            cmdline,
            vcpus: cfg.vcpus,
            memory_mib: cfg.memory_mib,
            accel: cfg.qemu.accel.accel.as_str().into(),
            boot_ms,
        })
    }
    .await;
    let cleaned = teardown.run().await;
    let template = result?;
    cleaned?;
    Ok(template)
}

/// Resolves when the VM process is gone.
pub(crate) async fn wait_dead(vm: &dyn nullspace_vmm::Vm) {
    while vm.is_alive() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of a guest console log.
pub(crate) fn console_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join(" | ")
}
