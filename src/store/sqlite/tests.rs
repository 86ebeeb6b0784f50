use super::schema::{BASE_VERSION, SCHEMA, SCHEMA_VERSION};
use super::*;
use crate::domain::Role;
use crate::store::conformance::user;
use crate::store::{RoleStore, UserStore};

/// Now, at the precision the store keeps, so round-tripped values compare equal.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("valid timestamp")
}

fn open_temp() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    // A missing subdirectory also exercises the directory creation.
    let store = SqliteStore::open(&dir.path().join("data").join("test.db")).expect("open");
    (dir, store)
}

/// A store in a temporary directory that lives as long as it does.
struct TempStore {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TempStore {
    type Target = SqliteStore;
    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

async fn conformance_store() -> Option<TempStore> {
    let (_dir, store) = open_temp();
    Some(TempStore { store, _dir })
}

async fn close(_store: TempStore) {}

crate::conformance_tests!(conformance_store(), close);

#[tokio::test]
async fn a_database_of_the_previous_schema_is_migrated_in_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("old.db");
    // The schema and a row as the previous release (schema version 2) wrote them.
    {
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(SCHEMA).expect("old schema");
        conn.pragma_update(None, "user_version", BASE_VERSION)
            .expect("version");
        conn.execute(
            "INSERT INTO users (id, username, username_lower, email, email_lower,
                password_hash, role_id, is_active, created_at, updated_at)
             VALUES ('u1', 'Old', 'old', 'old@example.com', 'old@example.com', 'h', 'r', 1,
                0, 0)",
            [],
        )
        .expect("old row");
    }
    let store = SqliteStore::open(&path).expect("open migrates");
    let user = store.find_user("u1").await.expect("read").expect("kept");
    assert_eq!((user.username.as_str(), user.session_epoch), ("Old", 0));
    let conn = Connection::open(&path).expect("reopen");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, SCHEMA_VERSION);
}

#[tokio::test]
async fn reopening_keeps_data_and_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("reopen.db");
    let t = now();
    let role = Role {
        id: "role-1".to_owned(),
        name: "USER".to_owned(),
        description: "Regular user".to_owned(),
        permissions: vec!["user:*".to_owned()],
        is_active: true,
        created_at: t,
    };
    let alice = user("alice", "alice@example.com", t);
    {
        let store = SqliteStore::open(&path).expect("first open");
        store.seed_role(&role).await.expect("seed");
        store.insert_user(&alice).await.expect("insert");
    }

    let store = SqliteStore::open(&path).expect("second open");
    // Seeding again under a new id is a no-op keyed on the name.
    let again = Role {
        id: "role-2".to_owned(),
        ..role.clone()
    };
    store.seed_role(&again).await.expect("seed again");
    assert_eq!(store.list_roles().await.expect("roles"), vec![role]);
    assert_eq!(store.find_user(&alice.id).await.expect("find"), Some(alice));
    store.ping().await.expect("ping");
    assert_eq!(store.backend(), "sqlite");
}

#[tokio::test]
async fn a_panic_mid_transaction_does_not_break_the_store() {
    let (_dir, store) = open_temp();
    let t = now();
    let alice = user("alice", "alice@example.com", t);
    let inserted = alice.clone();
    let result: StoreResult<()> = store
        .write(move |conn| {
            conn.execute_batch("BEGIN")?;
            conn.execute(
                "INSERT INTO users (id, username, username_lower, email, email_lower,
                    password_hash, role_id, is_active, created_at, updated_at)
                 VALUES (?1, 'alice', 'alice', 'a@b.co', 'a@b.co', 'h', 'r', 1, 0, 0)",
                [&inserted.id],
            )?;
            panic!("boom");
        })
        .await;
    assert!(matches!(result, Err(StoreError::Other(_))), "{result:?}");

    // The writer was poisoned with a transaction open: it is recovered and rolled back.
    store.insert_user(&alice).await.expect("insert after panic");
    assert_eq!(store.find_user(&alice.id).await.expect("find"), Some(alice));
}

#[test]
fn opening_under_a_file_fails_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let err = SqliteStore::open(&file.join("db.sqlite"))
        .err()
        .expect("cannot create a directory under a file");
    assert!(
        err.to_string().contains("cannot create the data directory"),
        "{err:#}"
    );
}

/// A sent mail keeps no body: its link and code leave the database with it.
#[tokio::test]
async fn a_sent_mail_keeps_no_body() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("mail.db");
    let store = SqliteStore::open(&path).expect("open");
    crate::store::conformance::send_one_mail(&store).await;
    let raw: String = Connection::open(&path)
        .expect("open raw")
        .query_row(
            "SELECT status || text_body || html_body FROM mail_outbox WHERE id = 'm1'",
            [],
            |row| row.get(0),
        )
        .expect("the record stays");
    assert_eq!(raw, "sent");
}
