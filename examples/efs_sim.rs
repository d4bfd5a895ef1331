//! `efs_sim`: serves a folder read-only through FUSE with EFS's costs, so
//! that an EFS tier measured on one machine costs what the placement model
//! charges for it (`tiers.efs` in docs/config.md).
//!
//! ```text
//! efs_sim SOURCE MOUNTPOINT [--latency-ms 1] [--throughput-mb-s 500] [--ttl-s 60]
//!         [--threads 4] [--stats FILE] [--watch-stdin]
//! ```
//!
//! - every LOOKUP, GETATTR, OPEN, OPENDIR's READDIR batch and READLINK that
//!   reaches this process takes `--latency-ms` (an NFS round trip: the work
//!   is done, then the reply waits until the latency has passed);
//! - READ is paced to `--throughput-mb-s` (10^6 bytes per second) for all
//!   readers together, as EFS's per-client throughput;
//! - the kernel keeps entries, attributes (also "no such file") for
//!   `--ttl-s` and file pages while mounted, as the NFS client of a Lambda
//!   sandbox does after it mounted EFS. Each mount starts cold: mount a fresh
//!   instance for every cold start you measure.
//!
//! It prints `mounted MOUNTPOINT` on stdout once the file system answers,
//! and unmounts on SIGINT, SIGTERM or SIGHUP, or, with `--watch-stdin`,
//! when its standard input reaches end of file (its parent closed the pipe
//! or died). A mount left by a killed instance ("Transport endpoint is not
//! connected") is detached when a new instance mounts on the same folder;
//! by hand: `umount -l MOUNTPOINT`. `--stats FILE` writes the operation
//! counts and the time spent waiting, as JSON, after unmounting.
//!
//! Mounting needs root (it opens /dev/fuse and calls mount(2) itself; no
//! libfuse, no fusermount). It is an example, not part of the product: built
//! by `cargo test` (and `cargo build --example efs_sim`) into
//! target/debug/examples/. docs/benchmarks.md says how the benchmark uses it.

use std::collections::HashMap;
use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{BufRead, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo,
    LockOwner, MountOption, OpenAccMode, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, Request, Session,
};

#[derive(Parser, Debug)]
#[command(about = "Serve a folder read-only through FUSE with EFS's latency and throughput")]
// A later --latency-ms (etc.) replaces an earlier one: callers append overrides.
#[command(args_override_self = true)]
struct Args {
    /// The folder to serve (e.g. DIST/efs/<digest>).
    source: PathBuf,
    /// An existing empty folder to mount it on.
    mountpoint: PathBuf,
    /// Latency of each lookup, getattr, open, readdir batch and readlink, ms.
    #[arg(long, default_value_t = 1.0)]
    latency_ms: f64,
    /// Read throughput of all readers together, MB/s (10^6 bytes); 0: unlimited.
    #[arg(long, default_value_t = 500.0)]
    throughput_mb_s: f64,
    /// How long the kernel may keep entries and attributes, seconds.
    #[arg(long, default_value_t = 60.0)]
    ttl_s: f64,
    /// Threads answering the kernel.
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Write operation counts and waiting time as JSON here after unmounting.
    #[arg(long)]
    stats: Option<PathBuf>,
    /// Unmount and exit when standard input reaches end of file.
    #[arg(long)]
    watch_stdin: bool,
}

/// Operation counters, written by `--stats`.
#[derive(Default)]
struct Counters {
    lookup: AtomicU64,
    lookup_missing: AtomicU64,
    getattr: AtomicU64,
    open: AtomicU64,
    opendir: AtomicU64,
    readdir: AtomicU64,
    readlink: AtomicU64,
    read: AtomicU64,
    read_bytes: AtomicU64,
    /// Nanoseconds replies were held back for latency and throughput.
    waited_ns: AtomicU64,
}

/// A directory's entries as opendir read them: inode, kind, name.
type Listing = Arc<Vec<(u64, FileType, OsString)>>;

/// Inode numbers ↔ paths relative to the source (the root, inode 1, is "").
struct Inodes {
    paths: Vec<PathBuf>,
    numbers: HashMap<PathBuf, u64>,
}

struct EfsSim {
    source: PathBuf,
    latency: Duration,
    /// Nanoseconds per byte; 0: unlimited.
    ns_per_byte: f64,
    ttl: Duration,
    inodes: RwLock<Inodes>,
    files: Mutex<HashMap<u64, Arc<File>>>,
    dirs: Mutex<HashMap<u64, Listing>>,
    next_handle: AtomicU64,
    /// When the read channel is next free (the throughput cap).
    channel_free: Mutex<Instant>,
    counters: Arc<Counters>,
}

