//! Kernel module lookup and dependency closure for the initramfs.
//!
//! Dependencies come from `modules.dep` when the tree has one; Debian kernel packages
//! ship without it (depmod runs at install time), so otherwise each module's
//! `.modinfo` `depends=` field is read, which is what depmod itself uses.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::ImageError;

/// The modules the guest needs before it can reach its disk, network and agent port.
pub const INITRAMFS_MODULES: &[&str] = &[
    "virtio_mmio",
    "virtio_blk",
    "virtio_net",
    "virtio_console",
    "ext4",
];

/// A module selected for the initramfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedModule {
    /// The module name, underscores normalised (`net_failover`).
    pub name: String,
    /// Path relative to the release directory (`kernel/drivers/net/net_failover.ko.xz`).
    pub rel_path: String,
}

/// An extracted `lib/modules/<release>` tree.
pub struct ModuleTree {
    root: PathBuf,
    files: HashMap<String, String>,
    builtin: HashSet<String>,
    dep_file: Option<HashMap<String, Vec<String>>>,
}

/// A module's canonical name: file stem without `.ko*`, dashes as underscores.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

impl ModuleTree {
    /// Indexes the module files, builtins and `modules.dep` (if any) under `root`.
    pub fn open(root: &Path) -> Result<Self, ImageError> {
        let mut files = HashMap::new();
        let mut stack = vec![root.join("kernel")];
        while let Some(dir) = stack.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ImageError::io("list", &dir)(e)),
            };
            for entry in entries {
                let entry = entry.map_err(ImageError::io("list", &dir))?;
                let path = entry.path();
                let ft = entry.file_type().map_err(ImageError::io("stat", &path))?;
                if ft.is_dir() {
                    stack.push(path);
                } else if path.to_string_lossy().contains(".ko") {
                    let rel = path
                        .strip_prefix(root)
                        .expect("walked below root")
                        .to_string_lossy()
                        .into_owned();
                    files.insert(module_name(&rel), rel);
                }
            }
        }
        let builtin = read_optional(&root.join("modules.builtin"))?
            .map(|text| text.lines().map(module_name).collect())
            .unwrap_or_default();
        let dep_file = read_optional(&root.join("modules.dep"))?.map(|t| parse_modules_dep(&t));
        Ok(ModuleTree {
            root: root.to_owned(),
            files,
            builtin,
            dep_file,
        })
    }

    /// The release directory this tree was opened from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether `name` is compiled into the kernel.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(name)
    }

    /// Direct dependencies of a loadable module.
    fn deps(&self, name: &str) -> Result<Vec<String>, ImageError> {
        if let Some(map) = &self.dep_file {
            return Ok(map.get(name).cloned().unwrap_or_default());
        }
        let rel = &self.files[name];
        let bytes = read_module(&self.root.join(rel))?;
        Ok(modinfo_depends(&bytes))
    }

    /// The loadable modules needed for `roots`, dependencies first; builtins are skipped.
    pub fn closure(&self, roots: &[&str]) -> Result<Vec<SelectedModule>, ImageError> {
        let order = dependency_order(roots, |name| {
            let name = name.replace('-', "_");
            if self.is_builtin(&name) {
                Ok(None)
            } else if self.files.contains_key(&name) {
                self.deps(&name).map(Some)
            } else {
                Err(ImageError::ModuleMissing {
                    name,
                    dir: self.root.clone(),
                })
            }
        })?;
        Ok(order
            .into_iter()
            .map(|name| SelectedModule {
                rel_path: self.files[&name].clone(),
                name,
            })
            .collect())
    }
}

/// Reads a module file, decompressing `.ko.xz`.
pub fn read_module(path: &Path) -> Result<Vec<u8>, ImageError> {
    let raw = fs::read(path).map_err(ImageError::io("read", path))?;
    if path.extension().is_some_and(|e| e == "xz") {
        let mut out = Vec::new();
        xz2::read::XzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|source| ImageError::Decompress {
                path: path.to_owned(),
                source,
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, ImageError> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ImageError::io("read", path)(e)),
    }
}

/// Parses `modules.dep` lines (`path: dep-path dep-path`) into name → dependency names.
pub fn parse_modules_dep(text: &str) -> HashMap<String, Vec<String>> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(module, deps)| {
            (
                module_name(module.trim()),
                deps.split_whitespace().map(module_name).collect(),
            )
        })
        .collect()
}

