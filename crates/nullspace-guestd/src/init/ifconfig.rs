//! Network setup without `ip`, for root filesystems that lack it (images such as
//! busybox or distroless): interface flags, IPv4 address and default route through
//! the classic `ioctl`s on a datagram socket.

use std::io;
use std::net::Ipv4Addr;

/// `ioctl` requests (linux/sockios.h).
const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
const SIOCSIFFLAGS: libc::c_ulong = 0x8914;
const SIOCSIFADDR: libc::c_ulong = 0x8916;
const SIOCSIFNETMASK: libc::c_ulong = 0x891c;
const SIOCADDRT: libc::c_ulong = 0x890b;

/// `struct ifreq`: a name and a 24-byte union (address or flags).
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: [u8; 24],
}

impl IfReq {
    fn new(dev: &str) -> io::Result<Self> {
        let mut name = [0u8; 16];
        if dev.len() >= name.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "name too long"));
        }
        name[..dev.len()].copy_from_slice(dev.as_bytes());
        Ok(Self {
            name,
            data: [0; 24],
        })
    }

    fn set_addr(&mut self, ip: Ipv4Addr) {
        self.data = [0; 24];
        let sin = sockaddr_in(ip);
        // SAFETY: sockaddr_in is 16 plain bytes and fits in the 24-byte union.
        let bytes: [u8; 16] = unsafe { std::mem::transmute(sin) };
        self.data[..16].copy_from_slice(&bytes);
    }
}

fn sockaddr_in(ip: Ipv4Addr) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip.octets()),
        },
        sin_zero: [0; 8],
    }
}

fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr {
    // SAFETY: sockaddr_in and sockaddr are both 16 bytes of plain data.
    unsafe { std::mem::transmute(sockaddr_in(ip)) }
}

/// A datagram socket for the `ioctl`s, closed on drop.
struct Sock(libc::c_int);

impl Sock {
    fn new() -> io::Result<Self> {
        // SAFETY: socket has no memory preconditions.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(fd))
    }

    fn ioctl<T>(&self, request: libc::c_ulong, arg: &mut T) -> io::Result<()> {
        // SAFETY: every request used here takes a pointer to a struct of type T,
        // which lives for the call.
        let r = unsafe { libc::ioctl(self.0, request as _, arg as *mut T) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value and closed once.
        unsafe { libc::close(self.0) };
    }
}

/// Sets `dev` up (and running).
pub fn link_up(dev: &str) -> io::Result<()> {
    let s = Sock::new()?;
    let mut req = IfReq::new(dev)?;
    s.ioctl(SIOCGIFFLAGS, &mut req)?;
    let flags =
        i16::from_ne_bytes([req.data[0], req.data[1]]) | (libc::IFF_UP | libc::IFF_RUNNING) as i16;
    req.data[..2].copy_from_slice(&flags.to_ne_bytes());
    s.ioctl(SIOCSIFFLAGS, &mut req)
}

/// Gives `dev` the address `ip/prefix`.
pub fn add_addr(dev: &str, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
    let s = Sock::new()?;
    let mut req = IfReq::new(dev)?;
    req.set_addr(ip);
    s.ioctl(SIOCSIFADDR, &mut req)?;
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0);
    req.set_addr(Ipv4Addr::from(mask));
    s.ioctl(SIOCSIFNETMASK, &mut req)
}

/// Adds the default route through `gw`.
pub fn default_route(gw: Ipv4Addr) -> io::Result<()> {
    let s = Sock::new()?;
    // SAFETY: rtentry is plain data; all-zero is a valid (empty) value.
    let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
    rt.rt_dst = sockaddr(Ipv4Addr::UNSPECIFIED);
    rt.rt_genmask = sockaddr(Ipv4Addr::UNSPECIFIED);
    rt.rt_gateway = sockaddr(gw);
    rt.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
    s.ioctl(SIOCADDRT, &mut rt)
}

/// Parses `ADDR/PREFIX` (prefix 32 when absent).
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, prefix) = s.split_once('/').unwrap_or((s, "32"));
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    Some((ip.parse().ok()?, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse() {
        assert_eq!(
            parse_cidr("10.0.2.2/24"),
            Some((Ipv4Addr::new(10, 0, 2, 2), 24))
        );
        assert_eq!(
            parse_cidr("10.0.0.1"),
            Some((Ipv4Addr::new(10, 0, 0, 1), 32))
        );
        assert_eq!(parse_cidr("10.0.0.1/33"), None);
        assert_eq!(parse_cidr("nope/8"), None);
    }

    #[test]
    fn requests_are_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        let mut r = IfReq::new("eth0").unwrap();
        r.set_addr(Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(&r.data[..2], &(libc::AF_INET as u16).to_ne_bytes());
        assert_eq!(&r.data[4..8], &[10, 0, 2, 2]);
        assert!(IfReq::new("a-name-far-too-long").is_err());
    }

    #[test]
    fn loopback_flags_can_be_read() {
        // Reading needs no privilege; setting does, so only the read is tested here.
        let s = Sock::new().unwrap();
        let mut req = IfReq::new("lo").unwrap();
        s.ioctl(SIOCGIFFLAGS, &mut req).unwrap();
        let flags = i16::from_ne_bytes([req.data[0], req.data[1]]);
        assert_ne!(flags & libc::IFF_LOOPBACK as i16, 0);
    }
}
