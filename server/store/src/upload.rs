//! A capture folder sent to a bucket while the capture writes it.
//!
//! A follower task polls the local folder. Each snapshot being written (`*.heapsnapshot.partial`)
//! gets a multipart upload at once; its bytes are read behind the writer and sent part by part,
//! a few parts in flight, and each sent part's range is punched out of the local file
//! (`fallocate(PUNCH_HOLE)`), so the local copy holds only what waits to be sent: the spill,
//! bounded by [`UploadOptions::spill_max`]. The writer never waits for the network, so the
//! inspector is read as fast as the target sends. The file handle follows the file through the
//! capture's rename to its final name, which tells that the snapshot is complete.
//!
//! Nothing is completed before [`CaptureUpload::commit`]: then the last parts are sent, every
//! multipart upload is completed, the other files are put, and the top-level manifest goes
//! last. An error, [`CaptureUpload::abort`], or a snapshot file removed by a failing capture
//! aborts the uploads and deletes whatever the commit had already made visible.

use std::collections::HashSet;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use object_store::path::Path as Key;
use object_store::{MultipartUpload, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Result, StoreError};
use crate::location::Location;
use crate::MANIFEST_FILE;

/// The suffix of a snapshot still being written.
const SNAPSHOT_PARTIAL: &str = ".heapsnapshot.partial";

/// How the upload runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadOptions {
    /// Size of the first parts; it grows by this much every 1,000 parts, so that S3's 10,000
    /// parts reach 429 GiB from 8 MiB.
    pub part_size: usize,
    /// Most bytes of a snapshot written locally and not yet sent before the capture stops.
    pub spill_max: u64,
    /// Parts in flight at once (their buffers are the upload's memory).
    pub concurrency: usize,
    /// How often the folder is looked at.
    pub poll: Duration,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            part_size: 8 << 20,
            spill_max: 1 << 30,
            concurrency: 4,
            poll: Duration::from_millis(50),
        }
    }
}

/// What a committed upload sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadSummary {
    /// Objects written.
    pub objects: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Of those, the snapshots' bytes sent while they were being written.
    pub streamed_bytes: u64,
    /// The largest spill: bytes of one snapshot written locally and not yet sent.
    pub peak_spill: u64,
    /// From the start of the follower to the manifest's upload.
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Follow,
    Commit,
    Abort,
}

/// An upload of one capture folder in progress.
pub struct CaptureUpload {
    command: watch::Sender<Command>,
    task: Option<JoinHandle<Result<UploadSummary>>>,
    ended: Option<Result<UploadSummary>>,
}

impl CaptureUpload {
    /// Starts following `folder` (which the capture is about to write) into `location`. Needs
    /// a tokio runtime.
    pub fn start(
        store: Arc<dyn ObjectStore>,
        location: Location,
        folder: PathBuf,
        options: UploadOptions,
    ) -> CaptureUpload {
        let (command, commands) = watch::channel(Command::Follow);
        let follower = Follower {
            store,
            location,
            folder,
            options,
            files: Vec::new(),
            started: Instant::now(),
            peak_spill: 0,
            in_flight: FuturesUnordered::new(),
        };
        let task = tokio::spawn(follower.run(commands));
        CaptureUpload {
            command,
            task: Some(task),
            ended: None,
        }
    }

    /// Resolves only when the upload failed on its own (a request refused, the spill full): the
    /// capture should then be stopped. Its uploads are already aborted.
    pub async fn failed(&mut self) -> StoreError {
        let Some(task) = self.task.as_mut() else {
            return std::future::pending().await;
        };
        let ended = join(task).await;
        self.task = None;
        match ended {
            Err(e) => {
                self.ended = Some(Err(StoreError::Task("it failed already".into())));
                e
            }
            // The follower ends by itself only on an error.
            Ok(summary) => {
                self.ended = Some(Ok(summary));
                std::future::pending().await
            }
        }
    }

    /// After the capture succeeded: sends what is left, completes the uploads, puts the other
    /// files and the manifest last.
    pub async fn commit(mut self) -> Result<UploadSummary> {
        self.finish(Command::Commit).await
    }

    /// After the capture failed: aborts the uploads; nothing stays in the bucket.
    pub async fn abort(mut self) -> Result<()> {
        self.finish(Command::Abort).await.map(|_| ())
    }