/// Extracts the `depends=` list from a module's `.modinfo` strings.
pub fn modinfo_depends(module: &[u8]) -> Vec<String> {
    module
        .split(|&b| b == 0)
        .filter_map(|s| s.strip_prefix(b"depends="))
        .flat_map(|list| {
            String::from_utf8_lossy(list)
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.replace('-', "_"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Orders the transitive closure of `roots` so every module follows its dependencies.
///
/// `lookup` returns `None` for modules to skip (builtins) and their dependency list
/// otherwise. The order is deterministic for a given input.
pub fn dependency_order<F>(roots: &[&str], mut lookup: F) -> Result<Vec<String>, ImageError>
where
    F: FnMut(&str) -> Result<Option<Vec<String>>, ImageError>,
{
    #[derive(PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<F>(
        name: &str,
        lookup: &mut F,
        marks: &mut HashMap<String, Mark>,
        out: &mut Vec<String>,
    ) -> Result<(), ImageError>
    where
        F: FnMut(&str) -> Result<Option<Vec<String>>, ImageError>,
    {
        match marks.get(name) {
            Some(Mark::Done) => return Ok(()),
            Some(Mark::Visiting) => {
                return Err(ImageError::ModuleCycle {
                    name: name.to_owned(),
                })
            }
            None => {}
        }
        let Some(deps) = lookup(name)? else {
            marks.insert(name.to_owned(), Mark::Done);
            return Ok(());
        };
        marks.insert(name.to_owned(), Mark::Visiting);
        for dep in &deps {
            visit(dep, lookup, marks, out)?;
        }
        marks.insert(name.to_owned(), Mark::Done);
        out.push(name.to_owned());
        Ok(())
    }

    let mut marks = HashMap::new();
    let mut out = Vec::new();
    for root in roots {
        visit(&root.replace('-', "_"), &mut lookup, &mut marks, &mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> HashMap<&'static str, Option<Vec<String>>> {
        let d = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect());
        HashMap::from([
            ("virtio_net", d(&["net_failover", "virtio_ring"])),
            ("net_failover", d(&["failover"])),
            ("failover", d(&[])),
            ("virtio_ring", None), // builtin
            ("virtio_blk", d(&["virtio_ring"])),
            ("virtio_mmio", d(&[])),
            ("ext4", d(&["jbd2", "mbcache", "crc16"])),
            ("jbd2", d(&[])),
            ("mbcache", d(&[])),
            ("crc16", d(&[])),
        ])
    }

    fn order(roots: &[&str]) -> Vec<String> {
        let g = graph();
        dependency_order(roots, |n| Ok(g[n].clone())).unwrap()
    }

    #[test]
    fn dependencies_come_first_and_builtins_are_skipped() {
        let o = order(&["virtio_mmio", "virtio_blk", "virtio_net", "ext4"]);
        assert_eq!(
            o,
            [
                "virtio_mmio",
                "virtio_blk",
                "failover",
                "net_failover",
                "virtio_net",
                "jbd2",
                "mbcache",
                "crc16",
                "ext4"
            ]
        );
    }

    #[test]
    fn shared_dependencies_appear_once() {
        let o = order(&["net_failover", "virtio_net", "failover"]);
        assert_eq!(o, ["failover", "net_failover", "virtio_net"]);
    }

    #[test]
    fn cycles_are_reported() {
        let err = dependency_order(&["a"], |n| {
            Ok(Some(vec![if n == "a" { "b" } else { "a" }.to_owned()]))
        })
        .unwrap_err();
        assert!(matches!(err, ImageError::ModuleCycle { .. }), "{err}");
    }

    #[test]
    fn parses_modules_dep_and_modinfo() {
        let dep = "kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz\nkernel/net/core/failover.ko.xz:\n";
        let map = parse_modules_dep(dep);
        assert_eq!(map["virtio_net"], ["net_failover", "failover"]);
        assert!(map["failover"].is_empty());

        let blob = b"\0license=GPL\0depends=net_failover,virtio-ring\0intree=Y\0";
        assert_eq!(modinfo_depends(blob), ["net_failover", "virtio_ring"]);
        assert!(modinfo_depends(b"\0depends=\0").is_empty());
    }

    #[test]
    fn module_names_are_normalised() {
        assert_eq!(module_name("kernel/fs/ext4/ext4.ko"), "ext4");
        assert_eq!(module_name("kernel/drivers/x/snd-hda.ko.xz"), "snd_hda");
    }

    #[test]
    fn tree_closure_reads_real_files() {
        let root = std::env::temp_dir().join(format!("ns-modtree-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("kernel/net")).unwrap();
        fs::write(root.join("kernel/net/a.ko"), b"\0depends=b,builtin_one\0").unwrap();
        let mut xz = Vec::new();
        xz2::read::XzEncoder::new(&b"\0depends=\0"[..], 6)
            .read_to_end(&mut xz)
            .unwrap();
        fs::write(root.join("kernel/net/b.ko.xz"), xz).unwrap();
        fs::write(root.join("modules.builtin"), "kernel/lib/builtin-one.ko\n").unwrap();
        let tree = ModuleTree::open(&root).unwrap();
        let sel = tree.closure(&["a", "builtin_one"]).unwrap();
        let paths: Vec<&str> = sel.iter().map(|m| m.rel_path.as_str()).collect();
        assert_eq!(paths, ["kernel/net/b.ko.xz", "kernel/net/a.ko"]);
        let err = tree.closure(&["nope"]).unwrap_err();
        assert!(matches!(err, ImageError::ModuleMissing { .. }), "{err}");
        fs::remove_dir_all(&root).unwrap();
    }
}
