//! These run against the MongoDB in `TEST_MONGO_URL`, each test in a fresh database that is
//! dropped afterwards. Unset, they skip (plain `cargo test` has no server), except under
//! `CI=true`, where that is a failure; set but unreachable is always a failure.

use super::*;
use crate::store::UserStore;
use crate::store::conformance::user;

async fn test_store() -> Option<MongoStore> {
    let url = match std::env::var("TEST_MONGO_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TEST_MONGO_URL is not set: run the tests through scripts/test.sh")
        }
        _ => {
            eprintln!("TEST_MONGO_URL is unset: skipping the MongoDB store test");
            return None;
        }
    };
    let db_name = format!("authkit_unit_{}", uuid::Uuid::new_v4().simple());
    let store = MongoStore::connect(&url, &db_name)
        .await
        .expect("a valid TEST_MONGO_URL");
    match store.prepare().await {
        Ok(()) => Some(store),
        Err(e) => panic!("TEST_MONGO_URL is set but MongoDB is unusable: {e}"),
    }
}

async fn drop_db(store: MongoStore) {
    store.db.drop().await.expect("drop test database");
}

/// A test database for the conformance suite, dropped by [`close`].
struct TestDb(MongoStore);

impl std::ops::Deref for TestDb {
    type Target = MongoStore;
    fn deref(&self) -> &MongoStore {
        &self.0
    }
}

async fn conformance_store() -> Option<TestDb> {
    test_store().await.map(TestDb)
}

async fn close(db: TestDb) {
    drop_db(db.0).await;
}

crate::conformance_tests!(conformance_store(), close);

/// Whole milliseconds, so values survive the BSON round trip unchanged.
fn now_ms() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("valid time")
}

/// The field is found in the server's real replies: by index name for every write, and by
/// `keyPattern` where the driver keeps the reply (findAndModify).
#[tokio::test]
async fn duplicate_key_errors_name_the_field() {
    let Some(store) = test_store().await else {
        return;
    };
    let now = now_ms();
    let dave = user("dave", "dave@example.com", now);
    store.insert_user(&dave).await.expect("insert");
    let other = user("other", "other@example.com", now);
    store.insert_user(&other).await.expect("insert");

    let insert = store
        .users
        .insert_one(UserDoc::from(&user("DAVE", "x@example.com", now)));
    let update = store.users.update_one(
        doc! { "_id": &other.id },
        doc! { "$set": { "email_lower": "dave@example.com" } },
    );
    let find_and_modify = store.users.find_one_and_update(
        doc! { "_id": &other.id },
        doc! { "$set": { "username_lower": "dave" } },
    );
    let errors = [
        (insert.await.map(drop), "username"),
        (update.await.map(drop), "email"),
        (find_and_modify.await.map(drop), "username"),
    ];
    for (result, field) in &errors {
        let e = result.as_ref().expect_err("duplicate");
        assert_eq!(index_name_field(e), Some(*field), "{e}");
        assert_eq!(duplicate_field(e), Some(*field), "{e}");
    }
    let (find_and_modify, _) = &errors[2];
    let e = find_and_modify.as_ref().expect_err("duplicate");
    assert_eq!(key_pattern_field(e), Some("username"), "{e}");
    drop_db(store).await;
}

#[tokio::test]
async fn unreachable_server_fails_fast_with_a_clear_message() {
    // A port nobody listens on: bind to get a free one, then release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let started = std::time::Instant::now();
    let store = MongoStore::connect(&format!("mongodb://127.0.0.1:{port}"), "x")
        .await
        .expect("the client is built without a round trip");
    let result = store.prepare().await;
    let Err(e) = result else {
        panic!("preparing against a closed port succeeded")
    };
    assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
    assert!(e.to_string().contains("unreachable"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// A sent mail keeps no body: its link and code leave the database with it.
#[tokio::test]
async fn a_sent_mail_keeps_no_body() {
    let Some(store) = test_store().await else {
        return;
    };
    crate::store::conformance::send_one_mail(&store).await;
    let raw = store
        .db
        .collection::<bson::Document>("mail_outbox")
        .find_one(bson::doc! { "_id": "m1" })
        .await
        .expect("read")
        .expect("the record stays");
    assert_eq!(raw.get_str("status").unwrap(), "sent");
    assert!(!raw.to_string().contains("SECRET-LINK"), "{raw}");
    drop_db(store).await;
}
