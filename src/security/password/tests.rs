use super::*;

async fn verify(hasher: &PasswordHasher, password: &str, stored: Option<String>) -> Verified {
    hasher.verify(password.into(), stored).await.unwrap()
}

#[tokio::test]
async fn hash_then_verify() {
    let hasher = PasswordHasher::new(2, 16);
    let hash = hasher.hash("correct horse".into()).await.unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    let check = |password, stored| verify(&hasher, password, stored);
    assert_eq!(
        check("correct horse", Some(hash.clone())).await,
        Verified::Yes
    );
    assert_eq!(check("wrong horse", Some(hash)).await, Verified::No);
    assert_eq!(check("anything", None).await, Verified::No);
    assert_eq!(check("x", Some("not a hash".into())).await, Verified::No);
}

#[tokio::test]
async fn interoperates_with_the_argon2_crate_api() {
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
    let standard = Argon2::default()
        .hash_password(b"correct horse", &random_salt().unwrap())
        .unwrap()
        .to_string();
    let hasher = PasswordHasher::new(1, 16);
    let check = |password, stored| verify(&hasher, password, stored);
    assert_eq!(
        check("correct horse", Some(standard.clone())).await,
        Verified::Yes
    );
    assert_eq!(check("correct horsE", Some(standard)).await, Verified::No);
    let ours = hasher.hash("correct horse".into()).await.unwrap();
    let parsed = PasswordHash::new(&ours).unwrap();
    assert!(
        Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok()
    );
    assert!(
        Argon2::default()
            .verify_password(b"wrong", &parsed)
            .is_err()
    );
}

/// Occupies the only hashing thread of `hasher` until the returned sender is used.
async fn occupy_the_only_thread(
    hasher: &PasswordHasher,
) -> (
    mpsc::Sender<()>,
    tokio::task::JoinHandle<Result<(), PasswordError>>,
) {
    let (started, is_started) = tokio::sync::oneshot::channel();
    let (release, wait) = mpsc::channel::<()>();
    let busy = tokio::spawn({
        let hasher = hasher.clone();
        async move {
            hasher
                .run(move || {
                    let _ = started.send(());
                    let _ = wait.recv();
                })
                .await
        }
    });
    is_started.await.unwrap();
    (release, busy)
}

#[tokio::test]
async fn a_job_whose_caller_has_gone_is_skipped() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hasher = PasswordHasher::with_params(1, 16, 8, 1, 1);
    let (release, busy) = occupy_the_only_thread(&hasher).await;

    // Queue a job, then give up on it, as a request dropped on disconnect does.
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = ran.clone();
    let abandoned = hasher.run(move || counted.fetch_add(1, Ordering::SeqCst));
    let gave_up = tokio::time::timeout(Duration::from_millis(50), abandoned).await;
    assert!(gave_up.is_err(), "the only thread was busy");

    release.send(()).unwrap();
    busy.await.unwrap().unwrap();
    // Jobs run in order: once this one ran, the abandoned one had its turn.
    hasher.run(|| ()).await.unwrap();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the abandoned job was skipped"
    );
}

#[tokio::test]
async fn a_full_queue_refuses_at_once() {
    let hasher = PasswordHasher::with_params(1, 1, 8, 1, 1);
    let (release, busy) = occupy_the_only_thread(&hasher).await;
    // The thread is busy; one job fits in the queue, the next is refused without waiting.
    let queued = tokio::spawn({
        let hasher = hasher.clone();
        async move { hasher.hash("queued one".into()).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refused = hasher.hash("one too many".into()).await;
    assert!(
        matches!(refused, Err(PasswordError::QueueFull)),
        "{refused:?}"
    );
    release.send(()).unwrap();
    busy.await.unwrap().unwrap();
    assert!(queued.await.unwrap().is_ok(), "the queued job still ran");
}

#[tokio::test]
async fn weaker_parameters_are_upgraded_on_verify() {
    let old = PasswordHasher::with_params(1, 16, 8_192, 1, 1);
    let hash = old.hash("correct horse".into()).await.unwrap();
    let current = PasswordHasher::new(1, 16);
    match current
        .verify("correct horse".into(), Some(hash))
        .await
        .unwrap()
    {
        Verified::YesRehashed(new) => assert!(new.contains("m=19456,t=2,p=1")),
        other => panic!("expected a rehash, got {other:?}"),
    }
}