impl EfsSim {
    fn new(args: &Args, source: PathBuf, counters: Arc<Counters>) -> EfsSim {
        let root = PathBuf::new();
        EfsSim {
            source,
            latency: Duration::from_secs_f64(args.latency_ms.max(0.0) / 1e3),
            ns_per_byte: if args.throughput_mb_s > 0.0 {
                1e3 / args.throughput_mb_s
            } else {
                0.0
            },
            ttl: Duration::from_secs_f64(args.ttl_s.max(0.0)),
            inodes: RwLock::new(Inodes {
                paths: vec![root.clone()],
                numbers: HashMap::from([(root, 1)]),
            }),
            files: Mutex::new(HashMap::new()),
            dirs: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            channel_free: Mutex::new(Instant::now()),
            counters,
        }
    }

    fn rel(&self, ino: INodeNo) -> Option<PathBuf> {
        let inodes = self.inodes.read().unwrap();
        inodes.paths.get((ino.0 as usize).checked_sub(1)?).cloned()
    }

    fn ino_of(&self, rel: &Path) -> u64 {
        if let Some(&ino) = self.inodes.read().unwrap().numbers.get(rel) {
            return ino;
        }
        let mut inodes = self.inodes.write().unwrap();
        if let Some(&ino) = inodes.numbers.get(rel) {
            return ino;
        }
        inodes.paths.push(rel.to_path_buf());
        let ino = inodes.paths.len() as u64;
        inodes.numbers.insert(rel.to_path_buf(), ino);
        ino
    }

    fn attr(&self, ino: u64, rel: &Path) -> std::io::Result<FileAttr> {
        let meta = std::fs::symlink_metadata(self.source.join(rel))?;
        let time = |secs: i64, nsecs: i64| {
            if secs >= 0 {
                UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
            } else {
                UNIX_EPOCH
            }
        };
        Ok(FileAttr {
            ino: INodeNo(ino),
            size: meta.size(),
            blocks: meta.blocks(),
            atime: time(meta.atime(), meta.atime_nsec()),
            mtime: time(meta.mtime(), meta.mtime_nsec()),
            ctime: time(meta.ctime(), meta.ctime_nsec()),
            crtime: SystemTime::UNIX_EPOCH,
            kind: kind_of(meta.file_type()),
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: meta.blksize() as u32,
            flags: 0,
        })
    }

    /// Holds the reply of an operation that started at `start` until the
    /// round trip's latency has passed.
    fn round_trip(&self, start: Instant) {
        self.wait_until(start + self.latency);
    }

    fn wait_until(&self, deadline: Instant) {
        let now = Instant::now();
        if deadline > now {
            let wait = deadline - now;
            self.counters
                .waited_ns
                .fetch_add(wait.as_nanos() as u64, Ordering::Relaxed);
            std::thread::sleep(wait);
        }
    }

    /// Paces `bytes` through the one read channel all readers share.
    fn transfer(&self, bytes: usize) {
        if self.ns_per_byte == 0.0 || bytes == 0 {
            return;
        }
        let cost = Duration::from_nanos((bytes as f64 * self.ns_per_byte).ceil() as u64);
        let done = {
            let mut free = self.channel_free.lock().unwrap();
            let start = (*free).max(Instant::now());
            *free = start + cost;
            *free
        };
        self.wait_until(done);
    }

    fn handle(&self) -> u64 {
        self.next_handle.fetch_add(1, Ordering::Relaxed)
    }
}

fn kind_of(t: std::fs::FileType) -> FileType {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        FileType::Directory
    } else if t.is_symlink() {
        FileType::Symlink
    } else if t.is_fifo() {
        FileType::NamedPipe
    } else if t.is_socket() {
        FileType::Socket
    } else if t.is_block_device() {
        FileType::BlockDevice
    } else if t.is_char_device() {
        FileType::CharDevice
    } else {
        FileType::RegularFile
    }
}