    async fn finish(&mut self, command: Command) -> Result<UploadSummary> {
        if let Some(ended) = self.ended.take() {
            return ended;
        }
        let _ = self.command.send(command);
        match self.task.take() {
            Some(mut task) => join(&mut task).await,
            None => Err(StoreError::Task("it ended already".into())),
        }
    }
}

impl Drop for CaptureUpload {
    fn drop(&mut self) {
        // Dropped without commit (the command interrupted): abort, best effort.
        let _ = self.command.send(Command::Abort);
    }
}

async fn join(task: &mut JoinHandle<Result<UploadSummary>>) -> Result<UploadSummary> {
    match task.await {
        Ok(result) => result,
        Err(e) => Err(StoreError::Task(e.to_string())),
    }
}

/// One snapshot being sent.
struct Followed {
    /// `/`-separated path inside the folder, of the final name.
    relative: String,
    key: Key,
    partial: PathBuf,
    done_path: PathBuf,
    file: Arc<std::fs::File>,
    inode: u64,
    upload: Option<Box<dyn MultipartUpload>>,
    /// Bytes handed to parts.
    sent: u64,
    /// Bytes whose parts finished (and were punched out of the local file).
    freed: u64,
    parts: u32,
    in_flight: usize,
    /// Renamed into place and every byte handed to a part.
    complete: bool,
    /// Removed before completion: its upload was aborted.
    vanished: bool,
}

type PartDone = BoxFuture<'static, (usize, u64, u64, object_store::Result<()>)>;

struct Follower {
    store: Arc<dyn ObjectStore>,
    location: Location,
    folder: PathBuf,
    options: UploadOptions,
    files: Vec<Followed>,
    started: Instant,
    peak_spill: u64,
    in_flight: FuturesUnordered<PartDone>,
}

impl Follower {
    async fn run(mut self, mut commands: watch::Receiver<Command>) -> Result<UploadSummary> {
        let result = self.follow(&mut commands).await;
        let command = *commands.borrow();
        match (result, command) {
            (Ok(()), Command::Commit) => match self.commit().await {
                Ok(summary) => Ok(summary),
                Err(e) => {
                    self.abort_all().await;
                    Err(e)
                }
            },
            (Ok(()), _) => {
                self.abort_all().await;
                Ok(UploadSummary::default())
            }
            (Err(e), _) => {
                self.abort_all().await;
                Err(e)
            }
        }
    }

    /// Follows the folder until told to stop; on commit, until every snapshot is sent.
    async fn follow(&mut self, commands: &mut watch::Receiver<Command>) -> Result<()> {
        loop {
            let command = *commands.borrow_and_update();
            if command == Command::Abort {
                return Ok(());
            }
            self.discover().await?;
            self.pump().await?;
            if command == Command::Commit {
                if self.files.iter().all(|f| f.complete || f.vanished) && self.in_flight.is_empty()
                {
                    return Ok(());
                }
                // The capture is over: a snapshot still partial will never be complete.
                if self
                    .files
                    .iter()
                    .any(|f| !f.complete && !f.vanished && self.gone(f))
                {
                    return Err(StoreError::Vanished {
                        file: self.unfinished_name(),
                    });
                }
            }
            tokio::select! {
                Some((index, offset, len, result)) = self.in_flight.next() => {
                    self.part_done(index, offset, len, result)?;
                }
                _ = tokio::time::sleep(self.options.poll) => {}
                _ = commands.changed() => {}
            }
        }
    }

    fn gone(&self, f: &Followed) -> bool {
        !f.partial.exists() && !f.done_path.exists()
    }

    fn unfinished_name(&self) -> String {
        self.files
            .iter()
            .find(|f| !f.complete && !f.vanished)
            .map(|f| f.relative.clone())
            .unwrap_or_default()
    }

    /// Starts an upload for each new snapshot being written.
    async fn discover(&mut self) -> Result<()> {
        let known: HashSet<PathBuf> = self.files.iter().map(|f| f.partial.clone()).collect();
        for partial in files_under(&self.folder)? {
            let name = partial.to_string_lossy();
            if !name.ends_with(SNAPSHOT_PARTIAL) || known.contains(&partial) {
                continue;
            }
            let done_path = PathBuf::from(&name[..name.len() - ".partial".len()]);
            // Renamed already (a small snapshot): it goes with the other files at the commit.
            let Ok(file) = std::fs::File::open(&partial) else {
                continue;
            };
            let inode = file.metadata().map(|m| m.ino()).unwrap_or(0);
            let relative = relative(&self.folder, &done_path);
            let key = self.location.key(&relative);
            let upload =
                self.store
                    .put_multipart(&key)
                    .await
                    .map_err(|source| StoreError::Request {
                        what: "cannot start the upload",
                        key: key.to_string(),
                        source,
                    })?;
            self.files.push(Followed {
                relative,
                key,
                partial,
                done_path,
                file: Arc::new(file),
                inode,
                upload: Some(upload),
                sent: 0,
                freed: 0,
                parts: 0,
                in_flight: 0,
                complete: false,
                vanished: false,
            });
        }
        Ok(())
    }

