//! The lab's daemons: started in a namespace, output to a log file and, where it matters, to the timeline.
use std::{
    fs::{File, OpenOptions},
    io::{BufRead as _, BufReader, Read, Write as _},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    thread,
};

use anyhow::{Context as _, Result, bail};

use super::{
    sys,
    timeline::{Timeline, Watch},
};

/// The running children by name; dropping it kills every one of them.
pub struct Procs {
    dir: PathBuf,
    timeline: Timeline,
    running: Vec<(String, Child)>,
}

impl Procs {
    pub fn new(dir: &Path, timeline: Timeline) -> Procs {
        Procs {
            dir: dir.to_owned(),
            timeline,
            running: Vec::new(),
        }
    }

    /// Starts `argv` in namespace `ns` as `name`; its output goes to `name.log`
    /// (appended, so a restart keeps the earlier run's lines), and lines `watch`
    /// picks to the timeline.
    pub fn spawn(&mut self, name: &str, ns: &str, argv: &[&str], watch: Watch) -> Result<()> {
        let mut command = sys::in_netns(ns, argv[0]);
        command
            .args(&argv[1..])
            // Plain logs, so that lines can be matched.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Ctrl-C reaches xtask only; the lab stops its children itself.
            .process_group(0);
        let mut child = command
            .spawn()
            .with_context(|| format!("could not start {name}: {}", argv.join(" ")))?;
        let log = self.log_path(name);
        for output in [
            child.stdout.take().map(|out| Box::new(out) as Box<dyn Read + Send>),
            child.stderr.take().map(|err| Box::new(err) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let file = OpenOptions::new().create(true).append(true).open(&log)?;
            let (source, timeline) = (name.to_owned(), self.timeline.clone());
            thread::spawn(move || copy_lines(output, file, &source, &timeline, watch));
        }
        self.running.push((name.to_owned(), child));
        Ok(())
    }

    /// Sends `signal` to `name` (SIGSTOP, SIGCONT...), which keeps running as far as the lab knows.
    pub fn signal(&self, name: &str, signal: libc::c_int) -> Result<()> {
        let Some((_, child)) = self.running.iter().find(|(n, _)| n == name) else {
            bail!("no running process named {name}");
        };
        crate::signals::signal(child.id(), signal);
        Ok(())
    }

    /// Kills `name` with SIGKILL and reaps it.
    pub fn kill(&mut self, name: &str) -> Result<()> {
        let Some(index) = self.running.iter().position(|(n, _)| n == name) else {
            bail!("no running process named {name}");
        };
        let (_, mut child) = self.running.remove(index);
        crate::signals::signal(child.id(), libc::SIGKILL);
        child.wait()?;
        Ok(())
    }

    /// Stops `name` with SIGTERM (SIGKILL after `grace`) and reaps it.
    pub fn stop(&mut self, name: &str, grace: std::time::Duration) -> Result<()> {
        let Some(index) = self.running.iter().position(|(n, _)| n == name) else {
            bail!("no running process named {name}");
        };
        let (_, mut child) = self.running.remove(index);
        crate::signals::signal(child.id(), libc::SIGTERM);
        let deadline = std::time::Instant::now() + grace;
        while child.try_wait()?.is_none() {
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                child.wait()?;
                bail!("{name} did not stop within {grace:?} of SIGTERM");
            }
            thread::sleep(sys::POLL);
        }
        Ok(())
    }

    /// Fails if `name` has exited: a daemon that died on its own breaks the lab.
    pub fn check_alive(&mut self, name: &str) -> Result<()> {
        let Some((_, child)) = self.running.iter_mut().find(|(n, _)| n == name) else {
            bail!("no running process named {name}");
        };
        if let Some(status) = child.try_wait()? {
            bail!("{name} exited ({status}); its log:\n{}", self.tail(name));
        }
        Ok(())
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// The last lines of `name.log`, for an error message.
    pub fn tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.log_path(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child) in &mut self.running {
            // SIGKILL ends a stopped (SIGSTOP) process too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Copies `output` line by line into `file`; lines `watch` picks go to the timeline,
/// stamped as they arrive (the children write whole lines and flush them).
fn copy_lines(output: Box<dyn Read + Send>, mut file: File, source: &str, timeline: &Timeline, watch: Watch) {
    for line in BufReader::new(output).lines() {
        let Ok(line) = line else { break };
        if let Some(text) = watch(&line) {
            timeline.push(source, text);
        }
        let _ = writeln!(file, "{line}");
    }
}
