//! Argon2id password hashing (OWASP parameters: m = 19 MiB, t = 2, p = 1).
//!
//! Hashing is CPU-bound for tens of milliseconds, so it runs on a small pool of dedicated
//! threads (one per core), never on the async workers. Those threads run at a lower OS priority
//! (nice 10): alone they use every core, so logins go as fast as the machine hashes, but when
//! other requests need the CPU the scheduler gives it to them first, so a login storm queues
//! here instead of starving every other request.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Memory cost in KiB, iterations and lanes recommended by OWASP for Argon2id.
pub const M_COST_KIB: u32 = 19_456;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Join,
    /// Every hashing thread is busy and the queue is full: answered with 503 at once, so a
    /// flood of logins cannot pile up unbounded work (and memory) behind the hashing threads.
    #[error("too many passwords waiting to be hashed")]
    QueueFull,
}

/// The outcome of checking a password against a stored hash.
#[derive(PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, but hashed with other parameters: store this new hash.
    YesRehashed(String),
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::No => f.write_str("No"),
            Self::Yes => f.write_str("Yes"),
            Self::YesRehashed(_) => f.write_str("YesRehashed(<redacted>)"),
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    jobs: mpsc::SyncSender<Job>,
}

impl PasswordHasher {
    /// A hasher running `concurrency` hashes at once (normally the number of cores), with at
    /// most `queue` more waiting for a thread.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        Self::with_params(concurrency, queue, M_COST_KIB, T_COST, P_COST)
    }

    pub fn with_params(
        concurrency: usize,
        queue: usize,
        m_cost: u32,
        t_cost: u32,
        p_cost: u32,
    ) -> Self {
        let params = Params::new(m_cost, t_cost, p_cost, None).expect("valid Argon2 parameters");
        let (jobs, queue) = mpsc::sync_channel::<Job>(queue);
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..concurrency.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || hashing_thread(&queue))
                .expect("spawning a hashing thread");
        }
        Self { params, jobs }
    }

    /// Hashes a new password into a PHC string (`$argon2id$v=19$m=...`).
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let params = self.params.clone();
        self.run(move || hash_blocking(params, &password)).await?
    }

    /// Verifies `password` against `stored`. With `stored = None` (unknown user) it verifies
    /// against a fixed dummy hash so that the answer takes the same time either way.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<Verified, PasswordError> {
        let params = self.params.clone();
        self.run(move || {
            let user_exists = stored.is_some();
            let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Ok(Verified::No);
            };
            if !matches(&parsed, &password) || !user_exists {
                return Ok(Verified::No);
            }
            if needs_rehash(&parsed, &params) {
                return hash_blocking(params, &password).map(Verified::YesRehashed);
            }
            Ok(Verified::Yes)
        })
        .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The caller has gone (say, its client disconnected and the request was dropped):
            // nobody will read the result, so the hash is not worth its tens of milliseconds.
            if !done.is_closed() {
                let _ = done.send(job());
            }
        });
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => PasswordError::QueueFull,
            mpsc::TrySendError::Disconnected(_) => PasswordError::Join,
        })?;
        result.await.map_err(|_| PasswordError::Join)
    }
}

/// After this long without a job, the idle Argon2 buffers are freed, so a quiet server does not
/// hold 19 MiB per core. The next hash then pays a few milliseconds of page faults to get one.
const RELEASE_MEMORY_AFTER: Duration = Duration::from_secs(10);