fn errno(e: &std::io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

impl Filesystem for EfsSim {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let start = Instant::now();
        self.counters.lookup.fetch_add(1, Ordering::Relaxed);
        let Some(dir) = self.rel(parent) else {
            return reply.error(Errno::ENOENT);
        };
        let rel = dir.join(name);
        match std::fs::symlink_metadata(self.source.join(&rel)) {
            Ok(_) => {
                let ino = self.ino_of(&rel);
                let attr = self.attr(ino, &rel);
                self.round_trip(start);
                match attr {
                    Ok(attr) => reply.entry(&self.ttl, &attr, Generation(0)),
                    Err(e) => reply.error(errno(&e)),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.counters.lookup_missing.fetch_add(1, Ordering::Relaxed);
                self.round_trip(start);
                // Node id 0 with a timeout: the kernel caches "no such
                // entry" for the TTL, as an NFS client caches negative
                // lookups.
                let attr = FileAttr {
                    ino: INodeNo(0),
                    size: 0,
                    blocks: 0,
                    atime: UNIX_EPOCH,
                    mtime: UNIX_EPOCH,
                    ctime: UNIX_EPOCH,
                    crtime: UNIX_EPOCH,
                    kind: FileType::RegularFile,
                    perm: 0,
                    nlink: 0,
                    uid: 0,
                    gid: 0,
                    rdev: 0,
                    blksize: 0,
                    flags: 0,
                };
                reply.entry(&self.ttl, &attr, Generation(0));
            }
            Err(e) => {
                self.round_trip(start);
                reply.error(errno(&e));
            }
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let start = Instant::now();
        self.counters.getattr.fetch_add(1, Ordering::Relaxed);
        let attr = match self.rel(ino) {
            Some(rel) => self.attr(ino.0, &rel),
            None => Err(std::io::Error::from_raw_os_error(libc::ENOENT)),
        };
        self.round_trip(start);
        match attr {
            Ok(attr) => reply.attr(&self.ttl, &attr),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let start = Instant::now();
        self.counters.readlink.fetch_add(1, Ordering::Relaxed);
        let target = match self.rel(ino) {
            Some(rel) => std::fs::read_link(self.source.join(rel)),
            None => Err(std::io::Error::from_raw_os_error(libc::ENOENT)),
        };
        self.round_trip(start);
        match target {
            Ok(target) => reply.data(target.as_os_str().as_bytes()),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let start = Instant::now();
        self.counters.open.fetch_add(1, Ordering::Relaxed);
        if flags.acc_mode() != OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        let file = match self.rel(ino) {
            Some(rel) => File::open(self.source.join(rel)),
            None => Err(std::io::Error::from_raw_os_error(libc::ENOENT)),
        };
        self.round_trip(start);
        match file {
            Ok(file) => {
                let fh = self.handle();
                self.files.lock().unwrap().insert(fh, Arc::new(file));
                // Pages stay cached while mounted (NFS keeps them while the
                // attributes do not change); a new mount starts empty.
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE);
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(file) = self.files.lock().unwrap().get(&fh.0).cloned() else {
            return reply.error(Errno::EBADF);
        };
        let mut buf = vec![0u8; size as usize];
        let mut filled = 0;
        while filled < buf.len() {
            match file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return reply.error(errno(&e)),
            }
        }
        self.counters.read.fetch_add(1, Ordering::Relaxed);
        self.counters
            .read_bytes
            .fetch_add(filled as u64, Ordering::Relaxed);
        self.transfer(filled);
        reply.data(&buf[..filled]);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.files.lock().unwrap().remove(&fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        self.counters.opendir.fetch_add(1, Ordering::Relaxed);
        let Some(rel) = self.rel(ino) else {
            return reply.error(Errno::ENOENT);
        };
        let read = std::fs::read_dir(self.source.join(&rel)).and_then(|entries| {
            let mut names = Vec::new();
            for entry in entries {
                let entry = entry?;
                names.push((entry.file_name(), kind_of(entry.file_type()?)));
            }
            Ok(names)
        });
        let mut names = match read {
            Ok(names) => names,
            Err(e) => return reply.error(errno(&e)),
        };
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let parent = rel.parent().map_or(1, |p| self.ino_of(p));
        let mut listing = vec![
            (ino.0, FileType::Directory, OsString::from(".")),
            (parent, FileType::Directory, OsString::from("..")),
        ];
        for (name, kind) in names {
            listing.push((self.ino_of(&rel.join(&name)), kind, name));
        }
        let fh = self.handle();
        self.dirs.lock().unwrap().insert(fh, Arc::new(listing));
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let start = Instant::now();
        let Some(listing) = self.dirs.lock().unwrap().get(&fh.0).cloned() else {
            return reply.error(Errno::EBADF);
        };
        let mut sent = 0;
        for (i, (ino, kind, name)) in listing.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(*ino), i as u64 + 1, *kind, name) {
                break;
            }
            sent += 1;
        }
        // A batch of entries is a round trip; the empty answer that ends the
        // listing is not (NFS's READDIR reply says "end of directory").
        if sent > 0 {
            self.counters.readdir.fetch_add(1, Ordering::Relaxed);
            self.round_trip(start);
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.dirs.lock().unwrap().remove(&fh.0);
        reply.ok();
    }
}

fn cstring(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("a path without NUL")
}

/// Unmounts; lazily (detached, gone once the last user closes) when busy.
fn unmount(mountpoint: &Path) -> std::io::Result<()> {
    let path = cstring(mountpoint);
    // SAFETY: `path` is a valid NUL-terminated string.
    if unsafe { libc::umount2(path.as_ptr(), 0) } == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) => Ok(()), // not mounted (any more)
        Some(libc::EBUSY) => {
            // SAFETY: as above.
            if unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) } == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        }
        _ => Err(err),
    }
}

