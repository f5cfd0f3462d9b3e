//! Object storage (`s3://`, `gs://`, `az://`) for the file sinks, through the `object_store` crate, behind a
//! small blocking façade: the sinks write and fsync their files locally (in a staging directory) exactly as
//! they do for a local path, and *publishing* a staged file — the rename of a local output — becomes an
//! upload to its final key followed by the removal of the local copy. Publishing stays idempotent (names
//! and bytes are deterministic, so an upload repeated after a crash puts the same object again), and a
//! reader never sees a partial object: an object appears only when its upload completes.
//!
//! Credentials and endpoints come from the environment as the crate reads them: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL` (an S3-compatible server), `AWS_ALLOW_HTTP`;
//! `GOOGLE_SERVICE_ACCOUNT` …; `AZURE_STORAGE_ACCOUNT_NAME`, `AZURE_STORAGE_ACCOUNT_KEY` ….

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The URL schemes weir writes to as object storage.
pub const SCHEMES: &[&str] = &["s3", "gs", "az"];

/// Whether `text` is an object-storage URL weir writes to (`s3://bucket/prefix`).
pub fn is_object_url(text: &str) -> bool {
    text.split_once("://")
        .is_some_and(|(scheme, rest)| SCHEMES.contains(&scheme) && !rest.is_empty())
}

/// Whether a path is really an object URL carried as a path (a staged file's destination).
pub fn is_object_path(path: &Path) -> bool {
    path.to_str().is_some_and(is_object_url)
}

/// Stores by `scheme://bucket`, built once each.
static BUCKETS: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();

/// The runtime the blocking calls run on (object_store is async).
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("weir-objects")
            .enable_all()
            .build()
            .expect("a tokio runtime for object storage")
    })
}

/// Runs `future` to its end from synchronous code (also from a thread that runs another tokio runtime).
fn block_on<F: std::future::Future + Send>(future: F) -> F::Output
where
    F::Output: Send,
{
    std::thread::scope(|s| {
        s.spawn(|| runtime().block_on(future))
            .join()
            .expect("object storage call")
    })
}

/// `url` split into the store of its bucket and the key (`s3://lake/raw/x.parquet` → store of `s3://lake`,
/// `raw/x.parquet`).
fn locate(url: &str) -> io::Result<(Arc<dyn ObjectStore>, ObjectPath)> {
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(s, _)| SCHEMES.contains(s))
        .ok_or_else(|| io::Error::other(format!("`{url}` is not an s3://, gs:// or az:// URL")))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let root = format!("{scheme}://{bucket}");
    let mut buckets = BUCKETS.get_or_init(Default::default).lock();
    let store = match buckets.get(&root) {
        Some(store) => store.clone(),
        None => buckets
            .entry(root.clone())
            .or_insert(build_store(scheme, &root)?)
            .clone(),
    };
    Ok((store, ObjectPath::from(key.trim_matches('/'))))
}

fn build_store(scheme: &str, root: &str) -> io::Result<Arc<dyn ObjectStore>> {
    let store: Arc<dyn ObjectStore> = match scheme {
        "s3" => Arc::new(
            object_store::aws::AmazonS3Builder::from_env()
                .with_url(root)
                .build()
                .map_err(|e| describe(root, e))?,
        ),
        "gs" => Arc::new(
            object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_url(root)
                .build()
                .map_err(|e| describe(root, e))?,
        ),
        _ => Arc::new(
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_url(root)
                .build()
                .map_err(|e| describe(root, e))?,
        ),
    };
    Ok(store)
}

fn describe(url: &str, e: object_store::Error) -> io::Error {
    io::Error::other(format!("{url}: {e}"))
}

/// Checks that the bucket of `url` can be reached and listed (at start, so a wrong endpoint or credentials
/// fail the run before it reads anything).
pub fn check_reachable(url: &str) -> io::Result<()> {
    let (store, key) = locate(url)?;
    block_on(async {
        use futures::TryStreamExt;
        let prefix = (!key.as_ref().is_empty()).then_some(&key);
        let mut listing = store.list(prefix);
        listing.try_next().await.map(|_| ())
    })
    .map_err(|e| io::Error::other(e.to_string()))
}

/// Uploads the local file `from` as the object `url` (whole: the object appears only once complete).
pub fn upload(from: &Path, url: &str) -> io::Result<()> {
    let bytes = std::fs::read(from)?;
    let (store, key) = locate(url)?;
    block_on(store.put(&key, PutPayload::from(bytes)))
        .map(|_| ())
        .map_err(|e| describe(url, e))
}

/// The names (relative to `url`) and bytes of the objects directly under `url` whose name satisfies `keep`.
pub fn read_all(url: &str, keep: impl Fn(&str) -> bool + Send + Sync) -> io::Result<Vec<(String, Vec<u8>)>> {
    let (store, prefix) = locate(url)?;
    block_on(async {
        let listing = store.list_with_delimiter(Some(&prefix)).await?;
        let mut out = Vec::new();
        for meta in listing.objects {
            let Some(name) = meta.location.filename().map(str::to_string) else {
                continue;
            };
            if keep(&name) {
                let bytes = store.get(&meta.location).await?.bytes().await?;
                out.push((name, bytes.to_vec()));
            }
        }
        Ok::<_, object_store::Error>(out)
    })
    .map_err(|e| describe(url, e))
}