    /// Hands what each snapshot has written beyond its last part to new parts, up to the
    /// parts in flight allowed.
    async fn pump(&mut self) -> Result<()> {
        for index in 0..self.files.len() {
            let f = &self.files[index];
            if f.complete || f.vanished {
                continue;
            }
            // Renamed into place: the writer flushed and synced before, so the length is final.
            let renamed = !f.partial.exists()
                && std::fs::metadata(&f.done_path).is_ok_and(|m| m.ino() == f.inode);
            if !renamed && !f.partial.exists() {
                self.vanish(index).await;
                continue;
            }
            let written = f
                .file
                .metadata()
                .map_err(|source| StoreError::Local {
                    path: f.partial.clone(),
                    source,
                })?
                .len();
            let spill = written - f.freed;
            self.peak_spill = self.peak_spill.max(spill);
            if spill > self.options.spill_max {
                return Err(StoreError::SpillFull {
                    file: f.relative.clone(),
                    backlog: spill,
                    limit: self.options.spill_max,
                });
            }
            loop {
                let f = &self.files[index];
                let part = part_size(self.options.part_size, f.parts) as u64;
                let ready = written - f.sent;
                if self.in_flight.len() >= self.options.concurrency
                    || ready == 0
                    || (ready < part && !renamed)
                {
                    break;
                }
                let len = ready.min(part);
                self.send_part(index, len).await?;
            }
            let f = &mut self.files[index];
            if renamed && f.sent == written {
                f.complete = true;
            }
        }
        Ok(())
    }

    async fn send_part(&mut self, index: usize, len: u64) -> Result<()> {
        let f = &mut self.files[index];
        let (file, offset, path) = (f.file.clone(), f.sent, f.partial.clone());
        let data = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; len as usize];
            file.read_exact_at(&mut buf, offset).map(|()| buf)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
        .map_err(|source| StoreError::Local { path, source })?;
        let Some(upload) = f.upload.as_mut() else {
            return Ok(());
        };
        let part = upload.put_part(PutPayload::from(Bytes::from(data)));
        f.sent += len;
        f.parts += 1;
        f.in_flight += 1;
        self.in_flight.push(Box::pin(async move {
            let result = part.await;
            (index, offset, len, result)
        }));
        Ok(())
    }

    /// A part was sent: its range leaves the local file.
    fn part_done(
        &mut self,
        index: usize,
        offset: u64,
        len: u64,
        result: object_store::Result<()>,
    ) -> Result<()> {
        let f = &mut self.files[index];
        f.in_flight -= 1;
        if f.vanished {
            return Ok(());
        }
        result.map_err(|source| StoreError::Request {
            what: "cannot send a part",
            key: f.key.to_string(),
            source,
        })?;
        f.freed += len;
        punch_hole(&f.file, offset, len);
        Ok(())
    }

    async fn vanish(&mut self, index: usize) {
        let f = &mut self.files[index];
        f.vanished = true;
        if let Some(mut upload) = f.upload.take() {
            let _ = upload.abort().await;
        }
    }

    /// Completes the uploads, then puts the other files, the top-level manifest last.
    async fn commit(&mut self) -> Result<UploadSummary> {
        let mut summary = UploadSummary {
            peak_spill: self.peak_spill,
            ..UploadSummary::default()
        };
        let mut written: Vec<Key> = Vec::new();
        let result = self.commit_into(&mut written, &mut summary).await;
        if let Err(e) = result {
            for key in &written {
                let _ = self.store.delete(key).await;
            }
            return Err(e);
        }
        summary.objects = written.len();
        summary.elapsed = self.started.elapsed();
        Ok(summary)
    }

    async fn commit_into(
        &mut self,
        written: &mut Vec<Key>,
        summary: &mut UploadSummary,
    ) -> Result<()> {
        let mut streamed: HashSet<PathBuf> = HashSet::new();
        for f in self.files.iter_mut().filter(|f| f.complete) {
            let Some(mut upload) = f.upload.take() else {
                continue;
            };
            upload
                .complete()
                .await
                .map_err(|source| StoreError::Request {
                    what: "cannot complete the upload",
                    key: f.key.to_string(),
                    source,
                })?;
            written.push(f.key.clone());
            summary.bytes += f.sent;
            summary.streamed_bytes += f.sent;
            streamed.insert(f.done_path.clone());
        }
        let top_manifest = self.folder.join(MANIFEST_FILE);
        let mut rest: Vec<PathBuf> = files_under(&self.folder)?
            .into_iter()
            .filter(|p| !streamed.contains(p) && !p.to_string_lossy().ends_with(".partial"))
            .collect();
        // Deeper files first, the top-level manifest last: a prefix with a manifest is whole.
        rest.sort_by_key(|p| {
            (
                *p == top_manifest,
                std::cmp::Reverse(p.components().count()),
            )
        });
        for path in rest {
            let key = self.location.key(&relative(&self.folder, &path));
            summary.bytes += put_file(&*self.store, self.options.part_size, &path, &key).await?;
            written.push(key);
        }
        Ok(())
    }
}