fn write_stats(path: &Path, args: &Args, c: &Counters, mounted_ms: f64) -> std::io::Result<()> {
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let doc = serde_json::json!({
        "latency_ms": args.latency_ms,
        "throughput_mb_s": args.throughput_mb_s,
        "ttl_s": args.ttl_s,
        "mounted_ms": mounted_ms,
        "lookup": n(&c.lookup),
        "lookup_missing": n(&c.lookup_missing),
        "getattr": n(&c.getattr),
        "open": n(&c.open),
        "opendir": n(&c.opendir),
        "readdir": n(&c.readdir),
        "readlink": n(&c.readlink),
        "read": n(&c.read),
        "read_bytes": n(&c.read_bytes),
        "waited_ms": n(&c.waited_ns) as f64 / 1e6,
    });
    std::fs::write(path, format!("{doc:#}\n"))
}

fn main() {
    let args = Args::parse();
    if let Err(message) = run(&args) {
        eprintln!("efs_sim: {message}");
        std::process::exit(2);
    }
}

fn run(args: &Args) -> Result<(), String> {
    if !args.source.is_dir() {
        return Err(format!("{} is not a folder", args.source.display()));
    }
    let source = args
        .source
        .canonicalize()
        .map_err(|e| format!("{}: {e}", args.source.display()))?;
    // A mount left by an instance that was killed answers ENOTCONN: detach it.
    if let Err(e) = std::fs::metadata(&args.mountpoint) {
        if e.raw_os_error() == Some(libc::ENOTCONN) {
            eprintln!(
                "efs_sim: detaching a dead mount on {} (umount -l)",
                args.mountpoint.display()
            );
            let path = cstring(&args.mountpoint);
            // SAFETY: `path` is a valid NUL-terminated string.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let mountpoint = args
        .mountpoint
        .canonicalize()
        .map_err(|e| format!("mount point {}: {e}", args.mountpoint.display()))?;
    // 1 ns timer slack (default 50 µs): sleeps end when asked. Threads
    // created from here on inherit it.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
    // The signals that end the mount are taken by sigwait in this thread
    // only: block them before any other thread starts.
    // SAFETY: plain signal-set manipulation on a zeroed set.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGUSR1] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };

    let counters = Arc::new(Counters::default());
    let fs = EfsSim::new(args, source.clone(), counters.clone());
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::RO,
        MountOption::FSName(format!("caios-efs-sim:{}", source.display())),
        MountOption::DefaultPermissions,
        MountOption::NoAtime,
    ];
    config.n_threads = Some(args.threads.max(1));
    let session = Session::new(fs, &mountpoint, &config).map_err(|e| {
        format!(
            "cannot mount on {} ({e}); FUSE needs /dev/fuse and root",
            mountpoint.display()
        )
    })?;
    let mounted = Instant::now();
    // The session ends when the file system is unmounted, by us or by
    // anyone: then this process ends too.
    std::thread::spawn(move || {
        if let Err(e) = session.run() {
            eprintln!("efs_sim: session ended: {e}");
        }
        // SAFETY: sending a signal to this process.
        unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
    });
    if args.watch_stdin {
        std::thread::spawn(|| {
            let mut line = String::new();
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            while matches!(lock.read_line(&mut line), Ok(n) if n > 0) {
                line.clear();
            }
            // SAFETY: sending a signal to this process.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        });
    }
    println!("mounted {}", mountpoint.display());
    let _ = std::io::stdout().flush();

    let mut signal: libc::c_int = 0;
    // SAFETY: `set` was initialised above; `signal` is a valid out pointer.
    unsafe { libc::sigwait(&set, &mut signal) };
    let unmounted = unmount(&mountpoint);
    if let Some(path) = &args.stats {
        write_stats(path, args, &counters, mounted.elapsed().as_secs_f64() * 1e3)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    unmounted.map_err(|e| format!("unmounting {}: {e}", mountpoint.display()))
}