/// Runs queued hashing jobs until every [`PasswordHasher`] handle is dropped.
fn hashing_thread(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_thread_priority();
    loop {
        // The lock is held only while waiting for the next job, not while running it. Whichever
        // thread is waiting when the queue has been quiet for a while frees every idle buffer:
        // the buffers are shared, so it does not matter which thread that is.
        let next = queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .recv_timeout(RELEASE_MEMORY_AFTER);
        match next {
            Ok(job) => {
                // A panicking job drops its result sender (the caller sees an error); the
                // thread lives on.
                let _ = catch_unwind(AssertUnwindSafe(job));
            }
            Err(RecvTimeoutError::Timeout) => release_idle_argon2_memory(),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Nice 10: below normal, so request handling preempts hashing when both want a core.
#[cfg(target_os = "linux")]
fn lower_thread_priority() {
    const HASHING_NICENESS: i32 = 10;
    // On Linux the nice value belongs to the thread: this lowers only the calling one.
    // SAFETY: plain syscalls on the current thread's id; no memory is shared.
    let result = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, HASHING_NICENESS)
    };
    if result != 0 {
        tracing::debug!("could not lower the priority of a hashing thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_thread_priority() {}

/// Argon2's working memory (19 MiB each with the default parameters), kept between hashes: at
/// most one buffer per hash running at once. Allocating it per hash made glibc keep freed blocks
/// around (resident memory grew to hundreds of MiB under a login storm), and reusing it saves the
/// page faults of fresh memory on every hash.
static IDLE_ARGON2_MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

fn idle_argon2_memory() -> std::sync::MutexGuard<'static, Vec<Vec<Block>>> {
    IDLE_ARGON2_MEMORY.lock().unwrap_or_else(|e| e.into_inner())
}

fn release_idle_argon2_memory() {
    // Blocks this large are mapped on their own (see `malloc_tuning`), so dropping
    // them returns the memory to the OS.
    drop(std::mem::take(&mut *idle_argon2_memory()));
}

/// Argon2 into `out`, in an idle buffer if there is one.
fn argon2_into(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let blocks = params.block_count();
    let mut memory = idle_argon2_memory().pop().unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let result = argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks]);
    idle_argon2_memory().push(memory);
    result
}

/// Hashes `password` with `params` and `salt` into an output of `len` bytes.
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: Salt<'_>,
    len: usize,
) -> password_hash::Result<Output> {
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    Output::init_with(len, |out| {
        Ok(argon2_into(&argon2, &params, password, salt_bytes, out)?)
    })
}

fn hash_blocking(params: Params, password: &str) -> Result<String, PasswordError> {
    let to_error = |e: password_hash::Error| PasswordError::Hash(e.to_string());
    let salt = random_salt().map_err(to_error)?;
    let output = compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password.as_bytes(),
        salt.as_salt(),
        Params::DEFAULT_OUTPUT_LEN,
    )
    .map_err(to_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(to_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// 16 random bytes from the OS, as the PHC string's salt.
fn random_salt() -> password_hash::Result<SaltString> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| password_hash::Error::Crypto)?;
    SaltString::encode_b64(&bytes)
}

/// Recomputes the hash with the stored algorithm, version, parameters and salt, and compares the
/// outputs in constant time (`Output`'s equality is constant-time).
fn matches(stored: &PasswordHash<'_>, password: &str) -> bool {
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(stored.algorithm),
        Params::try_from(stored),
    ) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    compute(
        algorithm,
        version,
        params,
        password.as_bytes(),
        salt,
        expected.len(),
    )
    .is_ok_and(|computed| computed == expected)
}

/// A stored hash needs upgrading when its algorithm or cost parameters differ from the current ones.
fn needs_rehash(parsed: &PasswordHash<'_>, current: &Params) -> bool {
    if parsed.algorithm.as_str() != "argon2id" || parsed.version != Some(Version::V0x13.into()) {
        return true;
    }
    match Params::try_from(parsed) {
        Ok(p) => {
            p.m_cost() != current.m_cost()
                || p.t_cost() != current.t_cost()
                || p.p_cost() != current.p_cost()
        }
        Err(_) => true,
    }
}

/// A real Argon2id hash of a random password with the current parameters, made once, so that
/// verifying against it costs exactly what a real verification costs.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).expect("OS random source");
        let params =
            Params::new(M_COST_KIB, T_COST, P_COST, None).expect("valid Argon2 parameters");
        hash_blocking(params, &format!("{random:?}")).expect("hashing a dummy password")
    })
}

#[cfg(test)]
mod tests;