/// Puts one local file: whole when small, in parts otherwise.
async fn put_file(store: &dyn ObjectStore, part: usize, path: &Path, key: &Key) -> Result<u64> {
    let local = |source| StoreError::Local {
        path: path.to_owned(),
        source,
    };
    let request = |what| {
        move |source| StoreError::Request {
            what,
            key: key.to_string(),
            source,
        }
    };
    let size = tokio::fs::metadata(path).await.map_err(local)?.len();
    if size <= part as u64 {
        let data = tokio::fs::read(path).await.map_err(local)?;
        store
            .put(key, PutPayload::from(data))
            .await
            .map_err(request("cannot put the file"))?;
        return Ok(size);
    }
    let file = Arc::new(std::fs::File::open(path).map_err(local)?);
    let mut upload = store
        .put_multipart(key)
        .await
        .map_err(request("cannot start the upload"))?;
    let mut offset = 0u64;
    let mut parts = 0u32;
    while offset < size {
        let len = (part_size(part, parts) as u64).min(size - offset);
        let reader = file.clone();
        let data = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; len as usize];
            reader.read_exact_at(&mut buf, offset).map(|()| buf)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
        .map_err(local)?;
        if let Err(source) = upload.put_part(PutPayload::from(Bytes::from(data))).await {
            let _ = upload.abort().await;
            return Err(request("cannot send a part")(source));
        }
        offset += len;
        parts += 1;
    }
    upload
        .complete()
        .await
        .map_err(request("cannot complete the upload"))?;
    Ok(size)
}

impl Follower {
    /// Aborts every upload still open (best effort: the bucket's lifecycle rule is the net).
    async fn abort_all(&mut self) {
        while self.in_flight.next().await.is_some() {}
        for f in &mut self.files {
            if let Some(mut upload) = f.upload.take() {
                let _ = upload.abort().await;
            }
        }
    }
}

/// The size of part number `n` (from 0).
fn part_size(first: usize, n: u32) -> usize {
    first * (1 + n as usize / 1000)
}

/// Frees `len` bytes at `offset` of the file's disk space, keeping its size; a filesystem
/// without holes keeps the bytes (the spill is still counted as if freed).
fn punch_hole(file: &std::fs::File, offset: u64, len: u64) {
    use nix::fcntl::{fallocate, FallocateFlags};
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    let _ = fallocate(
        file,
        FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
        offset,
        len,
    );
}

/// Every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(entries) => entries,
            // The capture removes a failed part's folder as we look.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(StoreError::Local { path: d, source }),
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(entry.path()),
                Ok(t) if t.is_file() => out.push(entry.path()),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// `path` inside `folder`, `/`-separated.
fn relative(folder: &Path, path: &Path) -> String {
    path.strip_prefix(folder)
        .unwrap_or(path)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_so_that_ten_thousand_reach_hundreds_of_gigabytes() {
        assert_eq!(part_size(8 << 20, 0), 8 << 20);
        assert_eq!(part_size(8 << 20, 999), 8 << 20);
        assert_eq!(part_size(8 << 20, 1000), 16 << 20);
        let total: u64 = (0..10_000).map(|n| part_size(8 << 20, n) as u64).sum();
        assert_eq!(total >> 30, 429);
    }
}
