//! Throwaway PostgreSQL clusters made with the installed binaries, for the failover test and
//! bench: a primary (`initdb`) and its streaming standby (`pg_basebackup -R`), each on a free
//! loopback port in a directory of its own, stopped (`pg_ctl stop -m immediate`) and removed
//! when dropped. As root, the binaries run as the `postgres` user, as the server requires.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::http::free_port;

/// One cluster: its directory, its port, and whether it runs.
pub struct Cluster {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    running: bool,
}

/// The newest installed PostgreSQL's `bin` directory (`PG_BIN` overrides it).
fn pg_bin() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("PG_BIN") {
        return Ok(p.into());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("/usr/lib/postgresql: apt-get install postgresql")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, p)| p)
        .context("no PostgreSQL under /usr/lib/postgresql")
}

/// True when running as root, where the server's programs must run as `postgres`.
pub(crate) fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `program args` as the server's user; fails with its output unless it succeeds. `pg_ctl
/// start` leaves a server running that would hold captured pipes open: its output goes to the
/// server's log instead (`quiet`).
fn run_as_postgres(program: &Path, args: &[&str]) -> anyhow::Result<()> {
    run(program, args, false)
}

fn run(program: &Path, args: &[&str], quiet: bool) -> anyhow::Result<()> {
    let mut cmd = if root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--").arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args);
    if quiet {
        let status = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", program.display()))?;
        if !status.success() {
            bail!("{} {} failed: {status}", program.display(), args.join(" "));
        }
        return Ok(());
    }
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed: {}{}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// A new directory named `prefix…`, the server's user's when running as root (the server and
/// PgBouncer run as that user and write there).
pub(crate) fn server_user_dir(prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("a directory for the server")?;
    if root() {
        let ok = Command::new("chown")
            .arg("postgres:")
            .arg(dir.path())
            .status()?
            .success();
        if !ok {
            bail!("cannot give {} to postgres", dir.path().display());
        }
    }
    Ok(dir)
}

fn own_dir() -> anyhow::Result<tempfile::TempDir> {
    server_user_dir("mcp-cluster-")
}

/// What both servers run with: loopback only, streaming replication possible. Synchronous
/// replication is switched on once a standby streams (by the caller): before, every commit
/// would wait for one.
fn settings(port: u16, dir: &Path) -> String {
    format!(
        "\nport = {port}\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = '{}'\n\
         max_connections = 100\n\
         wal_level = replica\n\
         max_wal_senders = 4\n\
         wal_keep_size = '256MB'\n\
         synchronous_commit = on\n\
         fsync = off\n\
         shared_buffers = '64MB'\n\
         autovacuum = off\n",
        dir.display()
    )
}

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| path.display().to_string())?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

impl Cluster {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A new primary, started.
    pub fn primary() -> anyhow::Result<Cluster> {
        let bin = pg_bin()?;
        let dir = own_dir()?;
        let port = free_port()?;
        let data = dir.path().join("data");
        let data_s = data.display().to_string();
        run_as_postgres(
            &bin.join("initdb"),
            &["-D", &data_s, "-U", "postgres", "-A", "trust", "--no-sync"],
        )?;
        append(&data.join("postgresql.conf"), &settings(port, dir.path()))?;
        let mut c = Cluster {
            dir,
            port,
            bin,
            running: false,
        };
        c.start()?;
        Ok(c)
    }

    /// A streaming standby of this primary (`pg_basebackup -R`), started.
    pub fn standby(&self) -> anyhow::Result<Cluster> {
        let dir = own_dir()?;
        let port = free_port()?;
        let data = dir.path().join("data");
        let data_s = data.display().to_string();
        let from = self.port.to_string();
        run_as_postgres(
            &self.bin.join("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &from,
                "-U",
                "postgres",
                "-D",
                &data_s,
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "--checkpoint=fast",
            ],
        )?;
        append(&data.join("postgresql.conf"), &settings(port, dir.path()))?;
        let mut c = Cluster {
            dir,
            port,
            bin: self.bin.clone(),
            running: false,
        };
        c.start()?;
        Ok(c)
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-l", &log, "-w", "-t", "60", "start"],
            true,
        )
        .with_context(|| self.log())?;
        self.running = true;
        Ok(())
    }

    /// The postmaster's pid (`postmaster.pid`'s first line).
    pub fn pid(&self) -> anyhow::Result<i32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid"))?;
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .context("postmaster.pid")
    }

    /// SIGKILL to the postmaster and every process of the server at once: nothing is flushed,
    /// no client is told.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let pid = self.pid()?;
        // SAFETY: signals to the server's process group (the postmaster leads it).
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGKILL);
        }
        let _ = Command::new("pkill")
            .arg("-9")
            .arg("-P")
            .arg(pid.to_string())
            .status();
        self.running = false;
        Ok(())
    }

    /// Promotes this standby (`pg_ctl promote -w`).
    pub fn promote(&self) -> anyhow::Result<()> {
        let data = self.data().display().to_string();
        run_as_postgres(&self.bin.join("pg_ctl"), &["-D", &data, "-w", "promote"])
    }

    /// An admin URL (database `postgres`) or one to `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data().display().to_string();
            let _ = run_as_postgres(
                &self.bin.join("pg_ctl"),
                &["-D", &data, "-m", "immediate", "stop"],
            );
        }
    }
}
